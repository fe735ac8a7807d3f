"""aet.prepare.align: tilt axis and shifts from the data, and the errors for series that cannot be aligned."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aet.errors import AetInputError, AetUsageError
from aet.model import AtomicModel, TiltSeries
from aet.prepare.align import align_series, resample, shift_error
from aet.simulate import Acquisition, simulate_tilt_series
from aet.simulate.structures import random_shape

TILTS = np.linspace(-65, 65, 21)
COMMON = {"pixel_size": 0.4, "image_size": 80, "dose": 1e5, "seed": 2}


@pytest.fixture(scope="module")
def particle() -> AtomicModel:
    return random_shape("Pt", 2.0, seed=3)


@pytest.fixture(scope="module")
def misaligned(particle) -> TiltSeries:
    """The tilt axis at 7° in the images, 1.5 Å RMS random shifts and a drift of (2, 3) Å over the series."""
    return simulate_tilt_series(particle, TILTS, Acquisition(tilt_axis=7.0, drift=1.5, linear_drift=(2.0, 3.0),
                                                             **COMMON))  # fmt: skip


def test_axis_and_shifts_are_found(misaligned) -> None:
    ts = misaligned
    aligned, found = align_series(ts)
    assert found.axis_source == "found" and abs(found.tilt_axis - 7.0) < 0.5
    assert shift_error(found.shifts, ts) < 0.3  # Å
    assert found.applied and aligned.tilt_axis == 0 and aligned.metadata["alignment"]["tilt_axis"] == found.tilt_axis


def test_an_aligned_series_is_left_as_it_is(particle) -> None:
    ts = simulate_tilt_series(particle, TILTS, Acquisition(**COMMON))
    aligned, found = align_series(ts, tilt_axis=0.0)
    assert not found.applied and "within" in found.notes[0]
    np.testing.assert_array_equal(aligned.images, ts.images)


def test_resample_turns_the_axis_onto_the_rows(particle) -> None:
    turned = simulate_tilt_series(particle, TILTS[:3], Acquisition(tilt_axis=20.0, dose=None, **{
        k: v for k, v in COMMON.items() if k != "dose"}))  # fmt: skip
    straight = simulate_tilt_series(particle, TILTS[:3], Acquisition(dose=None, **{
        k: v for k, v in COMMON.items() if k != "dose"}))  # fmt: skip
    back = resample(turned.images.astype(np.float64), 20.0, np.zeros((3, 2)))
    assert np.abs(back - straight.images).sum() / np.abs(straight.images).sum() < 0.05


def test_pure_noise_has_no_axis() -> None:
    noise = np.random.default_rng(0).poisson(5.0, (21, 64, 64)).astype(np.float32)
    with pytest.raises(AetInputError, match="pure noise"):
        align_series(TiltSeries(noise, TILTS, 0.4))


def test_a_blank_image_is_named(particle) -> None:
    ts = simulate_tilt_series(particle, TILTS, Acquisition(**COMMON))
    ts.images[5] = 0
    with pytest.raises(AetInputError, match="image 5 .* blank"):
        align_series(ts)


def test_a_tilt_axis_in_radians_is_refused(misaligned) -> None:
    with pytest.raises(AetUsageError, match="radians"):
        align_series(misaligned, tilt_axis=math.radians(7.0))


def test_angles_out_of_order_are_refused(particle) -> None:
    ts = simulate_tilt_series(particle, TILTS, Acquisition(**COMMON))
    order = np.random.default_rng(0).permutation(len(TILTS))
    shuffled = TiltSeries(ts.images[order], ts.angles, ts.pixel_size)
    with pytest.raises(AetInputError, match="order"):
        align_series(shuffled)


def test_a_shift_beyond_a_third_of_the_image_is_refused() -> None:
    small = random_shape("Pt", 1.0, seed=1)
    ts = simulate_tilt_series(small, TILTS, Acquisition(pixel_size=0.4, image_size=96, dose=None, seed=1))
    images = ts.images.copy()
    images[4] = np.roll(images[4], 36, axis=1)  # 36 px > 96 / 3, the particle still whole in the image
    with pytest.raises(AetInputError, match="image 4 .* a third"):
        align_series(TiltSeries(images, TILTS, 0.4))
