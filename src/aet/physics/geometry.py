"""Euler angles -> rotation matrices, following docs/conventions.md.

R = Rz(φ) · Ry(θ) · R3(ψ), with R3 = Rz ("zyz", GENFIRE) or Rx ("zyx", RESIRE). A specimen point r appears
at r' = Rᵀ r in the beam frame; the projection integrates along z'.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from aet.errors import AetInputError
from aet.model import EULER_CONVENTIONS, as_euler_angles

#: A stack of ``[n, 3, 3]`` rotation matrices.
Matrices = npt.NDArray[np.float64]


def _rot(axis: str, a: npt.NDArray[np.float64]) -> Matrices:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    if axis == "x":
        m = [[o, z, z], [z, c, -s], [z, s, c]]
    elif axis == "y":
        m = [[c, z, s], [z, o, z], [-s, z, c]]
    else:
        m = [[c, -s, z], [s, c, z], [z, z, o]]
    stacked: Matrices = np.array(m)
    return np.moveaxis(stacked, (0, 1), (-2, -1))


def rotation_matrices(angles: npt.ArrayLike, convention: str = "zyz") -> Matrices:
    """``[n, 3, 3]`` matrices R for Euler angles ``[n, 3]`` (φ, θ, ψ) in degrees."""
    if convention not in EULER_CONVENTIONS:
        raise AetInputError(f"unknown Euler convention {convention!r}; use one of {EULER_CONVENTIONS}.")
    a = np.deg2rad(as_euler_angles(angles))
    third = "z" if convention == "zyz" else "x"
    return _rot("z", a[:, 0]) @ _rot("y", a[:, 1]) @ _rot(third, a[:, 2])


def beam_frame(angles: npt.ArrayLike, convention: str = "zyz") -> Matrices:
    """``[n, 3, 3]`` matrices Rᵀ mapping specimen (x, y, z) to beam-frame (x', y', z')."""
    return np.swapaxes(rotation_matrices(angles, convention), -1, -2)


def is_single_axis(angles: npt.ArrayLike, convention: str = "zyz", tol: float = 1e-9) -> bool:
    """True when every rotation is a pure tilt about y (R maps y onto itself)."""
    m = rotation_matrices(angles, convention)
    return bool(np.all(np.abs(m[:, 1, 1] - 1) < tol))
