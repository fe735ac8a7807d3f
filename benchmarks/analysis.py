"""Structure analysis at scale: `aet.analysis.analyse` on 100,000-atom particles, with the time of each part.

Run: .venv/bin/python benchmarks/analysis.py [--threads 2] [--atoms 100000]

* ``crystal``: a random FePt fcc alloy particle (truncated octahedron) with 5 pm RMS thermal displacements: every
  step runs, chemistry included (Warren–Cowley, L1₀, radial profile), strain in its one grain.
* ``amorphous``: an amorphous Pt particle of the same size (aet's random close packing): no grain, so Voronoi
  indices of every interior atom, q4/q6.
Each part is timed alone (the same calls analyse makes), then ``analyse`` as a whole; goal: ≤ 120 s on 2 cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import report

from aet.analysis import analyse
from aet.analysis.amorphous import steinhardt, voronoi_indices
from aet.analysis.facets import facets
from aet.analysis.lattice import fit_lattice, strain_tensors
from aet.analysis.neighbours import SHELL_FACTOR, median_nn_distance, neighbour_list, rdf
from aet.analysis.structure import grains, structure_types
from aet.metrics.surface import surface_atoms
from aet.model import AtomicModel
from aet.simulate.structures import amorphous, random_alloy, thermal_displacement, truncated_octahedron


def _size_for(n_atoms: int, volume_per_atom: float) -> float:
    """Diameter (nm) of a sphere holding ``n_atoms`` atoms."""
    return float((6 * n_atoms * volume_per_atom / np.pi) ** (1 / 3) / 10)


def _parts(model: AtomicModel) -> dict[str, float]:
    pos, t = model.positions, {}

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        value = fn()
        t[name] = time.perf_counter() - start
        return value

    nn = median_nn_distance(pos)
    nbrs = timed("neighbours", lambda: neighbour_list(pos, SHELL_FACTOR * nn))
    timed("rdf", lambda: rdf(pos, r_max=min(10.0, 4 * nn)))
    surface = timed("surface (α-shape)", lambda: surface_atoms(pos))
    types = timed("structure (a-CNA)", lambda: structure_types(pos))
    grain = timed("grains", lambda: grains(pos, types, SHELL_FACTOR * nn))
    if (grain == 0).any():
        members = grain == 0
        lat, sites = timed("lattice fit", lambda: fit_lattice(pos[members]))
        timed("strain", lambda: strain_tensors(pos[members], lat, sites))
        timed("facets", lambda: facets(pos, surface, grain, {0: lat.rotation}, nn))
    timed("q4, q6 (freud)", lambda: steinhardt(pos, nbrs))
    timed("voronoi", lambda: voronoi_indices(pos, ~surface & (grain < 0)))
    return t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--atoms", type=int, default=100_000)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    a = 3.85
    crystal = truncated_octahedron("Pt", _size_for(args.atoms, a**3 / 4) * 1.08, a)  # the next shell: 134k atoms
    crystal = thermal_displacement(random_alloy(crystal, ["Fe", "Pt"], [0.5, 0.5]), 0.05 / np.sqrt(3))
    glass = amorphous("Pt", _size_for(args.atoms, 15.1))
    rows, extra = [], {}
    for name, model in (("crystal", crystal), ("amorphous", glass)):
        parts = _parts(model)
        start = time.perf_counter()
        result = analyse(model, progress=False)
        total = time.perf_counter() - start
        counts = result.summary["structure"]["counts"]
        rows.append([name, len(model), f"{total:.1f}", "yes" if total <= 120 else "no",
                     ", ".join(f"{k} {v:.1f}" for k, v in parts.items())])  # fmt: skip
        extra[name] = {"atoms": len(model), "total_s": total, "parts_s": parts, "structure": counts,
                       "grains": len(result.summary.get("grains", []))}  # fmt: skip
    report("analysis", ["particle", "atoms", "analyse (s)", "≤ 120 s", "parts (s)"], rows, extra)


if __name__ == "__main__":
    main()
