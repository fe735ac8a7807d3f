"""What the atoms say: neighbours, RDF, surface facets, structure types, twins, grains, strain, chemical order and
amorphous order of an atomic model (``aet analyse``)."""

from aet.analysis.analyse import Analysis, analyse
from aet.analysis.output import write_analysis

__all__ = ["Analysis", "analyse", "write_analysis"]
