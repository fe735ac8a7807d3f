"""aet train: a tiny run writes logs, checkpoints and a model with its card, and resumes where it stopped."""

from __future__ import annotations

import csv
import json

import pytest

from aet.errors import AetInputError
from aet.nn import weights
from aet.nn.train import load_config, train


def _config(tmp_path, steps: int) -> dict:
    return {
        "network": {"name": "unet", "options": {"channels": [4, 8, 16, 32], "res_units": 1}},
        "data": {"box": 32, "crops": 2, "size_nm": [1.5, 1.8], "n_projections": [9, 11], "n_samples": 3,
                 "cache_dir": str(tmp_path / "cache"), "workers": 1, "min_ready": 2,
                 "reconstruction": {"method": "resire", "iterations": 5, "support": None, "positivity": True}},
        "training": {"steps": steps, "batch_size": 1, "warmup": 2, "checkpoint_every": 2, "threads": 1},
        "validation": {"every": 2, "particles": 1, "projections": 9},
    }  # fmt: skip


def test_train_and_resume(tmp_path) -> None:
    out = tmp_path / "run"
    path = train(_config(tmp_path, 4), out, progress=False)
    assert path == out / "unet.safetensors"
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["architecture"]["stride"] == 8 and card["window"] == 32
    with (out / "val_log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["2", "4"]
    assert {"rmse", "psnr", "ssim", "f1", "rmsd_pm"} <= set(rows[0])
    assert json.loads((out / "checkpoint.json").read_text())["step"] == 4
    net, _ = weights.load(path)  # the written model loads like a shipped one
    assert net is not None
    train(_config(tmp_path, 6), out, progress=False)  # resume: only steps 5 and 6 run
    with (out / "train_log.csv").open() as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert json.loads((out / "config_used.json").read_text())["resumed_at_step"] == 4


def test_bad_config(tmp_path) -> None:
    with pytest.raises(AetInputError, match="unknown key"):
        load_config({"training": {"stepz": 3}})
    with pytest.raises(AetInputError, match="unknown table"):
        load_config({"optimizer": {}})
    (tmp_path / "bad.toml").write_text("[training\n")
    with pytest.raises(AetInputError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")
