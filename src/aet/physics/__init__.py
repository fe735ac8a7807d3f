"""Physics core: the one shared projector and the atomic potentials built on its geometry.

``beam_frame`` and ``rotation_matrices`` live in :mod:`aet.geometry` and are re-exported here.
"""

from aet.geometry import beam_frame, rotation_matrices
from aet.physics.atoms import atoms_to_projections, atoms_to_volume, sigma_of_b
from aet.physics.projector import Projector, backproject, get_projector, project

__all__ = [
    "Projector",
    "atoms_to_projections",
    "atoms_to_volume",
    "backproject",
    "beam_frame",
    "get_projector",
    "project",
    "rotation_matrices",
    "sigma_of_b",
]
