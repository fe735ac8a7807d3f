"""Shipped weights: safetensors + model card, ≤ 20 MB, load on the CPU with no network and no unpickling."""

from __future__ import annotations

import json
import pickle
import socket

import pytest
import torch

from aet.errors import AetFileNotFoundError, AetFormatError
from aet.nn import weights


def test_shipped_models_and_size() -> None:
    names = weights.shipped_names()
    assert {"unet", "unet-transformer", "sinogram-unet"} <= set(names)
    total = sum((weights.SHIPPED / f"{n}.safetensors").stat().st_size for n in names)
    assert total <= 20 * 2**20
    default = (weights.SHIPPED / "default.txt").read_text().strip()
    assert default in names
    for n in names:
        card = json.loads((weights.SHIPPED / f"{n}.json").read_text())
        for key in ("architecture", "voxel_size", "window", "reconstruction", "training_data", "training",
                    "validation", "retrain", "benchmark"):  # fmt: skip
            assert key in card, (n, key)


def test_load_offline_without_pickle(monkeypatch) -> None:
    weights._load_cached.cache_clear()

    def refuse(*_a, **_k):
        raise AssertionError("loading weights must not touch the network or unpickle")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    for name in weights.shipped_names():
        net, card = weights.load(name)
        assert next(net.parameters()).device.type == "cpu"
        assert not net.training
        assert card.name == name
    weights._load_cached.cache_clear()


def test_bad_model_paths(tmp_path) -> None:
    with pytest.raises(AetFileNotFoundError, match="no model"):
        weights.load(tmp_path / "missing.safetensors")
    net, card = weights.load("unet")
    path = weights.save(net, card, tmp_path / "copy")
    text = card.to_dict()
    text["architecture"]["name"] = "unet-transformer"
    (tmp_path / "copy.json").write_text(json.dumps(text))
    with pytest.raises(AetFormatError, match="does not match"):
        weights.load(path)
