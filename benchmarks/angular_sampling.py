"""How many projections does a large particle need? Recall and RMSD in the central slab of a 14.2 nm Pt sphere.

Run: .venv/bin/python benchmarks/angular_sampling.py [--size 14.2] [--tilts 60 75 90 120 180] [--threads 2]

A single tilt axis decouples the slices across it, so the central 64 image rows (the tilt axis runs along the rows)
reconstruct the central slab of the particle exactly as the whole volume would, at a fraction of the cost. Truth:
``build_model("sphere", ["Pt"], 14.2)`` (99,660 atoms); projections over ±70°, 0.357 Å pixels, 1e5 e/Å² with
Poisson noise; RESIRE 50 iterations and ``aet.trace`` with defaults (no network); scored on the atoms within ±7 Å of
the centre row, 0.9 Å match radius, no shift removal (the slab has no drift to remove). Beside each row: Crowther's
resolution d = D·Δθ in nearest-neighbour distances (what ``aet.prepare.sampling`` warns about above 1.9).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from dataclasses import replace

import numpy as np
import torch
from _common import report

import aet
from aet.metrics import match_atoms
from aet.simulate import Acquisition, fitting_image_size, simulate_tilt_series, tilt_range
from aet.simulate.structures import build_model

PIXEL = 0.357  #: Å
ROWS = 64  #: image rows kept around the centre
SLAB = 7.0  #: Å: atoms scored within this distance of the centre row
NEIGHBOUR = 2.77  #: Å, Pt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=14.2, help="sphere diameter, nm")
    ap.add_argument("--tilts", type=int, nargs="+", default=[60, 75, 90, 120, 180])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    truth = build_model("sphere", ["Pt"], args.size)
    px = fitting_image_size(truth, PIXEL)
    in_slab = np.abs(truth.positions[:, 1]) < SLAB
    true = truth.positions[in_slab]
    radius = np.linalg.norm(true[:, [0, 2]], axis=1)
    rows = []
    for n in args.tilts:
        step = 140 / (n - 1)
        ts = simulate_tilt_series(truth, tilt_range(-70, 70, step),
                                  Acquisition(pixel_size=PIXEL, image_size=px, dose=1e5, seed=0))  # fmt: skip
        centre = px // 2
        slab = replace(ts, images=np.ascontiguousarray(ts.images[:, centre - ROWS // 2 : centre + ROWS // 2]))
        t = time.perf_counter()
        vol = aet.reconstruct(slab, "resire", iterations=50, progress=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = aet.trace(vol, elements=["Pt"])
        found = model.positions[np.abs(model.positions[:, 1]) < SLAB]
        ia, ib = match_atoms(found, true, 0.9)
        hit = np.zeros(len(true), bool)
        hit[ib] = True
        rmsd = float(np.sqrt((np.linalg.norm(found[ia] - true[ib], axis=1) ** 2).mean()) * 100) if len(ia) else "-"
        by_nm = [float(hit[(radius >= lo) & (radius < lo + 10)].mean()) for lo in range(0, int(radius.max()) + 1, 10)]
        crowther = args.size * 10 * math.radians(step) / NEIGHBOUR
        rows.append([n, round(crowther, 2), hit.mean(), len(ia) / max(1, len(found)), rmsd,
                     " ".join(f"{r:.2f}" for r in by_nm), time.perf_counter() - t])  # fmt: skip
        print(f"{n} projections: recall {hit.mean():.3f}, RMSD {rmsd} pm", flush=True)
    report(
        "angular_sampling",
        ["projections", "d / neighbour", "recall", "precision", "RMSD pm", "recall per nm from the centre", "s"],
        rows,
        {"size_nm": args.size, "image_px": px, "pixel_size_A": PIXEL, "rows": ROWS, "slab_A": SLAB},
    )  # fmt: skip


if __name__ == "__main__":
    main()
