"""Refinement against simulated projections, the R-factor against an independent computation, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import aet
from aet.errors import AetInputError
from aet.metrics import compare
from aet.metrics.rfactor import r_factors
from aet.model import AtomicModel, TiltSeries
from aet.refinement.report import RefineReport
from aet.simulate import Acquisition, simulate_tilt_series, tilt_range
from aet.simulate.structures import build_model


@pytest.fixture(scope="module")
def pt_case():
    """Pt particle, ±65° in 3° steps, 1e5 e/Å², ±0.3° angle errors; and its noise-free twin at the true angles."""
    truth = build_model("cuboctahedron", ["Pt"], 2.0)  # 561 atoms
    acq = Acquisition(dose=1e5, angle_error=0.3, seed=2)
    ts = simulate_tilt_series(truth, tilt_range(-65, 65, 3), acq)
    clean = simulate_tilt_series(truth, tilt_range(-65, 65, 3), Acquisition(dose=None, angle_error=0.3, seed=2))
    return truth, ts, clean


def test_refinement_reaches_the_truth_and_the_noise_floor(pt_case):
    truth, ts, clean = pt_case
    rng = np.random.default_rng(0)
    start = AtomicModel(truth.positions + rng.normal(0, 0.30 / np.sqrt(3), truth.positions.shape), truth.elements)
    assert 25 < compare(start, truth, 0.9).rmsd_pm < 35  # 30 pm of random displacement
    refined, report = aet.refine(start, ts, progress=False)
    assert compare(refined, truth, 0.9).rmsd_pm < 10.0
    # noise floor: the exact expected images (true angles), best scaled, against the noisy measurement
    e, m = torch.as_tensor(clean.images, dtype=torch.float64), torch.as_tensor(ts.images, dtype=torch.float64)
    floor = r_factors((e * m).sum() / (e * e).sum() * e, m).R1
    assert report.after.R1 < 1.05 * floor < report.before.R1
    assert report.species["Pt"].b_factor_A2 == pytest.approx(5.0, abs=0.3)  # simulated with B = 5 Å²
    assert np.abs(report.angle_correction_deg).max() < 1.5
    assert report.move_A.max <= 1.0 and refined.scores["move_A"].shape == (len(truth),)
    assert RefineReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report  # the JSON form loses nothing
    r1 = [e.R1 for e in report.log]
    assert r1[-1] < r1[0]


def test_move_cap(pt_case):
    truth, ts, _ = pt_case
    start = AtomicModel(truth.positions + np.array([0.6, 0.0, 0.0]), truth.elements)  # every atom 0.6 Å off
    refined, report = aet.refine(start, ts, iterations=3, max_move=0.2, angle_correction=False, progress=False)
    assert report.move_A.max <= 0.2 + 1e-9 and report.move_A.capped > 0


def independent_r1(model: AtomicModel, ts: TiltSeries, b: float) -> tuple[float, float]:
    """R1 pooled and mean, computed densely in NumPy from the definitions (analytic Gaussian line integrals)."""
    rows, cols = ts.images.shape[1:]
    yy, xx = np.mgrid[0:rows, 0:cols]
    calc = np.zeros(ts.images.shape)
    for i, theta in enumerate(np.deg2rad(ts.tilt_angles)):
        x, y, z = model.positions.T
        u = x * np.cos(theta) - z * np.sin(theta)  # conventions: positive tilt moves +z towards −x
        for uu, vv in zip(u / ts.pixel_size + cols // 2, y / ts.pixel_size + rows // 2, strict=True):
            calc[i] += np.exp(-np.pi**2 * ((xx - uu) ** 2 + (yy - vv) ** 2) * ts.pixel_size**2 / b)
    a = np.stack([calc.ravel(), np.ones(calc.size)], 1)
    coef = np.linalg.lstsq(a, ts.images.ravel().astype(np.float64), rcond=None)[0]
    calc = coef[0] * calc + coef[1]
    diff, meas = np.abs(calc - ts.images), np.abs(ts.images)
    return diff.sum() / meas.sum(), float(np.mean(diff.sum((1, 2)) / meas.sum((1, 2))))


def test_rfactor_matches_an_independent_numpy_computation():
    truth = build_model("cuboctahedron", ["Pt"], 1.0)
    ts = simulate_tilt_series(truth, [-40.0, 0.0, 25.0], Acquisition(dose=2e4, seed=3, image_size=60))
    model = AtomicModel(truth.positions + 0.1, truth.elements, b_factor=6.0)
    r = aet.rfactor(model, ts)
    pooled, mean = independent_r1(model, ts, 6.0)
    assert r.R1 == pytest.approx(pooled, rel=1e-5)  # measured 1e-7 (aet truncates each Gaussian at 4σ)
    assert r.R1_mean == pytest.approx(mean, rel=1e-5)
    assert len(r.R1_per_projection) == 3 and 0 < r.R2 < 1


def test_bad_input(pt_case):
    truth, ts, _ = pt_case
    far = AtomicModel(truth.positions + np.array([30.0, 0, 0]), truth.elements)
    with pytest.raises(AetInputError, match="outside the .* field of view"):
        aet.refine(far, ts, progress=False)
    broken = AtomicModel(truth.positions.copy(), truth.elements)
    broken.positions[3, 1] = np.nan
    with pytest.raises(AetInputError, match="NaN"):
        aet.rfactor(broken, ts)
    wrong = TiltSeries(ts.images, ts.angles, pixel_size=ts.pixel_size / 3)  # the images claim 3× finer pixels
    with pytest.raises(AetInputError, match="pixel size"):
        aet.refine(truth, wrong, progress=False)
    with pytest.raises(AetInputError, match="no atoms"):
        aet.rfactor(AtomicModel(np.zeros((0, 3)), []), ts)
    with pytest.raises(AetInputError, match="max_move"):
        aet.refine(truth, ts, max_move=0, progress=False)


def test_species_b_stays_in_its_bounds(pt_case):
    """Atoms far wider than any real B (a model on the wrong data) must not blow up the projector: B is bounded."""
    from aet.refinement import B_RANGE

    truth, ts, _ = pt_case
    wide = AtomicModel(truth.positions, truth.elements, b_factor=np.full(len(truth), 400.0))  # starts outside
    refined, report = aet.refine(wide, ts, iterations=2, hb_iterations=5, progress=False)
    b = report.species["Pt"].b_factor_A2
    assert B_RANGE[0] <= b <= B_RANGE[1]
    assert np.all(refined.b_factor <= B_RANGE[1])


def test_extent_check_accepts_a_particle_that_fills_the_view():
    """A particle over most of the field of view, traced with a few spurious atoms in the corners, is no pixel-size
    error (the median column was once taken as background, which halved the measured width)."""
    from aet.refinement.validate import check_inputs

    truth = build_model("sphere", ["Pt"], 3.0)
    ts = simulate_tilt_series(truth, tilt_range(-65, 65, 13), Acquisition(dose=1e4, image_size=96, seed=0))
    assert np.ptp(truth.positions[:, 0]) > 0.8 * 96 * ts.pixel_size  # the particle fills most columns
    spurious = np.array([[15.5, 3.0, 0.0], [-15.5, -3.0, 0.0], [0.0, 15.0, 3.0]])  # inside the field of view
    model = AtomicModel(np.vstack([truth.positions, spurious]), truth.elements + ["Pt"] * 3)
    check_inputs(model, ts)  # no error
    with pytest.raises(AetInputError, match="pixel size"):
        check_inputs(model, TiltSeries(ts.images, ts.angles, pixel_size=ts.pixel_size / 3))


def test_rfactor_and_refinement_honour_the_series_shifts():
    """A series whose images are shifted (TiltSeries.shifts, row/col Å) is predicted with those shifts."""
    truth = build_model("cuboctahedron", ["Pt"], 1.5)
    angles = tilt_range(-60, 60, 10)
    shifts = np.random.default_rng(0).normal(0, 1.5, (len(angles), 2))
    images = aet.physics.atoms_to_projections(torch.as_tensor(truth.positions), 5.0, 1.0, angles, (64, 64), 0.4,
                                              shifts=shifts).numpy().astype(np.float32)  # fmt: skip
    shifted = TiltSeries(images, angles, 0.4, shifts=shifts)
    assert aet.rfactor(truth, shifted).R1 < 1e-5
    assert aet.rfactor(truth, TiltSeries(images, angles, 0.4)).R1 > 0.3
    start = AtomicModel(truth.positions + np.random.default_rng(1).normal(0, 0.1, truth.positions.shape),
                        truth.elements)  # fmt: skip
    refined, _ = aet.refine(start, shifted, iterations=5, free_fraction=0, progress=False)
    assert compare(refined, truth, 0.9).rmsd_pm < 0.3 * compare(start, truth, 0.9).rmsd_pm
