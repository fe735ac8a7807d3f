"""Multislice simulation (abTEM): cost per projection, and the asi208 check beside the linear projector's.

Run: .venv/bin/python benchmarks/multislice.py [--part cost,prism,asi208] [--window 16] [--prism 16]
[--asi-window 20] [--threads 2] [--phonons 1] [--name multislice] (results: benchmarks/results/NAME_PART.json)

* ``cost``: one projection (0°) of a 3 nm Pt cuboctahedron at aet's default pixel (0.357 Å, the image that fits the
  particle at any tilt) with the default :class:`MultisliceSettings` (300 keV, 25 mrad, detector 40–160 mrad,
  0.04 Å potential sampling, 1 Å slices) and ``--phonons`` frozen-phonon configurations (the cost grows linearly
  with them); the whole potential, the probe over a ``--window``² block at the centre, scaled by the image's pixels
  (abTEM's time per probe position does not depend on where it is); a 21-projection series costs 21 × that. The
  linear projector's time for the same image beside it.
* ``prism``: the same projection by PRISM with interpolation factor ``--prism``, the whole image.
* ``asi208``: the ground truth of ``shared/data/asi208`` simulated at θ = 0° and 60°, compared with the measured
  1.6e5 e/Å² images (Poisson counts) by correlation after the same 1-pixel Gaussian low-pass on both, next to the
  linear projector (B = 5 Å²). The series' own microscope settings are not published: 300 keV and the defaults are
  assumed. To keep it to minutes the probe scans a ``--asi-window``² block at the centre (the whole specimen in the
  potential); the seconds are scaled to the whole 128² image.
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
from aet.geometry import detector_frame
from aet.metrics import load_asi208_truth
from aet.physics.atoms import atoms_to_projections
from aet.simulate import fitting_image_size
from aet.simulate.multislice import MultisliceSettings, _one_image
from aet.simulate.structures import build_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "asi208"


def cost(phonons: int, window: int) -> list:
    """The whole projection's potential, the probe over a ``window``² block of pixels at the centre: the time per
    probe position × the image's pixels is the projection's cost (abTEM's cost per position does not depend on it)."""
    import abtem

    model = build_model("cuboctahedron", ["Pt"], 3.0)
    size = fitting_image_size(model, 0.357)
    s = MultisliceSettings(phonons=phonons)
    beam = model.positions @ detector_frame(np.zeros((1, 3)))[0].T
    c = size // 2 - window // 2
    t = time.perf_counter()
    _one_image(abtem, beam, model.elements, (size, size), 0.357, s, (c, c + window, c, c + window))
    seconds = (time.perf_counter() - t) * size**2 / window**2
    t = time.perf_counter()
    atoms_to_projections(torch.from_numpy(model.positions), 5.0, 1.0, np.array([0.0]), (size, size), 0.357)
    linear = time.perf_counter() - t
    return ["cost", f"3 nm Pt cuboctahedron, {len(model)} atoms (probe over {window}² of the pixels, scaled)",
            f"{size}² px at 0.357 Å", phonons, seconds, seconds * 21, linear, "-", "-"]  # fmt: skip


def prism_cost(phonons: int, interpolation: int) -> list:
    """The same projection by PRISM (``MultisliceSettings.prism_interpolation``): the whole image (the S-matrix is
    built for the whole cell, so it cannot be timed on a window)."""
    import abtem

    model = build_model("cuboctahedron", ["Pt"], 3.0)
    size = fitting_image_size(model, 0.357)
    s = MultisliceSettings(phonons=phonons, prism_interpolation=interpolation)
    beam = model.positions @ detector_frame(np.zeros((1, 3)))[0].T
    t = time.perf_counter()
    _one_image(abtem, beam, model.elements, (size, size), 0.357, s)
    seconds = time.perf_counter() - t
    return ["prism", f"3 nm Pt cuboctahedron, {len(model)} atoms, PRISM interpolation {interpolation} (whole image)",
            f"{size}² px at 0.357 Å", phonons, seconds, seconds * 21, "-", "-", "-"]  # fmt: skip


def asi208(phonons: int, window: int) -> list:
    """The asi208 truth at 0° and 60° over a ``window``² block of pixels at the centre (the whole specimen in the
    potential), against the measured 1.6e5 e/Å² images there, and the linear projector's image of the same block."""
    import abtem

    truth = load_asi208_truth(DATA / "aSi_208atoms_GT.txt")
    ts = aet.io.read_tilt_series(DATA / "aSi_2nmFosCetr_Dose1p6e5_cov35pm_ForBM3D.mat", angles=DATA / "Si_Angle.mat",
                                 pixel_size=0.195)  # fmt: skip
    rows = []
    c = 64 - window // 2
    block = (slice(c, c + window), slice(c, c + window))
    for theta in (0.0, 60.0):
        i = int(np.argmin(np.abs(ts.tilt_angles - theta)))
        measured = ts.images[i].astype(np.float64)[block]
        beam = truth.positions @ detector_frame(ts.angles[i : i + 1], ts.euler_convention)[0].T
        t = time.perf_counter()
        ms = _one_image(abtem, beam, truth.elements, (128, 128), 0.195, MultisliceSettings(phonons=phonons),
                        (c, c + window, c, c + window))  # fmt: skip
        seconds = time.perf_counter() - t
        lin = atoms_to_projections(torch.from_numpy(truth.positions), 5.0, 1.0, ts.angles[i : i + 1], (128, 128),
                                   0.195, ts.euler_convention).numpy()[0][block]  # fmt: skip

        def corr(a: np.ndarray, b: np.ndarray) -> float:
            low = [ndimage.gaussian_filter(x, 1).ravel() for x in (a, b)]
            return float(np.corrcoef(*low)[0, 1])

        rows.append(["asi208", f"208 Si, θ = {ts.tilt_angles[i]:.0f}°, measured 1.6e5 e/Å²",
                     f"{window}² of 128² px at 0.195 Å", phonons, seconds * 128**2 / window**2, "-", "-",
                     corr(ms, measured), corr(lin, measured)])  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="cost,asi208", help="cost, prism and/or asi208")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--phonons", type=int, default=1)
    ap.add_argument("--window", type=int, default=16, help="cost: the probe scans this many pixels squared")
    ap.add_argument("--asi-window", type=int, default=20, help="asi208: the probe scans this many pixels squared")
    ap.add_argument("--prism", type=int, default=16, help="prism: PRISM's interpolation factor")
    ap.add_argument("--name", default="multislice")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import dask

    dask.config.set(scheduler="threads", num_workers=args.threads)
    columns = ["part", "specimen", "image", "phonon configs", "multislice s / projection", "21 projections s",
               "linear projector s", "corr. multislice (low-pass)", "corr. linear (low-pass)"]  # fmt: skip
    extra = {"settings": str(MultisliceSettings(phonons=args.phonons)), "threads": args.threads}
    for part in args.part.split(","):  # each part's table as soon as it is done (each takes many minutes)
        if part == "cost":
            rows = [cost(args.phonons, args.window)]
        elif part == "prism":
            rows = [prism_cost(args.phonons, args.prism)]
        else:
            rows = asi208(args.phonons, args.asi_window)
        report(f"{args.name}_{part}", columns, rows, extra)


if __name__ == "__main__":
    main()
