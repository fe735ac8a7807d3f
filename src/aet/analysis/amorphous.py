"""Order in amorphous (and any) structures: Steinhardt bond-orientational order q4, q6 (freud) and Voronoi
indices ⟨n3, n4, n5, n6⟩ with the fraction of full icosahedra ⟨0, 0, 12, 0⟩ (scipy's Voronoi; freud's Voronoi
needs a periodic box and does not give the edge count of each face)."""

from __future__ import annotations

from collections import Counter

import freud
import numpy as np
import numpy.typing as npt
from scipy.spatial import QhullError, Voronoi

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


def _polygon_area(points: npt.NDArray[np.float64]) -> float:
    """Area (Å²) of a planar convex polygon given by its vertices in any order."""
    c = points.mean(0)
    normal = np.cross(points[1] - points[0], points[2] - points[0])
    if np.linalg.norm(normal) == 0:
        return 0.0
    normal /= np.linalg.norm(normal)
    u = points[0] - c
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)
    ang = np.arctan2((points - c) @ v, (points - c) @ u)
    p = points[np.argsort(ang)] - c
    return float(0.5 * np.abs(np.cross(p, np.roll(p, -1, axis=0)) @ normal).sum())


def voronoi_indices(
    positions: npt.NDArray[np.float64], interior: npt.NDArray[np.bool_], min_face_fraction: float = 0.01
) -> dict[int, tuple[int, int, int, int]]:
    """Voronoi index ⟨n3, n4, n5, n6⟩ of each interior atom (surface cells are open and skipped).

    Faces smaller than ``min_face_fraction`` of the cell's total face area are dropped, as usual for metallic
    glasses, so that near-degenerate vertices do not add spurious tiny faces.
    """
    pos = np.asarray(positions, dtype=np.float64)
    try:
        vor = Voronoi(pos)
    except (QhullError, ValueError):
        return {}
    faces: dict[int, list[tuple[float, int]]] = {}
    for (a, b), verts in zip(vor.ridge_points, vor.ridge_vertices, strict=True):
        if -1 in verts or not (interior[a] or interior[b]):
            continue
        area = _polygon_area(vor.vertices[verts])
        for atom in (a, b):
            if interior[atom]:
                faces.setdefault(int(atom), []).append((area, len(verts)))
    out = {}
    for atom, fl in faces.items():
        total = sum(a for a, _ in fl)
        edges = Counter(n for a, n in fl if a >= min_face_fraction * total)
        out[atom] = (edges[3], edges[4], edges[5], edges[6])
    return out


def icosahedral_fraction(indices: dict[int, tuple[int, int, int, int]]) -> float:
    """Fraction of the indexed atoms whose cell is a full icosahedron ⟨0, 0, 12, 0⟩."""
    if not indices:
        return float("nan")
    return sum(v == (0, 0, 12, 0) for v in indices.values()) / len(indices)
