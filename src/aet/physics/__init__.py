"""Physics core: the one shared projector and the atomic potentials built on its geometry."""

from aet.physics.atoms import atoms_to_projections, atoms_to_volume, sigma_of_b
from aet.physics.geometry import beam_frame, rotation_matrices
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
