"""The measured Ta film (sub-area AET) end to end: `aet run` with the file's full Euler angles against the published
model, refined the same way.

Run: .venv/bin/python benchmarks/ta_film.py [--areas 1 2 3] [--threads 2]

Data: ``../shared/data/ta_film`` (read its README): 131×61×46 measured projections per sub-area, 0.3216 Å pixels,
Euler angles in "zyx". For each area:

* ``aet.run`` with defaults (the film is detected; alignment is skipped: the angles carry in-plane terms);
* the reconstruction alone (the run's default settings) with the full Euler angles and with θ only: the time ratio;
* R1 against the measured images as read (``aet.rfactor``: one global scale and background) of the final model, of
  the published model in the area's frame (its atoms that land in some image, B = 8 Å²) and of the published model
  after ``aet.refine`` with defaults against the same images — the fair comparison.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from _common import report
from scipy.io import loadmat

import aet
from aet.model import AtomicModel
from aet.refinement.validate import in_some_image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ta_film"
PIXEL = 0.3216
ORIGIN = np.array([201, 176, 171])  # 1-based voxel of the full volume the published model is measured from


def published_in_area(area: int, ts: aet.model.TiltSeries) -> AtomicModel:
    """The published atoms in sub-area ``area``'s frame (Å about its rotation centre) that land in some image."""
    model = np.asarray(loadmat(DATA / "Final_atomic_model_Ta_film.mat")["model"], dtype=np.float64)
    centres = np.asarray(loadmat(DATA / "alignPara.mat")["CropCen"], dtype=np.float64)
    positions = model.T - (centres[area - 1] - ORIGIN) * PIXEL
    keep = in_some_image(positions, ts)
    return AtomicModel(positions[keep], ["Ta"] * int(keep.sum()), b_factor=np.full(int(keep.sum()), 8.0))


def area_row(area: int, tmp: Path) -> list:
    angles = aet.io.read_angles(DATA / "angles.mat", key="angle")
    ts = aet.io.read_tilt_series(DATA / f"Projections_area{area}.mat", angles=angles, pixel_size=PIXEL,
                                 euler_convention="zyx")  # fmt: skip
    t = time.perf_counter()
    result = aet.run(ts, tmp / f"area{area}", overrides={"input": {"elements": ["Ta"]}}, quiet=True)
    run_s = time.perf_counter() - t
    times = []
    for angles_used in (ts.angles, np.stack([0 * ts.angles[:, 1], ts.angles[:, 1], 0 * ts.angles[:, 1]], 1)):
        t = time.perf_counter()
        aet.reconstruct(replace(ts, angles=angles_used), progress=False)
        times.append(time.perf_counter() - t)
    ours = aet.rfactor(result.model, ts).R1
    published = published_in_area(area, ts)
    before = aet.rfactor(published, ts).R1
    refined, _ = aet.refine(published, ts, progress=False)
    after = aet.rfactor(refined, ts).R1
    return [area, len(result.model), ours, len(published), before, len(refined), after, times[0], times[1],
            times[0] / times[1], run_s]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--areas", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [area_row(a, Path(tmp)) for a in args.areas]
    report("ta_film", ["area", "our atoms", "our R1", "published atoms", "published R1", "published refined atoms",
                       "published refined R1", "reconstruct Euler s", "reconstruct θ-only s", "ratio", "run s"],
           rows)  # fmt: skip


if __name__ == "__main__":
    main()
