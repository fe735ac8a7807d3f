"""Surface atoms of a particle: the vertices of its α-shape (probe-sphere rule)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import Delaunay, QhullError, cKDTree

from aet.errors import AetInputError

#: Default probe (α) radius as a multiple of the median nearest-neighbour distance.
PROBE_FACTOR = 2.0

SURFACE_RULE = (
    "α-shape / probe sphere: a true atom is a surface atom if an empty sphere of the probe radius (default 2 × the "
    "median nearest-neighbour distance) can touch it, i.e. it is a vertex of the boundary of the α-shape of the "
    "true positions; every other true atom is interior"
)

_FACES = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])  # face k of a tetrahedron is opposite vertex k


def nearest_neighbour_distance(positions: np.ndarray) -> float:
    """Median distance (Å) from each atom to its nearest neighbour; NaN for fewer than two atoms."""
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    if len(pos) < 2:
        return float("nan")
    d, _ = cKDTree(pos).query(pos, k=2)
    return float(np.median(d[:, 1]))


def _circumradii(tets: np.ndarray) -> np.ndarray:
    """Circumradius (Å) of each tetrahedron ``[T, 4, 3]``; ``inf`` for flat ones."""
    u, v, w = (tets[:, k] - tets[:, 0] for k in (1, 2, 3))
    vw, wu, uv = np.cross(v, w), np.cross(w, u), np.cross(u, v)
    det = np.einsum("ij,ij->i", u, vw)
    num = (u * u).sum(1)[:, None] * vw + (v * v).sum(1)[:, None] * wu + (w * w).sum(1)[:, None] * uv
    with np.errstate(divide="ignore", invalid="ignore"):
        radius = np.linalg.norm(num, axis=1) / np.abs(2.0 * det)
    return np.where(np.isfinite(radius), radius, np.inf)


def surface_atoms(positions: np.ndarray, probe_radius: float | None = None) -> np.ndarray:
    """Boolean mask of the surface atoms of a particle (α-shape rule).

    An atom is a surface atom when an empty probe sphere of radius ``probe_radius`` (Å), one with no atom
    centre inside, can touch it. This is computed exactly with the α-shape: the Delaunay tetrahedra whose
    circumradius is below the probe radius fill the region the probe cannot enter; surface atoms are the
    vertices of its boundary triangles (the outside, or a cavity larger than the probe, on one side) and the
    atoms in no such tetrahedron (isolated atoms; sets too small or flat for a tetrahedron). Vacancies and
    the voids of open networks (amorphous Si) are smaller than the default probe and stay interior.

    The rule needs no coordination shells, so it works the same for crystals (on an fcc particle it picks
    exactly the atoms with fewer than 12 neighbours) and for amorphous particles.

    Args:
        positions: ``[N, 3]`` atom positions in Å.
        probe_radius: α in Å; default :data:`PROBE_FACTOR` × the median nearest-neighbour distance.
    """
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    n = len(pos)
    if n < 5:
        return np.ones(n, dtype=bool)
    if probe_radius is None:
        probe_radius = PROBE_FACTOR * nearest_neighbour_distance(pos)
    if not np.isfinite(probe_radius) or probe_radius <= 0:
        raise AetInputError(f"probe_radius must be a positive number of Å, got {probe_radius!r}.")
    # Lattices are full of co-spherical atoms, where Delaunay tetrahedra (and slivers) are ill-defined. A fixed
    # jitter of 1e-5 × the bond length puts the points in general position; the α-shape of the jittered set is
    # then well defined, and the same as for any smaller jitter.
    jitter = 1e-5 * nearest_neighbour_distance(pos)
    work = pos + np.random.default_rng(0).normal(0.0, jitter, pos.shape)
    try:
        tri = Delaunay(work)
    except (QhullError, ValueError):  # coplanar or otherwise degenerate: everything is surface
        return np.ones(n, dtype=bool)
    simplices = tri.simplices
    inside = _circumradii(work[simplices]) < probe_radius
    neighbours = tri.neighbors
    outside_face = (neighbours < 0) | ~inside[np.maximum(neighbours, 0)]
    tet, face = np.nonzero(inside[:, None] & outside_face)
    surface = np.zeros(n, dtype=bool)
    surface[simplices[tet[:, None], _FACES[face]].ravel()] = True
    covered = np.zeros(n, dtype=bool)
    covered[simplices[inside].ravel()] = True
    return surface | ~covered
