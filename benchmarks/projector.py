"""Projector speed: aet's shared projector against ASTRA's CPU 2-D projector looped over slices.

Run: .venv/bin/python benchmarks/projector.py [--sizes 128 256] [--tilts 60] [--threads 2]
Needs the bench extra (``pip install -e '.[bench]'``) for ASTRA; without it only aet is timed.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _common import best_time, report

from aet.physics import Projector


def astra_times(n: int, tilts: np.ndarray) -> tuple[float, float] | None:
    try:
        import astra
    except ImportError:
        return None
    vg = astra.create_vol_geom(n, n)
    pg = astra.create_proj_geom("parallel", 1.0, n, np.deg2rad(tilts))
    pid = astra.create_projector("linear", pg, vg)  # linear interpolation, like aet's
    vol = np.random.default_rng(0).random((n, n, n), dtype=np.float32)
    sino = np.random.default_rng(1).random((n, len(tilts), n), dtype=np.float32)

    def forward() -> None:
        for y in range(n):
            sid, _ = astra.create_sino(vol[:, y, :], pid)
            astra.data2d.delete(sid)

    def adjoint() -> None:
        for y in range(n):
            bid, _ = astra.create_backprojection(sino[y], pid)
            astra.data2d.delete(bid)

    out = best_time(forward, 1), best_time(adjoint, 1)
    astra.projector.delete(pid)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--tilts", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tilts = np.linspace(-70, 70, args.tilts)
    rows = []
    for n in args.sizes:
        import time

        t = time.perf_counter()
        proj = Projector((n, n, n), tilts)
        proj._matrices()
        build = time.perf_counter() - t
        vol = torch.rand(n, n, n)
        img = torch.rand(args.tilts, n, n)
        fwd = best_time(lambda proj=proj, vol=vol: proj.forward(vol))
        adj = best_time(lambda proj=proj, img=img: proj.adjoint(img))
        ref = astra_times(n, tilts)
        if ref is None:
            rows.append([n, args.tilts, build, fwd, adj, "-", "-", "-", "-"])
        else:
            rows.append([n, args.tilts, build, fwd, adj, ref[0], ref[1], ref[0] / fwd, ref[1] / adj])
    report(
        "projector",
        ["size³", "tilts", "aet build s", "aet fwd s", "aet adj s", "ASTRA fwd s", "ASTRA bp s", "fwd ×", "adj ×"],
        rows,
    )


if __name__ == "__main__":
    main()
