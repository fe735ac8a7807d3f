"""CPU kernels of the Gaussian splat behind :func:`aet.physics.atoms_to_projections` (Numba, one thread per image).

The splat adds a separable 2-D Gaussian amp·exp(−π² d²/B) (d in Å) in a (2w+1)² window around each atom's pixel
coordinate, and its backward gathers the incoming gradient at the same taps. Torch can only express this as a
scatter-add of materialised window values and indices (16 bytes of index and value per tap) and a gather of
whole windows, so at 100,000 atoms × 60 images (1.35e9 taps) an evaluation moves tens of GB through memory. Here each
tap is one multiply-add into an image that stays in cache, with no index arrays at all; no library offers this
(a fused scatter of separable windows), hence the hand-written loops. Numba compiles them on first use and caches
the machine code beside this file.

Layout shared with :mod:`aet.physics.atoms`: the images are padded by ``pad`` = 2w + 1 pixels on every side; an
atom whose window has no tap in the image is skipped (its contribution and gradient are zero, as the caller's
crop makes them on the Torch path).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from numba import njit, prange

_PI2 = math.pi**2


@njit(inline="always", cache=True)
def _factors(c: float, b: float, w: int, pixel_size: float, g: np.ndarray, d: np.ndarray) -> int:
    """1-D Gaussian factors ``g`` and tap offsets ``d`` (Å, tap − centre) around coordinate ``c``; returns the
    centre pixel.

    Four exponentials instead of 2w + 1: on a uniform grid exp(−α(d ± Δ)²) = exp(−αd²) · exp(−α(±2dΔ + Δ²)), and
    successive ratios differ by the constant factor exp(−2αΔ²). Walking outwards from the centre tap (|d| ≤ Δ/2)
    every ratio is ≤ 1, so nothing overflows however narrow the Gaussian.
    """
    r = int(np.round(c))
    alpha = _PI2 / b
    step = pixel_size
    dc = (r - c) * step
    for t in range(2 * w + 1):
        d[t] = dc + (t - w) * step
    gc = math.exp(-alpha * dc * dc)
    q = math.exp(-2 * alpha * step * step)
    g[w] = gc
    for sign in (1, -1):
        ratio = math.exp(-alpha * (2 * sign * dc * step + step * step))
        value = gc
        for j in range(1, w + 1):
            value *= ratio
            ratio *= q
            g[w + sign * j] = value
    return r


@njit(inline="always", cache=True)
def _window(pa: np.ndarray, b: float, w: int, pixel_size: float, pad: int, rows: int, cols: int,
            g: np.ndarray) -> tuple[int, int]:  # fmt: skip
    """Fill ``g`` ``[4, 2w + 1]`` with (column factors, column offsets, row factors, row offsets) of the atom at
    pixel coordinates ``pa`` (col, row); return its window's top-left pixel in the padded image, (−1, −1) when the
    window has no tap in the image."""
    cx = _factors(pa[0], b, w, pixel_size, g[0], g[1])
    cy = _factors(pa[1], b, w, pixel_size, g[2], g[3])
    if cx < -w or cx > cols - 1 + w or cy < -w or cy > rows - 1 + w:
        return -1, -1
    return cy + pad - w, cx + pad - w


_FAST = {"reassoc", "contract", "nsz", "arcp"}  # reorder sums (vectorised loops); NaN and inf keep their meaning


@njit(parallel=True, cache=True, fastmath=_FAST)
def _scatter(p, amp, b, out, w, pixel_size, pad, rows, cols):  # type: ignore[no-untyped-def]
    k = 2 * w + 1
    for i in prange(p.shape[0]):
        g = np.empty((4, k), p.dtype)
        gx, gy = g[0], g[2]
        img = out[i]
        for a in range(p.shape[1]):
            r0, c0 = _window(p[i, a], b[a], w, pixel_size, pad, rows, cols, g)
            if r0 < 0:
                continue  # no tap in the image
            for r in range(k):
                v = amp[a] * gy[r]
                row = img[r0 + r]
                for c in range(k):
                    row[c0 + c] += v * gx[c]


@njit(parallel=True, cache=True, fastmath=_FAST)
def _gather(p, amp, b, grad, w, pixel_size, pad, rows, cols, d_p, d_amp, d_b):  # type: ignore[no-untyped-def]
    k = 2 * w + 1
    for i in prange(p.shape[0]):
        g = np.empty((4, k), p.dtype)
        gx, dx, gy, dy = g[0], g[1], g[2], g[3]
        img = grad[i]
        for a in range(p.shape[1]):
            r0, c0 = _window(p[i, a], b[a], w, pixel_size, pad, rows, cols, g)
            if r0 < 0:
                continue
            # Σ G·u·v for u ∈ {gy, gy·dy, gy·dy²} and v ∈ {gx, gx·dx, gx·dx²}: the five sums the gradient needs
            s00 = s01 = s02 = s10 = s20 = 0.0
            for r in range(k):
                row = img[r0 + r]
                v0 = v1 = v2 = 0.0
                for c in range(k):
                    t = row[c0 + c] * gx[c]
                    v0 += t
                    v1 += t * dx[c]
                    v2 += t * dx[c] * dx[c]
                u = gy[r]
                s00 += u * v0
                s01 += u * v1
                s02 += u * v2
                s10 += u * dy[r] * v0
                s20 += u * dy[r] * dy[r] * v0
            scale = amp[a] * 2 * _PI2 * pixel_size / b[a]  # ∂g/∂p = g · 2π² d · pixel / B
            d_p[i, a, 0] = scale * s01
            d_p[i, a, 1] = scale * s10
            d_amp[i, a] = s00
            d_b[i, a] = amp[a] * (s02 + s20) * _PI2 / (b[a] * b[a])  # ∂g/∂B = g · π² d² / B²


def _threads() -> None:
    """Numba uses as many threads as torch was told to (``--threads`` / ``[run] threads``)."""
    numba.set_num_threads(max(1, min(torch.get_num_threads(), getattr(numba.config, "NUMBA_NUM_THREADS", 1))))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def scatter(
    p: torch.Tensor, amp: torch.Tensor, b: torch.Tensor, shape: tuple[int, int], w: int, pixel_size: float, pad: int
) -> torch.Tensor:
    """Padded images ``[m, rows + 2·pad, cols + 2·pad]`` of the Gaussians at pixel coordinates ``p`` ``[m, n, 2]``
    (col, row), amplitudes ``amp`` and B-factors ``b`` ``[n]`` (Å²)."""
    _threads()
    out = torch.zeros(p.shape[0], shape[0] + 2 * pad, shape[1] + 2 * pad, dtype=p.dtype)
    _scatter(_np(p), _np(amp), _np(b), out.numpy(), w, pixel_size, pad, shape[0], shape[1])
    return out


def gather(
    p: torch.Tensor, amp: torch.Tensor, b: torch.Tensor, grad: torch.Tensor, shape: tuple[int, int], w: int,
    pixel_size: float, pad: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Gradients of Σ grad · :func:`scatter` with respect to ``p`` ``[m, n, 2]`` and, per image, ``amp`` and ``b``
    (``[m, n]`` each: the caller sums over images)."""
    _threads()
    m, n = p.shape[:2]
    d_p = torch.zeros(m, n, 2, dtype=p.dtype)
    d_amp, d_b = torch.zeros(m, n, dtype=p.dtype), torch.zeros(m, n, dtype=p.dtype)
    _gather(
        _np(p), _np(amp), _np(b), _np(grad), w, pixel_size, pad, shape[0], shape[1], d_p.numpy(), d_amp.numpy(),
        d_b.numpy(),
    )  # fmt: skip
    return d_p, d_amp, d_b
