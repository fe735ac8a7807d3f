"""Sinogram inpainting (Ding et al. 2019's first stage): projections predicted at angles that were not measured.

A single-axis series (tilt axis y, the image rows; docs/conventions.md) is a stack of sinograms, one per image row:
``[angle, column]``. Over 180° every beam direction is seen, and θ + 180° is θ's projection mirrored (x → −x), so
the measured tilts and their mirrors cover the circle with gaps: the missing wedge and the steps between tilts.

The network (``sinogram-unet``, :func:`aet.nn.models.sinogram_unet`) works on a fixed grid of :data:`GRID` angles
over [−90°, 90°). Its input per row: the sinogram interpolated linearly in θ between the nearest measured (or
mirrored) tilts, and each grid angle's distance to them (degrees / 30); it returns a correction to the
interpolation. A projection asked for at angle θ is the interpolation at θ plus the correction interpolated
between the grid angles. Images are divided by the measured images' mean before, and multiplied after.

The record of an inpainted series keeps the measured images bit for bit, first and in their order, and marks every
image: ``metadata["predicted"]`` (a bool per image). Reconstruction may use all of them; refinement and the R-factor
take the measured ones only (:meth:`aet.model.TiltSeries.measured`).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aet.errors import AetInputError
from aet.geometry import as_euler_angles, single_axis_tilts
from aet.model import TiltSeries
from aet.nn.card import Architecture, ModelCard

#: Angles of the network's grid over [−90°, 90°) (1.875° apart).
GRID = 96
#: Distance scale of the network's second input channel, degrees.
DISTANCE_SCALE = 30.0
#: Image width of the training samples, pixels (at the card's pixel size).
TRAIN_COLS = 160
#: Name of the shipped inpainting network.
SHIPPED = "sinogram-unet"


def grid_angles(n: int = GRID) -> np.ndarray:
    """The network's angles, degrees: ``n`` equally spaced over [−90, 90)."""
    return -90.0 + 180.0 * np.arange(n) / n


def parse_angles(text: str) -> np.ndarray:
    """``"start:stop:step"`` (degrees, stop included when on the step) or a comma-separated list, as an array."""
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            return np.arange(start, stop + 1e-9, step)
        return np.array([float(x) for x in text.split(",") if x.strip()])
    except ValueError as err:
        raise AetInputError(
            f"angles {text!r}: give start:stop:step in degrees with step > 0 (e.g. -90:90:2) or a list (e.g. 70,75)."
        ) from err


def _mirror(images: np.ndarray) -> np.ndarray:
    """Images seen from θ + 180°: x → −x about the rotation centre (column N // 2)."""
    return np.roll(images[..., ::-1], 1, axis=-1)


def _circle(theta: np.ndarray, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The measured tilts and their mirrors at θ ± 180°, sorted by angle: every beam direction between two of them."""
    mirrored = _mirror(images)
    t = np.concatenate([theta - 180.0, theta, theta + 180.0])
    order = np.argsort(t, kind="stable")
    return t[order], np.concatenate([mirrored, images, mirrored])[order]


def interpolate(theta: np.ndarray, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Projections at ``targets`` (degrees) interpolated linearly in θ between the nearest measured tilts or their
    mirrors; ``images`` ``[n, rows, cols]`` at ``theta``."""
    t, imgs = _circle(np.asarray(theta, np.float64), np.asarray(images, np.float64))
    targets = t[0] + (np.asarray(targets, np.float64) - t[0]) % 360.0  # a full turn is no change; inside t's span
    hi = np.clip(np.searchsorted(t, targets), 1, len(t) - 1)
    lo = hi - 1
    w = ((targets - t[lo]) / np.maximum(t[hi] - t[lo], 1e-9))[:, None, None]
    return (1 - w) * imgs[lo] + w * imgs[hi]


def distance(theta: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Degrees from each target to the nearest measured beam direction (θ and θ + 180° are one direction)."""
    d = np.abs((np.asarray(targets, np.float64)[:, None] - np.asarray(theta, np.float64)[None, :] + 90.0) % 180 - 90)
    return np.asarray(d.min(axis=1))


def network_input(theta: np.ndarray, images: np.ndarray, scale: float) -> torch.Tensor:
    """``[rows, 2, GRID, cols]``: per image row, the interpolated sinogram / ``scale`` and the distance channel."""
    grid = grid_angles()
    interp = interpolate(theta, images, grid) / scale  # [GRID, rows, cols]
    dist = np.broadcast_to((distance(theta, grid) / DISTANCE_SCALE)[:, None, None], interp.shape)
    both = np.stack([interp, dist], axis=0).transpose(2, 0, 1, 3)  # [rows, 2, GRID, cols]
    return torch.from_numpy(np.ascontiguousarray(both, dtype=np.float32))


def _correction(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The network's correction ``[b, 1, GRID, cols]`` to the interpolated sinograms of ``x`` (columns padded to the
    network's stride for the pass, cut back after)."""
    cols = x.shape[-1]
    extra = (-cols) % 8
    return net(torch.nn.functional.pad(x, (0, extra)) if extra else x)[..., :cols]


def predict_correction(net: torch.nn.Module, theta: np.ndarray, images: np.ndarray, device: str = "auto",
                       batch: int = 32) -> np.ndarray:  # fmt: skip
    """The network's correction to the interpolated sinograms on the grid, ``[GRID, rows, cols]`` in the images'
    units."""
    from aet.device import resolve_device

    dev = resolve_device(device)
    scale = float(np.mean(images))
    if not np.isfinite(scale) or scale <= 0:
        raise AetInputError("the images have no positive mean; inpainting needs background-subtracted ADF images.")
    x = network_input(theta, images, scale)
    net = net.to(dev).eval()
    with torch.no_grad():
        out = [_correction(net, x[i : i + batch].to(dev)).cpu() for i in range(0, len(x), batch)]
    sino = torch.cat(out)[:, 0].numpy()  # [rows, GRID, cols]
    return np.asarray(sino.transpose(1, 0, 2) * scale)


def inpaint(ts: TiltSeries, angles: np.ndarray, model: str = SHIPPED, device: str = "auto",
            min_gap: float | None = None) -> TiltSeries:  # fmt: skip
    """``ts`` with projections predicted at ``angles`` (degrees) appended after the measured ones.

    Angles closer than ``min_gap`` degrees (default half the grid step) to a measured beam direction are skipped: the
    measured image serves there. The measured images are kept bit for bit; ``metadata["predicted"]`` marks each
    image, ``metadata["inpaint"]`` records the model and the angles.
    """
    from aet.nn import weights

    if not ts.is_single_axis(tol_deg=0.5):
        raise AetInputError(
            "sinogram inpainting needs a single-axis series (tilt about y, the image rows): align it first "
            "(aet run does; `aet align`), or give tilts rather than full Euler angles."
        )
    if ts.n_images < 3:
        raise AetInputError(f"inpainting needs at least 3 measured images, got {ts.n_images}.")
    theta = np.asarray(single_axis_tilts(ts.angles, ts.euler_convention), np.float64)
    gap = 0.5 * 180.0 / GRID if min_gap is None else float(min_gap)
    wanted = np.asarray(angles, np.float64)
    wanted = wanted[distance(theta, wanted) > gap]
    wanted = wanted[np.unique(np.round((wanted + 90) % 180, 6), return_index=True)[1]]  # one per beam direction
    net, card = weights.load(model, kind="sinogram")
    if abs(card.voxel_size - ts.pixel_size) > 0.02 * card.voxel_size:
        raise AetInputError(
            f"the inpainting network was trained at {card.voxel_size} Å pixels, the series has {ts.pixel_size} Å; "
            "resample the images to its pixel size first."
        )
    images = np.asarray(ts.images, np.float64)
    correction = predict_correction(net, theta, images, device)
    predicted = interpolate(theta, images, wanted) + interpolate(grid_angles(), correction, wanted)
    angles_out = np.concatenate([np.asarray(ts.angles), as_euler_angles(wanted)])  # (0, θ, 0): a y tilt either way
    meta = {**ts.metadata, "predicted": [False] * ts.n_images + [True] * len(wanted),
            "inpaint": {"model": str(model), "angles_deg": [round(float(a), 4) for a in wanted]}}  # fmt: skip
    added = len(wanted)
    dose = None if ts.dose is None else np.r_[ts.dose, np.full(added, float(np.mean(ts.dose)))]
    shifts = None if ts.shifts is None else np.vstack([ts.shifts, np.zeros((added, 2))])  # predicted: centred
    return replace(ts, images=np.concatenate([ts.images, predicted.astype(ts.images.dtype)]), angles=angles_out,
                   dose=dose, shifts=shifts, metadata=meta)  # fmt: skip


# ---------------------------------------------------------------- training
def training_sample(index: int, seed: int = 0, rows: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """One training sample: ``rows`` image rows of a random particle (the 3-D networks' generator, 1.5–4.5 nm),
    measured at random single-axis tilts (±55–80°, 15–60 images, 3e3–3e5 e/Å², angle errors) and, without noise,
    on the grid; returns (input ``[rows, 2, GRID, cols]``, target ``[rows, 1, GRID, cols]``), both / the scale."""
    from aet.nn.data import DataConfig, draw_angles, draw_particle
    from aet.simulate.acquisition import Acquisition, simulate_tilt_series

    cfg = DataConfig(seed=seed, size_nm=(1.5, 4.5))
    rng = np.random.default_rng([seed, index, 7])
    model = draw_particle(cfg, rng)
    theta = draw_angles(cfg, rng)
    dose = float(np.exp(rng.uniform(*np.log(cfg.dose))))
    common = {"pixel_size": cfg.voxel_size, "image_size": TRAIN_COLS, "seed": int(rng.integers(2**31))}
    measured = simulate_tilt_series(model, theta, Acquisition(dose=dose, angle_error=rng.uniform(0, 0.5), **common))
    truth = simulate_tilt_series(model, grid_angles(), Acquisition(dose=None, **common)).images * dose
    images = measured.images.astype(np.float64)
    scale = float(images.mean())
    x = network_input(theta, images, scale)
    y = torch.from_numpy((truth / scale).transpose(1, 0, 2)[:, None].astype(np.float32))
    lit = np.flatnonzero(truth.sum(axis=(0, 2)) > 0.01 * truth.sum(axis=(0, 2)).max())
    pick = torch.from_numpy(rng.choice(lit, size=min(rows, len(lit)), replace=False))
    return x[pick], y[pick]


#: First sample index of the held-out validation samples (training draws from 0 up).
VALIDATION_INDEX = 10**6


def validation_loss(net: torch.nn.Module, samples: int = 24, seed: int = 0) -> dict[str, float]:
    """Relative squared error (Σ(pred − truth)² / Σ truth²) on held-out samples, of the network and of the linear
    interpolation between measured tilts that it corrects: over every grid angle, and over the grid angles more than
    5° from a measured tilt (the missing wedge and the wider gaps)."""
    sums = {k: [0.0, 0.0] for k in ("network", "interpolation", "network_far", "interpolation_far")}
    net.eval()
    with torch.no_grad():
        for i in range(samples):
            x, y = training_sample(VALIDATION_INDEX + i, seed)
            pred = x[:, :1] + _correction(net, x)
            far = (x[:, 1:] * DISTANCE_SCALE > 5.0).float()
            for name, guess in (("network", pred), ("interpolation", x[:, :1])):
                err, ref = (guess - y) ** 2, y**2
                sums[name][0] += float(err.sum())
                sums[name][1] += float(ref.sum())
                sums[name + "_far"][0] += float((err * far).sum())
                sums[name + "_far"][1] += float((ref * far).sum())
    return {k: round(a / b, 5) for k, (a, b) in sums.items()}


def train(out: Path, minutes: float = 30.0, steps: int | None = None, seed: int = 0, lr: float = 1e-3,
          pool: int = 64, log: Any = print) -> Path:  # fmt: skip
    """Train ``sinogram-unet`` for ``minutes`` (or ``steps``) on fresh samples (a pool of ``pool`` samples, one
    replaced each step); checkpoints beside ``out`` (resumed when present); weights and card to ``out``."""
    from aet.nn import checkpoint, weights
    from aet.nn.models import build, count_parameters

    out = Path(out).with_suffix(".safetensors")
    work = out.parent / f".{out.stem}_checkpoint"
    torch.manual_seed(seed)
    options = {"channels": [16, 32, 64, 128], "res_units": 2}
    net = build("sinogram-unet", **options)
    opt = torch.optim.AdamW(net.parameters(), lr=lr)
    meta = checkpoint.load(work, "last", net, opt, torch.device("cpu")) or {"step": 0, "seconds": 0.0, "loss": []}
    meta.setdefault("samples", meta["step"] + pool)  # checkpoints of before this counter: one per step + the pool
    samples = [training_sample(meta["step"] * 1000 + i, seed) for i in range(pool)]  # indices no earlier run drew
    fresh = meta["step"] * 1000 + pool
    t0, budget = time.perf_counter() - meta["seconds"], minutes * 60
    net.train()
    while (steps is None and time.perf_counter() - t0 < budget) or (steps is not None and meta["step"] < steps):
        x, y = samples[meta["step"] % pool]
        pred = x[:, :1] + _correction(net, x)
        loss = torch.mean((pred - y) ** 2) / torch.mean(y**2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        meta["step"] += 1
        meta["loss"].append(float(loss.detach()))
        samples[meta["step"] % pool] = training_sample(fresh, seed)
        fresh += 1
        meta["samples"] += 1
        if meta["step"] % 50 == 0:
            meta["seconds"] = time.perf_counter() - t0
            checkpoint.save(work, "last", net, opt, meta)
            log(f"step {meta['step']}  loss {np.mean(meta['loss'][-50:]):.4f}  {meta['seconds']:.0f} s")
    meta["seconds"] = time.perf_counter() - t0
    checkpoint.save(work, "last", net, opt, meta)
    card = ModelCard(
        name=SHIPPED, version=1, created=time.strftime("%Y-%m-%d"),
        architecture=Architecture("sinogram-unet", options, 8, count_parameters(net)), voxel_size=0.357,
        window=GRID, reconstruction={},
        extra={
            "task": "sinogram inpainting (aet.nn.inpaint): projections at unmeasured single-axis tilts",
            "grid_deg": [-90.0, 90.0, 180.0 / GRID], "normalisation": "images / their mean; output = linear "
            "interpolation between measured tilts + the network's correction",
            "training_data": {"generator": "aet.nn.inpaint.training_sample", "particles": "aet.nn.data.draw_particle "
                              "(fcc, alloys, amorphous, bcc/hcp; no icosahedra), 1.5-4.5 nm", "physics": "linear ADF "
                              "(Z^1.7), 0.357 A pixels, 160-pixel images", "tilts": "single axis, +-55-80 deg, 15-60 "
                              "images, angle errors 0-0.5 deg", "dose_e_per_A2": [3e3, 3e5], "rows_per_sample": 16,
                              "samples": meta["samples"], "seed": seed},
            "training": {"steps": meta["step"], "seconds": round(meta["seconds"]), "optimiser": "AdamW", "lr": lr,
                         "loss": "sum (prediction - truth)^2 / sum truth^2 over the grid",
                         "final_loss": round(float(np.mean(meta["loss"][-100:])), 5), "device": "cpu"},
            "validation": {"samples": 24, "first_index": VALIDATION_INDEX,
                           "relative_squared_error": validation_loss(net, 24, seed)},
            "retrain": "python -c 'from aet.nn.inpaint import train; train(\"W.safetensors\", minutes=40)'",
            "benchmark": {},
            "limits": "trained on aet's linear ADF images of isolated particles at 0.357 A pixels; other pixel sizes "
                      "are refused; films and supported particles were not in its training",
        },
    )  # fmt: skip
    net.eval()
    return weights.save(net, card, out)
