"""Sub-area AET (``aet run --subareas``, ``[subareas]``): a field too large for one run, split, run on Dask, stitched.

As the published sub-area AET of a Ta film did (Yuan et al., Nat. Mater. 21, 95 (2022)):

1. **Plan.** Square sub-areas of ``size`` Å overlapping by ``overlap`` Å tile the field of view at 0° (or the
   centres come from a file, as published crop centres do).
2. **Crop.** A sub-area centred on the point c = (x, y, z) Å is, in image i, the window centred where c projects,
   R_i·c. The window starts on a whole pixel; the fraction left over becomes the crop's image shift, so the crop is
   an exact tilt series of the object about c (every stage honours ``TiltSeries.shifts``). The crops come from the
   prepared whole series (denoised once); each runs as a film (the signal of its neighbours enters at high tilt).
3. **Run.** Each crop goes through the whole pipeline into ``DIR/areas/aNN`` (its own report and record), one Dask
   task per sub-area: a LocalCluster by default, any running scheduler by address, or ``"serial"``. A finished
   sub-area is reused when the job runs again.
4. **Stitch.** Every model is moved into the common frame (+ c); an atom's centrality is its distance (x, y) from
   its sub-area's centre over half the size. An atom is kept only within its sub-area's square and where
   no other sub-area's centre is nearer than its own by more than ``merge_distance`` (the crop edges, where a
   sub-area's data end, are left to the sub-area whose middle they are); where atoms of two sub-areas then lie
   closer than ``merge_distance`` the more central one is kept (greedy, most central first): one atom per site, the
   better-supported one.
5. **Seams.** The stitched model's positions are refined against the whole series for ``seam_iterations`` (R_free
   guarded; H and B per species start from their linear fit, as the sub-area runs fitted them already), then
   the R-factor, a whole-field tomogram (each column from the sub-area whose centre is nearest), summary and report.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

import aet
from aet.elements import nearest_neighbour_distance
from aet.errors import AetInputError, AetUsageError
from aet.geometry import beam_frame, centre_index
from aet.io.atomic import atomic_paths, dump_json
from aet.model import AtomicModel, TiltSeries, Volume
from aet.settings.subareas import SubareaSettings

#: Default merge distance as a fraction of the elements' nearest-neighbour distance: distinct atoms, even in an
#: amorphous solid, stay farther apart than ≈ 0.8 of it.
MERGE_FRACTION = 0.7
#: Files a sub-area job writes into its folder, besides the sub-area run folders ``areas/aNN``.
OUTPUTS = ("atoms.xyz", "atoms.csv", "atoms_stitched.xyz", "tomogram.mrc", "subareas.json", "summary.json",
           "report.html", "log.txt", ".aet/prepared.npz", ".aet/refine_report.json")  # fmt: skip


def plan_centres(ts: TiltSeries, s: SubareaSettings) -> np.ndarray:
    """Sub-area centres ``[k, 3]`` (x, y, z) Å: those of ``s.centres`` (a file), else a grid that tiles the 0° field
    of view with squares of ``s.size`` overlapping by at least ``s.overlap`` (z = 0)."""
    if s.centres is not None:
        path = Path(s.centres)
        if not path.is_file():
            raise AetUsageError(f"[subareas] centres: no such file {path}.")
        try:
            c = np.loadtxt(path, delimiter="," if path.suffix.lower() == ".csv" else None, ndmin=2)
        except ValueError as err:
            raise AetInputError(
                f"{path}: sub-area centres must be numbers, 'x y' or 'x y z' in Å per line ({err})."
            ) from None
        if c.shape[1] not in (2, 3) or len(c) == 0 or not np.isfinite(c).all():
            raise AetInputError(f"{path}: sub-area centres must be 'x y' or 'x y z' in Å per line, got {c.shape}.")
        return np.column_stack([c, np.zeros(len(c))]) if c.shape[1] == 2 else c
    rows, cols = ts.images.shape[1:]
    axes = []
    for n_px in (cols, rows):  # x along the columns, y along the rows (the tilt axis)
        field = n_px * ts.pixel_size
        if s.size > field:
            raise AetUsageError(f"[subareas] size {s.size:g} Å is wider than the field of view ({field:.1f} Å).")
        k = int(np.ceil((field - s.size) / (s.size - s.overlap))) + 1 if field > s.size else 1
        span = (field - s.size) / 2 - ts.pixel_size  # a pixel of margin keeps the 0° window inside the image
        axes.append(np.linspace(-span, span, k) if k > 1 else np.zeros(1))
    x, y = np.meshgrid(*axes, indexing="xy")
    return np.column_stack([x.ravel(), y.ravel(), np.zeros(x.size)])


def crop(ts: TiltSeries, centre: np.ndarray, size_px: int, name: str = "sub-area") -> TiltSeries:
    """The tilt series of the square window of ``size_px`` pixels about the point ``centre`` (x, y, z) Å.

    In every image the window is centred where the point projects; the sub-pixel remainder is the crop's shift
    (row, col) Å, so that the point is the crop's rotation centre. Needs an image with its tilt axis along the rows
    (an aligned, prepared series)."""
    if ts.tilt_axis:
        raise AetInputError(f"sub-areas need the tilt axis along the rows (it is at {ts.tilt_axis:g}°); align the "
                            "series first (aet align).")  # fmt: skip
    rows, cols = ts.images.shape[1:]
    frame = beam_frame(ts.angles, ts.euler_convention)[:, :2]  # [n, 2, 3]: (x', y')
    uv = frame @ np.asarray(centre, dtype=np.float64) / ts.pixel_size  # [n, 2] pixels (col, row) from the centre
    col = uv[:, 0] + centre_index(cols)
    row = uv[:, 1] + centre_index(rows)
    if ts.shifts is not None:
        row, col = row + ts.shifts[:, 0] / ts.pixel_size, col + ts.shifts[:, 1] / ts.pixel_size
    c0 = np.round(col).astype(int) - centre_index(size_px)
    r0 = np.round(row).astype(int) - centre_index(size_px)
    outside = (c0 < 0) | (r0 < 0) | (c0 + size_px > cols) | (r0 + size_px > rows)
    if outside.any():
        i = int(np.argmax(outside))
        raise AetInputError(
            f"{name} at ({centre[0]:.1f}, {centre[1]:.1f}, {centre[2]:.1f}) Å leaves image {i} (θ = "
            f"{ts.tilt_angles[i]:.1f}°); move it inward or make [subareas] size smaller."
        )
    images = np.stack([ts.images[i, r0[i] : r0[i] + size_px, c0[i] : c0[i] + size_px] for i in range(ts.n_images)])
    shifts = np.column_stack([row - np.round(row), col - np.round(col)]) * ts.pixel_size
    meta = {**ts.metadata, "subarea": {"centre_A": [float(v) for v in centre], "size_px": size_px}}
    return replace(ts, images=images, shifts=shifts, metadata=meta)


def stitch(parts: list[AtomicModel], centres: np.ndarray, half: float, merge: float) -> AtomicModel:
    """One model from the sub-area models ``parts`` (already in the common frame), see the module docstring.

    Returns the stitched atoms with scores ``area`` (sub-area index) and ``centrality`` (0 at the centre, 1 at the
    middle of the square's edges); B and H are kept where every part has them."""
    pos, elements, area, central = [], [], [], []
    b: list[np.ndarray | None] = []
    h: list[np.ndarray | None] = []
    for k, m in enumerate(parts):
        # distance (x, y) to every centre: an atom in its square stays if no other sub-area's centre is nearer than
        # its own by more than the merge distance (so both sides of a seam meet there, and the crop edges, where the
        # data end, are left to the sub-area whose middle they are)
        offset = m.positions[None, :, :2] - centres[:, None, :2]
        dist = np.linalg.norm(offset, axis=2)  # [areas, atoms], Å in (x, y)
        c = dist[k] / half
        others = np.delete(dist, k, axis=0).min(axis=0) if len(centres) > 1 else np.full(len(m), np.inf)
        keep = (np.abs(offset[k]).max(axis=1) <= half) & (dist[k] <= others + merge)
        pos.append(m.positions[keep])
        elements += [e for e, ok in zip(m.elements, keep, strict=True) if ok]
        area.append(np.full(int(keep.sum()), k))
        central.append(c[keep])
        b.append(None if m.b_factor is None else m.b_factor[keep])
        h.append(None if m.height is None else m.height[keep])
    p, a, c = np.vstack(pos), np.concatenate(area), np.concatenate(central)
    alive = np.ones(len(p), dtype=bool)
    pairs = cKDTree(p).query_pairs(merge, output_type="ndarray")
    pairs = pairs[a[pairs[:, 0]] != a[pairs[:, 1]]]  # within one sub-area, pairs are the trace's business
    neighbours: dict[int, list[int]] = {}
    for i, j in pairs:
        neighbours.setdefault(int(i), []).append(int(j))
        neighbours.setdefault(int(j), []).append(int(i))
    for i in np.argsort(c, kind="stable"):  # most central first: a surviving atom removes its less central twins
        if alive[i]:
            for j in neighbours.get(int(i), ()):
                if c[j] >= c[i]:
                    alive[j] = False
    b_all = None if any(v is None for v in b) else np.concatenate([v for v in b if v is not None])[alive]
    h_all = None if any(v is None for v in h) else np.concatenate([v for v in h if v is not None])[alive]
    return AtomicModel(p[alive], [e for e, ok in zip(elements, alive, strict=True) if ok], b_factor=b_all,
                       height=h_all, scores={"area": a[alive].astype(np.float64), "centrality": c[alive]})  # fmt: skip


def mosaic(volumes: list[Volume], centres: np.ndarray, ts: TiltSeries) -> Volume:
    """A whole-field tomogram: each (x, y) column from the sub-area whose centre is nearest (nearest voxel)."""
    rows, cols = ts.images.shape[1:]
    vs = ts.pixel_size
    nz = max(v.data.shape[0] for v in volumes)
    out = np.zeros((nz, rows, cols), dtype=np.float32)
    yy, xx = np.mgrid[0:rows, 0:cols]
    x, y = (xx - centre_index(cols)) * vs, (yy - centre_index(rows)) * vs
    owner = np.argmin([(x - c[0]) ** 2 + (y - c[1]) ** 2 for c in centres], axis=0)
    for k, (v, c) in enumerate(zip(volumes, centres, strict=True)):
        vz, vy, vx = v.data.shape
        li = np.round((y - c[1]) / vs).astype(int) + centre_index(vy)
        lj = np.round((x - c[0]) / vs).astype(int) + centre_index(vx)
        sel = (owner == k) & (li >= 0) & (li < vy) & (lj >= 0) & (lj < vx)
        z0 = centre_index(nz) - centre_index(vz) + int(round(c[2] / vs))
        zs = np.arange(vz) + z0
        zok = (zs >= 0) & (zs < nz)
        out[zs[zok][:, None], yy[sel][None], xx[sel][None]] = v.data[np.arange(vz)[zok][:, None], li[sel][None],
                                                                      lj[sel][None]]  # fmt: skip
    origin = tuple(-centre_index(n) * vs for n in (nz, rows, cols))
    return Volume(out, vs, origin, metadata={"mosaic_of": len(volumes)})  # type: ignore[arg-type]


def _area_task(ts: TiltSeries, folder: str, tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Task: one sub-area through ``aet run`` (resumes what an earlier job finished)."""
    from aet.pipeline.run import run

    result = run(ts, folder, None, tables, quiet=True)
    s = result.summary
    return {"folder": folder, "atoms": s.n_atoms, "R1": s.rfactors.R1, "seconds": s.total_s,
            "skipped_stages": list(s.skipped_stages)}  # fmt: skip


def area_tables(tables: dict[str, dict[str, Any]], threads: int | None) -> dict[str, dict[str, Any]]:
    """The run settings of every sub-area: the job's, as a film, prepared already (the whole series was), no
    alignment, no sub-areas."""
    out = {k: dict(v) for k, v in tables.items()}
    out["prepare"].update(sample="film", denoise="none", background=False, normalise=False, align="none")
    out["subareas"]["enabled"] = False
    if threads is not None:
        out["run"]["threads"] = threads
    return out


def run_subareas(ts_raw: TiltSeries, out: Path, cfg: Any, runner: Any, truth: AtomicModel | None) -> Any:
    """The sub-area job of ``aet run`` into ``out`` (called by :func:`aet.pipeline.run.execute` with its folder
    owned and its log open; ``runner`` times the stages)."""
    from aet.pipeline.cluster import run_tasks
    from aet.pipeline.report import write_report
    from aet.pipeline.run import (
        RunResult,
        _file_hash,
        _fingerprint,
        _measured,
        _prepare,
        _read_prepared,
        _read_refined,
        _read_rfactor,  # fmt: skip
        _refine,
        _rfactor,
        _summary,
    )
    from aet.settings import to_table

    log: logging.Logger = runner.log
    s: SubareaSettings = cfg.subareas
    t0 = time.perf_counter()
    centres = plan_centres(ts_raw, s)  # before any work: a plan that cannot be made is refused first
    prepare = replace(cfg.prepare, align=None)  # sub-areas need an aligned series: aet align first
    prep_key = runner.key("prepare", to_table(cfg.input), to_table(prepare), _fingerprint(ts_raw))
    ts = runner.stage("prepare", prep_key, lambda: _prepare(ts_raw, prepare, out, runner.progress, None),
                      lambda: _read_prepared(out))  # fmt: skip
    size_px = int(round(s.size / ts.pixel_size))
    crops = [crop(ts, c, size_px, f"sub-area {k}") for k, c in enumerate(centres)]
    folders = [out / "areas" / f"a{k:02d}" for k in range(len(centres))]
    local = s.scheduler is None
    tables = area_tables(cfg.tables(), 1 if local else None)
    log.info(f"subareas: {len(centres)} sub-areas of {s.size:g} Å ({size_px} px) overlapping by ≥ {s.overlap:g} Å; "
             + ("a local cluster of " + f"{s.workers} workers" if local else f"scheduler {s.scheduler}"))  # fmt: skip
    t = time.perf_counter()
    done = run_tasks([(_area_task, (c, str(f), tables)) for c, f in zip(crops, folders, strict=True)], s.scheduler,
                     s.workers, "sub-areas", runner.progress)  # fmt: skip
    runner.timings["subareas"] = time.perf_counter() - t
    parts = []
    for f, c in zip(folders, centres, strict=True):
        m = aet.io.read_model(f / "atoms.xyz")
        parts.append(replace(m, positions=m.positions + c))
    merge = s.merge_distance or MERGE_FRACTION * min(nearest_neighbour_distance(e) for e in cfg.input.elements)
    t = time.perf_counter()
    stitched = stitch(parts, centres, s.size / 2, merge)
    runner.timings["stitch"] = time.perf_counter() - t
    aet.io.write(stitched, out / "atoms_stitched.xyz", overwrite=True)
    log.info(f"subareas: stitched {len(stitched)} atoms from {sum(len(p) for p in parts)} (merge distance "
             f"{merge:.2f} Å)")  # fmt: skip
    # the sub-area runs fitted H and B already (their crops are windows of the same images): the seams refine the
    # positions only, which halves their cost, the one part of the job that does not run in parallel
    refine = replace(cfg.refine, iterations=s.seam_iterations, hb_iterations=0, enabled=s.seam_iterations > 0)
    ref_key = runner.key("refine", to_table(refine), _file_hash(out / "atoms_stitched.xyz"),
                         runner.content("prepare"))  # fmt: skip
    measured = _measured(ts, out)  # the seams and the R-factor fit the images without denoising
    model, report = runner.stage(
        "refine", ref_key, lambda: _refine(stitched, measured, refine, cfg.run.device, out, runner.progress, log),
        lambda: _read_refined(out),
    )  # fmt: skip
    rf_key = runner.key("rfactor", runner.content("refine"), runner.content("prepare"))
    rfac = runner.stage("rfactor", rf_key, lambda: _rfactor(model, measured, out), lambda: _read_rfactor(out))
    volumes = [aet.io.read_volume(f / "tomogram.mrc") for f in folders]
    tomogram = mosaic(volumes, centres, ts)
    aet.io.write(tomogram, out / "tomogram.mrc", overwrite=True)
    areas = [{"centre_A": [round(float(v), 3) for v in c], **d} for c, d in zip(centres, done, strict=True)]
    if truth is not None:
        for a, figures in zip(areas, area_comparisons(parts, centres, s.size / 2, truth), strict=True):
            a.update(figures)
    record = {"size_A": s.size, "overlap_A": s.overlap, "merge_distance_A": merge, "size_px": size_px,
              "scheduler": s.scheduler or f"LocalCluster({s.workers} workers)", "atoms_before_merge":
              sum(len(p) for p in parts), "atoms_stitched": len(stitched), "areas": areas}  # fmt: skip
    with atomic_paths(out / "subareas.json") as (tmp,):
        dump_json(record, tmp)
    runner.current = "report"
    summary = _summary(cfg, ts, model, stitched, report, rfac, runner, truth, time.perf_counter() - t0,
                       subareas={k: v for k, v in record.items() if k != "areas"} | {"areas": len(areas)})
    with atomic_paths(out / "summary.json") as (tmp,):
        dump_json(summary.to_dict(), tmp)
    write_report(out / "report.html", summary, tomogram, None, model, measured, rfac.calculated,
                 list(rfac.R1_per_projection), truth=truth)  # fmt: skip
    log.info(f"report: wrote {out / 'report.html'} (sub-area reports in {out / 'areas'})")
    return RunResult(out, summary, model, runner.skipped)


def area_comparisons(parts: list[AtomicModel], centres: np.ndarray, half: float,
                     truth: AtomicModel) -> list[dict[str, Any]]:  # fmt: skip
    """Each sub-area's own model (common frame) against the truth: ``comparison`` within its whole square, and
    ``comparison_core`` within its own cell (where its centre is the nearest, the part the stitch keeps)."""
    from aet.metrics import compare

    def nearest(p: np.ndarray) -> np.ndarray:
        return np.asarray(np.argmin(np.linalg.norm(p[None, :, :2] - centres[:, None, :2], axis=2), axis=0))

    true_cell = nearest(truth.positions)
    out: list[dict[str, Any]] = []
    for k, (part, c) in enumerate(zip(parts, centres, strict=True)):
        figures: dict[str, Any] = {}
        for name, mine, theirs in (
            ("comparison", _in_square(part.positions, c, half), _in_square(truth.positions, c, half)),
            ("comparison_core", nearest(part.positions) == k, true_cell == k),
        ):
            if mine.any() and theirs.any():
                figures[name] = compare(part.subset(mine), truth.subset(theirs), radius=0.9).to_dict()
        out.append(figures)
    return out


def _in_square(positions: np.ndarray, centre: np.ndarray, half: float) -> np.ndarray:
    return np.asarray(np.abs(positions[:, :2] - centre[:2]).max(axis=1) <= half)

