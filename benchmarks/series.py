"""4D AET: a simulated anneal of a 3 nm Pt particle through ``aet run-series``, its atoms tracked against the truth.

Run: .venv/bin/python benchmarks/series.py [--modes dask,serial] [--steps 5] [--work runs/series]

* truth: a 3 nm Pt truncated octahedron (random orientation, 8 vertex/edge atoms moved onto facets as adatoms),
  evolved by :func:`aet.simulate.dynamics.evolve`: per interval 5 adatom hops (0.5–2 Å), 1 ps of EMT molecular
  dynamics at 600 K, an EMT quench, then a 2° rotation about a random axis and a 5 Å drift;
* tilt series: 31 projections over ±65°, 1e5 e/Å² per projection, B = 5 Å², 0.357 Å pixels (one image size for all);
* modes: ``dask`` (a LocalCluster of 2 workers), ``serial`` (no Dask, 2 threads), ``dask-cold`` and ``cold`` (the
  same without warm starts: every time point independent), each into a fresh folder, timed;
* scores: per time point recall and RMSD of the final model; per interval the fraction of the atoms present at both
  steps that got the right correspondence, and the RMS error of the displacement vectors (goal ≥ 99 %, ≤ 15 pm).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, report
from scipy.spatial.transform import Rotation

import aet
from aet.metrics.tracking import tracking_accuracy
from aet.model import AtomicModel
from aet.pipeline.series import run_series
from aet.simulate import Acquisition, fitting_image_size, simulate_tilt_series
from aet.simulate.dynamics import Evolution, evolve
from aet.simulate.structures import truncated_octahedron

EVOLUTION = Evolution(temperature_K=600.0, md_ps=1.0, adatoms=8, surface_hops=5, rotation_deg=2.0, drift_A=5.0,
                      max_offset_A=5.0, seed=11)  # fmt: skip
ACQ = {"pixel_size": 0.357, "dose": 1e5, "b_factor": 5.0}
ANGLES = np.linspace(-65, 65, 31)


def truth_series(work: Path, steps: int) -> list[AtomicModel]:
    """The true models (cached in ``work/truth``: the EMT dynamics take minutes)."""
    cache = work / "truth"
    files = [cache / f"t{t}.npz" for t in range(steps)]
    if all(f.exists() for f in files):
        models = []
        for f in files:
            with np.load(f, allow_pickle=False) as z:
                meta = json.loads(str(z["metadata"]))
                models.append(AtomicModel(z["positions"], list(z["elements"]), metadata=meta))
        return models
    particle = truncated_octahedron("Pt", 3.0)
    particle = AtomicModel(Rotation.random(random_state=5).apply(particle.positions), particle.elements)
    models = evolve(particle, steps, EVOLUTION)
    cache.mkdir(parents=True, exist_ok=True)
    for f, m in zip(files, models, strict=True):
        np.savez(f, positions=m.positions, elements=np.asarray(m.elements), metadata=json.dumps(m.metadata))
    return models


def tilt_files(work: Path, truths: list[AtomicModel]) -> list[Path]:
    every = AtomicModel(np.concatenate([m.positions for m in truths]), "Pt")
    size = fitting_image_size(every, ACQ["pixel_size"])
    files = []
    for t, truth in enumerate(truths):
        f = work / "tilts" / f"t{t}.npz"
        if not f.exists():
            f.parent.mkdir(parents=True, exist_ok=True)
            ts = simulate_tilt_series(truth, ANGLES, Acquisition(image_size=size, seed=100 + t, **ACQ))
            aet.io.write(ts, f)
        files.append(f)
    return files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--modes", default="dask,serial")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("runs/series"))
    parser.add_argument("--reuse", action="store_true",
                        help="score a mode's finished folder again (its time from series.json) instead of rerunning")
    args = parser.parse_args()
    t0 = time.perf_counter()
    truths = truth_series(args.work, args.steps)
    hops = [e["distance_A"][0] for m in truths[1:] for e in m.metadata["events"]]
    print(f"truth: {len(truths[0])} atoms, {args.steps} steps in {time.perf_counter() - t0:.0f} s; hops (Å): "
          + ", ".join(f"{h:.2f}" for h in hops))  # fmt: skip
    files = tilt_files(args.work, truths)
    overrides = {"input": {"elements": ["Pt"]}}
    # rows of modes run earlier (another invocation with other --modes) are kept
    earlier = RESULTS / "series.json"
    old = json.loads(earlier.read_text()) if earlier.exists() else {}
    modes = args.modes.split(",")
    rows = [r for r in old.get("rows", []) if r[0] not in modes]
    extra = {k: v for k, v in old.items() if k not in ("columns", "rows", "machine", *modes)}
    extra |= {"hops_A": hops, "atoms": len(truths[0])}
    for mode in modes:
        out = args.work / mode
        reuse = args.reuse and (out / "series.json").exists()
        # reused: every stage is skipped, and the time is that of the run that did the work
        earlier_seconds = json.loads((out / "series.json").read_text())["seconds"] if reuse else None
        if not reuse:
            shutil.rmtree(out, ignore_errors=True)
        kw = {"dask": {"workers": 2}, "serial": {"scheduler": "serial"},
              "dask-cold": {"workers": 2, "warm_start": False},
              "cold": {"scheduler": "serial", "warm_start": False}}[mode]  # fmt: skip
        # Dask modes: run_series shares the cores among the workers; serial ones use both
        given = overrides if mode.startswith("dask") else {**overrides, "run": {"threads": 2}}
        t = time.perf_counter()
        result = run_series(files, out, overrides=given, truths=truths, quiet=True, **kw)
        seconds = earlier_seconds or time.perf_counter() - t
        acc = tracking_accuracy(result.tracking, truths)
        per_point = [(s["comparison"]["recall"], s["comparison"]["rmsd_pm"]) for s in result.summaries]
        fraction = sum(a["right_correspondence"] for a in acc) / sum(a["present_at_both"] for a in acc)
        rms = float(np.sqrt(np.mean([a["displacement_rms_error_pm"] ** 2 for a in acc])))
        moved = [a["moved_rms_error_pm"] for a in acc]
        rows.append([mode, round(seconds, 1), f"{min(r for r, _ in per_point):.4f}",
                     ", ".join(f"{d:.1f}" for _, d in per_point), f"{fraction:.4f}",
                     ", ".join(f"{a['displacement_rms_error_pm']:.1f}" for a in acc), round(rms, 2),
                     ", ".join(f"{m:.0f}" for m in moved)])  # fmt: skip
        extra[mode] = {"seconds": seconds, "per_time_point": result.summaries, "tracking": acc}
    rows.sort(key=lambda r: ["dask", "serial", "dask-cold", "cold"].index(r[0]))
    report("series", ["mode", "wall (s)", "min recall", "RMSD per time point (pm)", "right correspondences",
                      "displacement RMS error per interval (pm)", "pooled (pm)", "moved atoms' error (pm)"],
           rows, extra)  # fmt: skip


if __name__ == "__main__":
    main()
