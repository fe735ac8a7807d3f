"""aet.nn.adapt: which images it may use, its image model, resuming, and that it never sees a ground truth."""

from __future__ import annotations

import inspect
import json
import typing

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import aet
from aet.cli import app
from aet.errors import AetInputError
from aet.model import AtomicModel, TiltSeries
from aet.nn import weights
from aet.nn.adapt import _Images, _wedge, adapt, split_images
from aet.pipeline.run import execute, run
from aet.simulate import structures
from aet.simulate.acquisition import Acquisition, simulate_tilt_series

FAST = {"steps": 2, "prior_samples": 0, "checks": 2}


@pytest.fixture(scope="module")
def series() -> TiltSeries:
    """A 1.2 nm Pt particle, 24 tilts over ±60°, 40² px at 0.357 Å (seconds to adapt on)."""
    model = structures.cuboctahedron("Pt", 1.2)
    acq = Acquisition(pixel_size=0.357, image_size=40, dose=1e5, seed=3)
    return simulate_tilt_series(model, np.linspace(-60, 60, 24), acq)


def test_split_keeps_excluded_and_held_out_images_apart() -> None:
    fit, check = split_images(40, 0.1, np.array([2, 22]))
    assert set(fit).isdisjoint(check) and {2, 22}.isdisjoint({*fit, *check})
    assert len(fit) + len(check) == 38 and len(check) == 4
    assert np.ptp(check) > 20  # spread over the tilt range, not bunched at one end
    with pytest.raises(AetInputError, match="too few"):
        split_images(6, 0.2, np.array([]))


def test_image_model_fits_scale_and_offset_but_not_another_volume(series) -> None:
    rng = np.random.default_rng(0)

    def atoms() -> torch.Tensor:  # 30 bright voxels in the middle of an empty box
        v = np.zeros((40, 40, 40), np.float32)
        v[tuple(rng.integers(12, 28, (3, 30)))] = 1.0
        return torch.from_numpy(v)

    vol = atoms()
    idx = np.arange(series.n_images)
    from aet.physics.projector import project

    same = TiltSeries(3.0 * project(vol, series.angles).numpy() + 2.0, series.angles, series.pixel_size)
    images = _Images(same, idx, (40, 40, 40), 0.0, torch.device("cpu"))
    assert float(images.misfit(vol)) < 1e-6  # s = 3 and c = 2 are found in closed form
    other = atoms()
    assert float(images.misfit(other)) > 0.5


def test_wedge_mask_keeps_the_measured_directions() -> None:
    mask = _wedge((8, 6, 8), 60.0, torch.device("cpu"))
    assert mask.shape == (8, 6, 5)
    assert mask[0, :, 3].all() and not mask[3, :, 0].any()  # along x measured, along the beam (z) missing
    assert mask[1, 2, 1] == 1 and mask[3, 2, 1] == 0  # 45° measured; 72° beyond ±60° missing
    assert _wedge((8, 6, 8), 90.0, torch.device("cpu")).all()


@pytest.mark.parametrize("method", ["consistency", "split", "dewedge"])
def test_adapt_never_reconstructs_or_fits_held_out_or_excluded_images(series, method) -> None:
    seen: list[np.ndarray] = []

    def reconstruct(sub: TiltSeries):  # noqa: ANN202
        seen.append(sub.tilt_angles.copy())
        return aet.reconstruct(sub, "resire", iterations=10, progress=False)

    net, card, report = adapt(series, "unet", reconstruct=reconstruct, exclude=[5, 17], device="cpu",
                              progress=False, method=method, **FAST)  # fmt: skip
    kept_out = series.tilt_angles[[*report.check_images, *report.excluded_images]]
    assert report.excluded_images == [5, 17] and len(report.check_images) >= 2
    assert all(np.isin(a, series.tilt_angles[report.fit_images]).all() for a in seen)
    assert not any(np.isin(kept_out, a).any() for a in seen)
    base = weights.load("unet")[0].state_dict()
    changed = [k for k, v in net.state_dict().items() if not torch.equal(v, base[k])]
    assert report.steps == 2 and (changed or report.best_step == 0)
    info = card.extra["adaptation"]
    assert card.name == "unet-adapted" and info["base_model"] == "unet" and info["series"]["images"] == 24
    assert info["check_best"] <= info["check_before"]  # the kept weights predict the held-out images no worse


def test_adapt_refuses_a_tomogram_too_large_for_memory(series, monkeypatch) -> None:
    monkeypatch.setattr("aet.nn.adapt.TRAIN_BYTES_PER_VOXEL", 10**12)
    with pytest.raises(AetInputError, match="training step of unet"):
        adapt(series, "unet", device="cpu", progress=False, **FAST)


def test_adapt_resumes_from_its_checkpoint(series, tmp_path) -> None:
    first = adapt(series, "unet", device="cpu", progress=False, workdir=tmp_path, **{**FAST, "steps": 2})[2]
    assert (tmp_path / "adapt_checkpoint.json").exists()
    second = adapt(series, "unet", device="cpu", progress=False, workdir=tmp_path, **{**FAST, "steps": 4})[2]
    assert second.steps == 4
    assert second.history[: len(first.history)] == [tuple(h) for h in first.history]  # went on, did not restart


def test_adapt_takes_no_ground_truth() -> None:
    hints = typing.get_type_hints(adapt)
    assert all("AtomicModel" not in str(t) for t in hints.values())
    assert not {"truth", "model_truth", "ground_truth"} & set(inspect.signature(adapt).parameters)


class _Poison(AtomicModel):
    """A 'truth' that fails the moment anything reads it."""

    def __init__(self) -> None:  # no fields set: reading any of them raises
        pass

    def __getattribute__(self, name: str):  # noqa: ANN204
        if name.startswith("__") and name != "__dict__":
            return object.__getattribute__(self, name)
        raise AssertionError(f"the ground truth was read ({name})")


def test_aet_run_adapts_without_reading_the_truth(series, tmp_path) -> None:
    overrides = {"input": {"elements": ["Pt"]}, "run": {"threads": 2}, "augment": {"adapt": True},
                 "adapt": {**FAST}, "reconstruct": {"iterations": 10}}  # fmt: skip
    execute(series, tmp_path / "poisoned", overrides=overrides, quiet=True, truth=_Poison(), until="trace")
    run(series, tmp_path / "none", overrides=overrides, quiet=True)  # the whole run, without a truth
    a, b = (load_file(str(tmp_path / d / "network_adapted.safetensors")) for d in ("poisoned", "none"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # the truth changes nothing
    augmented = aet.io.read_volume(tmp_path / "none" / "tomogram_augmented.mrc")
    assert augmented.metadata["augment"]["model"] == "unet-adapted"  # the augment stage used the adapted weights
    summary = json.loads((tmp_path / "none" / "summary.json").read_text())
    assert summary["adapt"]["base_model"] == "unet" and summary["adapt"]["steps"] == 2
    assert "Network adaptation" in (tmp_path / "none" / "report.html").read_text()


def test_aet_run_refuses_too_few_images_to_adapt_before_any_stage(series, tmp_path) -> None:
    few = series.subset(np.arange(6))
    with pytest.raises(AetInputError, match="too few to adapt"):
        execute(few, tmp_path / "run", overrides={"input": {"elements": ["Pt"]}, "augment": {"adapt": True}},
                quiet=True)  # fmt: skip
    assert not (tmp_path / "run").exists()  # nothing written


def test_cli_adapt_writes_weights_and_card(series, tmp_path) -> None:
    aet.io.write(series, tmp_path / "tilts.npz")
    out = tmp_path / "mine.safetensors"
    args = ["adapt", str(tmp_path / "tilts.npz"), "--out", str(out), "--model", "unet", "--steps", "2",
            "--prior-samples", "0", "--checks", "1", "--threads", "2"]  # fmt: skip
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    net, card = weights.load(out)
    assert card.extra["adaptation"]["series"]["source"].endswith("tilts.npz")
    assert CliRunner().invoke(app, args).exit_code != 0  # the weights exist: refused without --overwrite
