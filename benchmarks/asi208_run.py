"""asi208 with a missing wedge through ``aet run`` with every default, with and without the network.

Run: .venv/bin/python benchmarks/asi208_run.py [--doses 8p0e3,1p6e4,1p6e5] [--wedge 60] [--threads 2]
[--modes augment,none] [--model auto] [--no-guard] [--name asi208_run]

Data: ``../shared/data/asi208`` (2 nm amorphous Si, 208 atoms, multislice, 0.195 Å pixels); the projections within
±``--wedge``° of the beam (41 of the 60 for ±60°). ``aet run`` gets only the images, the Euler angles, the pixel size
and ``elements = ["Si"]``: no mask, no tracing hints, no ground truth (the truth is passed for scoring only: it is
read after the stages, by the summary). Each row scores the traced and the refined model with
``aet.metrics.compare`` at 0.9 Å, and records the guard's decision (``summary.json``'s ``guard``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import report

import aet
from aet.metrics import load_asi208_truth
from aet.model import TiltSeries
from aet.pipeline.run import run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "asi208"
PUBLISHED = {"8p0e3": (199, 28.9), "1p6e4": (208, 17.3), "1p6e5": (208, 4.2)}  # atoms found, RMSD pm (full range)


def wedge_series(dose: str, wedge: float) -> TiltSeries:
    """The asi208 projections within ±``wedge``° of the beam (θ and θ − 180° are the same direction)."""
    ts = aet.io.read_tilt_series(DATA / f"aSi_2nmFosCetr_Dose{dose}_cov35pm_ForBM3D.mat",
                                 angles=DATA / "Si_Angle.mat", pixel_size=0.195)  # fmt: skip
    theta = ts.tilt_angles
    keep = np.minimum(np.abs(theta), np.abs(180 - np.abs(theta))) <= wedge + 1e-6
    return TiltSeries(ts.images[keep], ts.angles[keep], ts.pixel_size, ts.euler_convention)


def one(dose: str, wedge: float, augment: bool, threads: int, keep: Path | None, model: str = "auto",
        guard: bool = True) -> dict:  # fmt: skip
    ts = wedge_series(dose, wedge)
    truth = load_asi208_truth(DATA / "aSi_208atoms_GT.txt")
    overrides = {"input": {"elements": ["Si"]}, "run": {"threads": threads},
                 "augment": {"enabled": augment, "model": model, "guard": guard}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        out = (keep / f"{dose}_{'augment' if augment else 'none'}") if keep else Path(tmp) / "run"
        t = time.perf_counter()
        result = run(ts, out, overrides=overrides, quiet=True, truth=truth, force=True)
        seconds = time.perf_counter() - t
        summary = json.loads((out / "summary.json").read_text())
    s = result.summary
    return {"traced": s.comparison_traced, "refined": s.comparison, "seconds": seconds, "images": ts.n_images,
            "guard": summary.get("guard"), "R1": s.rfactors.R1}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--doses", default=",".join(PUBLISHED), help="comma-separated, e.g. 8p0e3")
    ap.add_argument("--wedge", type=float, default=60.0, help="keep |θ| ≤ this many degrees (mod 180)")
    ap.add_argument("--modes", default="augment,none", help="comma-separated: augment and/or none")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default="auto", help="[augment] model (auto: unet for Si)")
    ap.add_argument("--no-guard", action="store_true", help="[augment] guard = false")
    ap.add_argument("--keep", type=Path, default=None, help="keep the run folders under this folder")
    ap.add_argument("--name", default="asi208_run", help="results file name")
    args = ap.parse_args()
    rows = []
    for dose in args.doses.split(","):
        pub_n, pub_rmsd = PUBLISHED[dose]
        for mode in args.modes.split(","):
            o = one(dose, args.wedge, mode == "augment", args.threads, args.keep, args.model, not args.no_guard)
            tr, rf, g = o["traced"], o["refined"], o["guard"] or {}
            rows.append([
                dose.replace("p", "."), o["images"], args.model if mode == "augment" else mode,
                g.get("decision", "-"), tr["n_model"], tr["recall"],
                tr["precision"], tr["rmsd_pm"], rf["n_model"], rf["recall"], rf["precision"], rf["rmsd_pm"],
                o["R1"], f"{pub_n}/208", pub_rmsd, o["seconds"],
            ])  # fmt: skip
            print(rows[-1], flush=True)
    report(
        args.name,
        ["dose e/Å²", "images", "network", "guard", "traced atoms", "traced recall", "traced precision",
         "traced RMSD pm", "final atoms", "recall", "precision", "RMSD pm", "R1", "published found (full)",
         "published RMSD pm (full)", "run s"],
        rows, {"wedge_deg": args.wedge, "radius_A": 0.9, "config": "aet run defaults, elements Si"},
    )  # fmt: skip


if __name__ == "__main__":
    main()
