"""aet run-series: time points through the pipeline on a local Dask cluster, warm starts, tracking, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import aet
from aet.cli import app
from aet.errors import AetUsageError
from aet.metrics.tracking import tracking_accuracy
from aet.model import AtomicModel
from aet.pipeline.run import execute
from aet.pipeline.series import run_series
from aet.simulate import Acquisition, fitting_image_size, simulate_tilt_series
from aet.simulate.dynamics import Evolution, evolve
from aet.simulate.structures import truncated_octahedron

FAST = {"input": {"elements": ["Pt"]}, "augment": {"enabled": False}, "analyse": {"enabled": False},
        "refine": {"iterations": 8}}  # fmt: skip


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Three time points of a small Pt particle (EMT, adatom hops, 2° and 5 Å between them), 13 projections."""
    folder = tmp_path_factory.mktemp("series")
    truths = evolve(truncated_octahedron("Pt", 1.4), 3, Evolution(md_ps=0.02, adatoms=2, surface_hops=1, seed=2),
                    progress=False)  # fmt: skip
    every = AtomicModel(np.concatenate([m.positions for m in truths]), "Pt")
    size = fitting_image_size(every, 0.45)
    files = []
    for t, truth in enumerate(truths):
        ts = simulate_tilt_series(truth, np.linspace(-65, 65, 13), Acquisition(pixel_size=0.45, image_size=size,
                                                                               dose=1e5, seed=t))  # fmt: skip
        files.append(folder / f"t{t}.npz")
        aet.io.write(ts, files[-1])
    return folder, files, truths


def test_series_on_a_local_dask_cluster_then_resumed_serially(series, tmp_path):
    _, files, truths = series
    out = tmp_path / "run"
    result = run_series(files, out, overrides=FAST, workers=2, quiet=True, truths=truths)
    for name in ("series.json", "trajectory.xyz", "tracking.json", "tracking.html", "t02/report.html"):
        assert (out / name).exists(), name
    record = json.loads((out / "series.json").read_text())
    assert record["scheduler"] == "LocalCluster(2 workers)" and len(record["time_points"]) == 3
    for a in tracking_accuracy(result.tracking, truths):
        assert a["fraction_right"] == 1.0
        assert a["displacement_rms_error_pm"] < 15.0
    assert "start from the refined atoms of" in (out / "t01" / "log.txt").read_text()
    assert 'warm_start = "none"' in (out / "t00" / "config_used.toml").read_text()  # the first starts cold
    assert f'warm_start = "{out / "t00" / "atoms.xyz"}"' in (out / "t01" / "config_used.toml").read_text()
    # again on a scheduler started apart from aet (any Dask cluster), then without Dask: every stage is found done
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        again = run_series(files, out, overrides=FAST, scheduler=cluster.scheduler_address, quiet=True)
    assert json.loads((out / "series.json").read_text())["scheduler"] == cluster.scheduler_address
    again = run_series(files, out, overrides=FAST, scheduler="serial", quiet=True)
    for folder in again.folders:
        skipped = json.loads((folder / "summary.json").read_text())["skipped_stages"]
        assert {"prepare", "reconstruct", "trace", "refine", "rfactor"} <= set(skipped)


def test_refusals(series, tmp_path):
    folder, files, _ = series
    with pytest.raises(AetUsageError, match="at least two tilt series"):
        run_series(files[:1], tmp_path / "one", overrides=FAST)
    with pytest.raises(AetUsageError, match="no such tilt-series file"):
        run_series([files[0], folder / "missing.npz"], tmp_path / "two", overrides=FAST)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(AetUsageError, match="did not write"):
        run_series(files, foreign, overrides=FAST)
    with pytest.raises(AetUsageError, match="until='trace'"):
        execute(files[0], tmp_path / "x", overrides=FAST, until="refine")
    result = CliRunner().invoke(app, ["run-series", str(files[0]), "--out", str(tmp_path / "cli")])
    assert isinstance(result.exception, AetUsageError)  # aet's entry point turns it into exit code 2
    assert "at least two tilt series" in str(result.exception)
