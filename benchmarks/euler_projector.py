"""Projector speed for measured-series Euler angles: the banded path against the single-axis fast path.

Run: .venv/bin/python benchmarks/euler_projector.py [--sizes 128 256] [--tilts 60] [--threads 2] [--general 64]

The same volume and tilts twice: θ only (a pure tilt about y: the fast path) and with φ, ψ drawn uniformly within
±0.2° and ±0.4° (the Ta film's range, ``shared/data/ta_film``): the banded path. Forward and adjoint are timed
(best of 3, after the operators are built); the ratio is the banded time over the fast one. ``--general N`` also
times the general (cubic scatter) path at N³, which measured series took before the banded path existed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import best_time, report

from aet.physics import Projector


def _angles(n: int, euler: bool) -> np.ndarray:
    rng = np.random.default_rng(0)
    theta = np.linspace(-70, 70, n)
    if not euler:
        return np.stack([0 * theta, theta, 0 * theta], 1)
    return np.stack([rng.uniform(-0.2, 0.2, n), theta, rng.uniform(-0.4, 0.4, n)], 1)


def _times(n: int, angles: np.ndarray, path: str = "auto") -> tuple[str, float, float, float]:
    vol, img = torch.rand(n, n, n), torch.rand(len(angles), n, n)
    t = time.perf_counter()
    proj = Projector((n, n, n), angles, "zyx", path=path)
    proj.forward(vol)  # builds the operators
    build = time.perf_counter() - t
    return proj.path, build, best_time(lambda: proj.forward(vol)), best_time(lambda: proj.adjoint(img))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--tilts", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--general", type=int, default=0, help="also time the general path at this size³")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for n in args.sizes:
        _, b0, f0, a0 = _times(n, _angles(args.tilts, False))
        path, b1, f1, a1 = _times(n, _angles(args.tilts, True))
        rows.append([n, args.tilts, path, b0, f0 + a0, b1, f1 + a1, (f1 + a1) / (f0 + a0)])
    if args.general:
        n = args.general
        _, b0, f0, a0 = _times(n, _angles(args.tilts, False))
        _, b1, f1, a1 = _times(n, _angles(args.tilts, True), path="general")
        rows.append([n, args.tilts, "general", b0, f0 + a0, b1, f1 + a1, (f1 + a1) / (f0 + a0)])
    report(
        "euler_projector",
        ["size³", "tilts", "Euler path", "single build s", "single fwd+adj s", "Euler build s", "Euler fwd+adj s",
         "ratio"],
        rows,
    )  # fmt: skip


if __name__ == "__main__":
    main()
