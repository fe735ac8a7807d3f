"""The command line: version, info, and errors printed as one line without a traceback."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

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


CASES = {
    "pt-cuboctahedron": (["--structure", "cuboctahedron", "--element", "Pt"], {"Pt"}, 2.772),
    "au-decahedron": (["--structure", "decahedron", "--element", "Au"], {"Au"}, 4.08 / 2**0.5),
    "pt-icosahedron": (["--structure", "icosahedron", "--element", "Pt"], {"Pt"}, 2.772),
    "fept-l10": (["--element", "Fe,Pt", "--chemistry", "l10", "--lattice-constant", "3.85"], {"Fe", "Pt"}, 2.722),
    "pd-pt-core-shell": (["--element", "Pd,Pt", "--chemistry", "core-shell", "--shell", "3"], {"Pd", "Pt"}, 2.772),
    "amorphous": (["--structure", "amorphous", "--element", "Pt"], {"Pt"}, None),
    "on-support": (["--support", "8"], {"Pt", "C"}, 2.772),
    "on-ceria": (["--support", "8", "--support-kind", "CeO2"], {"Pt", "Ce", "O"}, 2.772),
}


@pytest.mark.parametrize("case", list(CASES))
def test_simulate_command(tmp_path, case):
    from scipy.spatial import cKDTree
    from typer.testing import CliRunner

    from aet.cli import app

    args, species, nn = CASES[case]
    out = tmp_path / case
    result = CliRunner().invoke(app, ["simulate", "--out", str(out), "--size", "1.6", "--tilt-step", "20", *args])
    assert result.exit_code == 0, result.output
    ts = aet.io.read(f"{out}.mrc")
    truth = aet.io.read(f"{out}_truth.xyz")
    np.testing.assert_allclose(aet.io.read(f"{out}_angles.txt"), ts.angles)
    assert ts.n_images == 7 and ts.pixel_size == pytest.approx(0.357)
    assert set(truth.elements) == species
    assert f"{len(truth)} atoms" in result.output
    metal = truth.positions[[e not in ("C", "Ce", "O") for e in truth.elements]]  # the particle, not its film
    d = cKDTree(metal).query(metal, k=2)[0][:, 1]
    if nn is None:  # amorphous: no pair closer than the minimum distance
        assert d.min() >= 0.85 * 2.772 - 1e-6
    else:
        assert np.median(d) == pytest.approx(nn, abs=0.01)
