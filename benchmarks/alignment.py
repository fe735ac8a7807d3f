"""Alignment from the data: a misaligned simulated series through `aet run`, the GENFIRE FePt misaligned series,
and the time to align a 60 × 256² series.

Run: .venv/bin/python benchmarks/alignment.py [--parts misaligned fept speed] [--threads 2]

* ``misaligned``: a 3.5 nm Pt–Ni particle (random shape, 50 % Ni), 31 projections over ±65°, 1e5 e/Å², 0.5° errors
  on every Euler angle, 0.357 Å pixels; once perfectly aligned and once with the tilt axis at 7° in the image, 2 Å
  RMS random shifts and a 5 Å linear drift (nothing of it told to aet). Both go through ``aet.run`` with defaults
  and ``[prepare] align = "auto"``.
  Shift errors are RMS over the images after removing what only moves the whole object (the mean row shift and the
  a·cos θ + b·sin θ part of the column shifts); recall and RMSD against the truth (0.9 Å match radius).
* ``fept``: ``projections_FePt_misaligned.mat`` (integer shifts of up to 3 pixels) aligned by ``aet.prepare.align``,
  then RESIRE (100 iterations) of it and of ``projections_FePt.mat``; the Pearson correlation of the two volumes
  before and after alignment, as they are and after a global sub-voxel translation (phase correlation).
* ``speed``: a 6 nm Pt particle, 60 projections over ±70°, 256² images with a 5° axis and 2 Å shifts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import report
from scipy import ndimage
from skimage.registration import phase_cross_correlation

import aet
from aet.model import TiltSeries
from aet.prepare.align import align_series, shift_error
from aet.simulate.acquisition import Acquisition, simulate_tilt_series
from aet.simulate.schemes import missing_wedge_range
from aet.simulate.structures import random_alloy, random_shape

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def misaligned() -> list[list]:
    model = random_alloy(random_shape("Pt", 3.5, seed=1), ["Pt", "Ni"], [0.5, 0.5], seed=1)
    tilts = missing_wedge_range(65, 31)
    common = {"pixel_size": 0.357, "image_size": 140, "dose": 1e5, "angle_error": 0.5, "seed": 3}
    series = {
        "aligned": simulate_tilt_series(model, tilts, Acquisition(**common)),
        "misaligned": simulate_tilt_series(
            model, tilts, Acquisition(drift=2.0, linear_drift=(3.0, 4.0), tilt_axis=7.0, **common)
        ),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, ts in series.items():
            t = time.perf_counter()
            settings = {"input": {"elements": ["Ni", "Pt"]}, "prepare": {"align": "auto"}}
            res = aet.run(ts, Path(tmp) / name, overrides=settings, truth=model, quiet=True)
            seconds = time.perf_counter() - t
            found = res.out / ".aet/prepared.npz"
            al = aet.io.read_tilt_series(found).metadata.get("alignment", {})
            shifts = np.asarray(al.get("shifts", np.zeros((ts.n_images, 2))))
            true_axis = ts.metadata.get("true_tilt_axis", 0.0)
            truth_shift = "true_shifts_A" in ts.metadata
            c = res.summary.comparison
            axis = al.get("axis_found", float("nan"))
            rows.append([name, true_axis, axis, abs(axis - true_axis),
                         shift_error(shifts, ts) if truth_shift else float("nan"), c.recall, c.precision,
                         c.rmsd_pm, seconds])  # fmt: skip
    return rows


def fept() -> list[list]:
    d = DATA / "genfire_workshop_fept"
    read = {"angles": d / "angles.mat", "pixel_size": 0.5}
    good = aet.io.read_tilt_series(d / "projections_FePt.mat", **read)
    bad = aet.io.read_tilt_series(d / "projections_FePt_misaligned.mat", **read)
    t = time.perf_counter()
    fixed, result = align_series(bad)
    seconds = time.perf_counter() - t

    def rec(ts: TiltSeries) -> np.ndarray:
        return aet.reconstruct(ts, "resire", iterations=100, progress=False).data

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        a, b = a - a.mean(), b - b.mean()
        return float(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)))

    def registered(v: np.ndarray, ref: np.ndarray) -> float:
        shift = phase_cross_correlation(ref, v, upsample_factor=10)[0]
        return corr(ndimage.shift(v, shift, order=3), ref)

    ref, before, after = rec(good), rec(bad), rec(fixed)
    return [["before", corr(before, ref), registered(before, ref), float("nan"), 0.0],
            ["after aet align", corr(after, ref), registered(after, ref), result.axis_found, seconds]]  # fmt: skip


def speed() -> list[list]:
    model = random_shape("Pt", 6.0, seed=2)
    ts = simulate_tilt_series(model, np.linspace(-70, 70, 60),
                              Acquisition(image_size=256, drift=2.0, tilt_axis=5.0, seed=4))  # fmt: skip
    t = time.perf_counter()
    _, result = align_series(ts)
    seconds = time.perf_counter() - t
    return [[ts.n_images, ts.images.shape[1], len(model), result.axis_found, shift_error(result.shifts, ts), seconds]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", default=["misaligned", "fept", "speed"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if "misaligned" in args.parts:
        report("alignment_misaligned", ["series", "true axis °", "found axis °", "axis error °", "shift error Å",
                                        "recall", "precision", "RMSD pm", "run s"], misaligned())  # fmt: skip
    if "fept" in args.parts:
        report("alignment_fept", ["FePt misaligned", "correlation", "correlation, registered", "axis °", "align s"],
               fept())  # fmt: skip
    if "speed" in args.parts:
        report("alignment_speed", ["images", "size", "atoms", "axis ° (true 5)", "shift error Å", "align s"],
               speed())  # fmt: skip


if __name__ == "__main__":
    main()
