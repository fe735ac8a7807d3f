"""A 20,000-atom amorphous Si particle at low dose through ``aet run``: does refinement make the model worse?

Run: .venv/bin/python benchmarks/low_dose_refine.py [--size 9.1] [--dose 8e3] [--free 0.1 0] [--work runs/low_dose]

* truth: ``amorphous("Si", 9.1)`` (aet's amorphous builder: ≈ 20,000 atoms at crystalline Si's density);
* tilt series: 60 projections over the full range (−90° to 87° in 3° steps), 0.35 Å pixels, 8e3 e/Å² per projection
  with Poisson noise, B = 5 Å²;
* ``aet run`` with the defaults (``[refine] free_fraction`` as given: 0.1, the default, holds out every 10th
  projection for R_free; 0 fits them all, as aet did before R_free), each into a fresh folder, timed;
* scores: RMSD (0.9 Å match radius), recall and precision of the traced and of the refined model against the truth,
  R1 and R_free before and after refinement, the outer iteration kept and why the refinement stopped.
Goals (issue 23): refinement does not worsen the traced model's RMSD; the whole run ≤ 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from _common import report

import aet
from aet.pipeline.run import run
from aet.simulate import Acquisition, fitting_image_size, simulate_tilt_series, tilt_range
from aet.simulate.structures import amorphous

PIXEL = 0.35  #: Å


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=9.1, help="particle diameter, nm")
    ap.add_argument("--dose", type=float, default=8e3, help="e/Å² per projection")
    ap.add_argument("--free", type=float, nargs="+", default=[0.1], help="[refine] free_fraction values to run")
    ap.add_argument("--work", type=Path, default=Path("runs/low_dose"))
    args = ap.parse_args()
    truth = amorphous("Si", args.size, seed=0)
    angles = tilt_range(-90, 87, 3)
    size = fitting_image_size(truth, PIXEL)
    ts = simulate_tilt_series(truth, angles, Acquisition(pixel_size=PIXEL, image_size=size, dose=args.dose, seed=0))
    args.work.mkdir(parents=True, exist_ok=True)
    tilts = args.work / "si.npz"
    aet.io.write(ts, tilts, overwrite=True)
    print(f"{len(truth)} atoms; {ts.n_images} projections of {size}² px at {args.dose:g} e/Å²", flush=True)
    rows, runs = [], []
    for free in args.free:
        out = args.work / f"free{free:g}"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        result = run(tilts, out, None, {"input": {"elements": ["Si"]}, "refine": {"free_fraction": free}},
                     truth=truth)  # fmt: skip
        seconds = time.perf_counter() - t
        s = result.summary
        c, traced = s.comparison, s.comparison_traced
        assert c is not None and traced is not None and s.refinement_r1 is not None
        free_fig = s.refinement_free or {}
        rows.append([free, len(truth), traced.recall, traced.precision, traced.rmsd_pm, c.recall, c.precision,
                     c.rmsd_pm, s.refinement_r1[0], s.refinement_r1[1], free_fig.get("R_free_before", "-"),
                     free_fig.get("R_free_after", "-"), free_fig.get("best_iteration", "-"),
                     free_fig.get("stopped", "-"), s.timings_s.get("refine", 0.0), seconds])  # fmt: skip
        runs.append({"free_fraction": free, "seconds": seconds, "summary": s.to_dict()})
        print(f"free_fraction {free:g}: traced {traced.rmsd_pm:.1f} pm -> refined {c.rmsd_pm:.1f} pm in "
              f"{seconds:.0f} s", flush=True)  # fmt: skip
    report(
        "low_dose_refine",
        ["free_fraction", "atoms", "recall traced", "precision traced", "RMSD traced pm", "recall", "precision",
         "RMSD refined pm", "R1 before", "R1 after", "R_free before", "R_free after", "iteration kept", "stopped",
         "refine s", "run s"],
        rows,
        {"pixel_size_A": PIXEL, "dose": args.dose, "angles_deg": [-90, 87, 3], "image_px": size, "runs": runs},
    )  # fmt: skip


if __name__ == "__main__":
    main()
