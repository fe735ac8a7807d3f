"""``aet compare MODEL TRUTH [--radius] [--json]``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

import aet
from aet.model import AtomicModel
from aet.simulate.structures import build_model


def run(*args: str) -> subprocess.CompletedProcess:
    code = "from aet.cli import run_app; run_app()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_compare_command_prints_and_writes_json(tmp_path):
    truth = build_model("cuboctahedron", ["Pt"], 1.5)
    rng = np.random.default_rng(0)
    pos = np.delete(truth.positions, [0, 1], axis=0) + rng.normal(0, 0.05, (len(truth) - 2, 3)) + 0.2
    aet.io.write(truth, tmp_path / "truth.xyz")
    aet.io.write(AtomicModel(pos, ["Pt"] * len(pos)), tmp_path / "model.csv")
    out_json = tmp_path / "scores.json"
    args = ("compare", str(tmp_path / "model.csv"), str(tmp_path / "truth.xyz"), "--radius", "0.8")
    out = run(*args, "--json", str(out_json))
    assert out.returncode == 0, out.stderr
    n = len(truth)
    assert f"{n - 2}/{n}" in out.stdout and "0.8 Å" in out.stdout
    scores = json.loads(out_json.read_text())
    assert scores["n_matched"] == n - 2 and scores["radius_A"] == 0.8 and scores["n_truth"] == n
    assert abs(scores["rmsd_pm"] - np.sqrt(3) * 5) < 2.5
    assert "global distortion" in out.stdout  # random errors only: no rotation or strain to speak of
    dist = scores["global_distortion"]
    assert dist["rotation_deg"] < 0.5 and max(map(abs, dist["strain_xyz"])) < 0.01
    assert dist["n_pairs"] == n - 2 and 0 < dist["residual_rmsd_pm"] <= scores["rmsd_pm"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left

    again = run(*args, "--json", str(out_json))  # never overwrite without --overwrite
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
    assert json.loads(out_json.read_text()) == scores
    assert run(*args, "--json", str(out_json), "--overwrite").returncode == 0


def test_compare_command_error_is_one_line(tmp_path):
    out = run("compare", str(tmp_path / "missing.xyz"), str(tmp_path / "truth.xyz"))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "does not exist" in out.stderr
