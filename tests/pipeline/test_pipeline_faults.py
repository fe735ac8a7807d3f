"""aet run under faults (issue 24): Ctrl-C or a kill inside any stage, then a rerun, gives exactly the model of an
uninterrupted run and leaves no temporary files or lock; a second run into a busy folder is refused; a lock left
by a dead run is taken over.

Every run is the real CLI entry (``aet.cli:run_app``) in a process of its own. The fault is injected inside that
process only (the product has no test hooks): at the first atomic rename of the chosen stage, after the temporary
file was written and before it is renamed, the process sends itself the signal.

Importing aet takes longer than a run of the tiny series here, so the faulted runs and their reruns are forked
from one :data:`SERVER` process that imported aet once (and never computes, so forking it is safe). The baseline
and the stale-lock run are fresh interpreters, so a model that depended on the process (hash seeds) would differ.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import aet
from aet.simulate.acquisition import Acquisition, simulate_tilt_series
from aet.simulate.structures import build_model

STAGES = ("prepare", "reconstruct", "augment", "trace", "guard", "refine", "rfactor")
#: One thread everywhere: the same model to the byte from every run.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
#: As small as the stages allow: each run is mostly the report.
CONFIG = """\
[prepare]
align = "none"
[reconstruct]
iterations = 10
[augment]
tta = 1
[refine]
iterations = 1
hb_iterations = 1
angle_correction = false
"""
CLI = [sys.executable, "-c", "import sys; sys.argv[0] = 'aet'; from aet.cli import run_app; run_app()"]

#: ``python -c SERVER``: reads JSON lines ``["start", request]`` (answers the pid of a forked child that runs
#: ``aet ARGS`` with its output in files, see :func:`_child`) and ``["wait", pid]`` (answers its exit code, minus
#: the signal that ended it).
SERVER = """
import json, os, sys, time, traceback
from pathlib import Path

import aet.cli, aet.nn.augment, aet.pipeline.report, aet.pipeline.run  # what every run imports, imported once

def _child(req):
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        os.dup2(os.open(req[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    where, sig, gate = req["where"], req["sig"], req["gate"]
    real_stage, real_replace = aet.pipeline.run._Stages.stage, os.replace
    armed = []

    def replace(src, dst, *args, **kwargs):  # in STAGE, the first rename of a written temporary file: signal
        name = Path(src).name
        if armed and name.startswith(".") and ".tmp" in name:
            os.kill(os.getpid(), sig)
            time.sleep(60)  # the signal lands here
            raise SystemExit("fault injection: the process outlived its signal")
        return real_replace(src, dst, *args, **kwargs)

    def stage(self, name, *args):  # in STAGE, wait for the file GATE (announced by GATE.inside); arm the fault
        if name == where and gate:
            Path(gate + ".inside").touch()
            deadline = time.monotonic() + 120
            while not Path(gate).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        armed[:] = [True] if name == where and sig else []
        try:
            return real_stage(self, name, *args)
        finally:
            armed.clear()

    os.replace, aet.pipeline.run._Stages.stage = replace, stage
    sys.argv = ["aet", *req["args"]]
    code = 0
    try:
        aet.cli.run_app()
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

for line in sys.stdin:
    what, arg = json.loads(line)
    if what == "start":
        pid = os.fork()
        if pid == 0:
            _child(arg)
        answer = pid
    else:
        answer = os.waitstatus_to_exitcode(os.waitpid(arg, 0)[1])
    print(json.dumps(answer), flush=True)
"""


class Runs:
    """Starts ``aet`` commands as children of :data:`SERVER`, each with an optional fault."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.count = folder, 0
        self.server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True, env=ENV)  # fmt: skip
        self.files: dict[int, tuple[Path, Path]] = {}

    def _ask(self, what: str, arg: object) -> int:
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(json.dumps([what, arg]) + "\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline()
        assert answer, "the fork server died"
        return int(json.loads(answer))

    def start(self, args: list[str], where: str = "", sig: int = 0, gate: Path | None = None) -> int:
        self.count += 1
        files = (self.folder / f"{self.count}.out", self.folder / f"{self.count}.err")
        pid = self._ask("start", {"args": args, "where": where, "sig": int(sig), "gate": str(gate or ""),
                                  "stdout": str(files[0]), "stderr": str(files[1])})  # fmt: skip
        self.files[pid] = files
        return pid

    def wait(self, pid: int) -> subprocess.CompletedProcess[str]:
        code = self._ask("wait", pid)
        out, err = (f.read_text() for f in self.files.pop(pid))
        return subprocess.CompletedProcess([], code, out, err)

    def run(self, args: list[str], where: str = "", sig: int = 0) -> subprocess.CompletedProcess[str]:
        return self.wait(self.start(args, where, sig))

    def close(self) -> None:
        assert self.server.stdin is not None
        self.server.stdin.close()
        self.server.wait(timeout=60)


class Series:
    """A tiny tilt series on disk (55-atom Pt particle, 5 tilts, 54² pixels) and the arguments that run it."""

    def __init__(self, folder: Path) -> None:
        truth = build_model("cuboctahedron", ["Pt"], 0.5)
        ts = simulate_tilt_series(truth, np.linspace(-60, 60, 5), Acquisition(dose=1e4, angle_error=0.3, seed=5))
        self.tilts, self.config = folder / "tilts.h5", folder / "fast.toml"
        aet.io.write(ts, self.tilts)
        self.config.write_text(CONFIG)

    def args(self, out: Path) -> list[str]:
        return ["run", str(self.tilts), "--out", str(out), "--elements", "Pt", "--config", str(self.config),
                "--threads", "1", "--quiet"]  # fmt: skip

    def fresh(self, out: Path) -> subprocess.CompletedProcess[str]:
        """The command in a fresh interpreter."""
        return subprocess.run([*CLI, *self.args(out)], capture_output=True, text=True, env=ENV, timeout=300)


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Series:
    return Series(tmp_path_factory.mktemp("series"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    runs = Runs(tmp_path_factory.mktemp("runs"))
    yield runs
    runs.close()


@pytest.fixture(scope="module")
def baseline(series, runs, tmp_path_factory) -> bytes:
    """atoms.xyz of an uninterrupted run (while the fork server imports)."""
    out = tmp_path_factory.mktemp("baseline") / "out"
    done = series.fresh(out)
    assert done.returncode == 0, done.stderr
    return (out / "atoms.xyz").read_bytes()


def _temporary(out: Path) -> list[Path]:
    return sorted(out.rglob(".*.tmp*"))


def _record(out: Path) -> dict:
    return json.loads((out / ".aet" / "run.json").read_text())


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def _check_done(out: Path, baseline: bytes) -> None:
    assert (out / "atoms.xyz").read_bytes() == baseline  # the very model of the uninterrupted run
    assert not _temporary(out)
    assert not (out / ".aet" / "lock").exists()
    assert not list((out / ".aet").glob("lock-*"))
    assert _record(out)["status"] == "done"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("stage", STAGES)
def test_fault_inside_a_stage_then_rerun(series, runs, baseline, tmp_path, stage, sig) -> None:
    out = tmp_path / "out"
    hit = runs.run(series.args(out), stage, sig)
    before = STAGES[: STAGES.index(stage)]
    records = out / ".aet"
    assert not (records / f"{stage}.json").exists(), hit.stderr  # cut off inside the stage, not after it
    assert all((records / f"{s}.json").exists() for s in before)
    if sig == signal.SIGINT:
        assert hit.returncode == 130, hit.stderr
        assert {k: _record(out)[k] for k in ("status", "stage")} == {"status": "interrupted", "stage": stage}
        assert not _temporary(out)  # Ctrl-C: the temporary files are removed on the way out ...
        assert not (records / "lock").exists()  # ... and the lock released
    else:
        assert hit.returncode == -signal.SIGKILL, hit.stderr
        assert _temporary(out)  # killed between a temporary file's write and its rename
        assert (records / "lock").exists()  # left behind by a process that no longer exists
        assert _record(out)["status"] == "running"
    again = runs.run(series.args(out))
    assert again.returncode == 0, again.stderr
    _check_done(out, baseline)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_stages"] == list(before)  # resumed at the stage that was cut off
    if sig == signal.SIGINT:  # the user was told where the run stopped and how to resume, in one line
        assert f"interrupted at stage {stage}; rerun the same command" in _one_line(hit.stderr)


def test_second_run_into_a_busy_folder_is_refused(series, runs, baseline, tmp_path) -> None:
    out, gate = tmp_path / "out", tmp_path / "gate"
    first = runs.start(series.args(out), "reconstruct", gate=gate)  # waits inside reconstruct until gate exists
    try:
        deadline = time.monotonic() + 120
        while not Path(f"{gate}.inside").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (out / ".aet" / "lock").exists(), "the first run is not holding the folder"
        second = runs.run(series.args(out))
        assert second.returncode == 2, second.stderr
        assert "another aet run" in _one_line(second.stderr)
        assert json.loads((out / ".aet" / "lock").read_text())["pid"] == first  # the lock is still the first's
    finally:
        gate.touch()
        done = runs.wait(first)
    assert done.returncode == 0, done.stderr
    _check_done(out, baseline)


def test_stale_lock_is_taken_over(series, baseline, tmp_path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    with pytest.raises(ProcessLookupError):
        os.kill(gone.pid, 0)
    out = tmp_path / "out"
    (out / ".aet").mkdir(parents=True)
    stale = {"pid": gone.pid, "host": socket.gethostname(), "started": "2020-01-01T00:00:00+0000"}
    (out / ".aet" / "lock").write_text(json.dumps(stale))
    done = series.fresh(out)  # a fresh interpreter, as a user would start it
    assert done.returncode == 0, done.stderr
    _check_done(out, baseline)
