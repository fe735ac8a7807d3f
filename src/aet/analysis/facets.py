"""Facets of a particle: the planar faces of its convex hull, labelled {100}, {111}, {110} or high-index.

The hull is scipy's (Qhull); its triangles are merged into planar faces here, because no library of the field
labels crystal facets of a finite particle. Normals are compared with the crystal axes of the fitted lattice.
Areas are those of the hull through the atom centres (Å²).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import ConvexHull, QhullError

#: Low-index facet families and the largest angle (degrees) between a face normal and the family's direction.
FAMILIES = {"{111}": (1, 1, 1), "{100}": (1, 0, 0), "{110}": (1, 1, 0)}
ANGLE_TOLERANCE = 6.0


@dataclass
class Facet:
    """One planar face of the hull: its family, unit normal (model frame), area (Å²) and atom count."""

    family: str
    normal: npt.NDArray[np.float64]
    area: float
    n_atoms: int


def family(normal_crystal: npt.NDArray[np.float64], tolerance: float = ANGLE_TOLERANCE) -> str:
    """{hkl} family of a unit normal given along the crystal axes, or "high-index"."""
    folded = np.sort(np.abs(normal_crystal))[::-1]
    for name, hkl in FAMILIES.items():
        ref = np.sort(np.abs(np.asarray(hkl, dtype=float)))[::-1]
        if folded @ ref / np.linalg.norm(ref) >= np.cos(np.radians(tolerance)):
            return name
    return "high-index"


def facets(
    positions: npt.NDArray[np.float64],
    surface: npt.NDArray[np.bool_],
    grain: npt.NDArray[np.int64],
    rotations: dict[int, npt.NDArray[np.float64]],
    nn_distance: float,
) -> tuple[npt.NDArray[np.str_], list[Facet]]:
    """Facet label of every atom ("interior" for interior atoms) and the list of facets.

    A surface atom on one face gets that face's family; on two or more faces it is an "edge" atom (edges and
    corners); a surface atom on no hull face (a step, a concave site) is "high-index". A face is judged against the
    lattice of the grain most of its atoms belong to; ``rotations[g]`` has grain g's crystal axes as columns (see
    :class:`aet.analysis.lattice.Lattice`).
    """
    pos = np.asarray(positions, dtype=np.float64)
    labels = np.full(len(pos), "interior", dtype="<U10")
    labels[surface] = "high-index"
    try:
        hull = ConvexHull(pos)
    except (QhullError, ValueError):
        return labels, []
    normals, offsets = hull.equations[:, :3], -hull.equations[:, 3]
    tri = pos[hull.simplices]
    areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    face = np.full(len(normals), -1)
    tol = 0.3 * nn_distance  # Å: atoms within this of a face plane lie on it
    merged: list[tuple[npt.NDArray[np.float64], float, float]] = []
    for t in np.argsort(-areas):
        if face[t] >= 0:
            continue
        same = (face < 0) & (normals @ normals[t] > np.cos(np.radians(3.0))) & (np.abs(offsets - offsets[t]) < tol)
        face[same] = len(merged)
        n = normals[same].T @ areas[same]
        n /= np.linalg.norm(n)
        merged.append((n, float(np.median(offsets[same])), float(areas[same].sum())))
    on = np.stack([np.abs(pos @ n - d) < tol for n, d, _ in merged], axis=1)  # [atoms, faces]
    on &= surface[:, None]
    result = []
    for k, (n, _, area) in enumerate(merged):
        owners = grain[on[:, k] & (grain >= 0)]
        owner = int(np.bincount(owners).argmax()) if len(owners) else -1
        rotation = rotations.get(owner, next(iter(rotations.values())))
        result.append(Facet(family(rotation.T @ n), n, area, int(on[:, k].sum())))
    count = on.sum(1)
    single = np.flatnonzero(count == 1)
    labels[single] = [result[k].family for k in np.argmax(on[single], axis=1)]
    labels[count >= 2] = "edge"
    return labels, result


def facet_areas(found: list[Facet]) -> dict[str, float]:
    """Total area (Å²) of each family."""
    out: dict[str, float] = {}
    for f in found:
        out[f.family] = out.get(f.family, 0.0) + f.area
    return out
