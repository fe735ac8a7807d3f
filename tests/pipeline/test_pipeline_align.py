"""The prepare stage of ``aet run`` with alignment: what it applies, records, logs and reports."""

from __future__ import annotations

import numpy as np
import pytest

from aet.pipeline.report import _alignment_section
from aet.pipeline.run import _alignment_line, _alignment_record, _prepare
from aet.settings.run import PrepareSettings
from aet.simulate import Acquisition, simulate_tilt_series
from aet.simulate.structures import random_shape

TILTS = np.linspace(-65, 65, 21)
COMMON = {"pixel_size": 0.4, "image_size": 80, "dose": 1e5, "seed": 2}


@pytest.fixture(scope="module")
def particle():
    return random_shape("Pt", 2.0, seed=3)


def test_auto_alignment_is_applied_recorded_and_reported(particle, tmp_path) -> None:
    ts = simulate_tilt_series(particle, TILTS, Acquisition(tilt_axis=7.0, drift=1.5, **COMMON))
    (tmp_path / ".aet").mkdir()
    prepared = _prepare(ts, PrepareSettings(align="auto"), tmp_path, False, None)
    found = prepared.metadata["alignment"]
    assert found["axis_source"] == "found" and abs(found["tilt_axis"] - 7.0) < 0.5 and found["applied"]
    assert prepared.tilt_axis == 0 and (tmp_path / ".aet/prepared.npz").exists()
    assert _alignment_record(prepared)["shift_rms"] > 0.5  # Å: the 1.5 Å RMS drift was found
    assert _alignment_line(prepared).startswith("tilt axis ")
    assert "data:image/png;base64," in _alignment_section(prepared, found)


def test_a_given_tilt_axis_is_honoured_with_alignment_off(particle, tmp_path) -> None:
    ts = simulate_tilt_series(particle, TILTS[:5], Acquisition(tilt_axis=30.0, **COMMON))
    (tmp_path / ".aet").mkdir()
    prepared = _prepare(ts, PrepareSettings(align=None), tmp_path, False, 30.0)
    found = prepared.metadata["alignment"]
    assert found["axis_source"] == "given" and found["tilt_axis"] == 30.0 and found["applied"]
    straight = simulate_tilt_series(particle, TILTS[:5], Acquisition(**COMMON))
    assert np.corrcoef(prepared.images.ravel(), straight.images.ravel())[0, 1] > 0.8


def test_auto_leaves_series_with_full_euler_angles(particle, tmp_path) -> None:
    angles = np.stack([np.zeros(5), TILTS[:5], np.full(5, 0.3)], axis=1)  # ψ from an earlier alignment
    ts = simulate_tilt_series(particle, angles, Acquisition(**COMMON))
    (tmp_path / ".aet").mkdir()
    prepared = _prepare(ts, PrepareSettings(align="auto"), tmp_path, False, None)
    assert "alignment" not in prepared.metadata
    assert "in-plane" in _alignment_record(prepared)["skipped"]
    np.testing.assert_allclose(prepared.images.sum(), ts.images.sum(), rtol=1e-4)
