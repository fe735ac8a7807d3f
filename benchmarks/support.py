"""Particles on a support film through ``aet run``: with the support's signal removed, kept, or no support at all.

Run: .venv/bin/python benchmarks/support.py [--supports SiN:30,Al2O3:20,CeO2:20] [--dose 1e5] [--particles 0,1]
     [--modes vacuum,keep,remove] [--threads 2] [--keep DIR] [--name support]

Test set (seeded; never trained on): 3 nm Pt particles (a cuboctahedron and a truncated octahedron, a (100) facet
down, turned about the film normal at random, B = 5 ± 1 Å²) 2.0 Å above a film under the whole field of view:
3 nm of amorphous Si₃N₄ (``"SiN"``), 2 nm of crystalline corundum with (0001) up (``"Al2O3"``) or 2 nm of
crystalline ceria with (001) up (``"CeO2"``: Ce, Z = 58, scatters 0.6 × as much as Pt per atom), imaged with 31
projections over ±65° about the image rows' axis at 1e5 e/Å² (0.357 Å pixels), with ±0.3° angle errors.
``aet run`` gets the images, the Euler angles, the pixel size and ``elements = ["Pt"]``; modes: ``vacuum`` (the same
particle without support, the ceiling), ``keep`` (the supported series with every default) and ``remove``
(``[prepare] support = "remove"``). Scores: recall, precision and RMSD of the final (refined) model against the
particle's atoms at 0.9 Å, and recall and precision of the atoms within 3 Å of the interface
(:func:`aet.metrics.interface_score`, the plane midway between the particle's lowest atoms and the film's top).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import report

from aet.metrics import compare, interface_score
from aet.model import AtomicModel, TiltSeries
from aet.pipeline.run import run
from aet.simulate.acquisition import Acquisition, fitting_image_size, simulate_tilt_series
from aet.simulate.structures import build_model, on_support

SEED = 20261129
SUPPORTS = "SiN:30,Al2O3:20,CeO2:20"  #: kind:thickness Å: the issue's two films, and a heavy one (Ce, Z = 58)
PARTICLES = [("cuboctahedron", 3.0), ("truncated-octahedron", 3.0)]
GAP = 2.0  #: Å between the particle's lowest atoms and the film's top
ACQ = {"max_tilt": 65.0, "projections": 31, "dose": 1e5, "angle_error": 0.3, "pixel_size": 0.357}


def particle(k: int) -> AtomicModel:
    """Test particle ``k``: a (100) facet down (−z), turned about z at random, B = 5 ± 1 Å² (seeded)."""
    structure, size = PARTICLES[k]
    rng = np.random.default_rng([SEED, k])
    model = build_model(structure, ["Pt"], size)
    a = rng.uniform(0, 2 * np.pi)
    turn = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    b = rng.normal(5.0, 1.0, len(model)).clip(3.0, 8.0)
    return AtomicModel(model.positions @ turn.T, model.elements, b_factor=b)


def series(k: int, support: str | None) -> tuple[TiltSeries, AtomicModel, float]:
    """The tilt series of particle ``k`` on ``support`` (None: on vacuum), the particle, and the interface height."""
    truth = particle(k)
    size = fitting_image_size(truth, ACQ["pixel_size"])
    fov = size * ACQ["pixel_size"]
    tilt = np.deg2rad(ACQ["max_tilt"])
    sample, interface = truth, float(truth.positions[:, 2].min()) - GAP / 2
    if support:
        support, thickness_text = support.split(":")
        thickness = float(thickness_text)
        # wide enough in x to fill every image (the tilt axis is y)
        width = (fov / np.cos(tilt) + 2 * thickness * np.tan(tilt) + 20.0, fov + 10.0)
        sample = on_support(truth, thickness=thickness, width=width, gap=GAP, seed=SEED + k, support=support)
        b = np.r_[truth.b_factor, np.full(len(sample) - len(truth), 5.0)]
        sample = AtomicModel(sample.positions, sample.elements, b_factor=b, labels=sample.labels)
    acq = Acquisition(pixel_size=ACQ["pixel_size"], image_size=size, dose=ACQ["dose"], angle_error=ACQ["angle_error"],
                      seed=SEED + k)  # fmt: skip
    angles = np.linspace(-ACQ["max_tilt"], ACQ["max_tilt"], ACQ["projections"])
    return simulate_tilt_series(sample, angles, acq), truth, interface


def one(k: int, support: str | None, remove: bool, threads: int, keep: Path | None) -> dict:
    ts, truth, z = series(k, support)
    overrides = {"input": {"elements": ["Pt"]}, "run": {"threads": threads}}
    if remove:
        overrides["prepare"] = {"support": "remove"}
    with tempfile.TemporaryDirectory() as tmp:
        name = f"{k}_{(support or 'vacuum').replace(':', '-')}_{'remove' if remove else 'keep'}"
        out = (keep / name) if keep else Path(tmp) / "run"
        t = time.perf_counter()
        result = run(ts, out, overrides=overrides, quiet=True, force=True)
        seconds = time.perf_counter() - t
    model = result.model
    c = compare(model, truth)
    face = interface_score(c, model.positions, truth.positions, (0.0, 0.0, z))
    return {"n": c.n_model, "recall": c.recall, "precision": c.precision, "rmsd": c.rmsd_pm,
            "face": face, "R1": result.summary.rfactors.R1, "seconds": seconds}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--supports", default=SUPPORTS, help="kind:thickness Å, comma-separated")
    ap.add_argument("--dose", type=float, default=ACQ["dose"], help="e/Å² per projection")
    ap.add_argument("--particles", default="0,1")
    ap.add_argument("--modes", default="vacuum,keep,remove")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None, help="keep the run folders under this folder")
    ap.add_argument("--name", default="support")
    args = ap.parse_args()
    ACQ["dose"] = args.dose
    rows = []
    for k in (int(x) for x in args.particles.split(",")):
        for mode in args.modes.split(","):
            for support in [None] if mode == "vacuum" else args.supports.split(","):
                o = one(k, support, mode == "remove", args.threads, args.keep)
                f = o["face"]
                rows.append([PARTICLES[k][0], support or "-", mode, len(particle(k)), o["n"], o["recall"],
                             o["precision"], o["rmsd"], f.n_truth, f.recall, f.precision, o["R1"],
                             o["seconds"]])  # fmt: skip
                print(rows[-1], flush=True)
    report(
        args.name,
        ["particle", "support", "mode", "atoms", "final atoms", "recall", "precision", "RMSD pm", "interface atoms",
         "interface recall", "interface precision", "R1", "run s"],
        rows, {"radius_A": 0.9, "interface_band_A": 3.0, "gap_A": GAP, "acquisition": ACQ},
    )  # fmt: skip


if __name__ == "__main__":
    main()
