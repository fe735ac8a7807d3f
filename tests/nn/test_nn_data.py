"""Training-data generator: seeded, the row-band reconstruction equals the full one, targets sit on the atoms."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from aet.errors import AetInputError
from aet.nn.data import (
    PHYSICS_RANGES,
    CachedSamples,
    DataConfig,
    crop,
    draw_physics,
    make_sample,
    reconstruct_for_network,
    reconstruct_rows,
    target_volume,
)
from aet.simulate.acquisition import Acquisition, simulate_tilt_series
from aet.simulate.structures import build_model

RECON = {"method": "resire", "iterations": 10, "support": None, "positivity": True}
SMALL = DataConfig(box=32, crops=2, size_nm=(1.5, 1.8), n_projections=(9, 11), reconstruction=RECON)


def test_samples_are_seeded_and_shaped() -> None:
    a, b = make_sample(SMALL, 3), make_sample(SMALL, 3)
    assert a["input"].shape == a["target"].shape == (2, 32, 32, 32)
    np.testing.assert_array_equal(a["input"], b["input"])
    assert not np.array_equal(a["input"], make_sample(SMALL, 4)["input"])
    assert a["target"].max() > 0.9  # crops are centred on atoms: height-1 peaks inside
    assert "icosahedron" not in {make_sample(SMALL, i)["info"]["structure"] for i in range(6)}


def test_row_band_equals_full_reconstruction() -> None:
    model = build_model("cuboctahedron", ["Pt"], 1.5)
    ts = simulate_tilt_series(model, np.linspace(-60, 60, 9), Acquisition(dose=1e5, seed=1))
    settings = {"method": "resire", "iterations": 8, "support": None, "positivity": True}
    full = reconstruct_for_network(ts, settings)
    band, rows = reconstruct_rows(ts, settings, 10, 30)
    np.testing.assert_allclose(band.data, full.data[:, rows], rtol=1e-4, atol=1e-5 * full.data.max())
    assert band.origin[1] == pytest.approx(full.origin[1] + rows.start * full.voxel_size)


def test_target_peaks_on_atoms() -> None:
    model = build_model("cuboctahedron", ["Pt"], 1.2)
    ts = simulate_tilt_series(model, np.linspace(-60, 60, 5), Acquisition(dose=None))
    vol = reconstruct_for_network(ts, {"method": "wbp"})
    target = target_volume(model, vol, 4.0)
    vox = np.round((model.positions[:, ::-1] - np.asarray(vol.origin)) / vol.voxel_size).astype(int)
    assert target[tuple(vox.T)].min() > 0.6  # every atom site is near a height-1 peak (≤ half a voxel away)
    assert target.max() == pytest.approx(1.0, abs=0.05)


def test_crop_pads_outside() -> None:
    data = np.ones((10, 10, 10), np.float32)
    c = crop(data, np.array([0, 5, 9]), 8)
    assert c.shape == (8, 8, 8) and c.sum() == 4 * 8 * 5


def test_cache_round_trip(tmp_path) -> None:
    ds = CachedSamples(SMALL, 2, tmp_path)
    assert len(ds) == 4 and len(ds.ready()) == 0
    x, y = ds[1]
    assert x.shape == y.shape == (1, 32, 32, 32)
    assert list(ds.ready()) == [0]
    ds.flips = False
    np.testing.assert_allclose(ds[0][0][0].numpy(), make_sample(SMALL, 0)["input"][0], atol=2e-3, rtol=2e-3)


def test_bad_config() -> None:
    with pytest.raises(AetInputError, match="multiple of 8"):
        DataConfig(box=30)
    with pytest.raises(AetInputError, match="excluded"):
        DataConfig(shapes=("icosahedron",))


def test_physics_is_drawn_from_its_own_stream() -> None:
    """The linear physics by default; with the ranges of configs/train_unet_physics.toml each sample draws its own
    microscope (within the ranges, recorded in its info), while the particle, and so the target, stay the same."""
    from pathlib import Path

    from aet.nn.train import data_config, load_config

    config = Path(__file__).resolve().parents[2] / "configs" / "train_unet_physics.toml"
    physics = replace(data_config(load_config(config)), box=SMALL.box, crops=SMALL.crops, size_nm=SMALL.size_nm,
                      n_projections=SMALL.n_projections, reconstruction=RECON)  # fmt: skip
    assert {k: tuple(getattr(physics, k)) for k in PHYSICS_RANGES} == PHYSICS_RANGES
    assert draw_physics(SMALL, 0) | {"probe_tail_sigma": 0} == {
        "contrast_exponent": 1.7, "column_exponent": 1.0, "probe_sigma": 0.0, "probe_tail": 0.0, "scan_jitter": 0.0,
        "intensity_drift": 0.0, "probe_tail_sigma": 0,
    }  # fmt: skip
    plain = make_sample(replace(physics, **{k: getattr(SMALL, k) for k in PHYSICS_RANGES}), 2)
    drawn = make_sample(physics, 2)
    for name, (lo, hi) in PHYSICS_RANGES.items():
        assert lo <= drawn["info"]["physics"][name] <= hi
    assert np.array_equal(drawn["target"], plain["target"]) and not np.allclose(drawn["input"], plain["input"])
