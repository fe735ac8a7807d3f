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

from aet.elements import adf_cross_section
from aet.errors import AetInputError, AetSpeciesError

#: Two neighbouring classes must differ by at least this many pooled standard deviations to count as separate.
MIN_SEPARATION = 1.0
#: Species whose expected ADF brightness ratio (lighter / heavier) exceeds this are not told apart by intensity.
MAX_EXPECTED_RATIO = 0.85


def check_species(species: list[str]) -> np.ndarray:
    """Expected ADF brightness ratios of neighbouring species (sorted by Z); refuse pairs no intensity can split."""
    sigma = adf_cross_section(species)
    ratio = sigma[:-1] / sigma[1:]
    for k, r in enumerate(ratio):
        if r > MAX_EXPECTED_RATIO:
            raise AetSpeciesError(
                f"{species[k]} and {species[k + 1]} cannot be separated: their ADF contrast (Z^1.7) differs by only "
                f"{100 * (1 - r):.0f} %; trace them as one element."
            )
    return ratio


def global_classes(
    intensity: np.ndarray, species: list[str], method: str = "kmeans", seed: int = 0
) -> np.ndarray:
    """Class labels 0…n−1 (ordered by mean intensity, i.e. by Z of ``species``) from a 1-D clustering."""
    n = len(species)
    x = np.asarray(intensity, dtype=np.float64).reshape(-1, 1)
    if n == 1:
        return np.zeros(len(x), dtype=np.int64)
    expected = check_species(species)
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
    check_separation(x[:, 0], out, species, expected)
    return out


def check_separation(intensity: np.ndarray, labels: np.ndarray, species: list[str], expected: np.ndarray) -> None:
    """Refuse a split that the intensities do not support.

    Neighbouring classes must (1) each hold ≥ 2 atoms, (2) differ by ≥ ``MIN_SEPARATION`` pooled standard
    deviations, and (3) show at least half the expected contrast on a log scale, log(Iₖ/Iₖ₊₁) ≤ ½·log(σₖ/σₖ₊₁):
    reconstructions compress contrast, but a split of one element by surface/bulk intensity (ratio ≈ 0.95)
    does not pass for Fe/Pt (expected 0.16).
    """
    for k in range(len(species) - 1):
        a, b = intensity[labels == k], intensity[labels == k + 1]
        pair = f"{species[k]} and {species[k + 1]}"
        if len(a) < 2 or len(b) < 2:
            raise AetSpeciesError(f"{pair} cannot be separated: a class would hold fewer than 2 atoms.")
        pooled = np.sqrt(0.5 * (a.var() + b.var()))
        gap = (b.mean() - a.mean()) / max(pooled, 1e-30)
        ratio = a.mean() / b.mean() if b.mean() > 0 else 1.0
        if gap < MIN_SEPARATION or not 0 < ratio <= np.sqrt(expected[k]):
            raise AetSpeciesError(
                f"{pair} cannot be separated: the two intensity classes differ by {gap:.2f} standard deviations "
                f"with a brightness ratio of {ratio:.2f} (expected about {expected[k]:.2f} from Z^1.7); "
                "give fewer elements or a better tomogram."
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


def estimate_species_count(intensity: np.ndarray, max_species: int = 4, seed: int = 0, sample: int = 2000) -> int:
    """Number of intensity classes: Gaussian mixtures chosen by the Bayesian information criterion.

    A mixture of k components counts only if its neighbouring means differ by more than the brightness ratio
    that any two species can show (:data:`MAX_EXPECTED_RATIO`): the summed intensity of one element also varies a
    little with the atom's surroundings and sub-voxel position, which BIC alone would call extra species. At most
    ``sample`` atoms (a seeded random subset) enter the fits.
    """
    x = np.asarray(intensity, dtype=np.float64).reshape(-1)
    if len(x) < 2:
        return len(x)
    rng = np.random.default_rng(seed)
    x = (x if len(x) <= sample else rng.choice(x, sample, replace=False)).reshape(-1, 1)
    scale = x.std() or 1.0
    best, best_bic = 1, np.inf
    for k in range(1, min(max_species, len(np.unique(x))) + 1):
        gmm = GaussianMixture(n_components=k, n_init=2, random_state=seed).fit(x / scale)
        means = np.sort(gmm.means_[:, 0]) * scale
        if k > 1 and not (means[0] > 0 and np.all(means[:-1] / means[1:] <= MAX_EXPECTED_RATIO)):
            continue
        bic = gmm.bic(x / scale)
        if bic < best_bic:
            best, best_bic = k, bic
    return best
