"""Reconstruction accuracy and speed: aet's WBP, SIRT, RESIRE and GENFIRE against ASTRA's CPU SIRT.

Run: .venv/bin/python benchmarks/reconstruction.py [--iterations 100] [--sizes 128 256] [--tilts 60] [--threads 2]
Needs the bench extra (``pip install -e '.[bench]'``) for ASTRA; without it only aet is measured.

1. Accuracy on ``../shared/data/resire_sample`` (41 projections, θ = −70…70°, exact ground-truth volume): the
   relative error ‖x − x_true‖ / ‖x_true‖ of every method, ASTRA's SIRT_CPU run slice by slice (the way a 2-D
   toolbox serves a single-axis series) with the same iterations and positivity (``MinConstraint = 0``).
2. Speed: seconds per iteration at each size³ with ``--tilts`` projections, as a ratio to ASTRA: for aet the
   median of the per-iteration wall times in its log, for ASTRA (t(4 iterations) − t(1)) / 3; set-up and the
   one-time operator build are excluded on both sides.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _common import report

import aet
from aet.model import TiltSeries
from aet.reconstruction import reconstruct

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "resire_sample"


def astra_sirt(images: np.ndarray, tilts: np.ndarray, nz: int, iterations: int) -> np.ndarray | None:
    """ASTRA SIRT_CPU slice by slice: images ``[n, rows, cols]`` -> volume ``[nz, rows, cols]``.

    ASTRA's 2-D volume is our (z, x) slice as is, with the same tilt sign. ASTRA rotates about the middle of the
    grid, (n − 1)/2, aet about index n//2 (the FFT centre); for even n these differ by half a voxel, which is a
    θ-dependent misalignment, so even axes get one zero column/row appended (centre (n+1−1)/2 = n//2) and the
    result is cropped back. Checked on resire_sample: ASTRA's projection of the truth then correlates with the
    published projections like aet's does.
    """
    try:
        import astra
    except ImportError:
        return None
    n, rows, cols = images.shape
    pad_x, pad_z = 1 - cols % 2, 1 - nz % 2
    images = np.pad(images, ((0, 0), (0, 0), (0, pad_x)))
    vg = astra.create_vol_geom(nz + pad_z, cols + pad_x)
    pg = astra.create_proj_geom("parallel", 1.0, cols + pad_x, np.deg2rad(tilts))
    pid = astra.create_projector("linear", pg, vg)
    out = np.zeros((nz, rows, cols), dtype=np.float32)
    for y in range(rows):
        sid = astra.data2d.create("-sino", pg, images[:, y, :])
        rid = astra.data2d.create("-vol", vg, 0.0)
        cfg = astra.astra_dict("SIRT")
        cfg.update(ProjectorId=pid, ProjectionDataId=sid, ReconstructionDataId=rid, option={"MinConstraint": 0.0})
        aid = astra.algorithm.create(cfg)
        astra.algorithm.run(aid, iterations)
        out[:, y, :] = astra.data2d.get(rid)[:nz, :cols]
        astra.algorithm.delete(aid)
        astra.data2d.delete([sid, rid])
    astra.projector.delete(pid)
    return out


def accuracy(iterations: int) -> None:
    if not DATA.is_dir():
        print(f"skipping accuracy: {DATA} not found")
        return
    ts = aet.io.read(
        DATA / "sample_projections_amorphous.mat",
        angles=DATA / "sample_angles_amorphous.mat",
        euler_convention="zyx",
        kind="tiltseries",
    )
    truth = aet.io.read(DATA / "ground_truth_amorphous_vol.mat", kind="volume").data

    def err(v: np.ndarray) -> float:
        return float(np.linalg.norm(v - truth) / np.linalg.norm(truth))

    rows = []
    runs = [("wbp", {}), ("sirt", {}), ("resire", {}), ("resire", {"momentum": True}), ("genfire", {})]
    for method, extra in runs:
        opts = {} if method == "wbp" else {"iterations": iterations, **extra}
        t = time.perf_counter()
        vol = reconstruct(ts, method, progress=False, **opts)
        name = f"aet {method}" + (" + momentum" if extra else "")
        rows.append([name, opts.get("iterations", "-"), err(vol.data), time.perf_counter() - t])
    t = time.perf_counter()
    ref = astra_sirt(ts.images, ts.tilt_angles, truth.shape[0], iterations)
    if ref is not None:
        rows.append(["ASTRA SIRT_CPU", iterations, err(ref), time.perf_counter() - t])
        base = rows[-1][2]
        for r in rows:
            r.append(r[2] / base)
    report(
        "reconstruction_accuracy",
        ["method", "iterations", "rel. error", "time s", "error / ASTRA SIRT"],
        rows,
        {"data": "resire_sample (41 projections, ±70°, 64³)", "positivity": True},
    )


def per_iteration(fn, k1: int, k2: int) -> float:
    """Seconds per iteration from runs of k1 and k2 iterations (set-up cancels); for ASTRA."""
    t = time.perf_counter()
    fn(k1)
    t1 = time.perf_counter() - t
    t = time.perf_counter()
    fn(k2)
    t2 = time.perf_counter() - t
    return max(t2 - t1, 1e-9) / (k2 - k1)


def aet_per_iteration(ts: TiltSeries, method: str, iterations: int) -> float:
    """Median wall time of one iteration from aet's own per-iteration log (operator built beforehand)."""
    reconstruct(ts, method, iterations=1, progress=False)  # builds and caches the shared projector
    log = reconstruct(ts, method, iterations=iterations, progress=False).metadata["reconstruction"]["log"]
    return float(np.median([e["seconds"] for e in log]))


def speed(sizes: list[int], n_tilts: int) -> None:
    tilts = np.linspace(-70, 70, n_tilts)
    rows = []
    for n in sizes:
        rng = np.random.default_rng(0)
        ts = TiltSeries(rng.random((n_tilts, n, n), dtype=np.float32), tilts)
        times = {m: aet_per_iteration(ts, m, 10) for m in ("resire", "sirt")}
        try:
            import astra  # noqa: F401

            ref = per_iteration(lambda k, ts=ts, n=n: astra_sirt(ts.images, tilts, n, k), 1, 4)
        except ImportError:
            ref = None
        row: list = [n, n_tilts, times["resire"], times["sirt"]]
        row += ["-", "-", "-"] if ref is None else [ref, ref / times["resire"], ref / times["sirt"]]
        rows.append(row)
    report(
        "reconstruction_speed",
        ["size³", "tilts", "aet RESIRE s/it", "aet SIRT s/it", "ASTRA SIRT s/it", "RESIRE ×", "SIRT ×"],
        rows,
        {"aet": "median of 10 logged iterations", "ASTRA": "(t(4 it) − t(1 it)) / 3, slice-wise SIRT_CPU"},
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--tilts", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    accuracy(args.iterations)
    if not args.skip_speed:
        speed(args.sizes, args.tilts)


if __name__ == "__main__":
    main()
