"""Sinogram inpainting before reconstruction, on the augmentation benchmark's test set (issue 19, acceptance 1).

Run: .venv/bin/python benchmarks/inpaint.py [--model sinogram-unet] [--angles=-90:90:2] [--network unet-alloy]
     [--particles 0-23] [--threads 2] [--refine] [--skip-distortion] [--update-card] [--name inpaint]

1. ``inpaint``: the 24 test particles of ``benchmarks/augmentation.py`` (21 projections over ±65°, 0.3° angle errors,
   1e4 e/Å²), each reconstructed as the networks expect (RESIRE, 50 iterations) from the measured images alone
   (``measured``) or with the projections that ``--model`` predicts at ``--angles`` added (``inpainted``), then traced
   as it is (``none``) or after ``--network``; with ``--refine`` the network's traced models are also refined
   against the *measured* images with ``aet run``'s settings. Scores pooled over particles as in the augmentation
   benchmark (0.9 Å), with the RMSD left after each particle's affine map and the mean |rotation| and |strain| of
   that map.
2. ``inpaint_distortion``: the two large cuboctahedra (test particles 7 and 6), noise-free, no angle errors: the
   global rotation and strain of the traced lattice with and without inpainting.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import report
from augmentation import ACQ, REFINE, TEST_SET, _pool, _traced, test_particle

import aet
from aet.metrics import compare, global_distortion
from aet.nn import weights
from aet.nn.data import reconstruct_for_network
from aet.nn.inpaint import inpaint, parse_angles
from aet.refinement.validate import inside_field_of_view
from aet.simulate.acquisition import Acquisition, simulate_tilt_series


def _particles(text: str) -> list[int]:
    if "-" in text:
        lo, hi = (int(x) for x in text.split("-"))
        return list(range(lo, hi + 1))
    return [int(x) for x in text.split(",")]


def simulated(args: argparse.Namespace) -> None:
    recon = weights.load(args.network)[1].reconstruction
    angles = parse_angles(args.angles)
    combos = [(src, net) for src in ("measured", "inpainted") for net in ("none", args.network)]
    keys = [f"{s} → {n}" for s, n in combos] + ([f"{s} → {args.network} + refine" for s in ("measured", "inpainted")]
                                                  if args.refine else [])  # fmt: skip
    results: dict[str, list] = {k: [] for k in keys}
    per_particle, seconds = [], {"inpaint": 0.0, "reconstruct measured": 0.0, "reconstruct inpainted": 0.0}
    for k in _particles(args.particles):
        truth, ts = test_particle(k)
        species = sorted(set(truth.elements))
        t = time.perf_counter()
        extended = inpaint(ts, angles, args.model, device="cpu")
        seconds["inpaint"] += time.perf_counter() - t
        row = {"particle": k, "structure": TEST_SET[k][0], "images": extended.n_images}
        for src, series in (("measured", ts), ("inpainted", extended)):
            t = time.perf_counter()
            vol = reconstruct_for_network(series, recon)
            seconds[f"reconstruct {src}"] += time.perf_counter() - t
            for net in ("none", args.network):
                traced = _traced(vol, net, species)
                models = [(f"{src} → {net}", traced)]
                if args.refine and net != "none":
                    inside = traced.subset(inside_field_of_view(traced.positions, ts))
                    models.append((f"{src} → {net} + refine", aet.refine(inside, ts, REFINE, progress=False)[0]))
                for key, model in models:
                    r = compare(model, truth, radius=0.9)
                    d = global_distortion(r, truth)
                    results[key].append((r, d))
                    row[key] = (round(r.f1, 4), round(r.rmsd_pm, 2), round(d.rotation_deg, 3))
        per_particle.append(row)
        print(row, flush=True)
    rows = []
    for key, res in results.items():
        p = _pool([r for r, _ in res], [d for _, d in res])["all"]
        rot = float(np.mean([abs(d.rotation_deg) for _, d in res]))
        strain = float(np.mean([np.abs(d.strain_xyz).max() for _, d in res])) * 100
        rows.append([key, p["recall"], p["precision"], p["f1"], p["rmsd_pm"], p["rmsd_after_affine_pm"], rot, strain])
    if args.update_card:
        _update_card(args.model, "simulated", {row[0]: {"recall": row[1], "precision": row[2], "f1": row[3],
                                                        "rmsd_pm": row[4], "mean_rotation_deg": row[6]}
                                               for row in rows})  # fmt: skip
    report(
        args.name,
        ["combination", "recall", "precision", "F1", "RMSD pm", "RMSD after affine fit pm", "mean |rotation| °",
         "mean max |strain| %"],
        rows,
        {"acquisition": ACQ, "reconstruction": recon, "inpaint_model": args.model, "angles": args.angles,
         "network": args.network, "particles": args.particles, "per_particle": per_particle,
         "seconds": {k: round(v, 1) for k, v in seconds.items()}},
    )  # fmt: skip


def _update_card(model: str, key: str, figures: dict) -> None:
    """Write benchmark figures into the model card (``card["benchmark"][key]``), atomically."""
    import json
    import sys

    from aet.io.atomic import atomic_paths, dump_json

    path = weights.resolve(model).with_suffix(".json")
    card = json.loads(path.read_text())
    card.setdefault("benchmark", {})[key] = {"figures": figures, "date": time.strftime("%Y-%m-%d"),
                                             "command": "python benchmarks/inpaint.py " + " ".join(sys.argv[1:])}
    with atomic_paths(path) as (tmp,):
        dump_json(card, tmp)


def distortion(args: argparse.Namespace, particles: tuple[int, ...] = (7, 6)) -> list:
    recon = weights.load(args.network)[1].reconstruction
    rows = []
    for k in particles:
        truth, _ = test_particle(k)
        species = sorted(set(truth.elements))
        theta = np.linspace(-ACQ["max_tilt"], ACQ["max_tilt"], ACQ["projections"])
        ts = simulate_tilt_series(truth, theta, Acquisition(dose=None, seed=k))
        for src, series in (("measured", ts), ("inpainted", inpaint(ts, parse_angles(args.angles), args.model))):
            vol = reconstruct_for_network(series, recon)
            for net in ("none", args.network):
                r = compare(_traced(vol, net, species), truth, radius=0.9)
                d = global_distortion(r, truth)
                rows.append([k, TEST_SET[k][0], len(truth), src, series.n_images, net, r.f1, r.rmsd_pm,
                             d.residual_rmsd_pm, d.rotation_deg, *(100 * v for v in d.strain_xyz)])  # fmt: skip
                print(rows[-1], flush=True)
    report(
        args.name + "_distortion",
        ["particle", "structure", "atoms", "series", "images", "augmentation", "F1", "RMSD pm",
         "RMSD after affine fit pm", "rotation °", "strain x %", "strain y %", "strain z %"],
        rows, {"reconstruction": recon, "dose": "noise-free", "angle_error": 0.0, "angles": args.angles},
    )  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="sinogram-unet", help="inpainting network (name or .safetensors)")
    ap.add_argument("--angles", default="-90:90:2", help="tilts to predict, degrees")
    ap.add_argument("--network", default="unet-alloy", help="3-D augmentation network after reconstruction")
    ap.add_argument("--particles", default=f"0-{len(TEST_SET) - 1}", help="e.g. 0-23 or 6,7")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--refine", action="store_true", help="also refine every traced model (measured images)")
    ap.add_argument("--skip-simulated", action="store_true")
    ap.add_argument("--skip-distortion", action="store_true")
    ap.add_argument("--update-card", action="store_true", help="write the pooled figures into the model's card")
    ap.add_argument("--name", default="inpaint")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.skip_simulated:
        simulated(args)
    if not args.skip_distortion:
        rows = distortion(args)
        if args.update_card:
            _update_card(args.model, "distortion", {f"particle {r[0]} {r[3]} -> {r[5]}": {
                "rmsd_pm": r[7], "rotation_deg": r[9], "strain_xyz_percent": r[10:13]} for r in rows})


if __name__ == "__main__":
    main()
