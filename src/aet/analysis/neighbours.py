"""Neighbours, coordination numbers, bond lengths and radial distribution functions (Å) of a finite model.

Neighbour queries and RDF histograms use freud (Glotzer group). freud only queries periodic boxes, so the particle
sits in a box wider than itself by twice the query range: no periodic image then comes within range, and the
distances are those of the finite particle.
"""

from __future__ import annotations

from dataclasses import dataclass

import freud
import numpy as np
import numpy.typing as npt
from scipy.spatial import ConvexHull, QhullError, cKDTree

from aet.errors import AetInputError

#: First-shell cut-off as a multiple of the nearest-neighbour distance: halfway between the first (d) and the
#: second (√2 d) fcc shells, the adaptive-CNA rule of Stukowski (2012).
SHELL_FACTOR = (1 + 2**0.5) / 2


@dataclass
class Neighbours:
    """Directed neighbour pairs ``i → j`` within ``cutoff`` (Å), each unordered pair listed both ways."""

    i: npt.NDArray[np.int64]
    j: npt.NDArray[np.int64]
    distance: npt.NDArray[np.float64]
    cutoff: float
    n_atoms: int

    @property
    def coordination(self) -> npt.NDArray[np.int64]:
        """Number of neighbours of each atom."""
        return np.bincount(self.i, minlength=self.n_atoms).astype(np.int64)

    def mean_bond_length(self) -> npt.NDArray[np.float64]:
        """Mean distance (Å) from each atom to its neighbours; NaN for atoms without any."""
        total = np.bincount(self.i, weights=self.distance, minlength=self.n_atoms)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.coordination > 0, total / np.maximum(self.coordination, 1), np.nan)


def _box(positions: npt.NDArray[np.float64], margin: float) -> tuple[freud.box.Box, npt.NDArray[np.float32]]:
    """A cubic freud box holding the (centred) positions with ``margin`` Å of empty space on every side."""
    centred = positions - (positions.max(0) + positions.min(0)) / 2
    box = freud.box.Box.cube(float(2 * np.abs(centred).max() + 2 * margin + 1.0))
    return box, centred.astype(np.float32)


def median_nn_distance(positions: npt.NDArray[np.float64]) -> float:
    """Median distance (Å) from each atom to its nearest neighbour."""
    d, _ = cKDTree(positions).query(positions, k=2)
    return float(np.median(d[:, 1]))


def neighbour_list(positions: npt.NDArray[np.float64], cutoff: float) -> Neighbours:
    """All pairs closer than ``cutoff`` Å (freud AABB query), sorted by the first atom."""
    pos = np.asarray(positions, dtype=np.float64)
    box, pts = _box(pos, cutoff)
    nlist = freud.locality.AABBQuery(box, pts).query(pts, {"r_max": cutoff, "exclude_ii": True}).toNeighborList()
    i = np.asarray(nlist.query_point_indices, dtype=np.int64)
    j = np.asarray(nlist.point_indices, dtype=np.int64)
    d = np.linalg.norm(pos[j] - pos[i], axis=1)  # in float64: freud works in float32
    order = np.lexsort((j, i))
    return Neighbours(i[order], j[order], d[order], float(cutoff), len(pos))


def particle_volume(positions: npt.NDArray[np.float64], nn_distance: float) -> float:
    """Volume (Å³) of the convex hull grown by half a bond: the space the atoms fill."""
    try:
        hull = ConvexHull(positions)
    except (QhullError, ValueError):
        return float("nan")
    return float(hull.volume + hull.area * nn_distance / 2)


@dataclass
class RDF:
    """Radial distribution function g(r) of a finite particle, normalised by its own mean number density."""

    r: npt.NDArray[np.float64]
    g: npt.NDArray[np.float64]
    pair: str

    def first_peak(self) -> float:
        """Position (Å) of the highest maximum, refined by a parabola through it and its two bins."""
        k = int(np.clip(np.argmax(self.g), 1, len(self.g) - 2))
        y0, y1, y2 = self.g[k - 1 : k + 2]
        den = y0 - 2 * y1 + y2
        shift = 0.5 * (y0 - y2) / den if den < 0 else 0.0
        return float(self.r[k] + shift * (self.r[1] - self.r[0]))


def rdf(
    positions: npt.NDArray[np.float64],
    r_max: float = 8.0,
    bin_width: float = 0.02,
    query: npt.NDArray[np.bool_] | None = None,
    points: npt.NDArray[np.bool_] | None = None,
    density: float | None = None,
    pair: str = "all",
) -> RDF:
    """g(r) from 0 to ``r_max`` Å (freud RDF): of the atoms ``points`` around the atoms ``query`` (all by default).

    ``density`` is the number density (Å⁻³) of the ``points`` atoms in the particle, by default their count over
    :func:`particle_volume`. A finite particle's g(r) falls towards zero at large r (fewer partners inside it);
    peak positions are unaffected.
    """
    pos = np.asarray(positions, dtype=np.float64)
    qmask = np.ones(len(pos), bool) if query is None else query
    pmask = np.ones(len(pos), bool) if points is None else points
    box, pts = _box(pos, r_max)
    calc = freud.density.RDF(bins=int(round(r_max / bin_width)), r_max=r_max)
    calc.compute(system=(box, pts[pmask]), query_points=pts[qmask], neighbors={"r_max": r_max, "exclude_ii": True})
    if density is None:
        density = pmask.sum() / particle_volume(pos, median_nn_distance(pos))
    # freud normalises by the box's density; rescale to the particle's own.
    g = np.asarray(calc.rdf, dtype=np.float64) * (pmask.sum() / box.volume) / density
    return RDF(np.asarray(calc.bin_centers, dtype=np.float64), g, pair)


def check_model_size(n_atoms: int) -> None:
    """Refuse a model too small to have neighbours."""
    if n_atoms < 2:
        raise AetInputError(
            f"the model has {n_atoms} atom{'s' if n_atoms != 1 else ''}; structure analysis needs at least two atoms "
            "(check that the right file was given and that tracing found the particle)."
        )
