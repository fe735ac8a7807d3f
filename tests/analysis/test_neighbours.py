"""RDF and order of the asi208 amorphous Si ground truth, against an independent scipy computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.distance import pdist

from aet.analysis.analyse import analyse
from aet.analysis.neighbours import neighbour_list, rdf
from aet.metrics import load_asi208_truth


def _scipy_first_peak(pos: np.ndarray, bin_width: float = 0.02) -> float:
    """First peak of the pair-distance histogram over 4πr²: the independent reference."""
    d = pdist(pos)
    edges = np.arange(0.0, 8.0 + bin_width, bin_width)
    hist, _ = np.histogram(d, edges)
    r = (edges[1:] + edges[:-1]) / 2
    g = hist / (4 * np.pi * r**2 * bin_width)
    k = int(np.argmax(g))
    y0, y1, y2 = g[k - 1 : k + 2]
    return float(r[k] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2) * bin_width)


def test_asi208_first_rdf_peak_and_q6(shared_data: Path) -> None:
    truth = load_asi208_truth(shared_data / "asi208" / "aSi_208atoms_GT.txt")
    result = analyse(truth, progress=False)
    peak = result.summary["neighbours"]["rdf"]["first_peak_A"]
    assert abs(peak - _scipy_first_peak(truth.positions)) <= 0.03
    assert 2.2 < peak < 2.5  # Si–Si bond
    q6 = result.summary["order"]["q6_histogram"]
    assert sum(q6["counts"]) == len(truth)
    assert np.isfinite(result.per_atom["q6"]).all()
    assert result.summary["structure"]["counts"]["fcc"] == 0
    assert result.summary.get("grains") == []


def test_neighbour_list_matches_brute_force() -> None:
    pos = np.random.default_rng(0).uniform(0, 20, (300, 3))
    nbrs = neighbour_list(pos, 3.0)
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    assert len(nbrs.i) == int(((d < 3.0) & (d > 0)).sum())
    np.testing.assert_array_equal(nbrs.coordination, ((d < 3.0) & (d > 0)).sum(1))
    g = rdf(pos, r_max=6.0, bin_width=0.1)
    assert g.r.shape == g.g.shape == (60,)
