"""Weighted (filtered) back-projection on the shared projector.

x = Σᵢ wᵢ · Aᵢᵀ (h ∗ bᵢ): each image is filtered along its columns (the direction perpendicular to the tilt
axis) with the discrete ramp filter of Ram and Lakshminarayanan, optionally apodised, and back-projected with the
exact adjoint of the projector. wᵢ is the angular interval (radians) that image i stands for: half the gap to each
neighbouring beam direction, with directions taken modulo 180° (θ and θ + 180° see the same line integrals), so
tilt lists such as 0…177° or −90…+87° give the same weights; at the edges of a missing wedge an image gets its inner
half-gap twice. The ramp filter assumes single-axis geometry; for general Euler angles it is applied along the
image columns as an approximation (use SIRT, RESIRE or GENFIRE there).

Written by hand (a few lines of FFT): scikit-image's ``iradon`` is 2-D, slice-by-slice and has its own projector,
which would break the "one shared projector" rule.
"""

from __future__ import annotations

import numpy as np
import torch

from aet.errors import AetInputError
from aet.metrics.rfactor import r1
from aet.reconstruction.setup import Job
from aet.settings.reconstruct import WbpSettings

FILTERS = ("ramp", "shepp-logan", "cosine", "hann")


def angular_weights(theta: np.ndarray) -> np.ndarray:
    """Angular interval in radians that each tilt θ (degrees) covers, directions modulo 180°."""
    n = len(theta)
    d = np.mod(np.asarray(theta, dtype=np.float64), 180.0)
    order = np.argsort(d)
    s = d[order]
    gaps = np.diff(np.concatenate([s, [s[0] + 180.0]]))  # gaps[k]: from direction k to the next, cyclic
    prev = np.roll(gaps, 1)
    wedge = int(np.argmax(gaps))
    if n > 2 and gaps[wedge] > 2.5 * np.median(gaps):  # a missing wedge: its edges get their inner gap twice
        gaps[wedge], prev[(wedge + 1) % n] = prev[wedge], gaps[(wedge + 1) % n]
    w_sorted = 0.5 * (gaps + prev)
    w = np.empty(n)
    w[order] = w_sorted
    return np.deg2rad(w)


def ramp_filter(n: int, kind: str = "ramp") -> np.ndarray:
    """Frequency response (length n, FFT order) of the discrete Ram–Lak ramp, optionally apodised.

    Built from the exact spatial kernel h[0] = 1/4, h[k odd] = −1/(πk)², which has the right value at zero
    frequency (no DC offset) unlike sampling |ν| directly.
    """
    if kind not in FILTERS:
        raise AetInputError(f"unknown WBP filter {kind!r}; use one of {FILTERS}.")
    k = np.concatenate([np.arange(0, n // 2 + 1), np.arange(-((n - 1) // 2), 0)])
    h = np.zeros(n)
    h[0] = 0.25
    odd = k % 2 == 1
    h[odd] = -1.0 / (np.pi * k[odd]) ** 2
    resp = np.real(np.fft.fft(h))  # ≈ |ν| in cycles/pixel
    nu = np.abs(np.fft.fftfreq(n))
    if kind == "shepp-logan":
        resp *= np.sinc(nu)
    elif kind == "cosine":
        resp *= np.cos(np.pi * nu)
    elif kind == "hann":
        resp *= 0.5 * (1 + np.cos(2 * np.pi * nu))
    return resp


def wbp(job: Job, settings: WbpSettings) -> torch.Tensor:
    """Filtered back-projection; returns the ``[nz, ny, nx]`` tensor (positivity/support applied if asked)."""
    n, _, cols = job.images.shape
    pad = 1 << int(np.ceil(np.log2(2 * cols)))  # zero-pad to avoid circular wrap of the filter
    resp = torch.as_tensor(ramp_filter(pad, settings.filter), device=job.device, dtype=job.dtype)
    w = torch.as_tensor(angular_weights(job.ts.tilt_angles), device=job.device, dtype=job.dtype)
    with torch.no_grad(), job.bar(1, "WBP") as advance:
        spec = torch.fft.rfft(job.images, n=pad, dim=2)
        filt = torch.fft.irfft(spec * resp[: pad // 2 + 1], n=pad, dim=2)[..., :cols]
        filt.mul_(w[:, None, None])
        x = job.projector.adjoint(filt)
        job.constrain(x)
        calc = job.projector.forward(x)
        err = r1(calc, job.images)
        advance(R1=err)
    return x
