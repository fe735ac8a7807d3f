"""Sub-area AET: exact crops, the plan, the stitch, aet run --subareas on Dask (local, then a separate scheduler)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

import aet
from aet.errors import AetInputError, AetUsageError
from aet.metrics import compare
from aet.model import AtomicModel, TiltSeries
from aet.physics import atoms_to_projections
from aet.pipeline.run import run
from aet.pipeline.subareas import crop, plan_centres, stitch
from aet.settings.subareas import SubareaSettings
from aet.simulate import Acquisition, simulate_tilt_series
from aet.simulate.structures import amorphous_film

PIXEL = 0.32  #: Å


def _images(model: AtomicModel, angles: np.ndarray, size: int, shifts: np.ndarray | None = None) -> np.ndarray:
    pos = torch.as_tensor(model.positions)
    return atoms_to_projections(pos, 5.0, 1.0, angles, (size, size), PIXEL, shifts=shifts).numpy()


def test_a_crop_is_the_tilt_series_about_its_centre():
    """Cropping the whole series about c equals projecting the atoms about c with the crop's sub-pixel shifts."""
    film = amorphous_film("Ta", 30, 10, seed=3)
    angles = np.linspace(-63, 56, 12)
    whole = TiltSeries(_images(film, angles, 110).astype(np.float32), angles, PIXEL)
    centre = np.array([6.37, -4.81, 1.3])
    part = crop(whole, centre, 40)
    local = _images(AtomicModel(film.positions - centre, film.elements), angles, 40, part.shifts)
    assert np.abs(part.shifts).max() <= PIXEL / 2 + 1e-9
    assert np.abs(part.images - local).max() < 1e-4 * local.max()
    with pytest.raises(AetInputError, match="leaves image"):
        crop(whole, np.array([15.0, 0.0, 0.0]), 40)


def test_plan_tiles_the_field_and_reads_centres(tmp_path: Path):
    ts = TiltSeries(np.zeros((3, 100, 160), np.float32), [-30.0, 0.0, 30.0], PIXEL)  # 32 × 51.2 Å
    c = plan_centres(ts, SubareaSettings(size=20, overlap=5))
    xs, ys = np.unique(c[:, 0]), np.unique(c[:, 1])
    assert len(c) == len(xs) * len(ys) and np.all(c[:, 2] == 0)
    assert np.diff(xs).max() <= 15 + 1e-9 and np.diff(ys).max() <= 15 + 1e-9  # neighbours overlap by ≥ 5 Å
    assert xs.max() + 10 <= 51.2 / 2 and ys.max() + 10 <= 32 / 2  # every square inside the field
    (tmp_path / "c.txt").write_text("1 2 3\n-4 5 0\n")
    assert plan_centres(ts, SubareaSettings(centres=str(tmp_path / "c.txt"))).tolist() == [[1, 2, 3], [-4, 5, 0]]
    with pytest.raises(AetUsageError, match="overlap"):
        SubareaSettings(size=10, overlap=10)


def test_stitch_keeps_one_atom_per_site_the_more_central():
    """Two sub-areas that both found every atom of their overlap: one atom per site, each from the nearer centre."""
    film = amorphous_film("Ta", 40, 10, seed=4)
    centres = np.array([[-8.0, 0.0, 0.0], [8.0, 0.0, 0.0]])
    noise = np.random.default_rng(0).normal(0, 0.1, (2, *film.positions.shape))
    parts = [AtomicModel(film.positions + noise[k], film.elements) for k in range(2)]
    out = stitch(parts, centres, half=14.0, merge=2.0)
    d, site = cKDTree(film.positions).query(out.positions)
    assert d.max() < 0.9 and len(np.unique(site)) == len(out)  # every atom a true site, no site twice
    inner = (np.abs(film.positions[:, 0]) <= 21.5) & (np.abs(film.positions[:, 1]) <= 13.5)
    assert set(np.flatnonzero(inner)) <= set(site.tolist())  # every site of the two squares found
    x, area = out.positions[:, 0], out.scores["area"]
    assert np.all(area[x < -2.1] == 0) and np.all(area[x > 2.1] == 1)


@pytest.fixture(scope="module")
def film_series(tmp_path_factory):
    """A 28 × 28 × 10 Å amorphous Ta film, 21 projections from −63 to 56°, 0.32 Å pixels, 1e5 e/Å²."""
    truth = amorphous_film("Ta", 28, 10, seed=1)
    ts = simulate_tilt_series(truth, np.linspace(-63, 56, 21), Acquisition(pixel_size=PIXEL, image_size=100,
                                                                           dose=1e5, seed=0))  # fmt: skip
    path = tmp_path_factory.mktemp("film") / "film.npz"
    aet.io.write(ts, path)
    return path, truth


FAST = {"input": {"elements": ["Ta"]}, "augment": {"enabled": False}, "analyse": {"enabled": False},
        "refine": {"iterations": 6}, "subareas": {"enabled": True, "size": 20.0, "overlap": 6.0,
                                                  "seam_iterations": 3}}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_subareas_on_a_local_cluster_then_on_a_separate_scheduler(film_series, tmp_path: Path):
    path, truth = film_series
    out = tmp_path / "run"
    result = run(path, out, None, FAST | {"subareas": FAST["subareas"] | {"workers": 2}}, quiet=True, truth=truth)
    for name in ("atoms.xyz", "atoms_stitched.xyz", "tomogram.mrc", "subareas.json", "summary.json", "report.html",
                 "areas/a00/report.html", "areas/a03/atoms.xyz"):  # fmt: skip
        assert (out / name).exists(), name
    record = json.loads((out / "subareas.json").read_text())
    assert len(record["areas"]) == 4 and record["scheduler"] == "LocalCluster(2 workers)"
    c = result.summary.comparison
    assert c is not None and c.recall >= 0.98 and c.precision >= 0.95 and c.rmsd_pm < 15  # no network: a few ghosts
    assert cKDTree(result.model.positions).query(result.model.positions, 2)[0][:, 1].min() > 1.5
    assert json.loads((out / "summary.json").read_text())["subareas"]["areas"] == 4
    assert "0 sub-areas" not in (out / "log.txt").read_text()
    # the same job against a scheduler and a worker started apart from aet, as on any Dask cluster: the finished
    # sub-areas are found done and reused
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"} | {"OMP_NUM_THREADS": "1"}
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    port = address.rsplit(":", 1)[1]
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"], **quiet)]
    try:
        time.sleep(2)
        procs.append(subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", "1",
                                       "--no-dashboard"], **quiet))  # fmt: skip
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
        again = run(path, out, None, FAST | {"subareas": FAST["subareas"] | {"scheduler": address}}, quiet=True)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
    record = json.loads((out / "subareas.json").read_text())
    assert record["scheduler"] == address
    assert all("reconstruct" in a["skipped_stages"] for a in record["areas"])
    assert compare(again.model, result.model, 0.5).rmsd_pm < 0.5


def test_a_sub_area_job_that_cannot_be_planned_is_refused_before_any_work(film_series, tmp_path: Path):
    path, _ = film_series
    for sub, match in (({"centres": str(tmp_path / "missing.txt")}, "not a file"), ({"size": 60.0}, "wider than")):
        out = tmp_path / f"run{len(match)}"
        with pytest.raises(AetUsageError, match=match):
            run(path, out, None, FAST | {"subareas": FAST["subareas"] | sub}, quiet=True)
        assert not (out / ".aet" / "prepared.npz").exists()
