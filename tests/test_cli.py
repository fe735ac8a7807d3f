"""The command line: version, info, and errors printed as one line without a traceback."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import aet
from aet.model import Volume


def run(*args: str) -> subprocess.CompletedProcess:
    code = "from aet.cli import run_app; run_app()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_version():
    out = run("--version")
    assert out.returncode == 0 and aet.__version__ in out.stdout


def test_info_volume(tmp_path):
    aet.io.write(Volume(np.ones((4, 5, 6)), voxel_size=0.35), tmp_path / "v.mrc")
    out = run("info", str(tmp_path / "v.mrc"))
    assert out.returncode == 0, out.stderr
    assert "4 × 5 × 6" in out.stdout and "0.35 Å" in out.stdout


def test_info_shared_tilt_series(shared_data):
    d = shared_data / "resire_sample"
    out = run("info", str(d / "sample_projections_amorphous.mat"), "--angles", str(d / "sample_angles_amorphous.mat"))
    assert out.returncode == 0, out.stderr
    assert "41 × 64 × 64" in out.stdout and "-70" in out.stdout


def test_error_is_one_clear_line(tmp_path):
    out = run("info", str(tmp_path / "missing.mrc"))
    assert out.returncode == 1
    assert "does not exist" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
