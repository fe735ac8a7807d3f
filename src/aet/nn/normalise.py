"""The normalisation shared by training and inference: voxel size and intensity.

A network sees tomograms at its own voxel size (``voxel_size`` of its model card, 0.357 Å for the shipped
weights, as in Lee et al. 2021) with intensities divided by :func:`intensity_scale`, so that the brightest atoms
have peaks near 1 whatever the dose, pixel size or box size. Training (:mod:`aet.nn.data`) and inference
(:mod:`aet.nn.augment`) both call these two functions and nothing else, so they cannot drift apart.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from aet.device import check_memory
from aet.errors import AetInputError


def intensity_scale(data: np.ndarray) -> float:
    """Typical peak value of the brightest atoms of a tomogram (same units as ``data``).

    The 90th percentile of the local maxima (3×3×3) that exceed 20 % of the volume's 99.99th percentile: it
    does not depend on how much empty space surrounds the particle, and a few hot voxels do not move it.
    """
    data = np.asarray(data, dtype=np.float32)
    top = float(np.percentile(data, 99.99)) if data.size else 0.0
    if not np.isfinite(top) or top <= 0:
        raise AetInputError("the tomogram is empty or has no positive signal; nothing to normalise.")
    peaks = data[(data == ndimage.maximum_filter(data, size=3)) & (data > 0.2 * top)]
    return float(np.percentile(peaks, 90)) if peaks.size else top


def resample(data: np.ndarray, factor: float, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Cubic-spline resampling of a ``[z, y, x]`` volume by ``factor`` (new voxels per old voxel).

    ``shape`` forces the output shape (used to return exactly to the input grid after inference).
    """
    if factor <= 0:
        raise AetInputError(f"resampling factor must be positive, got {factor}.")
    if shape is None:
        if abs(factor - 1) < 1e-6:
            return np.asarray(data, dtype=np.float32)
        shape = tuple(max(1, int(round(n * factor))) for n in data.shape)
    if tuple(shape) == data.shape:
        return np.asarray(data, dtype=np.float32)
    needed = 3 * 4 * int(np.prod(shape))  # float32 output and spline work arrays
    check_memory(needed, torch.device("cpu"), f"resampling a {data.shape} volume to {tuple(shape)} voxels")
    zoom = [s / n for s, n in zip(shape, data.shape, strict=True)]
    # grid_mode keeps voxel centres aligned (a voxel of the old grid covers exactly `factor` new voxels)
    return ndimage.zoom(np.asarray(data, np.float32), zoom, order=3, mode="grid-constant", grid_mode=True)
