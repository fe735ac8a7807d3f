"""Geometry in one place (docs/conventions.md): Euler angles, rotation matrices and the voxel grid.

NumPy only, so that every stage (and the typed data model) can use it without importing torch.

* Euler angles are ``[n, 3]`` (φ, θ, ψ) in degrees; R = Rz(φ) · Ry(θ) · R3(ψ), with R3 = Rz ("zyz", GENFIRE) or
  Rx ("zyx", RESIRE). A specimen point r appears at r' = Rᵀ r in the beam frame; the projection integrates
  along z'.
* A :class:`Grid` places a ``[z, y, x]`` voxel array in the lab frame (Å). Reconstructions and the atom
  samplers use the centred grid: index ``n // 2`` of every axis (:func:`centre_index`, the rotation centre and
  FFT centre) sits at 0 Å.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from aet.errors import AetInputError

EULER_CONVENTIONS = ("zyz", "zyx")

#: A stack of ``[n, 3, 3]`` rotation matrices.
Matrices = npt.NDArray[np.float64]


def as_euler_angles(angles: Any) -> npt.NDArray[np.float64]:
    """Return angles as an ``[n, 3]`` float64 array of (φ, θ, ψ) in degrees.

    A 1-D list of tilt angles θ is expanded to ``(0, θ, 0)`` (single-axis tilt about y).
    """
    a = np.asarray(angles, dtype=np.float64)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim == 1:
        a = np.stack([np.zeros_like(a), a, np.zeros_like(a)], axis=1)
    elif a.ndim == 2 and a.shape[1] == 1:
        return as_euler_angles(a[:, 0])
    elif a.ndim == 2 and a.shape[1] not in (1, 3) and a.shape[0] == 3:
        a = a.T
    if a.ndim != 2 or a.shape[1] != 3:
        raise AetInputError(
            f"angles must be a list of tilt angles or an [n, 3] array of Euler angles (φ, θ, ψ) in degrees; "
            f"got shape {np.shape(angles)}."
        )
    if a.size and not np.all(np.isfinite(a)):
        bad = int(np.count_nonzero(~np.isfinite(a)))
        raise AetInputError(
            f"angles contains {bad} NaN or infinite value(s); clean or mask them before loading into aet."
        )
    return a


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


def detector_frame(angles: npt.ArrayLike, convention: str = "zyz", tilt_axis: float = 0.0) -> Matrices:
    """``[n, 3, 3]``: rows (x', y', z') with x' along the image columns, y' along the rows and z' along the beam,
    for a detector turned by ``tilt_axis`` degrees (counter-clockwise from the rows; 0: the tilt axis runs along
    the rows). Every image formation in aet (the atom projector, multislice) places atoms with it."""
    frame = beam_frame(angles, convention)
    if tilt_axis:
        c, s = np.cos(np.deg2rad(tilt_axis)), np.sin(np.deg2rad(tilt_axis))
        frame = frame.copy()
        frame[:, :2, :] = np.array([[c, s], [-s, c]]) @ frame[:, :2, :]  # the detector turned: y' along (cos, sin)
    return frame


def is_single_axis(angles: npt.ArrayLike, convention: str = "zyz", tol_deg: float = 1e-4) -> bool:
    """True when every rotation is a pure tilt about y: R maps y onto itself to within ``tol_deg`` degrees.

    The test is on the matrices, not on φ and ψ, so (0, θ, 0) and (180, θ, 180) in "zyz" (= a tilt of −θ) both
    count: |R[1,1] − 1| < 1 − cos(tol), where R[1,1] = cos of the angle between y and its image.
    """
    m = rotation_matrices(angles, convention)
    limit = 2.0 * np.sin(np.deg2rad(tol_deg) / 2) ** 2  # = 1 − cos(tol), without the cancellation
    return bool(np.all(np.abs(m[:, 1, 1] - 1) < limit))


def single_axis_tilts(angles: npt.ArrayLike, convention: str = "zyz") -> npt.NDArray[np.float64]:
    """The tilt about y (degrees, in (−180, 180]) of each rotation, read off the matrices.

    Meaningful when :func:`is_single_axis` holds (then R = Ry(tilt)); (180, θ, 180) in "zyz" gives −θ.
    """
    m = rotation_matrices(angles, convention)
    return np.rad2deg(np.arctan2(m[:, 0, 2], m[:, 0, 0]))


def centre_index(n: int) -> int:
    """Index of the rotation centre of an axis of ``n`` voxels or pixels: ``n // 2`` (the FFT centre)."""
    return n // 2


@dataclass(frozen=True)
class Grid:
    """The voxel grid of a volume: where each voxel of a ``[z, y, x]`` array sits in the lab frame.

    Attributes:
        shape: ``(nz, ny, nx)`` in voxels.
        voxel_size: edge of a cubic voxel in Å.
        origin: ``(z, y, x)`` position in Å of voxel ``[0, 0, 0]``.
    """

    shape: tuple[int, int, int]
    voxel_size: float = 1.0
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if len(self.shape) != 3 or len(self.origin) != 3:
            raise AetInputError(f"a grid needs a (nz, ny, nx) shape and a (z, y, x) origin, got {self!r}.")
        if not self.voxel_size > 0:
            raise AetInputError(f"voxel_size must be a positive number of Å, got {self.voxel_size!r}.")
        nz, ny, nx = (int(n) for n in self.shape)
        oz, oy, ox = (float(o) for o in self.origin)
        object.__setattr__(self, "shape", (nz, ny, nx))
        object.__setattr__(self, "voxel_size", float(self.voxel_size))
        object.__setattr__(self, "origin", (oz, oy, ox))

    @classmethod
    def centred(
        cls, shape: tuple[int, int, int], voxel_size: float, centre: tuple[int, int, int] | None = None
    ) -> Grid:
        """The grid whose voxel ``centre`` (z, y, x) sits at 0 Å; by default index n//2 of each axis.

        ``centre`` serves windows of a centred grid, e.g. rows ``start:stop`` of it have their rotation centre
        at row ``centre_index(ny) - start``.
        """
        c = tuple(centre_index(int(n)) for n in shape) if centre is None else centre
        cz, cy, cx = (int(i) for i in c)
        return cls(shape, voxel_size, (-cz * voxel_size, -cy * voxel_size, -cx * voxel_size))

    @property
    def centre(self) -> tuple[int, int, int]:
        """``(z, y, x)`` index of the rotation centre, n//2 of each axis (at 0 Å on a centred grid)."""
        nz, ny, nx = self.shape
        return (centre_index(nz), centre_index(ny), centre_index(nx))

    def to_position(self, index: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Voxel indices ``[..., 3]`` (z, y, x), fractional allowed -> positions ``[..., 3]`` (x, y, z) in Å."""
        idx = np.asarray(index, dtype=np.float64)
        pos: npt.NDArray[np.float64] = idx * self.voxel_size + np.asarray(self.origin)
        return np.ascontiguousarray(pos[..., ::-1])

    def to_index(self, position: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Positions ``[..., 3]`` (x, y, z) in Å -> fractional voxel indices ``[..., 3]`` (z, y, x)."""
        pos = np.asarray(position, dtype=np.float64)
        idx: npt.NDArray[np.float64] = (pos[..., ::-1] - np.asarray(self.origin)) / self.voxel_size
        return idx  # a new array: the arithmetic copies
