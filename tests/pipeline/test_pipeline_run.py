"""aet run: every output present and readable, resumable stages, interrupted runs, real data, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import ase.io
import numpy as np
import pytest

import aet
from aet.errors import AetInputError, AetUsageError
from aet.metrics import compare
from aet.model import AtomicModel, TiltSeries, Volume
from aet.pipeline.run import check_pixel_size, run
from aet.simulate.acquisition import Acquisition, simulate_tilt_series
from aet.simulate.structures import build_model

# alignment has its own tests (tests/prepare/test_align.py, test_pipeline_align.py): off here for the suite's time
FAST = {"refine": {"iterations": 5}, "augment": {"tta": 1}, "prepare": {"align": "none"}}
CLI = [sys.executable, "-c", "from aet.cli import run_app; run_app()"]


def _example(size_nm: float = 2.0) -> tuple[AtomicModel, TiltSeries]:
    truth = build_model("cuboctahedron", ["Pt"], size_nm)
    ts = simulate_tilt_series(truth, np.linspace(-65, 65, 21), Acquisition(dose=1e4, angle_error=0.3, seed=5))
    return truth, ts


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    truth, ts = _example()
    out = tmp_path_factory.mktemp("run")
    result = run(ts, out, overrides=FAST, quiet=True, truth=truth)
    return truth, ts, out, result


def _read_outputs(out: Path) -> dict:
    """Read every output back with aet's readers (and the plain ones for JSON/TOML/CSV)."""
    got = {name: aet.io.read(out / f"{name}.mrc", kind="volume")
           for name in ("tomogram", "tomogram_augmented", "tomogram_uncertainty")}  # fmt: skip
    got["xyz"] = aet.io.read(out / "atoms.xyz", kind="model")
    got["csv"] = aet.io.read(out / "atoms.csv", kind="model")
    got["summary"] = json.loads((out / "summary.json").read_text())
    got["config"] = tomllib.loads((out / "config_used.toml").read_text())
    got["report"] = (out / "report.html").read_text()
    got["log"] = (out / "log.txt").read_text()
    return got


def _check_outputs(out: Path, pixel_size: float, elements: set[str]) -> dict:
    got = _read_outputs(out)
    vols = [got[k] for k in ("tomogram", "tomogram_augmented", "tomogram_uncertainty")]
    assert all(isinstance(v, Volume) and v.shape == vols[0].shape for v in vols)
    assert vols[0].voxel_size == pytest.approx(pixel_size)
    xyz, csv = got["xyz"], got["csv"]
    assert len(xyz) == len(csv) == got["summary"]["atoms"]["total"] > 0
    np.testing.assert_allclose(xyz.positions, csv.positions, atol=1e-4)
    assert set(xyz.elements) <= elements and xyz.b_factor is not None
    s = got["summary"]
    for key in ("atoms", "r1", "timings_s", "versions", "seeds", "tilt_series"):
        assert key in s
    assert 0 < s["r1"]["R1"] < 1
    assert got["report"].count("data:image/png;base64,") >= 4
    assert "report: wrote" in got["log"]
    return got


def test_outputs(small_run) -> None:
    truth, ts, out, result = small_run
    got = _check_outputs(out, ts.pixel_size, {"Pt"})
    assert got["config"]["refine"]["iterations"] == 5  # the config actually used
    c = compare(got["xyz"], truth, radius=0.9)
    assert c.recall >= 0.98 and c.precision >= 0.98 and c.rmsd_pm < 20, c.to_dict()
    assert got["summary"]["comparison"]["recall"] == pytest.approx(c.recall)
    stages = {"reconstruct", "augment", "trace", "guard", "refine", "analyse", "total"}
    assert set(got["summary"]["timings_s"]) >= stages
    guard = got["summary"]["guard"]  # the network's atoms were checked against the measured projections
    assert guard["decision"] in ("network", "tomogram") and guard["measure"] in ("R_free", "R1")
    assert guard["atoms"] == guard["atoms_" + guard["decision"]] - guard["dropped"] + guard["added"]
    checked = aet.io.read_model(out / "atoms_checked.xyz")
    assert len(checked) == guard["atoms"] and np.all(checked.scores["support"] >= 0.5)
    assert "guard:" in (out / "log.txt").read_text() and "Network guard" in got["report"]
    # the structure analysis stage: per-atom columns beside the model, its key figures in summary.json and the report
    analysed = ase.io.read(out / "analysis" / "atoms.xyz", format="extxyz")
    assert len(analysed) == len(got["xyz"]) and "structure" in analysed.arrays and "strain" in analysed.arrays
    assert got["summary"]["analysis"]["structure"]["fcc"] > 0
    assert json.loads((out / "analysis" / "analysis.json").read_text())["n_atoms"] == len(got["xyz"])
    assert "Structure analysis" in got["report"]


def test_rerun_skips_unchanged_stages(small_run) -> None:
    truth, ts, out, result = small_run
    again = run(ts, out, overrides=FAST, quiet=True)
    assert again.skipped == ["prepare", "reconstruct", "augment", "trace", "guard", "refine", "rfactor", "analyse"]
    assert len(again.model) == len(result.model)
    traced = (out / "atoms_traced.xyz").read_bytes()
    changed = run(ts, out, overrides={**FAST, "trace": {"min_distance": 3.0}}, quiet=True)
    assert (out / "atoms_traced.xyz").read_bytes() != traced  # 2.77 Å neighbours now merge
    # trace and what follows reran: refinement's key holds the content of atoms_traced.xyz, which changed
    assert changed.skipped == ["prepare", "reconstruct", "augment"]
    forced = run(ts, out, overrides={**FAST, "trace": {"min_distance": 2.1}}, quiet=True, force=True)
    assert forced.skipped == []


def test_genfire_workshop_missing_wedge(shared_data, tmp_path) -> None:
    """±50° FePt (multislice, GENFIRE tutorial). Pixel size 0.35 Å: the 5.5-pixel fringe period ≈ a/2 = 1.93 Å."""
    d = shared_data / "genfire_workshop_fept"
    out = tmp_path / "fept"
    cmd = [*CLI, "run", str(d / "projections_FePt_mw.mat"), "--angles", str(d / "angles_mw.mat"), "--pixel-size",
           "0.35", "--elements", "Fe,Pt", "--out", str(out), "--quiet"]  # fmt: skip
    cfg = tmp_path / "fast.toml"
    cfg.write_text("[augment]\ntta = 1\n[refine]\niterations = 5\n")  # model "auto": unet-alloy for 2 elements
    (tmp_path / "unet.toml").write_text('[augment]\nmodel = "unet"\ntta = 1\n')
    done = subprocess.run([*cmd, "--config", str(cfg)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert 'model = "unet-alloy"' in (out / "config_used.toml").read_text()
    got = _check_outputs(out, 0.35, {"Fe", "Pt"})
    assert 250 <= got["summary"]["atoms"]["total"] <= 400  # the particle has 321 atoms
    assert got["summary"]["tilt_series"]["tilt_range_deg"] == [-50.0, 50.0]
    # the single-element network leaves Fe among Pt too dim to classify: one sentence that names the way out
    msg = _cli_error([*cmd[3:-3], "--out", str(tmp_path / "fept2"), "--config", str(tmp_path / "unet.toml")])
    assert "cannot be separated" in msg and "unet-alloy" in msg


def test_asi208(shared_data, tmp_path) -> None:
    """asi208 at 1.6e4 e/Å² (full range, 60 projections, Si)."""
    d = shared_data / "asi208"
    cfg = tmp_path / "si.toml"
    cfg.write_text(
        "[trace]\nmin_distance = 1.9\n[augment]\ntta = 1\n[refine]\niterations = 5\nangle_correction = false\n"
    )
    truth = aet.metrics.load_asi208_truth(d / "aSi_208atoms_GT.txt")
    ts = aet.io.read(d / "aSi_2nmFosCetr_Dose1p6e4_cov35pm_ForBM3D.mat", angles=d / "Si_Angle.mat", pixel_size=0.195)
    result = run(ts, tmp_path / "si", cfg, {"input": {"elements": ["Si"]}}, quiet=True, truth=truth)
    got = _check_outputs(tmp_path / "si", 0.195, {"Si"})
    assert got["summary"]["comparison"]["recall"] >= 0.9, got["summary"]["comparison"]
    assert len(result.model) > 150


def _cli_error(args: list[str], code: int = 1) -> str:
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_pixel_size_checks_and_unknown_keys(tmp_path) -> None:
    """(The command line's bad input, one line and exit code each, is tests/test_bad_input.py.)"""
    _, ts = _example(1.5)
    with pytest.raises(AetUsageError, match="outside 0.05–5 Å"):
        check_pixel_size(35.7, ["Pt"])  # pm given as Å
    with pytest.raises(AetUsageError, match="outside 0.05–5 Å"):
        check_pixel_size(0.0357, ["Pt"])  # nm given as Å
    with pytest.warns(UserWarning, match="pixels apart"):
        assert "pixels apart" in check_pixel_size(3.57, ["Pt"])  # 10× too large: 0.78 pixels per neighbour
    assert check_pixel_size(0.195, ["Si"]) is None  # asi208: 12 pixels (was a false warning)
    assert check_pixel_size(0.3216, ["Ta"]) is None  # ta_film: Ta 2.87 Å apart, 9 pixels
    with pytest.raises(AetInputError, match="unknown key"):
        run(ts, tmp_path / "o3", overrides={"trace": {"min_distanse": 2}}, quiet=True)


def test_measured_ta_film_with_full_euler_angles(shared_data, tmp_path) -> None:
    """The measured Ta film (its own φ, ψ: the banded projector) runs end to end as a film: no border background,
    atoms leaving the field of view at high tilt kept and refined, the R-factor computed (it used to refuse)."""
    d = shared_data / "ta_film"
    ts = aet.io.read_tilt_series(d / "Projections_area1.mat", angles=aet.io.read_angles(d / "angles.mat", key="angle"),
                                 pixel_size=0.3216, euler_convention="zyx")  # fmt: skip
    fast = {"input": {"elements": ["Ta"]}, "refine": {"iterations": 1, "hb_iterations": 2}, "augment": {"tta": 1},
            "reconstruct": {"iterations": 20}}  # fmt: skip
    result = run(ts, tmp_path / "out", overrides=fast, quiet=True)
    log = (tmp_path / "out" / "log.txt").read_text()
    assert "prepare: a film" in log
    assert 600 < result.summary.n_atoms < 1400 and result.summary.rfactors.R1 < 0.4
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["status"] == "done"


def test_refinement_and_r_factor_fit_the_images_without_denoising(tmp_path) -> None:
    """A denoiser serves the reconstruction and the trace; refinement, R-factor and report see the images without it
    (same background, scale and alignment), kept in .aet/measured.npz, which a run without denoising removes."""
    truth, ts = _example()
    out = tmp_path / "out"
    fast = {**FAST, "augment": {"enabled": False}, "analyse": {"enabled": False}}
    result = run(ts, out, overrides={**fast, "prepare": {"align": "none", "denoise": "gaussian"}}, quiet=True)
    prepared = aet.io.read_tilt_series(out / ".aet/prepared.npz")
    measured = aet.io.read_tilt_series(out / ".aet/measured.npz")
    assert measured.images.shape == prepared.images.shape
    np.testing.assert_allclose(measured.images.sum((1, 2)), prepared.images.sum((1, 2)), rtol=1e-3)  # same scale
    assert np.abs(measured.images - prepared.images).std() > 0.1 * prepared.images.std()  # but not smoothed
    own = aet.rfactor(result.model, measured).R1
    assert result.summary.rfactors.R1 == pytest.approx(own, rel=1e-4)
    assert abs(aet.rfactor(result.model, prepared).R1 - own) > 0.2 * own  # the smoothed images tell another R1
    run(ts, out, overrides=fast, quiet=True)
    assert not (out / ".aet/measured.npz").exists()
