"""Multislice simulation (abTEM): cost per projection, and the asi208 check beside the linear projector's.

Run: .venv/bin/python benchmarks/multislice.py [--part cost,asi208] [--threads 2] [--phonons 1] [--name multislice]

* ``cost``: one projection (0°) of a 3 nm Pt cuboctahedron at aet's default pixel (0.357 Å, the image that fits the
  particle at any tilt) with the default :class:`MultisliceSettings` (300 keV, 25 mrad, detector 40–160 mrad,
  0.04 Å potential sampling, 1 Å slices) and ``--phonons`` frozen-phonon configurations (the cost grows linearly
  with them); a 21-projection series costs 21 × that. The linear projector's time for the same image beside it.
* ``asi208``: the ground truth of ``shared/data/asi208`` simulated at θ = 0° and 60°, compared with the measured
  1.6e5 e/Å² images (Poisson counts) by correlation after the same 1-pixel Gaussian low-pass on both, next to the
  linear projector (B = 5 Å²). The series' own microscope settings are not published: 300 keV and the defaults are
  assumed. To keep it to minutes the probe scans every second pixel (0.39 Å) and the measured and linear images are
  2×2-binned to match.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _common import report
from scipy import ndimage

import aet
from aet.metrics import load_asi208_truth
from aet.physics.atoms import atoms_to_projections
from aet.simulate import fitting_image_size
from aet.simulate.multislice import MultisliceSettings, multislice_images
from aet.simulate.structures import build_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "asi208"


def cost(phonons: int, cache: Path) -> list:
    model = build_model("cuboctahedron", ["Pt"], 3.0)
    size = fitting_image_size(model, 0.357)
    s = MultisliceSettings(phonons=phonons)
    t = time.perf_counter()
    multislice_images(model, np.array([0.0]), (size, size), 0.357, settings=s, progress=True, cache=cache)
    seconds = time.perf_counter() - t
    t = time.perf_counter()
    atoms_to_projections(torch.from_numpy(model.positions), 5.0, 1.0, np.array([0.0]), (size, size), 0.357)
    linear = time.perf_counter() - t
    return ["cost", f"3 nm Pt cuboctahedron, {len(model)} atoms", f"{size}² px at 0.357 Å", phonons, seconds,
            seconds * 21, linear, "-", "-"]  # fmt: skip


def asi208(phonons: int, cache: Path) -> list:
    truth = load_asi208_truth(DATA / "aSi_208atoms_GT.txt")
    ts = aet.io.read_tilt_series(DATA / "aSi_2nmFosCetr_Dose1p6e5_cov35pm_ForBM3D.mat", angles=DATA / "Si_Angle.mat",
                                 pixel_size=0.195)  # fmt: skip
    rows = []
    for theta in (0.0, 60.0):
        i = int(np.argmin(np.abs(ts.tilt_angles - theta)))
        measured = ts.images[i].astype(np.float64)
        binned = measured.reshape(64, 2, 64, 2).sum((1, 3))
        t = time.perf_counter()
        ms = multislice_images(truth, ts.angles[i : i + 1], (64, 64), 0.39, ts.euler_convention,
                               settings=MultisliceSettings(phonons=phonons), progress=True, cache=cache)[0]  # fmt: skip
        seconds = time.perf_counter() - t
        lin = atoms_to_projections(torch.from_numpy(truth.positions), 5.0, 1.0, ts.angles[i : i + 1], (128, 128),
                                   0.195, ts.euler_convention).numpy()[0].reshape(64, 2, 64, 2).sum((1, 3))  # fmt: skip

        def corr(a: np.ndarray, b: np.ndarray) -> float:
            low = [ndimage.gaussian_filter(x, 1).ravel() for x in (a, b)]
            return float(np.corrcoef(*low)[0, 1])

        rows.append(["asi208", f"208 Si, θ = {ts.tilt_angles[i]:.0f}°, measured 1.6e5 e/Å²", "64² px at 0.39 Å",
                     phonons, seconds, "-", "-", corr(ms, binned), corr(lin, binned)])  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="cost,asi208")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--phonons", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=Path("runs/multislice_cache"))
    ap.add_argument("--name", default="multislice")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import dask

    dask.config.set(scheduler="threads", num_workers=args.threads)
    rows = []
    if "cost" in args.part:
        rows.append(cost(args.phonons, args.cache))
        print(rows[-1], flush=True)
    if "asi208" in args.part:
        rows += asi208(args.phonons, args.cache)
        print(rows[-2:], flush=True)
    report(args.name, ["part", "specimen", "image", "phonon configs", "multislice s / projection",
                       "21 projections s", "linear projector s", "corr. multislice (low-pass)",
                       "corr. linear (low-pass)"], rows,
           {"settings": str(MultisliceSettings(phonons=args.phonons)), "threads": args.threads})  # fmt: skip


if __name__ == "__main__":
    main()
