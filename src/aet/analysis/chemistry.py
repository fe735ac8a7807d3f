"""Chemical order of alloys: Warren–Cowley short-range order, the L1₀ long-range order parameter, and the radial
composition profile of core–shell particles. Written with NumPy: these are a few lines of counting on a neighbour
list and the fitted lattice sites, which no library of the field offers for finite particles."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

#: fcc coordination shells in units of the lattice constant; shell k is cut halfway to shell k + 1.
FCC_SHELLS = np.sqrt([0.5, 1.0, 1.5, 2.0])


def warren_cowley(
    positions: npt.NDArray[np.float64], elements: list[str], shell_edges: list[tuple[float, float]]
) -> dict[str, list[float]]:
    """Warren–Cowley α for every ordered species pair and shell: α_ij = 1 − p(j around i) / c_j.

    ``shell_edges`` are (inner, outer) radii in Å. For an unlike pair, α < 0: unlike neighbours preferred
    (ordering); α > 0: fewer unlike neighbours than at random (clustering, segregation); 0 for a random alloy.
    Keys are "Fe-Pt" (Pt around Fe).
    """
    species = sorted(set(elements))
    kind = np.array([species.index(e) for e in elements])
    conc = np.bincount(kind, minlength=len(species)) / len(kind)
    tree = cKDTree(positions)
    out: dict[str, list[float]] = {f"{a}-{b}": [] for a in species for b in species}
    for inner, outer in shell_edges:
        pairs = tree.query_pairs(outer, output_type="ndarray")
        dist = np.linalg.norm(positions[pairs[:, 0]] - positions[pairs[:, 1]], axis=1)
        pairs = pairs[dist > inner]
        both = np.concatenate([pairs, pairs[:, ::-1]])
        counts = np.zeros((len(species), len(species)))
        np.add.at(counts, (kind[both[:, 0]], kind[both[:, 1]]), 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = counts / counts.sum(1, keepdims=True)
            alpha = 1 - p / conc[None, :]
        for a, sa in enumerate(species):
            for b, sb in enumerate(species):
                out[f"{sa}-{sb}"].append(float(alpha[a, b]))
    return out


def l10_order(sites: npt.NDArray[np.int64], elements: list[str]) -> dict[str, Any]:
    """L1₀ long-range order parameter S = r_α + r_β − 1 of fcc sites (indices in a/2 units).

    The two sublattices are alternate (001) planes; each of the three cube axes is tried as the c axis and the
    one with the largest S reported (``c_axis`` along the crystal axes, ``axis`` its index), with the species
    named ``alpha`` on the α (even) planes. S = 1: perfect order; 0: random.
    A random particle of N atoms still shows |S| ≈ 1/√N by chance.
    """
    counts = Counter(elements).most_common(2)
    if len(counts) < 2:
        return {"S": float("nan"), "c_axis": None, "axis": None, "alpha": None}
    (first, _), (second, _) = counts
    best: dict[str, Any] = {"S": 0.0, "c_axis": None, "axis": None, "alpha": first}
    el = np.asarray(elements)
    for axis, name in enumerate(("[100]", "[010]", "[001]")):
        even = sites[:, axis] % 2 == 0
        for alpha_species, beta_species in ((first, second), (second, first)):
            r_alpha = float(np.mean(el[even] == alpha_species)) if even.any() else 0.0
            r_beta = float(np.mean(el[~even] == beta_species)) if (~even).any() else 0.0
            s = r_alpha + r_beta - 1
            if s > float(best["S"]) or best["c_axis"] is None:
                best = {"S": s, "c_axis": name, "axis": axis, "alpha": alpha_species}
    return best


def radial_profile(
    positions: npt.NDArray[np.float64], elements: list[str], bin_width: float = 2.0
) -> dict[str, list[float]]:
    """Composition (atom fraction per species) in spherical shells of ``bin_width`` Å around the centroid."""
    r = np.linalg.norm(positions - positions.mean(0), axis=1)
    edges = np.arange(0.0, r.max() + bin_width, bin_width)
    which = np.clip(np.digitize(r, edges) - 1, 0, len(edges) - 2)
    total = np.bincount(which, minlength=len(edges) - 1).astype(float)
    out: dict[str, list[float]] = {"r_inner_A": [float(e) for e in edges[:-1]], "atoms": total.tolist()}
    el = np.asarray(elements)
    for sp in sorted(set(elements)):
        n = np.bincount(which[el == sp], minlength=len(edges) - 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[sp] = (n / total).tolist()
    return out
