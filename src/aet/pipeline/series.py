"""``aet run-series``: one tilt series per time point through ``aet run``, in parallel on Dask, then the atoms tracked.

Each time point gets its own run folder ``DIR/tNN`` (resumable like any ``aet run``). The work is a graph of Dask
tasks: every time point's prepare → reconstruct → augment → trace is independent of the others; its refinement
(then R-factor, analysis and report) waits for its own trace and, with ``warm_start``, for the refinement of the
time point before, which it starts from (``[refine] warm_start``). Dask runs what is ready: while time point 1
refines, time points 2, 3, … reconstruct. A ``dask.distributed`` LocalCluster of ``workers`` single-threaded
processes is started by default; ``scheduler`` names any running Dask scheduler instead (``tcp://host:8786``),
whose workers must have aet installed and see the files. ``scheduler="serial"`` runs the same tasks one after the
other in this process (no Dask), with all cores.

Then :func:`aet.tracking.track` follows the atoms through the final models: ``DIR/trajectory.xyz``,
``DIR/tracking.json``, ``DIR/tracking.html`` (the series report), and ``DIR/series.json`` (per time point: folder,
status and key figures).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aet
from aet.errors import AetUsageError
from aet.io.atomic import atomic_paths, check_creatable, dump_json
from aet.model import AtomicModel
from aet.progress import progress_bar
from aet.tracking import Tracking, track, write_tracking
from aet.tracking.output import FILES as TRACKING_FILES

#: Stages a forced rerun must redo after the front (the trace) was redone.
_AFTER_TRACE = ("refine", "rfactor", "analyse")


@dataclass
class SeriesResult:
    """What ``aet run-series`` produced: the folder, each time point's run folder and summary, and the tracking."""

    out: Path
    folders: list[Path]
    summaries: list[dict[str, Any]]
    tracking: Tracking
    seconds: float


def time_points(tilts: Sequence[str | Path]) -> list[Path]:
    """The tilt-series files, in time order: the files given, or the files inside a single folder given (sorted
    by name)."""
    paths = [Path(t) for t in tilts]
    if len(paths) == 1 and paths[0].is_dir():
        paths = sorted(p for p in paths[0].iterdir() if p.is_file() and not p.name.startswith(".")
                       and not p.name.endswith(".json"))  # fmt: skip
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise AetUsageError(f"no such tilt-series file: {', '.join(missing[:3])}.")
    if len(paths) < 2:
        raise AetUsageError(f"a time series needs at least two tilt series, got {len(paths)}; use aet run for one.")
    return paths


def _front(tilts: Path, folder: Path, config: str | None, overrides: dict[str, Any], force: bool,
           truth: AtomicModel | None) -> str:  # fmt: skip
    """Task: prepare → trace of one time point."""
    from aet.pipeline.run import execute

    execute(tilts, folder, config, overrides, force=force, quiet=True, truth=truth, until="trace")
    if force:  # the trace was redone: so must everything after it be, even where its content came out the same
        for stage in _AFTER_TRACE:
            (folder / ".aet" / f"{stage}.json").unlink(missing_ok=True)
    return str(folder)


def _full(tilts: Path, folder: Path, config: str | None, overrides: dict[str, Any], truth: AtomicModel | None,
          front: str, previous: str | None) -> dict[str, Any]:  # fmt: skip
    """Task: the whole run of one time point once its front is done (skipped stages), warm-started from the final
    model of the time point before when ``previous`` names its folder."""
    from aet.pipeline.run import run

    del front  # a dependency only: the front of this time point is done
    if previous is not None:
        overrides = {**overrides, "refine": {**overrides.get("refine", {}),
                                             "warm_start": str(Path(previous) / "atoms.xyz")}}  # fmt: skip
    result = run(tilts, folder, config, overrides, quiet=True, truth=truth)
    return {"folder": str(folder), "seconds": result.summary.total_s} | _key_figures(result.summary.to_dict())


def _key_figures(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("atoms", "atoms_traced", "r1", "refinement", "comparison", "comparison_traced")
    return {k: summary[k] for k in keys if k in summary}


def run_series(
    tilts: Sequence[str | Path],
    out: str | Path,
    config: str | Path | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    warm_start: bool = True,
    force: bool = False,
    quiet: bool = False,
    truths: Sequence[AtomicModel] | None = None,
    track_options: dict[str, Any] | None = None,
) -> SeriesResult:
    """Run every time point of ``tilts`` (files in time order, or one folder) into ``out/tNN`` and track the atoms.

    Args:
        config, overrides: as for :func:`aet.run`, the same for every time point.
        scheduler: None: a LocalCluster of ``workers`` processes; ``"serial"``: no Dask; else a Dask scheduler
            address.
        warm_start: refine each time point from the refined model of the one before.
        truths: optional true atoms per time point (simulations): each run's summary compares against them.
        track_options: keyword arguments of :func:`aet.tracking.track` (radius, jump_radius, move_threshold, affine).
    """
    t0 = time.perf_counter()
    paths = time_points(tilts)
    if truths is not None and len(truths) != len(paths):
        raise AetUsageError(f"{len(truths)} true models for {len(paths)} time points.")
    if workers < 1:
        raise AetUsageError(f"workers must be at least 1, got {workers}.")
    out = Path(out)
    _check_folder(out, force)
    out.mkdir(parents=True, exist_ok=True)
    folders = [out / f"t{t:02d}" for t in range(len(paths))]
    overrides = {k: dict(v) for k, v in (overrides or {}).items()}
    cfg_path = None if config is None else str(config)
    front_overrides, full_overrides = overrides, overrides
    if scheduler is None and "threads" not in overrides.get("run", {}):
        # the fronts share the cores among the workers; chained by their warm starts, the refinements run one at a
        # time once the fronts are done, so each may use every core
        cores = os.cpu_count() or 1
        front_overrides = {**overrides, "run": {**overrides.get("run", {}), "threads": max(1, cores // workers)}}
        full_overrides = front_overrides if not warm_start else {
            **overrides, "run": {**overrides.get("run", {}), "threads": cores}}  # fmt: skip
    truth_of = list(truths) if truths is not None else [None] * len(paths)
    points = list(zip(paths, folders, truth_of, strict=True))
    fronts: list[Task] = [(_front, (p, f, cfg_path, front_overrides, force, tr)) for p, f, tr in points]
    fulls: list[Task] = [(_full, (p, f, cfg_path, full_overrides, tr)) for p, f, tr in points]
    if scheduler == "serial":
        summaries = _serial(fronts, fulls, folders, warm_start, quiet)
    else:
        summaries = _on_dask(fronts, fulls, folders, warm_start, quiet, scheduler, workers)
    models = [aet.io.read_model(f / "atoms.xyz") for f in folders]
    tracking = track(models, **(track_options or {}))
    names = [str(f.relative_to(out) / "atoms.xyz") for f in folders]
    write_tracking(out, tracking, names, overwrite=True)
    seconds = time.perf_counter() - t0
    record = {"time_points": [{"tilts": str(p)} | s for p, s in zip(paths, summaries, strict=True)],
              "scheduler": scheduler or f"LocalCluster({workers} workers)", "warm_start": warm_start,
              "seconds": round(seconds, 2), "files": list(TRACKING_FILES)}  # fmt: skip
    with atomic_paths(out / "series.json") as (tmp,):
        dump_json(record, tmp)
    return SeriesResult(out, folders, summaries, tracking, seconds)


def _check_folder(out: Path, force: bool) -> None:
    """Refuse a folder that holds files aet run-series did not write (no series.json), unless ``force``."""
    check_creatable(out, "a folder with --out")
    if not out.is_dir() or (out / "series.json").exists() or force:
        return
    foreign = [p.name for p in out.iterdir() if not p.name.startswith(".")]
    if foreign:
        raise AetUsageError(f"{out} already holds {', '.join(sorted(foreign)[:3])}, which aet run-series did not "
                            "write; give a new folder with --out, or --force.")  # fmt: skip


Task = tuple[Callable[..., Any], tuple[Any, ...]]


def _serial(fronts: list[Task], fulls: list[Task], folders: list[Path], warm: bool,
            quiet: bool) -> list[dict[str, Any]]:  # fmt: skip
    summaries = []
    with progress_bar(2 * len(fronts), "run-series", not quiet) as advance:
        for t, ((front, fargs), (full, args)) in enumerate(zip(fronts, fulls, strict=True)):
            done = front(*fargs)
            advance()
            summaries.append(full(*args, done, str(folders[t - 1]) if warm and t else None))
            advance()
    return summaries


def _on_dask(fronts: list[Task], fulls: list[Task], folders: list[Path], warm: bool, quiet: bool,
             scheduler: str | None, workers: int) -> list[dict[str, Any]]:  # fmt: skip
    from distributed import as_completed

    from aet.pipeline.cluster import dask_client

    with dask_client(scheduler, workers) as client:
        front_futures = [client.submit(fn, *args, pure=False) for fn, args in fronts]
        full_futures: list[Any] = []
        for t, (fn, args) in enumerate(fulls):
            previous = full_futures[t - 1] if warm and t else None
            # the previous time point's future stands for its folder: the task starts when that run is done
            # priority: a time point's refinement starts as soon as it may, ahead of the fronts still waiting
            full_futures.append(client.submit(_after, fn, args, front_futures[t], previous, str(folders[t - 1])
                                              if t else None, pure=False, priority=1))  # fmt: skip
        with progress_bar(len(fronts) + len(fulls), "run-series", not quiet) as advance:
            for future in as_completed(front_futures + full_futures):
                future.result()  # raises the task's error here, with its traceback
                advance()
        return list(client.gather(full_futures))


def _after(fn: Callable[..., Any], args: tuple[Any, ...], front: str, previous: dict[str, Any] | None,
           previous_folder: str | None) -> Any:  # fmt: skip
    """Run ``fn`` once its dependencies (passed as futures, resolved by Dask) are done."""
    return fn(*args, front, previous_folder if previous is not None else None)
