"""Order in amorphous (and any) structures: Steinhardt bond-orientational order q4, q6 (freud) and Voronoi
indices ⟨n3, n4, n5, n6⟩ with the fraction of full icosahedra ⟨0, 0, 12, 0⟩ (scipy's Voronoi; freud's Voronoi
needs a periodic box and does not give the edge count of each face)."""

from __future__ import annotations

import freud
import numpy as np
import numpy.typing as npt
from scipy.spatial import QhullError, Voronoi, cKDTree

from aet.analysis.neighbours import Neighbours, _box


def steinhardt(positions: npt.NDArray[np.float64], nbrs: Neighbours) -> dict[str, npt.NDArray[np.float64]]:
    """Per-atom q4 and q6 over each atom's first-shell neighbours (NaN for atoms without neighbours)."""
    box, pts = _box(np.asarray(positions, dtype=np.float64), nbrs.cutoff)
    nlist = freud.locality.NeighborList.from_arrays(len(pts), len(pts), nbrs.i, nbrs.j, pts[nbrs.j] - pts[nbrs.i])
    out = {}
    for l_ in (4, 6):
        calc = freud.order.Steinhardt(l_)
        calc.compute(system=(box, pts), neighbors=nlist)
        q = np.asarray(calc.particle_order, dtype=np.float64)
        q[nbrs.coordination == 0] = np.nan
        out[f"q{l_}"] = q
    return out


def voronoi_indices(
    positions: npt.NDArray[np.float64],
    interior: npt.NDArray[np.bool_],
    min_face_fraction: float = 0.01,
    reach: float = 8.0,
) -> dict[int, tuple[int, int, int, int]]:
    """Voronoi index ⟨n3, n4, n5, n6⟩ (faces with 3, 4, 5, 6 edges) of each ``interior`` atom.

    Faces smaller than ``min_face_fraction`` of the cell's total face area are dropped, as usual for metallic
    glasses, so that near-degenerate vertices do not add spurious tiny faces. Only the atoms within ``reach`` Å of
    an indexed atom enter the tessellation (a cell depends on its neighbours only). Vectorised over all faces: each
    face's vertices are put in order by their angle about the face normal (the line between its two atoms), then
    its area is the shoelace sum.
    """
    pos = np.asarray(positions, dtype=np.float64)
    targets = np.flatnonzero(interior)
    if len(targets) == 0:
        return {}
    near = np.zeros(len(pos), bool)
    for hits in cKDTree(pos).query_ball_point(pos[targets], reach):
        near[hits] = True
    local = np.flatnonzero(near)
    try:
        vor = Voronoi(pos[local])
    except (QhullError, ValueError):
        return {}
    is_target = interior[local]
    lengths = np.array([len(v) for v in vor.ridge_vertices])
    flat = np.fromiter((k for v in vor.ridge_vertices for k in v), dtype=np.int64, count=int(lengths.sum()))
    ridge = np.repeat(np.arange(len(lengths)), lengths)
    bounded = np.ones(len(lengths), bool)
    bounded[ridge[flat < 0]] = False
    a, b = vor.ridge_points.T
    keep = bounded & (is_target[a] | is_target[b])
    sel = keep[ridge]
    ridge, flat = ridge[sel], flat[sel]
    verts = vor.vertices[flat]
    normal = vor.points[b] - vor.points[a]
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    centre = np.zeros((len(lengths), 3))
    np.add.at(centre, ridge, verts)
    centre[keep] /= lengths[keep, None]
    rel = verts - centre[ridge]
    n = normal[ridge]
    helper = np.where(np.abs(n[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(n, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(n, u)
    order = np.lexsort((np.arctan2((rel * v).sum(1), (rel * u).sum(1)), ridge))
    ridge, rel, n = ridge[order], rel[order], n[order]
    starts = np.flatnonzero(np.r_[True, ridge[1:] != ridge[:-1]])
    nxt = np.arange(len(ridge)) + 1
    ends = np.r_[starts[1:], len(ridge)]
    nxt[ends - 1] = starts  # close each polygon
    twice = (np.cross(rel, rel[nxt]) * n).sum(1)
    area = np.zeros(len(lengths))
    area[ridge[starts]] = 0.5 * np.abs(np.add.reduceat(twice, starts))
    faces = np.flatnonzero(keep)
    owner = np.concatenate([a[faces], b[faces]])
    face_area = np.concatenate([area[faces], area[faces]])
    edges = np.concatenate([lengths[faces], lengths[faces]])
    total = np.bincount(owner, weights=face_area, minlength=len(local))
    counted = is_target[owner] & (face_area >= min_face_fraction * total[owner]) & (edges >= 3) & (edges <= 6)
    hist = np.zeros((len(local), 7), dtype=np.int64)
    np.add.at(hist, (owner[counted], edges[counted]), 1)
    return {int(local[k]): (int(hist[k, 3]), int(hist[k, 4]), int(hist[k, 5]), int(hist[k, 6]))
            for k in np.flatnonzero(is_target)}  # fmt: skip


def icosahedral_fraction(indices: dict[int, tuple[int, int, int, int]]) -> float:
    """Fraction of the indexed atoms whose cell is a full icosahedron ⟨0, 0, 12, 0⟩."""
    if not indices:
        return float("nan")
    return sum(v == (0, 0, 12, 0) for v in indices.values()) / len(indices)
