"""Sub-area AET of a simulated amorphous Ta-like film through ``aet run --subareas``, scored against the truth.

Run: .venv/bin/python benchmarks/subareas.py [--workers 2 1] [--width 100] [--work runs/subareas] [--reuse]

* truth: ``amorphous_film("Ta", width, 30)``: a width × width × 30 Å slab at the density of crystalline Ta, no two
  atoms closer than 2.43 Å (16,545 atoms at 100 Å);
* tilt series: 46 projections from −63 to 56° (the Ta film's range, θ only), 0.32 Å pixels, images that hold the film
  at 0° (width / 0.32 + 18 px), 1e5 e/Å² per projection, B = 5 Å²;
* ``aet run --subareas`` with the defaults ([subareas] 40 Å squares overlapping by ≥ 10 Å, every stage's defaults)
  on a LocalCluster of each ``--workers`` count, each into a fresh folder, timed;
* scores: recall, precision and RMSD (0.9 Å match radius) of the stitched, seam-refined model against the truth; the
  closest pair of atoms; the mean RMSD of the single sub-area runs (each sub-area's own model against the truth, both
  within its square, and both within its own cell, where its centre is the nearest: the part the stitch keeps; from
  ``subareas.json``); the speed-up of 2 workers over 1 (goal ≥ 1.7× on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, report
from scipy.spatial import cKDTree

import aet
from aet.pipeline.run import run
from aet.simulate import Acquisition, simulate_tilt_series
from aet.simulate.structures import amorphous_film

PIXEL = 0.32  #: Å
ANGLES = np.linspace(-63.0, 56.0, 46)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[2, 1])
    ap.add_argument("--width", type=float, default=100.0, help="film width, Å")
    ap.add_argument("--thickness", type=float, default=30.0, help="film thickness, Å")
    ap.add_argument("--work", type=Path, default=Path("runs/subareas"))
    ap.add_argument("--reuse", action="store_true",
                    help="rescore the finished runs in --work (aet run reuses every stage; the times are those of "
                         "the earlier results file)")  # fmt: skip
    args = ap.parse_args()
    earlier = {}
    if args.reuse:
        earlier = {r["workers"]: r["seconds"] for r in json.loads((RESULTS / "subareas.json").read_text())["runs"]}
    truth = amorphous_film("Ta", args.width, args.thickness, seed=1)
    size = int(np.ceil(args.width / PIXEL)) + 18
    ts = simulate_tilt_series(truth, ANGLES, Acquisition(pixel_size=PIXEL, image_size=size, dose=1e5, seed=0))
    args.work.mkdir(parents=True, exist_ok=True)
    tilts = args.work / "film.npz"
    aet.io.write(ts, tilts, overwrite=True)
    print(f"{len(truth)} atoms; {ts.n_images} projections of {size}² px", flush=True)
    rows, details, seconds = [], [], {}
    for workers in args.workers:
        out = args.work / f"workers{workers}"
        if not args.reuse:
            shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        result = run(tilts, out, None, {"input": {"elements": ["Ta"]}, "subareas": {"enabled": True,
                                                                                   "workers": workers}},
                     truth=truth)  # fmt: skip
        seconds[workers] = earlier[workers] if args.reuse else time.perf_counter() - t
        record = json.loads((out / "subareas.json").read_text())
        c, traced = result.summary.comparison, result.summary.comparison_traced
        assert c is not None and traced is not None
        pos = result.model.positions
        closest = float(cKDTree(pos).query(pos, 2)[0][:, 1].min())
        singles = [a["comparison"]["rmsd_pm"] for a in record["areas"] if "comparison" in a]
        cores = [a["comparison_core"]["rmsd_pm"] for a in record["areas"] if "comparison_core" in a]
        rows.append([workers, len(record["areas"]), len(result.model), c.recall, c.precision, c.rmsd_pm,
                     traced.rmsd_pm, float(np.mean(singles)), float(np.mean(cores)), closest,
                     seconds[workers]])  # fmt: skip
        details.append({"workers": workers, "seconds": seconds[workers], "summary": result.summary.to_dict(),
                        "subareas": record})  # fmt: skip
        print(f"{workers} worker(s): {seconds[workers]:.0f} s, recall {c.recall:.4f}, RMSD {c.rmsd_pm:.1f} pm",
              flush=True)  # fmt: skip
    speedup = seconds[1] / seconds[2] if 1 in seconds and 2 in seconds else None
    report(
        "subareas",
        ["workers", "sub-areas", "atoms", "recall", "precision", "RMSD pm", "RMSD stitched (before seams) pm",
         "mean RMSD of the sub-area runs pm", "same, each in its own cell pm", "closest pair Å", "seconds"],
        rows,
        {"atoms_true": len(truth), "image_px": size, "pixel_size_A": PIXEL, "angles_deg": [-63.0, 56.0, 46],
         "dose": 1e5, "speedup_2_over_1": speedup, "runs": details},
    )  # fmt: skip
    if speedup is not None:
        print(f"2 workers over 1: {speedup:.2f}×")


if __name__ == "__main__":
    main()
