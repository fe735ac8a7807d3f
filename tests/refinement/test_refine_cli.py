"""`aet refine` and `aet rfactor` on files, and refinement of a traced model of real multislice data."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np

import aet
from aet.metrics import compare, load_asi208_truth
from aet.model import AtomicModel
from aet.refinement.report import RefineReport
from aet.simulate import Acquisition, simulate_tilt_series, tilt_range
from aet.simulate.structures import build_model


def run(*args: str) -> subprocess.CompletedProcess:
    code = "from aet.cli import run_app; run_app()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)


def test_cli_refine_and_rfactor(tmp_path):
    truth = build_model("cuboctahedron", ["Pt"], 1.0)
    ts = simulate_tilt_series(truth, tilt_range(-60, 60, 6), Acquisition(dose=1e5, seed=4))
    aet.io.write(ts, tmp_path / "tilts.mrc")
    rng = np.random.default_rng(1)
    start = AtomicModel(truth.positions + rng.normal(0, 0.1, truth.positions.shape), truth.elements)
    aet.io.write(start, tmp_path / "start.xyz")
    out = run("refine", str(tmp_path / "start.xyz"), str(tmp_path / "tilts.mrc"), str(tmp_path / "refined.xyz"),
              "--iterations", "5")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "R1" in out.stdout and "Pt: H =" in out.stdout
    refined = aet.io.read(tmp_path / "refined.xyz")
    assert compare(refined, truth, 0.9).rmsd_pm < compare(start, truth, 0.9).rmsd_pm
    report = RefineReport.from_dict(json.loads((tmp_path / "refined.xyz.refine.json").read_text()))
    assert report.after.R1 < report.before.R1 and report.species["Pt"].b_factor_A2 > 0
    r = run("rfactor", str(tmp_path / "refined.xyz"), str(tmp_path / "tilts.mrc"))
    assert r.returncode == 0 and "R1" in r.stdout, r.stderr
    pooled = float(r.stdout.split()[1])
    assert abs(pooled - aet.rfactor(refined, ts).R1) < 1e-3
    aet.io.write(AtomicModel(truth.positions + 40.0, truth.elements), tmp_path / "far.xyz")
    bad = run("rfactor", str(tmp_path / "far.xyz"), str(tmp_path / "tilts.mrc"))
    assert bad.returncode == 1 and "field of view" in bad.stderr and "Traceback" not in bad.stderr


def test_refinement_improves_the_asi208_traced_model(shared_data):
    d = shared_data / "asi208"
    ts = aet.io.read(d / "aSi_2nmFosCetr_Dose1p6e5_cov35pm_ForBM3D.mat", angles=d / "Si_Angle.mat", pixel_size=0.195)
    vol = aet.reconstruct(ts, "resire", iterations=20, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = aet.trace(vol, elements=["Si"], min_distance=1.9, smooth=0.35, min_height=0.4)
    truth = load_asi208_truth(d / "aSi_208atoms_GT.txt")
    refined, report = aet.refine(traced, ts, iterations=10, angle_correction=False, progress=False)  # exact angles
    before, after = compare(traced, truth, 0.9), compare(refined, truth, 0.9)
    assert after.n_matched == before.n_matched == 208
    assert after.rmsd_pm < before.rmsd_pm - 0.3, (before.rmsd_pm, after.rmsd_pm)
    assert report.after.R1 < report.before.R1
