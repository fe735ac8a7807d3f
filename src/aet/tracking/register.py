"""Rigid (and optional affine) registration of one atomic model onto another of the same particle.

Iterative closest point: start from the centroids, pair every atom with its nearest neighbour in the other model,
keep the pairs closer than half a bond (atoms that hopped or vanished drop out), fit the rotation and shift of the
kept pairs (Kabsch, :meth:`scipy.spatial.transform.Rotation.align_vectors`), repeat until the fit stops moving.
When that converges to a poor fit (fewer than 80 % of the atoms within a quarter bond of an atom of the other model: a
turn too large for nearest neighbours to find), the rotations within ``max_rotation_deg`` are searched on a grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from aet.errors import AetInputError

Array = npt.NDArray[np.float64]
#: Pairs farther apart than this many nearest-neighbour distances do not steer the fit.
PAIR_REACH = 0.5
#: A registration is good when 80 % of the atoms land within this many nearest-neighbour distances of an atom.
GOOD = 0.25


@dataclass(frozen=True)
class Registration:
    """``x_fixed ≈ matrix @ x_moving + shift`` (Å); ``matrix`` is a rotation unless ``kind == "affine"``."""

    matrix: Array
    shift: Array
    kind: str
    rms_A: float  # of the pairs that steered the fit
    n_pairs: int

    def apply(self, positions: Array) -> Array:
        """Positions of the moving model in the fixed model's frame (Å)."""
        return np.asarray(np.asarray(positions) @ self.matrix.T + self.shift, dtype=np.float64)

    @property
    def rotation_deg(self) -> float:
        """Angle of the rotation (of the rotation part, for an affine map), degrees."""
        u, _, vt = np.linalg.svd(self.matrix)
        return float(np.degrees(Rotation.from_matrix(u @ vt).magnitude()))

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "matrix": self.matrix.round(8).tolist(), "shift_A": self.shift.round(5).tolist(),
                "rotation_deg": round(self.rotation_deg, 4), "rms_A": round(self.rms_A, 5),
                "n_pairs": self.n_pairs}  # fmt: skip


def _fit(a: Array, b: Array, affine: bool) -> tuple[Array, Array]:
    """Matrix and shift with b ≈ M a + t, least squares."""
    ca, cb = a.mean(0), b.mean(0)
    if affine:
        m = np.linalg.lstsq(a - ca, b - cb, rcond=None)[0].T
    else:
        m = Rotation.align_vectors(b - cb, a - ca)[0].as_matrix()
    return m, cb - m @ ca


def fit_pairs(a: Array, b: Array, affine: bool = False) -> Registration:
    """The registration that maps the paired positions ``a`` onto ``b`` best (least squares, Å)."""
    m, t = _fit(a, b, affine)
    rms = float(np.sqrt(np.mean(np.sum((b - a @ m.T - t) ** 2, axis=1))))
    return Registration(m, t, "affine" if affine else "rigid", rms, len(a))


def _icp(moving: Array, tree: cKDTree, fixed: Array, start: Array, reach: float,
         affine: bool, max_iter: int = 100) -> Registration:  # fmt: skip
    m, t = start, fixed.mean(0) - start @ moving.mean(0)
    for it in range(max_iter):
        d, j = tree.query(moving @ m.T + t)
        close = d < reach
        if close.sum() < 4:
            break
        m_new, t_new = _fit(moving[close], fixed[j[close]], affine and it > 0)
        change = np.abs(m_new - m).max() * 30 + np.abs(t_new - t).max()  # Å at 30 Å from the centre
        m, t = m_new, t_new
        if change < 1e-6 and (it > 0 or not affine):  # an affine fit starts after one rigid step
            break
    d, _ = tree.query(moving @ m.T + t)
    close = d < reach
    rms = float(np.sqrt(np.mean(d[close] ** 2))) if close.any() else float("nan")
    return Registration(m, t, "affine" if affine else "rigid", rms, int(close.sum()))


def register(moving: Array, fixed: Array, nn: float, affine: bool = False,
             max_rotation_deg: float = 15.0) -> Registration:  # fmt: skip
    """Registration of ``moving`` onto ``fixed`` (positions in Å; ``nn`` the nearest-neighbour distance, Å)."""
    moving, fixed = np.asarray(moving, dtype=np.float64), np.asarray(fixed, dtype=np.float64)
    if len(moving) < 4 or len(fixed) < 4:
        raise AetInputError("registration needs at least 4 atoms in each model.")
    tree, reach = cKDTree(fixed), PAIR_REACH * nn

    def score(reg: Registration) -> int:  # atoms that land within a quarter bond of an atom of the other model
        return int((tree.query(reg.apply(moving))[0] < GOOD * nn).sum())

    best = _icp(moving, tree, fixed, np.eye(3), reach, affine)
    if score(best) < 0.8 * min(len(moving), len(fixed)):
        # a local fit (a crystal matches itself turned by a few degrees in part): search the rotations within
        # max_rotation_deg on a 2.5° grid, then refine the best few
        step = np.radians(2.5)
        k = int(np.ceil(np.radians(max_rotation_deg) / step))
        grid = np.stack(np.meshgrid(*[np.arange(-k, k + 1) * step] * 3, indexing="ij"), -1).reshape(-1, 3)
        grid = grid[np.linalg.norm(grid, axis=1) <= np.radians(max_rotation_deg)]
        centred = moving - moving.mean(0)
        coarse = [(tree.query(centred @ r.T + fixed.mean(0))[0] < reach).sum()
                  for r in Rotation.from_rotvec(grid).as_matrix()]  # fmt: skip
        for i in np.argsort(coarse)[::-1][:5]:
            trial = _icp(moving, tree, fixed, Rotation.from_rotvec(grid[i]).as_matrix(), reach, affine)
            if score(trial) > score(best):
                best = trial
    return best
