"""Candidate peaks and their sub-voxel fit, vectorised over all peaks at once.

* **Candidates**: voxels that are the strict maximum of their 3×3×3 neighbourhood (SciPy's maximum filter) and
  above a threshold.
* **Sub-voxel fit**: a 3-D Gaussian, fitted as a full quadratic to the logarithm of the voxel values in a
  (2w+1)³ window, weighted by the values (Caruana's weighting, which keeps the noisy tails from dominating).
  For a Gaussian this is exact; the stationary point of the quadratic is the atom centre, the inverse Hessian its
  covariance. All windows share one design matrix, so the fit is one batched 10×10 solve per iteration; windows
  whose centre lands more than half a voxel away are moved and refitted (at most ``max_moves`` times).

Written by hand because no maintained library fits thousands of 3-D peaks per second: scikit-image gives
integer local maxima only and SciPy's ``curve_fit`` fits one peak per call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


def local_maxima(data: np.ndarray, threshold: float) -> np.ndarray:
    """``[N, 3]`` (z, y, x) indices of voxels above ``threshold`` that are the maximum of their 3×3×3 cube.

    A flat top gives several adjacent voxels; the minimum-distance rule of :func:`aet.trace` keeps one.
    """
    neighbour_max = ndimage.maximum_filter(data, size=3, mode="constant", cval=-np.inf)
    return np.argwhere((data == neighbour_max) & (data > threshold))


def _offsets(w: int) -> np.ndarray:
    r = np.arange(-w, w + 1)
    return np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3).astype(np.float64)


def _design(d: np.ndarray) -> np.ndarray:
    """Quadratic design matrix ``[k, 10]``: 1, dz, dy, dx, dz², dy², dx², dz·dy, dz·dx, dy·dx."""
    z, y, x = d.T
    return np.stack([np.ones_like(z), z, y, x, z * z, y * y, x * x, z * y, z * x, y * x], 1)


@dataclass
class PeakFit:
    """Fitted peaks (voxel units). ``ok`` marks fits that converged to a proper maximum inside the volume."""

    centre: np.ndarray  # [N, 3] (z, y, x) sub-voxel position
    height: np.ndarray  # [N] fitted peak value
    sigma: np.ndarray  # [N] geometric-mean standard deviation, voxels
    residual: np.ndarray  # [N] ‖v − g‖ / ‖v‖ of the fitted Gaussian over the window
    ok: np.ndarray  # [N] bool


CHUNK = 20000  #: peaks per batch: bounds memory to about CHUNK × window × 80 bytes


def fit_peaks(data: np.ndarray, seeds: np.ndarray, w: int = 2, max_moves: int = 2) -> PeakFit:
    """Fit a 3-D Gaussian around every seed voxel ``[N, 3]`` in a ``(2w+1)³`` window (see module docstring)."""
    if len(seeds) == 0:
        empty = np.zeros(0)
        return PeakFit(np.zeros((0, 3)), empty, empty, empty, np.zeros(0, dtype=bool))
    parts = [_fit_chunk(data, seeds[i : i + CHUNK], w, max_moves) for i in range(0, len(seeds), CHUNK)]
    return PeakFit(*(np.concatenate([getattr(p, f) for p in parts]) for f in PeakFit.__dataclass_fields__))


def _fit_chunk(data: np.ndarray, seeds: np.ndarray, w: int, max_moves: int) -> PeakFit:
    shape = np.array(data.shape)
    off = _offsets(w)
    x_mat = _design(off)
    padded = np.pad(data, w, mode="constant")
    floor = 1e-3
    n = len(seeds)
    base = seeds.astype(np.int64).copy()
    coef = np.zeros((n, 10))
    ok = np.ones(n, dtype=bool)
    for move in range(max_moves + 1):
        vals = padded[tuple((base[:, None, :] + w + off[None].astype(np.int64)).transpose(2, 0, 1))]  # [N, k]
        peak = np.maximum(vals.max(1, keepdims=True), 1e-30)
        v = np.clip(vals / peak, floor, None)
        wts = v * v  # Caruana weighting: weight = value²
        wx = wts[:, :, None] * x_mat[None]  # [N, k, 10]
        a = wx.transpose(0, 2, 1) @ x_mat
        b = np.einsum("nki,nk->ni", wx, np.log(v))
        a += 1e-9 * np.eye(10)
        coef = np.linalg.solve(a, b[..., None])[..., 0]
        coef[:, 0] += np.log(peak[:, 0])
        g, h = coef[:, 1:4], _hessian(coef)
        shift = _stationary(h, g)
        if move == max_moves:
            break
        step = np.round(shift).astype(np.int64)
        step = np.clip(step, -w, w)
        move_now = np.any(step != 0, axis=1)
        if not move_now.any():
            break
        base[move_now] += step[move_now]
        base = np.clip(base, 0, shape - 1)
    neg_def = np.all(np.linalg.eigvalsh(h) < 0, axis=1)
    ok &= neg_def & np.all(np.abs(shift) <= 1.0, axis=1) & np.isfinite(shift).all(1)
    centre = base + np.where(ok[:, None], shift, 0.0)
    ok &= np.all((centre >= -0.5) & (centre <= shape - 0.5), axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        log_h = coef[:, 0] + 0.5 * np.einsum("ni,ni->n", g, np.where(ok[:, None], shift, 0.0))
        height = np.exp(np.clip(log_h, -700, 700))
        cov_det = np.abs(np.linalg.det(-np.linalg.pinv(h)))
    sigma = np.where(ok, cov_det ** (1 / 6), np.nan)
    pred = np.exp(np.einsum("ki,ni->nk", x_mat, coef).clip(-700, 700))
    residual = np.linalg.norm(vals - pred, axis=1) / np.maximum(np.linalg.norm(vals, axis=1), 1e-30)
    return PeakFit(centre=centre, height=np.where(ok, height, vals.max(1)), sigma=sigma, residual=residual, ok=ok)


def _hessian(coef: np.ndarray) -> np.ndarray:
    """Hessian ``[N, 3, 3]`` of the quadratic with coefficients from :func:`_design` (z, y, x order)."""
    h = np.empty((len(coef), 3, 3))
    h[:, 0, 0], h[:, 1, 1], h[:, 2, 2] = 2 * coef[:, 4], 2 * coef[:, 5], 2 * coef[:, 6]
    h[:, 0, 1] = h[:, 1, 0] = coef[:, 7]
    h[:, 0, 2] = h[:, 2, 0] = coef[:, 8]
    h[:, 1, 2] = h[:, 2, 1] = coef[:, 9]
    return h


def _stationary(h: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Solve H d = −g for every peak; singular Hessians give NaN."""
    det = np.linalg.det(h)
    safe = np.abs(det) > 1e-12
    out = np.full_like(g, np.nan)
    if safe.any():
        out[safe] = -np.linalg.solve(h[safe], g[safe][..., None])[..., 0]
    return out


def ball_sums(data: np.ndarray, centres: np.ndarray, radius: float) -> np.ndarray:
    """Sum of the voxels within ``radius`` voxels of each rounded centre ``[N, 3]`` (integrated intensity)."""
    r = int(np.ceil(radius))
    off = _offsets(r)
    off = off[(off**2).sum(1) <= radius * radius + 1e-9].astype(np.int64)
    padded = np.pad(data, r, mode="constant")
    idx = np.round(centres).astype(np.int64)
    idx = np.clip(idx, 0, np.array(data.shape) - 1) + r
    out = np.zeros(len(idx))
    for start in range(0, len(idx), CHUNK):
        sl = idx[start : start + CHUNK]
        out[start : start + CHUNK] = padded[tuple((sl[:, None, :] + off[None]).transpose(2, 0, 1))].sum(1)
    return out
