"""Inference: a missing-wedge tomogram -> an atomicity volume (sharp peaks of height ~1 at atom sites).

``aet.augment(volume)``: resample to the network's voxel size, divide by :func:`aet.nn.normalise.intensity_scale`,
run the network over overlapping windows blended with Gaussian weights (MONAI ``sliding_window_inference``, so
any size works and there are no seams), average over test-time flips (each flip of x, y or z maps a single-axis
missing wedge onto itself), and resample back to the input grid. The spread (standard deviation) over the flips
is the per-voxel uncertainty.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.inferers import sliding_window_inference

from aet.device import resolve_device
from aet.errors import AetInputError
from aet.model import Volume
from aet.nn import weights
from aet.nn.card import ModelCard
from aet.nn.normalise import intensity_scale, resample
from aet.nn.weights import network_for
from aet.progress import progress_bar
from aet.settings import updated
from aet.settings.augment import AugmentSettings

#: Test-time flips (axes of a [batch, channel, z, y, x] tensor), in the order used when ``tta`` < 8.
FLIPS: list[tuple[int, ...]] = [
    (), (2, 4), (3,), (2, 3, 4), (2,), (4,), (3, 4), (2, 3)
]  # fmt: skip


def augment(
    volume: Volume,
    model: str | None = None,
    settings: AugmentSettings | None = None,
    *,
    elements: Sequence[str] | None = None,
    device: str | torch.device | None = "auto",
    progress: bool = True,
    return_uncertainty: bool = False,
    **options: Any,
) -> Volume | tuple[Volume, Volume]:
    """Augment a tomogram with a trained network.

    Args:
        volume: the tomogram (any shape; voxel size in Å), reconstructed as the model card says
            (``card.reconstruction``, RESIRE for the shipped models).
        model: the network (overrides ``settings.model``): ``"auto"``, ``"default"``, a shipped name
            (``aet.nn.weights.shipped_names()``) or a ``.safetensors`` path.
        settings: :class:`AugmentSettings` (every default lives there); ``**options`` set single fields by name.
        elements: the species present; with ``model="auto"`` they choose the network (:func:`network_for`).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``; blending buffers stay on the CPU, so GPU memory is
            bounded by ``batch_size`` windows whatever the volume size.
        return_uncertainty: also return the per-voxel standard deviation over the flips.

    Returns:
        The atomicity volume on the grid of ``volume`` (same shape, voxel size and origin), and optionally the
        uncertainty volume (same units: fractions of an atom's peak height). Its ``metadata["augment"]["trace"]``
        is the card's tracing recommendation, which :func:`aet.trace` applies.
    """
    if not isinstance(volume, Volume):
        raise AetInputError(f"augment needs a Volume, got {type(volume).__name__}; load one with aet.io.read.")
    s = updated(settings or AugmentSettings(), options if model is None else {**options, "model": model})
    model = network_for(s.model, elements or ())
    tta, overlap, batch_size = s.tta, s.overlap, s.batch_size
    net, card = weights.load(model, kind="volume")
    stride = card.architecture.stride
    window = int(s.window or card.window)
    if window % stride:
        raise AetInputError(f"window must be a multiple of the network stride {stride}, got {window}.")
    _check_source(volume, card)
    dev = resolve_device(device)
    start = time.perf_counter()
    factor = volume.voxel_size / card.voxel_size
    data = resample(volume.data, factor)
    if min(data.shape) < 4:
        raise AetInputError(
            f"the volume is {volume.shape} voxels of {volume.voxel_size} Å: too small to hold an atom at the network's "
            f"{card.voxel_size} Å voxels."
        )
    scale = intensity_scale(data)
    mean, std = predict(net, data / scale, window, overlap, batch_size, dev, int(tta), progress)
    mean = resample(mean, 1 / factor, volume.shape)
    meta = {
        "augment": {
            "model": card.name, "model_version": card.version, "tta": int(tta), "overlap": overlap,
            "window": window, "network_voxel_size_A": card.voxel_size, "intensity_scale": scale,
            "device": str(dev), "seconds": round(time.perf_counter() - start, 3),
            "units": "atomicity: fraction of an atom's peak height (target Gaussians of height 1)",
            "trace": card.trace,  # tracing settings recommended for this model's output
        },
        "source": volume.metadata.get("reconstruction", {}),
    }  # fmt: skip
    out = Volume(mean, volume.voxel_size, volume.origin, meta)
    if not return_uncertainty:
        return out
    std = resample(std, 1 / factor, volume.shape)
    return out, Volume(std, volume.voxel_size, volume.origin, {**meta, "kind": "uncertainty"})


def reconstruction_mismatch(have: dict, card: ModelCard) -> str | None:
    """One sentence naming the reconstruction settings in ``have`` that differ from those the network of ``card``
    was trained on, or None when they agree (keys absent from ``have`` are not compared)."""
    want = card.reconstruction
    diff = [f"{k}={have[k]} (trained on {want[k]})" for k in want if k in have and have[k] != want[k]]
    if not diff:
        return None
    return f"the reconstruction uses {', '.join(diff)} for {card.name}, so its output may be less accurate."


def _check_source(volume: Volume, card: ModelCard) -> None:
    """Warn when the tomogram's own record says it was reconstructed differently from the network's inputs."""
    rec = volume.metadata.get("reconstruction")
    if not isinstance(rec, dict) or "method" not in rec:
        return  # a tomogram from elsewhere: nothing to compare
    message = reconstruction_mismatch(
        {"method": rec["method"], "iterations": rec.get("settings", {}).get("iterations")}, card
    )
    if message:
        warnings.warn(message, stacklevel=3)


def predict(
    net: torch.nn.Module,
    data: np.ndarray,
    window: int,
    overlap: float,
    batch_size: int,
    device: torch.device,
    tta: int = 1,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over ``tta`` flips of the network's sliding-window output on a normalised
    ``[z, y, x]`` array at the network's voxel size (used by :func:`augment` and by training validation)."""
    x = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))[None, None]
    net = net.to(device)
    total = torch.zeros_like(x)
    total_sq = torch.zeros_like(x)
    flips = FLIPS[:tta]
    with torch.inference_mode(), progress_bar(len(flips), "augment", enabled=progress) as advance:
        for axes in flips:
            xi = torch.flip(x, axes) if axes else x
            y = sliding_window_inference(
                xi, roi_size=(window,) * 3, sw_batch_size=batch_size, predictor=net, overlap=overlap,
                mode="gaussian", sw_device=device, device="cpu",
            )  # fmt: skip
            y = torch.flip(y, axes) if axes else y
            total += y
            total_sq += y * y
            advance()
    mean = (total / len(flips))[0, 0].numpy()
    std = np.sqrt(np.clip((total_sq / len(flips))[0, 0].numpy() - mean**2, 0.0, None))
    return mean, std


__all__ = ["FLIPS", "AugmentSettings", "augment", "network_for"]
