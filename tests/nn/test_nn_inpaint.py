"""aet.nn.inpaint: predicted projections are added, never replace a measured one, and never reach the R-factor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import aet
from aet.errors import AetInputError, AetUsageError
from aet.model import TiltSeries
from aet.nn import weights
from aet.nn.card import Architecture, ModelCard
from aet.nn.inpaint import distance, grid_angles, inpaint, interpolate, parse_angles, training_sample
from aet.nn.models import build
from aet.pipeline.run import run
from aet.simulate import Acquisition, simulate_tilt_series
from aet.simulate.structures import build_model

PIXEL = 0.357


@pytest.fixture(scope="module")
def series() -> tuple[aet.model.AtomicModel, TiltSeries]:
    truth = build_model("cuboctahedron", ["Pt"], 1.2)
    ts = simulate_tilt_series(truth, np.linspace(-60, 60, 9), Acquisition(pixel_size=PIXEL, image_size=48, dose=1e5))
    return truth, ts


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small untrained inpainting network (what is tested here does not depend on its skill)."""
    torch.manual_seed(0)
    options = {"channels": [4, 8], "res_units": 1}
    net = build("sinogram-unet", **options)
    card = ModelCard(name="tiny", architecture=Architecture("sinogram-unet", options, 2), voxel_size=PIXEL, window=96,
                     reconstruction={})  # fmt: skip
    return str(weights.save(net, card, tmp_path_factory.mktemp("w") / "tiny.safetensors"))


def test_interpolation_keeps_measured_tilts_and_mirrors() -> None:
    rng = np.random.default_rng(0)
    theta = np.array([-50.0, -10.0, 20.0, 60.0])
    images = rng.uniform(0, 1, (4, 3, 8))
    np.testing.assert_allclose(interpolate(theta, images, theta), images)
    mirrored = np.roll(images[..., ::-1], 1, axis=-1)
    np.testing.assert_allclose(interpolate(theta, images, theta[:1] + 180), mirrored[:1])  # θ + 180° is θ mirrored
    middle = interpolate(theta, images, np.array([0.0]))[0]
    np.testing.assert_allclose(middle, (2 * images[1] + images[2]) / 3)  # 0° lies a third of the way to 20°
    assert distance(theta, np.array([0.0, 90.0]))[1] == pytest.approx(30.0)  # 60° and 130° (−50° + 180°) bound 90°
    assert distance(theta, np.array([130.0]))[0] == pytest.approx(0.0)  # −50° + 180°


def test_parse_angles() -> None:
    assert len(parse_angles("-90:90:2")) == 91 and parse_angles("70,75").tolist() == [70.0, 75.0]
    with pytest.raises(AetInputError, match="start:stop:step"):
        parse_angles("-90:90:0")


def test_inpainting_never_changes_a_measured_projection(series: tuple, tiny: str, tmp_path: Path) -> None:
    _, ts = series
    extended = inpaint(ts, parse_angles("-90:90:5"), tiny, device="cpu")
    n = ts.n_images
    assert np.array_equal(extended.images[:n], ts.images) and np.array_equal(extended.angles[:n], ts.angles)
    flags = np.asarray(extended.metadata["predicted"])
    assert not flags[:n].any() and flags[n:].all() and extended.n_images > n
    new = extended.tilt_angles[n:]
    assert distance(ts.tilt_angles, new).min() > 0.9  # none on (or next to) a measured tilt
    assert not (np.isclose(new, -90).any() and np.isclose(new, 90).any())  # ±90°: one beam direction, once
    path = tmp_path / "inpainted.npz"
    aet.io.write(extended, path)
    back = aet.io.read_tilt_series(path)
    assert back.metadata["predicted"] == extended.metadata["predicted"]
    assert np.array_equal(back.measured().images, ts.images)


def test_the_r_factor_and_refinement_use_the_measured_images_only(series: tuple, tiny: str) -> None:
    truth, ts = series
    extended = inpaint(ts, parse_angles("-90:90:10"), tiny, device="cpu")
    spoiled = TiltSeries(extended.images.copy(), extended.angles, ts.pixel_size, ts.euler_convention,
                         metadata=extended.metadata)  # fmt: skip
    spoiled.images[ts.n_images :] = 1e6  # what a predicted image holds must not matter
    a, b = aet.rfactor(truth, ts), aet.rfactor(truth, spoiled)
    assert a.R1 == b.R1 and len(b.R1_per_projection) == ts.n_images
    _, report = aet.refine(truth, spoiled, iterations=1, hb_iterations=1, progress=False)
    _, same = aet.refine(truth, ts, iterations=1, hb_iterations=1, progress=False)
    assert report.after.R1 == pytest.approx(same.after.R1) and len(report.image_scale) == ts.n_images


def test_a_full_euler_series_is_refused(series: tuple, tiny: str) -> None:
    _, ts = series
    turned = ts.angles.copy()
    turned[:, 0] = 20.0
    with pytest.raises(AetInputError, match="single-axis"):
        inpaint(TiltSeries(ts.images, turned, ts.pixel_size, ts.euler_convention), np.array([80.0]), tiny)


def test_aet_run_inpaints_for_the_reconstruction_only(series: tuple, tiny: str, tmp_path: Path) -> None:
    truth, ts = series
    overrides = {"reconstruct": {"inpaint": "-90:90:10", "inpaint_model": tiny}, "augment": {"enabled": False},
                 "analyse": {"enabled": False}, "refine": {"iterations": 2}, "run": {"threads": 2},
                 "prepare": {"align": "none"}}  # fmt: skip
    result = run(ts, tmp_path / "run", overrides=overrides, quiet=True)
    extended = aet.io.read_tilt_series(tmp_path / "run" / "tilts_inpainted.npz")
    prepared = aet.io.read_tilt_series(tmp_path / "run" / ".aet" / "prepared.npz")
    assert extended.n_images > ts.n_images
    assert np.array_equal(extended.images[: ts.n_images], prepared.images)
    assert len(result.summary.rfactors.R1_per_projection) == ts.n_images
    with pytest.raises(AetInputError, match="predicted by `aet inpaint`"):
        run(extended, tmp_path / "again", overrides=overrides, quiet=True)
    bad = {**overrides, "reconstruct": {"inpaint": "-90:90:0", "inpaint_model": tiny}}
    with pytest.raises(AetUsageError, match="start:stop:step"):  # refused before any stage
        run(ts, tmp_path / "bad", overrides=bad, quiet=True)
    assert not (tmp_path / "bad").exists()


def test_training_sample_shapes() -> None:
    x, y = training_sample(0, rows=4)
    assert x.shape == (4, 2, len(grid_angles()), 160) and y.shape == (4, 1, len(grid_angles()), 160)
    assert torch.isfinite(x).all() and float(y.max()) > 0


def test_cli_inpaint_writes_a_marked_series_and_refuses_to_overwrite(series: tuple, tiny: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from aet.cli import app

    _, ts = series
    aet.io.write(ts, tmp_path / "ts.npz")
    args = ["inpaint", str(tmp_path / "ts.npz"), str(tmp_path / "more.npz"), "--angles=-90:90:10", "--model", tiny,
            "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    more = aet.io.read_tilt_series(tmp_path / "more.npz")
    assert more.n_images > ts.n_images and np.array_equal(more.measured().images, ts.images)
    assert f"{ts.n_images} measured" in " ".join(result.output.split())  # rich wraps long lines
    again = CliRunner().invoke(app, args)
    assert again.exit_code != 0 and "already exists" in str(again.exception or again.output)


def test_networks_of_the_other_kind_are_refused(series: tuple, tiny: str) -> None:
    _, ts = series
    with pytest.raises(AetInputError, match="volume network"):
        inpaint(ts, np.array([80.0]), "unet")
    with pytest.raises(AetInputError, match="sinogram network"):
        aet.augment(aet.model.Volume(np.zeros((16, 16, 16), np.float32), PIXEL), model=tiny)
