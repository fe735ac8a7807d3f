"""Tilt-series simulation: physical count scale, noise statistics, errors, drift, reproducibility."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from aet.elements import adf_cross_section
from aet.errors import AetInputError
from aet.model import AtomicModel
from aet.simulate import Acquisition, dose_symmetric_order, simulate_tilt_series, tilt_range
from aet.simulate.structures import build_model, cuboctahedron


@pytest.fixture(scope="module")
def particle() -> AtomicModel:
    return cuboctahedron("Pt", 1.5)


def test_counts_follow_dose_and_cross_section(particle):
    acq = Acquisition(dose=None, pixel_size=0.4)
    ts = simulate_tilt_series(particle, [-30.0, 0.0, 45.0], acq)
    expected = adf_cross_section(particle.elements).sum()  # counts per e/Å²
    np.testing.assert_allclose(ts.images.sum(axis=(1, 2)), expected, rtol=1e-3)
    noisy = simulate_tilt_series(particle, [0.0], Acquisition(dose=2e4, pixel_size=0.4))
    assert noisy.images.sum() == pytest.approx(2e4 * expected, rel=0.01)
    assert np.all(noisy.images == np.round(noisy.images))  # Poisson counts


def test_heavier_atoms_are_brighter():
    pos = np.array([[-3.0, 0, 0], [3.0, 0, 0]])
    ts = simulate_tilt_series(AtomicModel(pos, ["Fe", "Pt"]), [0.0], Acquisition(dose=None, image_size=32))
    img = ts.images[0]
    ratio = img[16, 16 + 8] / img[16, 16 - 8]  # +x is to the right (column), Pt at +3 Å
    assert ratio == pytest.approx((78 / 26) ** 1.7, rel=0.02)


def test_shot_and_read_noise_statistics():
    model = AtomicModel(np.zeros((1, 3)), ["Pt"])
    acq = Acquisition(dose=1e4, background=50.0, image_size=64, seed=3)
    flat = simulate_tilt_series(model, [0.0] * 4, acq).images[:, :10, :10]  # background only
    assert flat.mean() == pytest.approx(50, rel=0.03)
    assert flat.var() == pytest.approx(50, rel=0.15)
    acq.read_noise = 5.0
    flat = simulate_tilt_series(model, [0.0] * 4, acq).images[:, :10, :10]
    assert flat.var() == pytest.approx(75, rel=0.15)


def test_seeded_and_reproducible(particle):
    a = simulate_tilt_series(particle, tilt_range(-60, 60, 30), Acquisition(seed=5, angle_error=0.3, drift=0.2))
    b = simulate_tilt_series(particle, tilt_range(-60, 60, 30), Acquisition(seed=5, angle_error=0.3, drift=0.2))
    c = simulate_tilt_series(particle, tilt_range(-60, 60, 30), Acquisition(seed=6, angle_error=0.3, drift=0.2))
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


def test_angle_errors_and_drift_are_recorded_and_applied(particle):
    nominal = tilt_range(-60, 60, 20)
    ts = simulate_tilt_series(particle, nominal, Acquisition(dose=None, angle_error=0.3, drift=1.0, seed=1))
    np.testing.assert_array_equal(ts.tilt_angles, nominal)
    true = np.array(ts.metadata["true_angles"])
    assert 0.05 < np.std(true - ts.angles) < 0.6
    shifts = np.array(ts.metadata["true_shifts_A"])
    rows, cols = np.indices(ts.images.shape[1:])
    c = ts.images.shape[1] // 2
    for img, (dr, dc) in zip(ts.images, shifts, strict=True):
        centroid = np.array([(img * rows).sum(), (img * cols).sum()]) / img.sum()
        np.testing.assert_allclose((centroid - c) * ts.pixel_size, [dr, dc], atol=0.05)


def test_tilt_schemes():
    np.testing.assert_allclose(tilt_range(-65, 65, 6.5), np.arange(-65, 65.1, 6.5))
    order = dose_symmetric_order(np.array([-6.0, -3.0, 0.0, 3.0, 6.0]))
    assert list(order) == [2, 3, 1, 4, 0]
    with pytest.raises(AetInputError, match="within ±90"):
        tilt_range(-100, 100, 5)


def test_bad_acquisition(particle):
    with pytest.raises(AetInputError, match="dose must be positive"):
        simulate_tilt_series(particle, [0.0], Acquisition(dose=-1))
    with pytest.raises(AetInputError, match="no atoms"):
        simulate_tilt_series(AtomicModel(np.zeros((0, 3)), []), [0.0])


def test_microscope_effects_do_what_they_say() -> None:
    """Noise-free (dose None): γ keeps each image's peak and lifts the dim pixels; the probe's blur and tails keep
    the total and lower the peak; scan jitter keeps every line's total but moves it; the current drift scales whole
    images; with all of them off the series is the linear one."""
    model = build_model("cuboctahedron", ["Pt"], 1.0)
    angles = np.array([-30.0, 0.0, 30.0])
    base = Acquisition(dose=None, image_size=48, seed=3)
    plain = simulate_tilt_series(model, angles, base).images.astype(np.float64)
    assert np.array_equal(simulate_tilt_series(model, angles, replace(base, column_exponent=1.0)).images, plain)

    def sim(**kw: float) -> np.ndarray:
        return simulate_tilt_series(model, angles, replace(base, **kw)).images.astype(np.float64)

    gamma = sim(column_exponent=0.8)
    assert np.allclose(gamma.max((1, 2)), plain.max((1, 2)), rtol=1e-5)
    assert np.all(gamma.sum((1, 2)) > plain.sum((1, 2)))
    blurred = sim(probe_sigma=0.5, probe_tail=0.2, probe_tail_sigma=2.0)
    assert np.allclose(blurred.sum((1, 2)), plain.sum((1, 2)), rtol=1e-3)
    assert np.all(blurred.max((1, 2)) < plain.max((1, 2)))
    jitter = sim(scan_jitter=0.5)
    assert np.abs(jitter.sum(2) - plain.sum(2)).max() < 0.01 * plain.sum(2).max() and not np.allclose(jitter, plain)
    drift = sim(intensity_drift=0.1)
    ratio = drift.sum((1, 2)) / plain.sum((1, 2))
    np.testing.assert_allclose(drift, plain * ratio[:, None, None], rtol=1e-5, atol=1e-9)
    assert np.ptp(ratio) > 0.01
    with pytest.raises(AetInputError, match="column_exponent"):
        sim(column_exponent=3.0)
