"""Fourier shell correlation (FSC) between two volumes and the resolution it implies."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aet.errors import AetInputError
from aet.model import Volume

#: Usual FSC thresholds: 0.143 (half maps, Rosenthal & Henderson 2003) and 0.5 (map vs reference).
FSC_THRESHOLDS = (0.143, 0.5)


def _array(vol: Volume | np.ndarray, name: str) -> np.ndarray:
    data = vol.data if isinstance(vol, Volume) else np.asarray(vol)
    if data.ndim != 3:
        raise AetInputError(f"{name} must be a 3-D volume [z, y, x], got shape {data.shape}.")
    return np.asarray(data, dtype=np.float64)


def fsc(
    vol_a: Volume | np.ndarray, vol_b: Volume | np.ndarray, voxel_size: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fourier shell correlation of two volumes of the same shape.

    FSC(k) = Re Σ F_a F_b* / sqrt(Σ |F_a|² Σ |F_b|²) over the Fourier voxels of shell k. Shells are
    1/(N·voxel_size) wide (N the shortest axis), centred on k/(N·voxel_size) for k = 1 … N/2 (the DC term is
    left out); a shell without power on either side gives NaN.

    Args:
        vol_a, vol_b: Volumes or ``[z, y, x]`` arrays.
        voxel_size: voxel edge in Å; default that of ``vol_a`` (a Volume), else 1.

    Returns:
        ``(frequency, values)``: shell frequencies in 1/Å and the FSC in each shell.
    """
    a, b = _array(vol_a, "vol_a"), _array(vol_b, "vol_b")
    if a.shape != b.shape:
        raise AetInputError(f"the volumes must have the same shape, got {a.shape} and {b.shape}; crop or pad one.")
    if voxel_size is None:
        voxel_size = vol_a.voxel_size if isinstance(vol_a, Volume) else 1.0
    voxel_size = float(voxel_size)
    if not np.isfinite(voxel_size) or voxel_size <= 0:
        raise AetInputError(f"voxel_size must be a positive number of Å, got {voxel_size!r}.")
    fa, fb = np.fft.rfftn(a), np.fft.rfftn(b)
    axes = [np.fft.fftfreq(n) for n in a.shape[:-1]] + [np.fft.rfftfreq(a.shape[-1])]
    grids = np.meshgrid(*axes, indexing="ij", sparse=True)
    radius = np.sqrt(sum(g**2 for g in grids))  # cycles per voxel
    n_min = min(a.shape)
    shell = np.rint(radius * n_min).astype(np.int64).ravel()
    n_shells = n_min // 2
    keep = (shell >= 1) & (shell <= n_shells)
    # rfftn stores half the spectrum: every column except x-frequency 0 (and Nyquist) stands for two voxels.
    nx = a.shape[-1]
    weight = np.full(nx // 2 + 1, 2.0)
    weight[0] = 1.0
    if nx % 2 == 0:
        weight[-1] = 1.0
    w = np.broadcast_to(weight, fa.shape).ravel()[keep]
    idx = shell[keep] - 1
    cross = np.bincount(idx, w * (fa * np.conj(fb)).real.ravel()[keep], minlength=n_shells)
    pa = np.bincount(idx, w * (np.abs(fa) ** 2).ravel()[keep], minlength=n_shells)
    pb = np.bincount(idx, w * (np.abs(fb) ** 2).ravel()[keep], minlength=n_shells)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = cross / np.sqrt(pa * pb)
    values = np.where((pa > 0) & (pb > 0), values, np.nan)
    frequency = np.arange(1, n_shells + 1) / (n_min * voxel_size)
    return frequency, values


def fsc_resolution(
    frequency: np.ndarray, values: np.ndarray, thresholds: Sequence[float] = FSC_THRESHOLDS
) -> dict[float, float]:
    """Resolution in Å where the FSC first drops below each threshold.

    The crossing frequency is interpolated linearly between the two shells around it; the resolution is its
    inverse. A curve that never drops below the threshold gives 1 / (highest frequency), i.e. the Nyquist
    limit (the true resolution is at least that good); one already below at the first shell gives ``inf``.
    """
    f = np.asarray(frequency, dtype=np.float64).reshape(-1)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if f.shape != v.shape or f.size == 0:
        raise AetInputError("frequency and values must be two 1-D arrays of the same non-zero length.")
    v = np.where(np.isfinite(v), v, -np.inf)  # a shell without signal counts as no correlation
    out: dict[float, float] = {}
    for t in thresholds:
        below = np.flatnonzero(v < t)
        if below.size == 0:
            out[float(t)] = float(1.0 / f[-1])
            continue
        k = int(below[0])
        if k == 0:
            out[float(t)] = float("inf")
            continue
        v0, v1 = v[k - 1], v[k]
        frac = (v0 - t) / (v0 - v1) if np.isfinite(v1) else 1.0
        out[float(t)] = float(1.0 / (f[k - 1] + frac * (f[k] - f[k - 1])))
    return out
