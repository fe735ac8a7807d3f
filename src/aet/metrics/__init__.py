"""Ground-truth metrics: atom matching (recall, precision, RMSD in pm, species, surface) and FSC.

* :func:`compare` — one-to-one matching within a radius after removing the global mean shift.
* :func:`global_distortion` — the affine part of a compared model's error (rotation, strain) and what is left.
* :func:`fsc`, :func:`fsc_resolution` — Fourier shell correlation and the 0.143 / 0.5 resolutions (Å).
* :func:`interface_score` — recall and precision of the atoms near a plane (a particle on its support).
* :func:`surface_atoms` — the α-shape surface rule used to split the truth into surface and interior.
* :func:`load_published_asi208_model`, :func:`load_asi208_truth` — the published asi208 benchmark files.
"""

from aet.metrics.distortion import Distortion, global_distortion
from aet.metrics.fsc import FSC_THRESHOLDS, fsc, fsc_resolution
from aet.metrics.interface import InterfaceScore, interface_score
from aet.metrics.matching import Comparison, ElementStats, RegionStats, compare, match_atoms
from aet.metrics.reference import load_asi208_truth, load_published_asi208_model
from aet.metrics.surface import SURFACE_RULE, surface_atoms

__all__ = [
    "FSC_THRESHOLDS",
    "SURFACE_RULE",
    "Comparison",
    "Distortion",
    "ElementStats",
    "InterfaceScore",
    "RegionStats",
    "compare",
    "fsc",
    "fsc_resolution",
    "global_distortion",
    "interface_score",
    "load_asi208_truth",
    "load_published_asi208_model",
    "match_atoms",
    "surface_atoms",
]
