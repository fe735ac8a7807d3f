"""Bad input to the reconstruction reaches the user as a clear error, before any large allocation."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import aet
from aet.errors import AetInputError
from aet.model import TiltSeries
from aet.reconstruction import reconstruct


@pytest.fixture
def small() -> TiltSeries:
    rng = np.random.default_rng(0)
    return TiltSeries(rng.random((9, 16, 16), dtype=np.float32), np.linspace(-60, 60, 9), pixel_size=0.4)


def test_empty_support(small):
    with pytest.raises(AetInputError, match="empty"):
        reconstruct(small, "sirt", support=np.zeros((16, 16, 16)), progress=False)


def test_support_of_wrong_shape(small):
    with pytest.raises(AetInputError, match=r"shape \(8, 16, 16\).*thickness"):
        reconstruct(small, "sirt", support=np.ones((8, 16, 16)), progress=False)


def test_angles_in_radians_are_caught(small):
    ts = TiltSeries(small.images, np.deg2rad(np.linspace(-60, 60, 9)))
    with pytest.raises(AetInputError, match="radians"):
        reconstruct(ts, "wbp", progress=False)


def test_euler_angles_beyond_360(small):
    ts = TiltSeries(small.images, np.stack([np.zeros(9), np.linspace(-60, 60, 9), np.full(9, 400.0)], 1))
    with pytest.raises(AetInputError, match="outside ±360"):
        reconstruct(ts, "sirt", progress=False)


def test_too_large_for_memory_refused_before_allocating(small):
    with pytest.raises(AetInputError, match="bin the images"):
        reconstruct(small, "resire", memory_limit=1e5, progress=False)
    with pytest.raises(AetInputError, match=r"needs about .* GB"):  # 16 × 16 × 10⁸ voxels: far beyond 24 GiB
        reconstruct(small, "sirt", thickness=10**8, progress=False)
    with pytest.raises(AetInputError, match="GENFIRE|genfire"):
        reconstruct(small, "genfire", oversampling=100, progress=False)  # a 1600³ grid


@pytest.mark.parametrize(
    ("method", "options", "message"),
    [
        ("art", {}, "unknown reconstruction method"),
        ("sirt", {"filter": "ramp"}, "do not apply to sirt"),
        ("resire", {"iterations": 0}, "iterations must be between 1 and 100000"),
        ("resire", {"step": 2.5}, "step must lie in"),
        ("sirt", {"relaxation": 3.0}, "relaxation"),
        ("genfire", {"oversampling": 0.5}, "oversampling must be ≥ 1"),
        ("wbp", {"filter": "butterworth"}, "unknown WBP filter"),
    ],
)
def test_bad_options(small, method, options, message):
    with pytest.raises(AetInputError, match=message):
        reconstruct(small, method, progress=False, **options)


def test_rotated_tilt_axis_is_refused(small):
    small.tilt_axis = 12.0
    with pytest.raises(AetInputError, match="tilt axis"):
        reconstruct(small, "sirt", progress=False)


def test_single_projection_is_refused(small):
    with pytest.raises(AetInputError, match="at least 2 projections"):
        reconstruct(TiltSeries(small.images[:1], [0.0]), "sirt", progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when no GPU is present")
def test_cuda_without_gpu(small):
    with pytest.raises(AetInputError, match="no CUDA GPU"):
        reconstruct(small, "sirt", device="cuda", progress=False)


def test_input_is_not_modified(small):
    before = small.images.copy()
    reconstruct(small, "resire", iterations=3, progress=False)
    np.testing.assert_array_equal(small.images, before)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    code = "from aet.cli import run_app; run_app()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)


def test_cli_reconstruct(shared_data, tmp_path):
    d = shared_data / "resire_sample"
    out = tmp_path / "tomo.mrc"
    args = [
        "reconstruct", str(d / "sample_projections_amorphous.mat"), str(out),
        "--angles", str(d / "sample_angles_amorphous.mat"), "--euler", "zyx",
        "--pixel-size", "0.5", "--method", "sirt", "--iterations", "10",
    ]  # fmt: skip
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    vol = aet.io.read(out)
    assert vol.shape == (64, 64, 64) and vol.voxel_size == pytest.approx(0.5)
    meta = json.loads(out.with_name(out.name + ".json").read_text())
    assert len(json.dumps(meta)) > 0 and "10 iterations" not in res.stderr
    again = run_cli(*args)  # refuses to replace the output
    assert again.returncode == 2 and "exists" in again.stderr + again.stdout
    bad = run_cli(*args[:-4], "--method", "fbp", "--overwrite")
    # the method is a choice of the CLI option (from ReconstructSettings): a usage error, exit 2, naming the choices
    assert bad.returncode == 2 and "'fbp' is not one of 'resire', 'genfire', 'sirt', 'wbp'" in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr
