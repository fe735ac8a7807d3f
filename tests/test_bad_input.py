"""Bad input, as a careless user gives it (issue 24): every case exits with its code (2: a wrong option, setting or
output folder; 1: data aet cannot use), prints one line on stderr and no traceback, writes nothing, and leaves the
output folder and the inputs exactly as they were. All checks run before the first stage, so each case takes
well under a second: the CLI runs in this process."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

import aet
from aet.cli import run_app
from aet.errors import AetInputError, AetUsageError
from aet.model import TiltSeries, Volume
from aet.simulate.acquisition import Acquisition, simulate_tilt_series
from aet.simulate.structures import build_model

PIXEL = 0.4  # Å


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small valid series in several formats, and damaged or odd files beside it."""
    d = tmp_path_factory.mktemp("inputs")
    truth = build_model("cuboctahedron", ["Pt"], 1.0)
    ts = simulate_tilt_series(truth, np.linspace(-60, 60, 9), Acquisition(pixel_size=PIXEL, image_size=32, dose=None))
    aet.io.write(ts, d / "tilts.h5")
    np.save(d / "images.npy", ts.images)
    np.savetxt(d / "angles.txt", ts.tilt_angles)
    np.savetxt(d / "angles_duplicated.txt", np.r_[ts.tilt_angles[:-1], ts.tilt_angles[3]])
    np.savetxt(d / "angles_radians.txt", np.deg2rad(ts.tilt_angles))
    np.savetxt(d / "angles_short.txt", ts.tilt_angles[:-1])
    np.save(d / "complex.npy", ts.images.astype(np.complex64) * (1 + 1j))
    for name in ("empty.npy", "empty.npz", "empty.h5", "empty.mat", "empty.mrc", "empty.tif"):
        (d / name).write_bytes(b"")
    whole = (d / "images.npy").read_bytes()
    (d / "truncated.npy").write_bytes(whole[: len(whole) // 2])
    h5 = (d / "tilts.h5").read_bytes()
    (d / "truncated_v73.mat").write_bytes(h5[: len(h5) // 2])  # MATLAB v7.3 files are HDF5
    with h5py.File(d / "nothing.h5", "w"):
        pass
    np.savez(d / "objects.npz", images=np.array([{"a": 1}, None], dtype=object))
    rng = np.random.default_rng(0)
    for suffix in ("mrc", "tif", "mat"):
        (d / f"noise.{suffix}").write_bytes(rng.bytes(4096))
    (d / "broken.toml").write_text("[reconstruct\niterations = 3\n")
    return d


def _snapshot(*folders: Path) -> dict[str, str]:
    """Every file under ``folders`` (hidden ones too) with the hash of its bytes; folders as ``DIR/``."""
    out = {}
    for folder in folders:
        if not folder.exists():
            continue
        for p in sorted(folder.rglob("*")):
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "DIR/"
    return out


def _cli(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["aet", *args])
    try:
        run_app()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    _, err = capsys.readouterr()
    return code, err


def _config(o: Path, text: str) -> str:
    path = o.parent / f"{o.name}.toml"
    path.write_text(text)
    return str(path)


def _run(d: Path, o: Path, *extra: str, tilts: str = "tilts.h5") -> list[str]:
    return ["run", str(d / tilts), "--out", str(o), "--elements", "Pt", "--quiet", *extra]


def _npy(d: Path, o: Path, *extra: str, name: str = "images.npy", angles: str = "angles.txt") -> list[str]:
    return _run(d, o, "--angles", str(d / angles), "--pixel-size", str(PIXEL), *extra, tilts=name)


def _earlier_run(d: Path, o: Path) -> None:
    """A folder holding the record of a run on another tilt series (as aet leaves it)."""
    (o / ".aet").mkdir(parents=True)
    (o / ".aet" / "run.json").write_text('{"input": "0123456789abcdef", "status": "done"}')
    (o / "atoms.xyz").write_text("1\n\nPt 0 0 0\n")


def _users_file(name: str) -> Callable[[Path, Path], None]:
    def make(d: Path, o: Path) -> None:
        o.mkdir()
        (o / name).write_text("the user's own file\n")

    return make


Args = Callable[[Path, Path], list[str]]
# (case, exit code, the arguments (inputs folder, output folder), a word the message must hold, folder set-up)
CASES: list[tuple[str, int, Args, str, Callable[[Path, Path], None] | None]] = [
    # ---- damaged or odd files: data errors, exit 1
    ("empty .npy", 1, lambda d, o: _npy(d, o, name="empty.npy"), "empty", None),
    ("empty .npz", 1, lambda d, o: _run(d, o, tilts="empty.npz"), "empty", None),
    ("empty .h5", 1, lambda d, o: _run(d, o, tilts="empty.h5"), "empty", None),
    ("empty .mat", 1, lambda d, o: _run(d, o, tilts="empty.mat"), "empty", None),
    ("empty .mrc", 1, lambda d, o: _npy(d, o, name="empty.mrc"), "empty", None),
    ("empty .tif", 1, lambda d, o: _npy(d, o, name="empty.tif"), "empty", None),
    ("HDF5 file without arrays", 1, lambda d, o: _run(d, o, tilts="nothing.h5"), "nothing.h5", None),
    ("truncated .npy", 1, lambda d, o: _npy(d, o, name="truncated.npy"), "truncated.npy", None),
    ("truncated v7.3 .mat", 1, lambda d, o: _run(d, o, tilts="truncated_v73.mat"), "truncated_v73.mat", None),
    ("object array in .npz", 1, lambda d, o: _run(d, o, tilts="objects.npz"), "objects.npz", None),
    ("random bytes .mrc", 1, lambda d, o: _npy(d, o, name="noise.mrc"), "noise.mrc", None),
    ("random bytes .tif", 1, lambda d, o: _npy(d, o, name="noise.tif"), "noise.tif", None),
    ("random bytes .mat", 1, lambda d, o: _run(d, o, tilts="noise.mat"), "noise.mat", None),
    ("missing file", 1, lambda d, o: _run(d, o, tilts="absent.h5"), "does not exist", None),
    ("complex images", 1, lambda d, o: _npy(d, o, name="complex.npy"), "complex", None),
    ("one angle short", 1, lambda d, o: _npy(d, o, angles="angles_short.txt"), "8 angles", None),
    ("duplicated angle", 1, lambda d, o: _npy(d, o, angles="angles_duplicated.txt"), "same Euler angles", None),
    ("angles in radians", 1, lambda d, o: _npy(d, o, angles="angles_radians.txt"), "radians", None),
    # ---- options: usage errors, exit 2
    ("pixel size in pm", 2, lambda d, o: _npy(d, o, "--pixel-size", "40"), "nm or pm", None),
    ("pixel size in nm", 2, lambda d, o: _npy(d, o, "--pixel-size", "0.04"), "nm or pm", None),
    ("pixel size 0", 2, lambda d, o: _npy(d, o, "--pixel-size", "0"), "positive", None),
    ("pixel size not a number", 2, lambda d, o: _npy(d, o, "--pixel-size", "abc"), "pixel-size", None),
    ("element X", 2, lambda d, o: _run(d, o, "--elements", "X"), "'X'", None),
    ("no element", 2, lambda d, o: _run(d, o, "--elements", ""), "element", None),
    ("unknown element", 2, lambda d, o: _run(d, o, "--elements", "Pt,Xx"), "'Xx'", None),
    ("device tpu", 2, lambda d, o: _run(d, o, "--device", "tpu"), "tpu", None),
    ("device cuda without a GPU", 2, lambda d, o: _run(d, o, "--device", "cuda"), "cuda", None),
    ("threads 0", 2, lambda d, o: _run(d, o, "--threads", "0"), "threads", None),
    ("unknown option", 2, lambda d, o: _run(d, o, "--iterations", "3"), "--iterations", None),
    # ---- settings in the TOML: usage errors, exit 2
    ("iterations 'fifty'", 2, lambda d, o: _run(d, o, "--config", _config(o, '[reconstruct]\niterations = "fifty"\n')),
     "whole number", None),
    ("iterations 1.5", 2, lambda d, o: _run(d, o, "--config", _config(o, "[reconstruct]\niterations = 1.5\n")),
     "whole number", None),
    ("iterations 1e9", 2, lambda d, o: _run(d, o, "--config", _config(o, "[reconstruct]\niterations = 1000000000\n")),
     "iterations", None),
    ("enabled 'yes'", 2, lambda d, o: _run(d, o, "--config", _config(o, '[refine]\nenabled = "yes"\n')),
     "true or false", None),
    ("elements []", 2, lambda d, o: ["run", str(d / "tilts.h5"), "--out", str(o), "--config",
                                     _config(o, "[input]\nelements = []\n")], "elements", None),
    ("misspelt setting", 2, lambda d, o: _run(d, o, "--config", _config(o, "[trace]\nmin_distanse = 2\n")),
     "min_distanse", None),
    ("misspelt table", 2, lambda d, o: _run(d, o, "--config", _config(o, "[reconstrut]\niterations = 2\n")),
     "reconstrut", None),
    ("config not TOML", 2, lambda d, o: _run(d, o, "--config", str(d / "broken.toml")), "TOML", None),
    ("config missing", 2, lambda d, o: _run(d, o, "--config", str(d / "absent.toml")), "absent.toml", None),
    ("unknown network", 2, lambda d, o: _run(d, o, "--config", _config(o, '[augment]\nmodel = "nope"\n')),
     "nope", None),
    ("negative min_distance", 2, lambda d, o: _run(d, o, "--config", _config(o, "[trace]\nmin_distance = -1\n")),
     "min_distance", None),
    ("refine max_move 0", 2, lambda d, o: _run(d, o, "--config", _config(o, "[refine]\nmax_move = 0\n")),
     "max_move", None),
    ("support file missing", 2, lambda d, o: _run(d, o, "--config", _config(o, '[trace]\nsupport = "m.mrc"\n')),
     "m.mrc", None),
    ("code in the config without consent", 2,
     lambda d, o: _run(d, o, "--config", _config(o, '[prepare]\ndenoise = "os:getcwd"\n')), "--allow-code", None),
    # ---- the output folder: usage errors, exit 2, and nothing in it changes
    ("--out is a file", 2, lambda d, o: _run(d, o), "is a file", lambda d, o: o.write_text("mine\n")),
    ("--out under a file", 2, lambda d, o: _run(d, o / "sub"), "is a file", lambda d, o: o.write_text("mine\n")),
    ("another run's outputs", 2, lambda d, o: _run(d, o), "another tilt series", _earlier_run),
    ("the user's atoms.xyz", 2, lambda d, o: _run(d, o), "atoms.xyz", _users_file("atoms.xyz")),
    ("the user's tomogram.mrc", 2, lambda d, o: _run(d, o), "tomogram.mrc", _users_file("tomogram.mrc")),
    ("simulate over an existing file", 2, lambda d, o: ["simulate", "--out", str(o / "sim"), "--size", "1"],
     "sim_truth.xyz", _users_file("sim_truth.xyz")),
    ("reconstruct over an existing file", 2,
     lambda d, o: ["reconstruct", str(d / "tilts.h5"), str(o / "tomogram.mrc"), "--method", "wbp"], "already exists",
     _users_file("tomogram.mrc")),
]


@pytest.mark.parametrize(("name", "code", "args", "word", "setup"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line_and_changes_nothing(
    name: str, code: int, args: Args, word: str, setup: Callable[[Path, Path], None] | None,
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    out = tmp_path / "out"
    if setup is not None:
        setup(inputs, out)
    argv = args(inputs, out)
    before = _snapshot(inputs, tmp_path)
    got, err = _cli(argv, capsys, monkeypatch)
    assert got == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert word in lines[0], lines[0]
    assert _snapshot(inputs, tmp_path) == before  # no partial output, nothing earlier changed
    assert not list(inputs.glob(".*tmp*")) and not list(tmp_path.rglob(".*.tmp*"))


def test_a_folder_aet_may_not_write_is_refused(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read-only or immutable folders (as root, which this test may run as, the kernel would still let aet write:
    the check itself is what is tested, by denying access to the folder)."""
    out = tmp_path / "locked" / "out"
    out.parent.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == out.parent else real(p, mode, **kw))
    code, err = _cli(_run(inputs, out), capsys, monkeypatch)
    assert code == 2 and "may not write" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_code_in_the_config_runs_only_with_consent_and_its_failure_is_one_line(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    args = _run(inputs, out, "--config", _config(out, '[prepare]\ndenoise = "os:getcwd"\n'), "--allow-code")
    code, err = _cli(args, capsys, monkeypatch)
    assert code == 1 and "denoise hook 'os:getcwd' failed" in err and len(err.strip().splitlines()) == 1
    assert not (out / "tomogram.mrc").exists()  # it failed in the first stage
    record = (out / ".aet" / "run.json").read_text()
    assert '"status": "failed"' in record and '"stage": "prepare"' in record and "os:getcwd" in record
    assert "os:getcwd" in (out / "log.txt").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["stage"] == "prepare" and "os:getcwd" in summary["error"]


def test_stated_geometry_wins_over_the_files_own(inputs: Path) -> None:
    """--pixel-size and --euler were silently ignored when the file (or its sidecar) had its own."""
    ts = aet.io.read_tilt_series(inputs / "tilts.h5", pixel_size=0.5, euler_convention="zyx")
    assert ts.pixel_size == 0.5 and ts.euler_convention == "zyx"
    assert aet.io.read_tilt_series(inputs / "tilts.h5").pixel_size == pytest.approx(PIXEL)


def test_api_checks(inputs: Path) -> None:
    ts = aet.io.read_tilt_series(inputs / "tilts.h5")
    with pytest.raises(AetUsageError, match="whole number"):
        aet.reconstruct(ts, "resire", iterations=1.5, progress=False)
    cut = TiltSeries(ts.images, ts.angles, ts.pixel_size)
    cut.angles = cut.angles[:-2]  # changed after it was made
    with pytest.raises(AetInputError, match="9 images but angles of shape"):
        aet.reconstruct(cut, "wbp", progress=False)
    with pytest.raises(AetInputError, match="'X'"):
        aet.trace(Volume(np.zeros((8, 8, 8))), elements=["X"])


def test_cases_cover_the_issue() -> None:
    assert len(CASES) + 4 >= 44  # the 44 kinds of bad input the issue lists, and more


def test_resampling_beyond_memory_is_refused_with_its_size() -> None:
    from aet.nn.normalise import resample

    with pytest.raises(AetInputError, match=r"needs about .* GB"):
        resample(np.zeros((64, 64, 64), np.float32), 40.0)  # a pixel size given in pm: 2560³ voxels


def test_a_series_of_pure_noise_fails_in_prepare_with_its_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    noise = np.random.default_rng(0).poisson(5.0, (9, 32, 32)).astype(np.float32)
    aet.io.write(TiltSeries(noise, np.linspace(-60, 60, 9), PIXEL), tmp_path / "noise.h5")
    out = tmp_path / "out"
    code, err = _cli(["run", str(tmp_path / "noise.h5"), "--out", str(out), "--elements", "Pt", "--quiet"],
                     capsys, monkeypatch)  # fmt: skip
    assert code == 1 and "pure noise" in err and len(err.strip().splitlines()) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["stage"] == "prepare" and "pure noise" in summary["error"]
    assert "pure noise" in (out / "log.txt").read_text()


def test_aet_align_writes_the_aligned_series_and_its_record(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "aligned.npz"
    code, _ = _cli(["align", str(inputs / "tilts.h5"), str(out), "--tilt-axis", "0"], capsys, monkeypatch)
    assert code == 0
    aligned = aet.io.read_tilt_series(out)
    assert aligned.metadata["alignment"]["axis_source"] == "given" and aligned.images.shape == (9, 32, 32)
    code, err = _cli(["align", str(inputs / "tilts.h5"), str(out)], capsys, monkeypatch)
    assert code == 2 and "exists" in err  # never overwritten without --overwrite
