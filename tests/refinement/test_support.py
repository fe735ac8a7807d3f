"""The least-squares occupancy of each atom given the others (aet.refinement.support)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import aet
from aet.model import AtomicModel
from aet.refinement.forward import Geometry, predict
from aet.refinement.support import SUPPORTED, occupancy, residual
from aet.simulate import Acquisition, simulate_tilt_series, tilt_range
from aet.simulate.structures import build_model


@pytest.fixture(scope="module")
def refined():
    """A 1 nm Pt particle (±70°, 29 projections, 1e5 e/Å²) refined from its true atoms."""
    truth = build_model("cuboctahedron", ["Pt"], 1.0)
    ts = simulate_tilt_series(truth, tilt_range(-70, 70, 5), Acquisition(dose=1e5, seed=3))
    model, report = aet.refine(truth, ts, iterations=3, angle_correction=False, progress=False)
    return truth, ts, model, report


def _misfit(model: AtomicModel, ts, report) -> float:  # noqa: ANN001
    return 0.5 * float((residual(model, ts, report).images.astype(np.float64) ** 2).sum())


def test_occupancy_is_the_least_squares_weight_of_each_atom(refined) -> None:
    """o_a minimises the misfit over a weight on atom a alone: the misfit is a parabola in the weight, so three
    evaluations give its minimum, which the one-gradient formula must match."""
    _, ts, model, report = refined
    occ = occupancy(model, ts, report)
    for a in (0, len(model) // 2, len(model) - 1):
        eps = []
        for w in (0.0, 1.0, 2.0):
            h = model.height.copy()
            h[a] *= w
            eps.append(_misfit(replace(model, height=h), ts, report))
        vertex = 1.0 - (eps[2] - eps[0]) / (2 * (eps[2] - 2 * eps[1] + eps[0]))  # of the parabola through w = 0, 1, 2
        assert occ[a] == pytest.approx(vertex, abs=2e-3)


def test_true_atoms_are_supported_and_invented_or_missing_ones_are_found(refined) -> None:
    truth, ts, model, report = refined
    occ = occupancy(model, ts, report)
    assert occ.min() > 0.8 and abs(np.median(occ) - 1) < 0.05
    # an atom invented in the vacuum beside the particle, and one of the true atoms left out
    invented = model.positions[np.argmax(model.positions[:, 0])] + np.array([2.8, 0.0, 0.0])
    with_invented = AtomicModel(np.vstack([model.positions, invented]), [*model.elements, "Pt"],
                                b_factor=np.r_[model.b_factor, model.b_factor[0]],
                                height=np.r_[model.height, model.height[0]])  # fmt: skip
    assert occupancy(with_invented, ts, report)[-1] < SUPPORTED
    keep = np.ones(len(model), bool)
    keep[0] = False
    missing = occupancy(model.subset(keep), ts, report, candidates=model.subset(~keep))
    assert missing[-1] > 0.8  # the left-out atom, added alone, is called for


def test_residual_is_measured_minus_predicted(refined) -> None:
    _, ts, model, report = refined
    kw = {"dtype": torch.float64}
    calc = predict(Geometry.of(ts), *(torch.as_tensor(v, **kw) for v in (
        model.positions, model.b_factor, model.height, report.image_scale, report.image_background)))  # fmt: skip
    res = residual(model, ts, report)
    assert res.images.shape == ts.images.shape and np.array_equal(res.angles, ts.angles)
    np.testing.assert_allclose(res.images, ts.images - calc.numpy(), atol=1e-4 * np.abs(ts.images).max())
