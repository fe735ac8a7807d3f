"""Species classification from the integrated intensity around each atom.

As in the published AET pipelines (e.g. Yang et al., Nature 542, 75 (2017)): a global clustering of the
integrated intensities (k-means, or a Gaussian mixture), then a local re-classification: every atom is given the
class whose mean intensity *among the atoms within ``radius`` Å* is closest to its own, repeated until no atom
changes class. The local step corrects slow intensity variations across a particle (thickness, missing-wedge
blur). Classes are ordered by mean intensity, so the heaviest element gets the brightest class.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from aet.errors import AetInputError

#: Two neighbouring classes must differ by at least this many pooled standard deviations to count as separate.
MIN_SEPARATION = 1.0


def global_classes(intensity: np.ndarray, n: int, method: str = "kmeans", seed: int = 0) -> np.ndarray:
    """Class labels 0…n−1 (ordered by mean intensity) from a 1-D clustering of ``intensity``."""
    x = np.asarray(intensity, dtype=np.float64).reshape(-1, 1)
    if n == 1:
        return np.zeros(len(x), dtype=np.int64)
    if len(np.unique(x)) < n:
        raise AetInputError(
            f"{n} species were asked for but the {len(x)} atoms have fewer distinct intensities; give fewer elements."
        )
    scale = x.std() or 1.0
    if method == "kmeans":
        raw = KMeans(n_clusters=n, n_init=10, random_state=seed).fit_predict(x / scale)
    elif method == "gmm":
        raw = GaussianMixture(n_components=n, n_init=3, random_state=seed).fit_predict(x / scale)
    else:
        raise AetInputError(f"unknown classification method {method!r}; use 'kmeans' or 'gmm'.")
    order = np.argsort([x[raw == k].mean() if np.any(raw == k) else np.inf for k in range(n)])
    labels = np.empty(n, dtype=np.int64)
    labels[order] = np.arange(n)
    out = labels[raw]
    check_separation(x[:, 0], out, n)
    return out


def check_separation(intensity: np.ndarray, labels: np.ndarray, n: int) -> None:
    """Refuse a split into ``n`` classes that the intensities do not support (empty or overlapping classes)."""
    for k in range(n - 1):
        a, b = intensity[labels == k], intensity[labels == k + 1]
        if len(a) < 2 or len(b) < 2:
            raise AetInputError(
                f"{n} species cannot be separated: a class would hold fewer than 2 atoms; give fewer elements."
            )
        pooled = np.sqrt(0.5 * (a.var() + b.var()))
        gap = (b.mean() - a.mean()) / max(pooled, 1e-30)
        if gap < MIN_SEPARATION:
            raise AetInputError(
                f"{n} species cannot be separated: intensity classes {k + 1} and {k + 2} differ by only {gap:.2f} "
                f"standard deviations (need ≥ {MIN_SEPARATION}); give fewer elements or a better tomogram."
            )


def local_reclassify(
    positions: np.ndarray, intensity: np.ndarray, labels: np.ndarray, n: int, radius: float = 10.0, max_rounds: int = 50
) -> tuple[np.ndarray, int]:
    """Local re-classification (module docstring); returns the labels and the number of rounds run.

    Args:
        positions: ``[N, 3]`` in Å. radius: neighbourhood in Å (10 Å in the published work).
    """
    if n == 1 or len(labels) == 0:
        return labels, 0
    pairs = cKDTree(positions).query_pairs(radius, output_type="ndarray")
    m = len(positions)
    rows = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(m)])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(m)])
    adj = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(m, m))
    labels = labels.copy()
    global_mean = np.array([intensity[labels == k].mean() for k in range(n)])
    for rounds in range(1, max_rounds + 1):
        onehot = np.zeros((m, n))
        onehot[np.arange(m), labels] = 1.0
        counts = adj @ onehot
        sums = adj @ (onehot * intensity[:, None])
        local = np.where(counts > 0, sums / np.maximum(counts, 1), global_mean[None])
        new = np.argmin(np.abs(local - intensity[:, None]), axis=1)
        if np.array_equal(new, labels):
            return labels, rounds
        labels = new
    return labels, max_rounds


def estimate_species_count(intensity: np.ndarray, max_species: int = 4, seed: int = 0) -> int:
    """Number of intensity classes preferred by the Bayesian information criterion of Gaussian mixtures."""
    x = np.asarray(intensity, dtype=np.float64).reshape(-1, 1)
    x = x / (x.std() or 1.0)
    best, best_bic = 1, np.inf
    for k in range(1, min(max_species, len(np.unique(x))) + 1):
        bic = GaussianMixture(n_components=k, n_init=2, random_state=seed).fit(x).bic(x)
        if bic < best_bic:
            best, best_bic = k, bic
    return best
