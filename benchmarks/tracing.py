"""Tracing speed and accuracy: ``aet.trace`` on simulated particles of 20,000+ atoms, in atoms per second.

Run: .venv/bin/python benchmarks/tracing.py [--sizes 9 11] [--structure sphere] [--alloy-size 9] [--threads 2]

Each particle is built with ``aet.simulate.structures.build_model`` (Pt, and an FePt L1₀ particle of
``--alloy-size`` nm with a = 3.85 Å to time the species classification too) and sampled directly as a volume
with ``aet.physics.atoms_to_volume``: 0.357 Å voxels, B = 5 Å² (AET convention), peak heights ∝ the ADF cross
section (Pt = 1), plus seeded white Gaussian noise of ``--noise`` × the lightest element's peak height. Only the
``aet.trace`` call is timed (best of ``--repeat`` runs; building the volume is excluded); the split into its
stages comes from thin timing wrappers around the stage functions. The trace is then scored against the true
atoms with ``aet.metrics.compare(traced, truth, radius=0.9)`` so that the speed is that of a correct trace.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import torch
from _common import report

import aet
import aet.tracing as trace_module
from aet.elements import adf_cross_section
from aet.metrics import compare
from aet.model import AtomicModel, Volume
from aet.physics import atoms_to_volume
from aet.simulate.structures import build_model

VOXEL = 0.357  #: Å
B_FACTOR = 5.0  #: Å², AET convention
MARGIN = 4.0  #: Å of empty space around the particle (8 σ of the B = 5 Å² Gaussian)

#: stage -> functions of ``aet.trace`` timed for it (looked up in the module's globals, which ``trace`` calls)
STAGES = {
    "peaks": ("local_maxima",),
    "fit": ("fit_peaks",),
    "intensity": ("ball_sums",),
    "min dist": ("_min_distance",),
    "species": ("estimate_species_count", "global_classes", "local_reclassify"),
}


def particle(structure: str, elements: list[str], size_nm: float) -> AtomicModel:
    if len(elements) == 1:
        return build_model(structure, elements, size_nm)
    return build_model(structure, elements, size_nm, chemistry="l10", lattice_constant=3.85)


def simulate(model: AtomicModel, noise: float, seed: int = 0) -> Volume:
    """The particle sampled on a cubic grid (voxel n//2 = 0 Å), heights ∝ ADF cross section, plus noise."""
    extent = float(np.abs(model.positions).max()) * 2 + 2 * MARGIN
    n = 2 * math.ceil(extent / VOXEL / 2)
    sigma = adf_cross_section(model.elements)
    height = sigma / adf_cross_section(["Pt"])[0]
    data = atoms_to_volume(
        torch.tensor(model.positions, dtype=torch.float32),
        B_FACTOR,
        torch.tensor(height, dtype=torch.float32),
        (n, n, n),
        VOXEL,
    ).numpy()
    rng = np.random.default_rng(seed)
    data += rng.normal(0.0, noise * float(height.min()), data.shape).astype(np.float32)
    return Volume(data, voxel_size=VOXEL, origin=(-(n // 2) * VOXEL,) * 3)


def timed_trace(volume: Volume, elements: list[str]) -> tuple[AtomicModel, float, dict[str, float]]:
    """One ``aet.trace`` call: the model, its wall time and the seconds spent in each stage of ``STAGES``."""
    spent: dict[str, float] = defaultdict(float)
    saved = {}

    def wrap(stage: str, fn: Callable) -> Callable:
        def inner(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[stage] += time.perf_counter() - t

        return inner

    for stage, names in STAGES.items():
        for name in names:
            saved[name] = getattr(trace_module, name)
            setattr(trace_module, name, wrap(stage, saved[name]))
    try:
        t = time.perf_counter()
        traced = aet.trace(volume, elements=elements)
        total = time.perf_counter() - t
    finally:
        for name, fn in saved.items():
            setattr(trace_module, name, fn)
    spent["other"] = total - sum(spent.values())
    return traced, total, dict(spent)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[9.0, 11.0], help="Pt particle diameters, nm")
    ap.add_argument("--structure", default="sphere", help="build_model shape (sphere, cuboctahedron, ...)")
    ap.add_argument("--alloy-size", type=float, default=9.0, help="FePt L1₀ particle diameter, nm (0: none)")
    ap.add_argument("--noise", type=float, default=0.01, help="noise σ / the lightest element's peak height")
    ap.add_argument("--repeat", type=int, default=2, help="trace runs per particle (best is reported)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cases = [(["Pt"], s) for s in args.sizes]
    if args.alloy_size > 0:
        cases.append((["Fe", "Pt"], args.alloy_size))
    rows, details = [], []
    for elements, size in cases:
        truth = particle(args.structure, elements, size)
        volume = simulate(truth, args.noise)
        runs = [timed_trace(volume, elements) for _ in range(args.repeat)]
        traced, seconds, split = min(runs, key=lambda r: r[1])
        cmp = compare(traced, truth, radius=0.9)
        name = f"{'FePt L1₀' if len(elements) == 2 else 'Pt'} {args.structure} {size:g} nm"
        species = cmp.species_accuracy if len(elements) > 1 else "-"
        rows.append(
            [
                name, len(truth.positions), volume.shape[0], seconds, len(truth.positions) / seconds,
                cmp.recall, cmp.precision, cmp.rmsd_pm, species,
                split["peaks"], split["fit"], split["species"], split["other"] + split["intensity"] + split["min dist"],
            ]
        )  # fmt: skip
        details.append(
            {
                "case": name, "n_truth": len(truth.positions), "n_traced": len(traced.positions),
                "volume": list(volume.shape), "trace_s_runs": [r[1] for r in runs], "split_s": split,
                "counts": traced.metadata["trace"]["counts"],
                "estimated_species": traced.metadata["trace"]["estimated_species"], "compare": cmp.to_dict(),
            }
        )  # fmt: skip
        print(f"{name}: {len(truth.positions)} atoms, {volume.shape[0]}³, trace {seconds:.2f} s", flush=True)
    report(
        "tracing",
        [
            "particle", "atoms", "size³", "trace s", "atoms/s", "recall", "precision", "RMSD pm", "species acc.",
            "peaks s", "fit s", "species s", "rest s",
        ],
        rows,
        {
            "voxel_size_A": VOXEL, "b_factor_A2": B_FACTOR, "noise": args.noise, "match_radius_A": 0.9,
            "repeat": args.repeat, "cases": details,
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()
