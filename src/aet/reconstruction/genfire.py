"""GENFIRE: generalized Fourier iterative reconstruction (Pryor et al., Sci. Rep. 7, 10409 (2017)).

1. **Gridding.** Every image is zero-padded by the oversampling ratio, Fourier transformed and, by the Fourier
   slice theorem, its values sit on the plane k = R·(k_u, k_v, 0) of the 3-D transform. Values within
   ``interpolation_radius`` (grid units) of a grid point are averaged with inverse-distance weights, as GENFIRE
   does; grid points with no measured value nearby stay free.
2. **Iteration.** x ← ℱ⁻¹F; positivity and the support (the original box inside the oversampled grid, times
   the user's mask) are imposed in real space; F ← ℱx; F is replaced by the measured values where there are any.
   With *resolution extension* the measured values are enforced only up to a spatial frequency that grows
   linearly to Nyquist over the first half of the iterations, so the low frequencies settle first.
3. **Errors.** The Fourier error Σ|F_meas − F| / Σ|F_meas| over the enforced grid points and R_free, the same
   over a random fraction of measured grid points that is withheld from the constraint (seeded). The real-space
   R1 of the final volume is recorded too.

The gridding is GENFIRE's own Fourier-space code (the issue allows it); the projector is used only for the final
R1 so that every method reports the same measure. Images must be square for the 3-D grid: non-square images
are zero-padded to a square and the volume is cropped back to (thickness, rows, cols), stated in the settings.
"""

from __future__ import annotations

import numpy as np
import torch

from aet.geometry import rotation_matrices
from aet.metrics.rfactor import r1
from aet.reconstruction.setup import Job
from aet.settings.reconstruct import GenfireSettings


def _centre_pad(t: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Zero-pad the trailing dims of ``t`` to ``size`` keeping index n//2 at size//2 (the rotation centre)."""
    out = t.new_zeros((*t.shape[: t.dim() - len(size)], *size))
    sl = tuple(slice(m // 2 - n // 2, m // 2 - n // 2 + n) for n, m in zip(t.shape[-len(size) :], size, strict=True))
    out[(..., *sl)] = t
    return out


def grid_size(shape: tuple[int, int, int], rows: int, cols: int, oversampling: float) -> int:
    """Side of the (even) oversampled Fourier grid."""
    m = int(np.ceil(max(*shape, rows, cols) * oversampling))
    return m + m % 2


def grid_bytes(shape: tuple[int, int, int], rows: int, cols: int, oversampling: float) -> int:
    """Peak bytes of GENFIRE's oversampled grids, gridding temporaries and FFT work space."""
    m = grid_size(shape, rows, cols, oversampling)
    return 40 * m**3 + 400 * m * m


def grid_measurements(
    job: Job, m: int, radius: float, shifts: np.ndarray | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gridded measured transform (centred, complex ``[m, m, m]`` in z, y, x) and its weight sum."""
    dev = job.device
    ctype = torch.complex64 if job.dtype == torch.float32 else torch.complex128
    rot = torch.as_tensor(rotation_matrices(job.ts.angles, job.ts.euler_convention), device=dev, dtype=torch.float64)
    k = torch.arange(m, device=dev, dtype=torch.float64) - m // 2
    kv, ku = torch.meshgrid(k, k, indexing="ij")
    inside = (ku**2 + kv**2) <= (m // 2) ** 2  # inside the Nyquist circle
    ku, kv = ku[inside], kv[inside]
    acc = torch.zeros(m**3, device=dev, dtype=ctype)
    wsum = torch.zeros(m**3, device=dev, dtype=job.dtype)
    offsets = [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)]
    with job.bar(job.ts.n_images, "GENFIRE gridding", log=False) as advance:
        for i in range(job.ts.n_images):
            img = _centre_pad(job.images[i], (m, m))
            f = torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(img)))[inside].to(ctype)
            if shifts is not None:  # undo the image displacement (row, col) in pixels
                phase = 2 * np.pi * (ku * shifts[i, 1] + kv * shifts[i, 0]) / m
                f = f * torch.polar(torch.ones_like(phase), phase).to(ctype)
            kx = rot[i, 0, 0] * ku + rot[i, 0, 1] * kv
            ky = rot[i, 1, 0] * ku + rot[i, 1, 1] * kv
            kz = rot[i, 2, 0] * ku + rot[i, 2, 1] * kv
            pos = torch.stack([kz, ky, kx]) + m // 2
            base = torch.floor(pos)
            for off in offsets:
                g = base + torch.tensor(off, device=dev, dtype=torch.float64)[:, None]
                d = torch.linalg.vector_norm(g - pos, dim=0)
                ok = (d < radius) & (g >= 0).all(0) & (g < m).all(0)
                gi = g[:, ok].long()
                flat = (gi[0] * m + gi[1]) * m + gi[2]
                w = (1.0 / d[ok].clamp_min(1e-3)).to(job.dtype)
                acc.index_add_(0, flat, f[ok] * w)
                wsum.index_add_(0, flat, w)
            advance()
    measured = torch.where(wsum > 0, acc / wsum.clamp_min(1e-30), torch.zeros_like(acc))
    return measured.reshape(m, m, m), wsum.reshape(m, m, m)


def genfire(job: Job, settings: GenfireSettings) -> torch.Tensor:
    """GENFIRE (see module docstring); returns the ``[nz, ny, nx]`` tensor."""
    iterations, oversampling = settings.iterations, settings.oversampling
    rows, cols = job.images.shape[1:]
    m = grid_size(job.shape, rows, cols, oversampling)
    shifts = None if job.ts.shifts is None else job.ts.shifts / job.ts.pixel_size
    measured, wsum = grid_measurements(job, m, settings.interpolation_radius, shifts)
    # Work on the half spectrum of a real volume (rfftn), in FFT order. The real-space volume stays centred
    # (rotation centre at m//2), which multiplies its transform by (−1)^(jz+jy+jx): fold that into the data.
    half = (slice(None), slice(None), slice(0, m // 2 + 1))
    j = torch.arange(m, device=job.device)
    odd = (j % 2).bool()
    flip = odd[:, None, None] ^ odd[None, :, None] ^ odd[None, None, : m // 2 + 1]
    measured = torch.fft.ifftshift(measured)[half]
    measured = torch.where(flip, -measured, measured)
    del flip
    known = torch.fft.ifftshift(wsum)[half] > 0
    del wsum
    gen = torch.Generator(device="cpu").manual_seed(settings.seed)
    free = (torch.rand(known.shape, generator=gen) < settings.r_free_fraction).to(job.device) & known
    enforced_all = known & ~free
    del known
    fz = torch.fft.fftfreq(m, d=1.0 / m, device=job.device, dtype=job.dtype)
    kr = torch.sqrt(fz[:, None, None] ** 2 + fz[None, :, None] ** 2 + fz[None, None, : m // 2 + 1].abs() ** 2)
    # real-space support on the oversampled grid: the output box, times the user's mask
    box = torch.zeros((m, m, m), device=job.device, dtype=torch.bool)
    box[_box_slices(job.shape, m)] = True if job.support is None else job.support
    x = torch.zeros((m, m, m), device=job.device, dtype=job.dtype)
    norm_all = measured[enforced_all].abs().sum().clamp_min(1e-30)
    norm_free = measured[free].abs().sum().clamp_min(1e-30) if free.any() else None
    with torch.no_grad(), job.bar(iterations, "GENFIRE") as advance:
        for it in range(iterations):
            f = torch.fft.rfftn(x)
            diff = measured - f
            entry = {"fourier_error": float(diff[enforced_all].abs().sum() / norm_all)}
            if norm_free is not None:
                entry["R_free"] = float(diff[free].abs().sum() / norm_free)
            del diff
            if settings.resolution_extension:
                limit = (m // 2) * min(1.0, 0.2 + 0.8 * (it + 1) / max(1, iterations // 2))
                enforce = enforced_all & (kr <= limit)
            else:
                enforce = enforced_all
            f = torch.where(enforce, measured, f)
            x = torch.fft.irfftn(f, s=(m, m, m))
            del f
            if job.positivity:
                x.clamp_(min=0)
            x.mul_(box)
            advance(**entry)
    vol = x[_box_slices(job.shape, m)].contiguous()
    calc = job.projector.forward(vol)
    job.settings.update(grid=m, oversampling=oversampling, padded_to_square=rows != cols)
    job.log[-1]["R1"] = r1(calc, job.images)
    return vol


def _box_slices(shape: tuple[int, int, int], m: int) -> tuple[slice, slice, slice]:
    return tuple(slice(m // 2 - n // 2, m // 2 - n // 2 + n) for n in shape)  # type: ignore[return-value]
