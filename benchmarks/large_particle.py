"""A 100,000-atom particle through ``aet run`` on 2 cores: time per stage, peak memory, and the model's accuracy.

Run: .venv/bin/python benchmarks/large_particle.py [--size 14.2] [--tilts 60] [--threads 2] [--work runs/large]
[--name large_particle]

* truth: ``build_model("sphere", ["Pt"], 14.2)`` (99,660 atoms of fcc Pt, as in ``benchmarks/refine.py``);
* tilt series: 60 projections over ±70° (``tilt_range(-70, 70, 140/59)``), 0.357 Å pixels, the smallest image that
  holds the particle at every tilt (``fitting_image_size``), 1e5 e/Å² per projection with Poisson noise, B = 5 Å²;
* ``aet run TILTS --out OUT --elements Pt --threads 2`` in a child process with the defaults, timed; peak memory is
  the child's maximum resident set (``getrusage(RUSAGE_CHILDREN)``), so the simulation here does not count;
* scores of the traced and the final model against the truth (0.9 Å match radius) and the stage times of
  ``summary.json``.
Goal of issue 23: end to end within 60 minutes on 2 cores with peak memory ≤ 8 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import report

import aet
from aet.metrics import compare
from aet.simulate import Acquisition, fitting_image_size, simulate_tilt_series, tilt_range
from aet.simulate.structures import build_model

PIXEL = 0.357  #: Å
DOSE = 1e5  #: e/Å² per projection


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=14.2, help="sphere diameter, nm")
    ap.add_argument("--tilts", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("runs/large"))
    ap.add_argument("--name", default="large_particle", help="results file benchmarks/results/NAME.json")
    args = ap.parse_args()
    truth = build_model("sphere", ["Pt"], args.size)
    angles = tilt_range(-70, 70, 140 / (args.tilts - 1))
    size = fitting_image_size(truth, PIXEL)
    t = time.perf_counter()
    ts = simulate_tilt_series(truth, angles, Acquisition(pixel_size=PIXEL, image_size=size, dose=DOSE, seed=0))
    simulated = time.perf_counter() - t
    args.work.mkdir(parents=True, exist_ok=True)
    tilts = args.work / "particle.npz"
    aet.io.write(ts, tilts, overwrite=True)
    print(f"{len(truth)} atoms; {ts.n_images} projections of {size}² px simulated in {simulated:.0f} s", flush=True)
    out = args.work / "run"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(Path(sys.executable).parent / "aet"), "run", str(tilts), "--out", str(out), "--elements", "Pt",
           "--threads", str(args.threads)]  # fmt: skip
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    seconds = time.perf_counter() - t
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    summary = json.loads((out / "summary.json").read_text())
    traced = compare(aet.io.read_model(out / "atoms_traced.xyz"), truth)
    final = compare(aet.io.read_model(out / "atoms.xyz"), truth)
    stages = summary.get("timings_s", {})
    rows = [[len(truth), ts.n_images, size, traced.recall, traced.rmsd_pm, final.recall, final.precision,
             final.rmsd_pm, *(stages.get(k, 0.0) for k in ("reconstruct", "augment", "trace", "refine")),
             seconds / 60, peak_gb]]  # fmt: skip
    print(f"aet run: {seconds / 60:.1f} min, peak {peak_gb:.2f} GB; traced {traced.rmsd_pm:.1f} pm -> final "
          f"{final.rmsd_pm:.1f} pm, recall {final.recall:.4f}", flush=True)  # fmt: skip
    report(
        args.name,
        ["atoms", "projections", "image px", "recall traced", "RMSD traced pm", "recall", "precision", "RMSD pm",
         "reconstruct s", "augment s", "trace s", "refine s", "run min", "peak GB"],
        rows,
        {"pixel_size_A": PIXEL, "dose": DOSE, "angles_deg": [-70, 70, 140 / (args.tilts - 1)], "command": cmd,
         "simulate_s": simulated, "summary": summary},
    )  # fmt: skip


if __name__ == "__main__":
    main()
