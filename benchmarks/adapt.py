"""Self-supervised adaptation (``aet run --adapt``) against the shipped network and against no network.

Run: .venv/bin/python benchmarks/adapt.py [--cases 1p6e4,8p0e3,sim128] [--minutes 10] [--method consistency]
[--threads 2] [--name adapt]

Cases:
* ``1p6e4``, ``8p0e3``: ``shared/data/asi208`` (multislice, 2 nm amorphous Si) at that dose, the 41 projections
  within ±60°, 128² px at 0.195 Å: a 128³ tomogram.
* ``sim128``: a 3.5 nm Pt icosahedron (a shape the network never saw in training) imaged with physics it never saw
  (probe blur 0.5 Å, a 5 % probe tail, column non-linearity γ = 0.8, 2 % beam-current drift), 21 projections over
  ±65° at 1e4 e/Å², 128² px at 0.357 Å: a 128³ tomogram at the network's own voxel size (the budget case).

Each case runs ``aet run`` three ways with every other setting at its default: ``--no-augment``, the shipped
network, and the network adapted on the case's own projections (``[adapt] minutes``). The truth only scores the
outputs (``aet.metrics.compare`` at 0.9 Å), after each run. "network trace" is the trace of the network's output
before the guard; "final" the refined model.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _common import report
from asi208_run import DATA, wedge_series

import aet
from aet.metrics import compare, load_asi208_truth
from aet.model import AtomicModel, TiltSeries
from aet.pipeline.run import run
from aet.simulate import structures
from aet.simulate.acquisition import Acquisition, simulate_tilt_series


def case(name: str) -> tuple[TiltSeries, AtomicModel, list[str]]:
    if name in ("1p6e4", "8p0e3"):
        return wedge_series(name, 60.0), load_asi208_truth(DATA / "aSi_208atoms_GT.txt"), ["Si"]
    if name == "sim128":
        truth = structures.icosahedron("Pt", 3.5)
        acq = Acquisition(pixel_size=0.357, image_size=128, dose=1e4, b_factor=5.0, seed=7, probe_sigma=0.5,
                          probe_tail=0.05, column_exponent=0.8, intensity_drift=0.02)  # fmt: skip
        return simulate_tilt_series(truth, np.linspace(-65, 65, 21), acq), truth, ["Pt"]
    raise SystemExit(f"unknown case {name}")


def one(ts: TiltSeries, truth: AtomicModel, elements: list[str], mode: str, minutes: float, method: str,
        threads: int, out: Path) -> dict:  # fmt: skip
    overrides = {"input": {"elements": elements}, "run": {"threads": threads},
                 "augment": {"enabled": mode != "none", "adapt": mode == "adapted"},
                 "adapt": {"minutes": minutes, "method": method}}  # fmt: skip
    t = time.perf_counter()
    result = run(ts, out, overrides=overrides, quiet=True, force=True)
    seconds = time.perf_counter() - t
    summary = json.loads((out / "summary.json").read_text())
    traced = compare(aet.io.read_model(out / "atoms_traced.xyz"), truth, 0.9)
    final = compare(result.model, truth, 0.9)
    return {"traced": traced, "final": final, "seconds": seconds, "adapt": summary.get("adapt"),
            "guard": (summary.get("guard") or {}).get("decision", "-"), "R1": result.summary.rfactors.R1}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="1p6e4,8p0e3,sim128")
    ap.add_argument("--modes", default="none,shipped,adapted")
    ap.add_argument("--minutes", type=float, default=10.0, help="[adapt] minutes")
    ap.add_argument("--method", default="consistency", help="[adapt] method")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=Path("/tmp/aet-bench-adapt"), help="run folders go here")
    ap.add_argument("--name", default="adapt")
    args = ap.parse_args()
    rows = []
    for name in args.cases.split(","):
        ts, truth, elements = case(name)
        for mode in args.modes.split(","):
            o = one(ts, truth, elements, mode, args.minutes, args.method, args.threads, args.keep / f"{name}_{mode}")
            tr, fi, ad = o["traced"], o["final"], o["adapt"] or {}
            rows.append([
                name, ts.n_images, mode, ad.get("steps", "-"), ad.get("seconds", "-"),
                f"{ad['check_before']:.4f} → {ad['check_best']:.4f}" if ad else "-", tr.n_model, round(tr.recall, 3),
                round(tr.precision, 3), round(tr.rmsd_pm, 1), o["guard"], fi.n_model, round(fi.recall, 3),
                round(fi.precision, 3), round(fi.rmsd_pm, 1), round(o["R1"], 4), round(o["seconds"], 1),
            ])  # fmt: skip
            print(rows[-1], flush=True)
        report(  # after every case, so that a stopped run keeps what it measured
            args.name,
            ["case", "images", "network", "adapt steps", "adapt s", "held-out misfit", "traced atoms",
             "traced recall", "traced precision", "traced RMSD pm", "guard", "final atoms", "recall", "precision",
             "RMSD pm", "R1", "run s"],
            rows, {"minutes": args.minutes, "method": args.method, "radius_A": 0.9, "threads": args.threads},
        )  # fmt: skip


if __name__ == "__main__":
    main()
