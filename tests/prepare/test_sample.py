"""aet.prepare.sample: a film's image totals grow as 1/cos θ, a particle's do not."""

from __future__ import annotations

import numpy as np

import aet
from aet.model import TiltSeries
from aet.prepare.sample import detect_sample, tilts_deg
from aet.simulate import Acquisition, simulate_tilt_series
from aet.simulate.structures import build_model


def test_a_particle_on_vacuum_is_a_particle() -> None:
    truth = build_model("cuboctahedron", ["Pt"], 1.5)
    ts = simulate_tilt_series(truth, np.linspace(-65, 65, 14), Acquisition(dose=1e4, seed=1))
    kind, evidence = detect_sample(ts)
    assert kind == "particle" and abs(evidence["brightness_ratio"] - 1) < 0.03


def test_a_particle_whose_brightness_changes_with_tilt_is_still_a_particle() -> None:
    """Channelling-like physics (column non-linearity, probe tail) makes a particle's totals grow with the tilt as
    a thin film's do; its empty borders tell it apart."""
    truth = build_model("icosahedron", ["Pt"], 3.0)
    acq = Acquisition(image_size=128, dose=1e4, seed=7, probe_sigma=0.5, probe_tail=0.05, column_exponent=0.8)
    kind, evidence = detect_sample(simulate_tilt_series(truth, np.linspace(-65, 65, 21), acq))
    assert evidence["brightness_ratio"] > 1.05 and evidence["correlation_with_secant"] > 0.5  # looks like a film
    assert kind == "particle" and evidence["border_fill"] < 0.2


def test_the_measured_ta_film_is_a_film(shared_data) -> None:
    d = shared_data / "ta_film"
    angles = aet.io.read_angles(d / "angles.mat", key="angle")
    for area in (1, 2, 3):
        ts = aet.io.read_tilt_series(d / f"Projections_area{area}.mat", angles=angles, pixel_size=0.3216,
                                     euler_convention="zyx")  # fmt: skip
        kind, evidence = detect_sample(ts)
        assert kind == "film", (area, evidence)


def test_a_synthetic_film_and_folded_tilts() -> None:
    theta = np.linspace(-60, 60, 13)
    images = np.ones((13, 8, 8), np.float32) / np.cos(np.deg2rad(theta))[:, None, None]  # a slab: 1/cos θ
    assert detect_sample(TiltSeries(images, theta, 0.4))[0] == "film"
    assert detect_sample(TiltSeries(images[4:9], theta[4:9], 0.4))[0] == "particle"  # ±20°: cannot tell
    flipped = np.stack([np.full(3, 180.0), [10.0, 100.0, 170.0], np.full(3, 180.0)], 1)  # tilts −10, −100, −170
    assert np.allclose(tilts_deg(TiltSeries(np.ones((3, 4, 4), np.float32), flipped, 0.4)), [10, 80, 10])
