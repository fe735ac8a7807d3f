"""The guard of aet run: a network's atoms only as far as the measured projections support them."""

from __future__ import annotations

import numpy as np
import pytest

import aet
from aet.metrics import compare
from aet.model import AtomicModel, TiltSeries, Volume
from aet.pipeline.guard import GuardReport, guard
from aet.settings.refine import RefineSettings
from aet.simulate import Acquisition, simulate_tilt_series, tilt_range
from aet.simulate.structures import build_model


@pytest.fixture(scope="module")
def particle():
    """A 1.2 nm Pt particle (±70°, 29 projections, 1e5 e/Å²) and its tomogram's trace."""
    truth = build_model("cuboctahedron", ["Pt"], 1.2)
    ts = simulate_tilt_series(truth, tilt_range(-70, 70, 5), Acquisition(dose=1e5, seed=4))
    traced = aet.trace(aet.reconstruct(ts, "resire", iterations=30, progress=False), ["Pt"])
    return truth, ts, traced


def _difference_map(residual: TiltSeries) -> Volume:
    return aet.reconstruct(residual, "resire", iterations=30, positivity=False, progress=False)


def _run(network: AtomicModel, tomogram: AtomicModel, ts: TiltSeries) -> tuple[AtomicModel, GuardReport]:
    settings = RefineSettings(angle_correction=False)
    return guard(network, tomogram, ts, settings, _difference_map, ["Pt"], 2.0)


def test_invented_atoms_are_dropped_and_lost_ones_added(particle) -> None:
    """A 'network' trace with 4 atoms lost and 4 invented in the vacuum: the guard keeps it (it still fits better
    than a tomogram trace that lost a third of the atoms), drops the invented atoms and adds the lost ones back."""
    truth, ts, traced = particle
    rng = np.random.default_rng(0)
    lost = rng.choice(len(truth), 4, replace=False)
    kept = np.setdiff1d(np.arange(len(truth)), lost)
    outward = truth.positions[rng.choice(kept, 4, replace=False)]
    invented = outward * (1 + 2.6 / np.linalg.norm(outward, axis=1, keepdims=True))  # 2.6 Å beyond surface atoms
    network = AtomicModel(np.vstack([truth.positions[kept], invented]), ["Pt"] * (len(kept) + 4))
    poor = traced.subset(np.arange(len(traced)) % 3 != 0)
    checked, report = _run(network, poor, ts)
    assert report.decision == "network" and report.fit_network < report.fit_tomogram
    assert report.dropped >= 4 and report.added >= 4
    c = compare(checked, truth, 0.9)
    assert c.recall == 1.0 and c.precision == 1.0, c.to_dict()
    assert np.all(checked.scores["support"] >= 0.5)
    assert report.atoms == len(checked) == len(network) - report.dropped + report.added


def test_a_network_that_fits_worse_is_set_aside(particle) -> None:
    """A 'network' trace that lost half of the atoms fits the images worse than the tomogram's: the run goes on from
    the tomogram's trace, and says so."""
    truth, ts, traced = particle
    checked, report = _run(truth.subset(np.arange(len(truth)) % 2 == 0), traced, ts)
    assert report.decision == "tomogram" and report.fit_network > report.fit_tomogram
    assert "continues from the tomogram's" in report.sentence()
    assert compare(checked, truth, 0.9).recall >= 0.98
    assert GuardReport.from_dict(report.to_dict()) == report


def test_a_tomogram_without_atoms_leaves_the_network_trace_alone_to_check(particle) -> None:
    truth, ts, _ = particle
    checked, report = _run(truth, AtomicModel(np.zeros((0, 3)), []), ts)
    assert report.decision == "network" and report.fit_tomogram is None and report.atoms_tomogram == 0
    assert "none traced" in report.sentence() and compare(checked, truth, 0.9).f1 == 1.0
