"""Neural augmentation: reconstruct -> trace with and without the shipped networks, on particles never trained on.

Run: .venv/bin/python benchmarks/augmentation.py [--models unet,unet-transformer] [--threads 2] [--skip-asi208]
     [--skip-distortion] [--skip-speed] [--refine none,unet]

1. ``augmentation``: a fixed, seeded test set of 24 simulated particles (2–4 nm, random orientations, B = 5 ± 1 Å²):
   6 icosahedra (a shape left out of training), cuboctahedra, truncated octahedra, decahedra, random shapes,
   amorphous Pt, FePt L1₀ and Pd@Pt core–shell, each imaged with 21 projections over ±65°, ±0.3° angle errors
   (std of each Euler angle) and 1e4 e/Å² per projection, reconstructed as the networks expect (RESIRE 50
   iterations, no support). Tracing: :func:`aet.trace` defaults, on the tomogram (no augmentation) or on the
   augmented volume with species from the tomogram (``species_volume``). Scores: atoms pooled over the particles
   (matching radius 0.9 Å after the mean shift), all atoms and surface atoms (α-shape rule of aet.metrics), and
   the RMSD left once each particle's global affine map is removed (``aet.metrics.global_distortion``).
   With ``--refine none,unet``, those traced models are also scored after ``aet.refine`` against the tilt series
   with the refine settings of ``aet run`` (rows "… + refine").
2. ``augmentation_asi208``: ``../shared/data/asi208`` with the projections within ±60° only (41 of 60), the same
   reconstruction, tracing as in ``asi208_end_to_end.py`` (Si: minimum distance 1.9 Å, published support mask),
   with and without augmentation, beside the published full-range figures.
3. ``augmentation_distortion``: the global (affine) distortion left in the traced positions by the angular
   sampling alone: two large test particles, noise-free and without angle errors, full range or ±65°, 60 or 21
   projections.
4. ``augmentation_speed``: seconds to augment a 256³ tomogram (4 flips and 1), on this machine's CPU threads.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from _common import report
from scipy.spatial.transform import Rotation

import aet
from aet.elements import atomic_number
from aet.errors import AetSpeciesError
from aet.metrics import compare, global_distortion, load_asi208_truth
from aet.model import AtomicModel, Volume
from aet.nn import weights
from aet.nn.augment import augment
from aet.nn.data import reconstruct_for_network
from aet.refinement.validate import inside_field_of_view
from aet.settings.refine import RefineSettings
from aet.simulate.acquisition import Acquisition, simulate_tilt_series
from aet.simulate.structures import build_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "asi208"
#: (structure, elements, chemistry) of the test particles; sizes and seeds are drawn from SEED.
TEST_SET = [
    ("icosahedron", ["Pt"], "pure"), ("icosahedron", ["Au"], "pure"), ("icosahedron", ["Pd"], "pure"),
    ("icosahedron", ["Pt"], "pure"), ("icosahedron", ["Fe", "Pt"], "l10"), ("icosahedron", ["Pd", "Pt"], "core-shell"),
    ("cuboctahedron", ["Pt"], "pure"), ("cuboctahedron", ["Pd"], "pure"), ("truncated-octahedron", ["Pt"], "pure"),
    ("truncated-octahedron", ["Au"], "pure"), ("decahedron", ["Pt"], "pure"), ("decahedron", ["Au"], "pure"),
    ("decahedron", ["Pt"], "pure"), ("random", ["Pt"], "pure"), ("random", ["Pt"], "pure"),
    ("random", ["Pd"], "pure"), ("amorphous", ["Pt"], "pure"), ("amorphous", ["Pt"], "pure"),
    ("amorphous", ["Au"], "pure"), ("cuboctahedron", ["Fe", "Pt"], "l10"), ("random", ["Fe", "Pt"], "l10"),
    ("sphere", ["Fe", "Pt"], "l10"), ("cuboctahedron", ["Pd", "Pt"], "core-shell"),
    ("truncated-octahedron", ["Pd", "Pt"], "core-shell"),
]  # fmt: skip
SEED = 20261125
ACQ = {"max_tilt": 65.0, "projections": 21, "angle_error": 0.3, "dose": 1e4}
ASI_PUBLISHED = {"8p0e3": (199, 28.9), "1p6e4": (208, 17.3), "1p6e5": (208, 4.2)}
ASI_TRACE = {"elements": ["Si"], "min_distance": 1.9}
REFINE = RefineSettings()  #: aet run's refine stage (its defaults)


def test_particle(k: int) -> tuple[AtomicModel, aet.model.TiltSeries]:
    """Test particle ``k`` and its tilt series (seeded; never drawn by the training generator: other seed)."""
    structure, elements, chemistry = TEST_SET[k]
    rng = np.random.default_rng([SEED, k])
    size = float(rng.uniform(2.0, 4.0)) if structure != "amorphous" else float(rng.uniform(2.0, 3.0))
    model = build_model(structure, elements, size, chemistry=chemistry, seed=int(rng.integers(2**31)))
    rot = Rotation.random(random_state=int(rng.integers(2**31)))
    b = rng.normal(5.0, 1.0, len(model)).clip(3.0, 8.0)
    model = AtomicModel(rot.apply(model.positions), model.elements, b_factor=b, metadata=model.metadata)
    angles = np.linspace(-ACQ["max_tilt"], ACQ["max_tilt"], ACQ["projections"])
    acq = Acquisition(dose=ACQ["dose"], angle_error=ACQ["angle_error"], seed=int(rng.integers(2**31)))
    return model, simulate_tilt_series(model, angles, acq)


def _trace(volume: Volume, elements: list[str], species_volume: Volume | None = None, **kw) -> AtomicModel:
    """aet.trace; when the species cannot be told apart (e.g. the light atoms were not found), every atom is
    traced as the heaviest element, so that positions still count and the species count as wrong."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return aet.trace(volume, elements, species_volume=species_volume, **kw)
        except AetSpeciesError:
            if len(elements) < 2:
                raise
            heaviest = max(elements, key=lambda e: int(atomic_number([e])[0]))
            return aet.trace(volume, [heaviest], species_volume=species_volume, **kw)


def _traced(vol: Volume, name: str, elements: list[str] | None = None, **kw) -> AtomicModel:
    """The tomogram ``vol`` traced as it is (``name == "none"``) or after the network ``name``, whose output is
    traced with its card's settings and the species from the tomogram."""
    if elements is not None:
        kw["elements"] = elements
    if name == "none":
        return _trace(vol, **kw)
    aug = augment(vol, name, progress=False)
    return _trace(aug, species_volume=vol, **kw)  # aet.trace applies the card's recommendation itself


def _pool(results: list, distortions: list) -> dict[str, float]:
    """Pooled recall, precision, F1 and RMSD (pm) over particles, for all atoms and for surface atoms; for all
    atoms also the RMSD left once each particle's global affine map is removed (``aet.metrics.global_distortion``)."""
    out = {}
    for region in ("all", "surface"):
        stats = [r if region == "all" else r.regions[region] for r in results]
        n_t = sum(s.n_truth for s in stats)
        n_m = sum(s.n_model for s in stats)
        n_p = sum(s.n_matched for s in stats)
        sq = sum(s.n_matched * s.rmsd_pm**2 for s in stats if s.n_matched)
        rec, prec = (n_p / n_t if n_t else float("nan")), (n_p / n_m if n_m else float("nan"))
        out[region] = {"recall": rec, "precision": prec, "f1": 2 * rec * prec / (rec + prec) if n_p else 0.0,
                       "rmsd_pm": float(np.sqrt(sq / max(n_p, 1)))}  # fmt: skip
    sq = sum(d.n_pairs * d.residual_rmsd_pm**2 for d in distortions)
    out["all"]["rmsd_after_affine_pm"] = float(np.sqrt(sq / max(sum(d.n_pairs for d in distortions), 1)))
    return out


def _score(results: dict[str, list], row: dict, key: str, model: AtomicModel, truth: AtomicModel) -> None:
    """Compare ``model`` with the truth; keep the comparison and its global distortion under ``results[key]``
    and the figures in ``row``."""
    r = compare(model, truth, radius=0.9)
    d = global_distortion(r, truth)
    results[key].append((r, d))
    row[key] = {"f1": r.f1, "rmsd_pm": r.rmsd_pm, "rmsd_after_affine_pm": d.residual_rmsd_pm,
                "rotation_deg": d.rotation_deg, "strain_xyz": d.strain_xyz}  # fmt: skip


def simulated(models: list[str], refine: list[str] = ()) -> dict:
    """Table 1: pooled scores with and without each network over the test set; for the names in ``refine``
    ("none" or a model) also after :func:`aet.refine` against the tilt series with ``aet run``'s refine settings
    (20 iterations of positions, B, H and per-image angle corrections)."""
    recon = weights.load(models[0])[1].reconstruction
    names = ["none", *models]
    results: dict[str, list] = {n: [] for n in names + [f"{n} + refine" for n in names if n in refine]}
    per_particle, refine_failed = [], []
    for k in range(len(TEST_SET)):
        truth, ts = test_particle(k)
        vol = reconstruct_for_network(ts, recon)
        species = sorted(set(truth.elements))
        row = {"particle": k, "structure": TEST_SET[k][0], "elements": species, "atoms": len(truth)}
        for name in names:
            traced = _traced(vol, name, species)
            _score(results, row, name, traced, truth)
            if name in refine:  # as aet run does: its refine settings, atoms outside the field of view dropped
                inside = traced.subset(inside_field_of_view(traced.positions, ts))
                try:
                    refined = aet.refine(inside, ts, REFINE, progress=False)[0]
                except aet.AetError as err:  # counted and reported; the traced model stands in
                    print(f"particle {k}, {name}: refinement refused: {err}", flush=True)
                    refine_failed.append([k, name, str(err)])
                    refined = inside
                _score(results, row, f"{name} + refine", refined, truth)
        per_particle.append(row)
        print(row, flush=True)
    rows = []
    pooled = {}
    single = [len(el) == 1 for _, el, _ in TEST_SET]

    def pool(res: list) -> dict:
        return _pool([r for r, _ in res], [d for _, d in res])

    for name, res in results.items():
        p = pooled[name] = pool(res)
        pooled[name + " (single-element particles)"] = pool([r for r, s in zip(res, single, strict=True) if s])
        pooled[name + " (alloys)"] = pool([r for r, s in zip(res, single, strict=True) if not s])
        alloys = [r.species_accuracy for (r, _), (_, el, _) in zip(res, TEST_SET, strict=True) if len(el) > 1]
        ico = pool([r for r, (s, _, _) in zip(res, TEST_SET, strict=True) if s == "icosahedron"])["all"]
        rows.append([name, p["all"]["recall"], p["all"]["precision"], p["all"]["f1"], p["all"]["rmsd_pm"],
                     p["all"]["rmsd_after_affine_pm"], p["surface"]["recall"], p["surface"]["precision"],
                     p["surface"]["f1"], p["surface"]["rmsd_pm"], ico["f1"], ico["rmsd_pm"],
                     float(np.nanmean(alloys))])  # fmt: skip
    for name in pooled:
        if "(" in name:
            p = pooled[name]
            rows.append([name, p["all"]["recall"], p["all"]["precision"], p["all"]["f1"], p["all"]["rmsd_pm"],
                         p["all"]["rmsd_after_affine_pm"], p["surface"]["recall"], p["surface"]["precision"],
                         p["surface"]["f1"], p["surface"]["rmsd_pm"], "-", "-", "-"])  # fmt: skip
    report(
        "augmentation",
        ["augmentation", "recall", "precision", "F1", "RMSD pm", "RMSD after affine fit pm", "surface recall",
         "surface precision", "surface F1", "surface RMSD pm", "icosahedra F1", "icosahedra RMSD pm",
         "alloy species accuracy"],
        rows,
        {"acquisition": ACQ, "reconstruction": recon, "particles": len(TEST_SET), "seed": SEED,
         "per_particle": per_particle, "pooled": pooled, "refine": dataclasses.asdict(REFINE),
         "refine_failed": refine_failed},
    )  # fmt: skip
    return {m: {"with": pooled[m], "without": pooled["none"], "test_set": f"{len(TEST_SET)} particles", **ACQ,
                "single_element": {"with": pooled[f"{m} (single-element particles)"],
                                   "without": pooled["none (single-element particles)"]},
                "alloys": {"with": pooled[f"{m} (alloys)"], "without": pooled["none (alloys)"]},
                **({"with_refine": pooled[f"{m} + refine"]} if f"{m} + refine" in pooled else {}),
                **({"without_refine": pooled["none + refine"]} if "none + refine" in pooled else {})}
            for m in models}  # fmt: skip


def update_cards(models: list[str], key: str, figures: dict) -> None:
    """Write benchmark figures into the shipped model cards (``card["benchmark"][key]``)."""
    import json
    import sys

    from aet.io.atomic import atomic_paths, dump_json

    for m in models:
        path = weights.resolve(m).with_suffix(".json")
        card = json.loads(path.read_text())
        card.setdefault("benchmark", {})[key] = {
            "figures": figures[m] if m in figures else figures, "date": time.strftime("%Y-%m-%d"),
            "command": "python benchmarks/augmentation.py " + " ".join(sys.argv[1:]),
        }  # fmt: skip
        with atomic_paths(path) as (tmp,):
            dump_json(card, tmp)


def asi208(models: list[str]) -> dict:
    """Table 2: asi208 with a ±60° missing wedge, with and without augmentation."""
    recon = weights.load(models[0])[1].reconstruction
    mask = aet.io.read(DATA / "Mask_aSi_cov35pm.mat", kind="volume").data
    truth = load_asi208_truth(DATA / "aSi_208atoms_GT.txt")
    rows = []
    figures: dict[str, dict] = {m: {} for m in models}
    for dose, (pub_n, pub_rmsd) in ASI_PUBLISHED.items():
        ts = aet.io.read(DATA / f"aSi_2nmFosCetr_Dose{dose}_cov35pm_ForBM3D.mat", angles=DATA / "Si_Angle.mat",
                         pixel_size=0.195)  # fmt: skip
        theta = ts.angles[:, 1]
        keep = (theta <= 60.0) | (theta >= 120.0)  # θ and θ − 180° (mirrored image) are the same projection
        wedge = aet.model.TiltSeries(ts.images[keep], ts.angles[keep], ts.pixel_size, ts.euler_convention)
        vol = reconstruct_for_network(wedge, recon)
        for name in ["none", *models]:
            model = _traced(vol, name, support=mask, **ASI_TRACE)
            r = compare(model, truth, radius=0.9)
            entry = {"recall": r.recall, "precision": r.precision, "rmsd_pm": r.rmsd_pm}
            for m in models if name == "none" else [name]:
                figures[m].setdefault(dose, {})["without" if name == "none" else "with"] = entry
            rows.append([dose.replace("p", "."), f"±60° ({keep.sum()} proj.)", name, f"{r.n_matched}/{r.n_truth}",
                         r.recall, r.precision, r.rmsd_pm, f"{pub_n}/208", pub_rmsd])  # fmt: skip
    report(
        "augmentation_asi208",
        ["dose e/Å²", "tilts", "augmentation", "found", "recall", "precision", "RMSD pm", "published found (full)",
         "published RMSD pm (full)"],
        rows,
        {"reconstruction": recon, "trace": ASI_TRACE, "support": "Mask_aSi_cov35pm.mat", "radius_A": 0.9},
    )  # fmt: skip
    return figures


def distortion(models: list[str], particles: tuple[int, ...] = (7, 6)) -> None:
    """Table 3: the global (affine) distortion of the traced positions on noise-free tilt series without angle
    errors of two large test particles: full range or a ±65° wedge, 60 or 21 projections, with and without each
    network."""
    recon = weights.load(models[0])[1].reconstruction
    rows = []
    for k in particles:
        truth, _ = test_particle(k)
        species = sorted(set(truth.elements))
        for max_tilt, n in ((90.0, 60), (ACQ["max_tilt"], 60), (90.0, ACQ["projections"]),
                            (ACQ["max_tilt"], ACQ["projections"])):  # fmt: skip
            ts = simulate_tilt_series(truth, np.linspace(-max_tilt, max_tilt, n), Acquisition(dose=None, seed=k))
            vol = reconstruct_for_network(ts, recon)
            for name in ["none", *models]:
                traced = _traced(vol, name, species)
                r = compare(traced, truth, radius=0.9)
                d = global_distortion(r, truth)
                rows.append([k, TEST_SET[k][0], len(truth), f"±{max_tilt:g}°", n, name, r.f1, r.rmsd_pm,
                             d.residual_rmsd_pm, d.rotation_deg, *(100 * v for v in d.strain_xyz)])  # fmt: skip
                print(rows[-1], flush=True)
    report(
        "augmentation_distortion",
        ["particle", "structure", "atoms", "tilt range", "projections", "augmentation", "F1", "RMSD pm",
         "RMSD after affine fit pm", "rotation °", "strain x %", "strain y %", "strain z %"],
        rows,
        {"reconstruction": recon, "dose": "noise-free", "angle_error": 0.0, "tilt_axis": "y",
         "affine": "aet.metrics.global_distortion: model ≈ R·S·(truth − centroid) + t; strain = diag(S) − 1"},
    )  # fmt: skip


def speed(models: list[str]) -> None:
    """Table 4: seconds to augment a 256³ tomogram (a 4 nm Pt particle's reconstruction in a 256³ box)."""
    truth, ts = test_particle(6)
    vol = reconstruct_for_network(ts, weights.load(models[0])[1].reconstruction)
    box = np.zeros((256, 256, 256), np.float32)
    n = min(vol.shape[0], 256)
    box[:n, :n, :n] = vol.data[:n, :n, :n]
    big = Volume(box, vol.voxel_size)
    rows = []
    for m in models:
        for tta in (4, 1):
            t = time.perf_counter()
            augment(big, m, tta=tta, progress=False, device="cpu")
            rows.append([m, "256³", tta, time.perf_counter() - t, torch.get_num_threads(), "cpu"])
            if torch.cuda.is_available():
                augment(big, m, tta=tta, progress=False, device="cuda")  # warm-up
                torch.cuda.synchronize()
                t = time.perf_counter()
                augment(big, m, tta=tta, progress=False, device="cuda")
                torch.cuda.synchronize()
                rows.append([m, "256³", tta, time.perf_counter() - t, 0, torch.cuda.get_device_name()])
    report("augmentation_speed", ["model", "volume", "flips", "seconds", "CPU threads", "device"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="unet,unet-transformer")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-simulated", action="store_true")
    ap.add_argument("--skip-asi208", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-distortion", action="store_true", help="skip table 3 (global distortion vs sampling)")
    ap.add_argument("--update-cards", action="store_true", help="write the figures into the shipped model cards")
    ap.add_argument("--refine", default="", help="names ('none' or models) also scored after aet.refine")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    models = [m for m in args.models.split(",") if m]
    if not args.skip_simulated:
        figures = simulated(models, [r for r in args.refine.split(",") if r])
        if args.update_cards:
            update_cards(models, "simulated", figures)
    if not args.skip_asi208:
        figures = asi208(models)
        if args.update_cards:
            update_cards(models, "asi208_60deg", figures)
    if not args.skip_distortion:
        distortion(models)
    if not args.skip_speed:
        speed(models)


if __name__ == "__main__":
    main()
