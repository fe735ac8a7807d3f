"""Atomic potentials: atoms -> volume and atoms -> projections, differentiable in positions, B and H.

An atom is the Gaussian H · exp(−π² r² / B) (AET convention, σ = √(B/2)/π, r and σ in Å). Positions are
(x, y, z) in Å with the rotation centre at the origin: voxel index N//2 of every axis sits at 0 Å, as does
the image pixel (rows//2, cols//2). Both paths give the same numbers as ``project(atoms_to_volume(...))``:

* :func:`atoms_to_volume` samples the Gaussians at voxel centres;
* :func:`atoms_to_projections` evaluates the analytic line integral along the beam, H·√(B/π)·exp(−π² ρ²/B),
  divided by the voxel size so that it matches the voxel sums of the projector.

Each atom only touches a local window of ±4σ, so cost grows with atoms × window, never atoms × pixels. On CPU
tensors the windows are added and differentiated by the compiled loops of :mod:`aet.physics.splat_cpu`; on other
devices by Torch scatter and gather operations (:class:`_Splat`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from aet.geometry import as_euler_angles, centre_index, detector_frame
from aet.physics import splat_cpu

#: Use the compiled CPU kernels of :mod:`aet.physics.splat_cpu` for CPU tensors (the Torch path below serves other
#: devices; tests switch this off to compare the two).
CPU_KERNELS = True

#: Gaussian windows reach this many standard deviations.
WINDOW_SIGMAS = 4.0


def sigma_of_b(b: torch.Tensor | float) -> torch.Tensor | float:
    """Standard deviation (Å) of the AET-convention Gaussian with B-factor ``b`` (Å²)."""
    return (b / 2) ** 0.5 / math.pi


def window_radius(b_max: float, spacing: float) -> int:
    return int(math.ceil(WINDOW_SIGMAS * sigma_of_b(float(b_max)) / spacing)) + 1


def _atom_params(positions: Any, b_factor: Any, height: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positions ``[N, 3]`` as a float tensor, and B and H broadcast to ``[N]`` in the same dtype/device."""
    pos = torch.as_tensor(positions)
    if not pos.is_floating_point():
        pos = pos.double()
    out = [pos]
    for value in (b_factor, height):
        t = torch.as_tensor(value, dtype=pos.dtype, device=pos.device)
        out.append(t.expand(pos.shape[0]) if t.ndim == 0 else t)
    return out[0], out[1], out[2]


def _gaussian_patch(
    p: torch.Tensor, offsets: torch.Tensor, amp: torch.Tensor, b: torch.Tensor, spacing: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grid indices ``[a, k, d]`` around grid coordinates ``p`` ``[a, d]`` and the Gaussian values there."""
    idx = torch.round(p.detach()).long()[:, None, :] + offsets[None]
    d2 = ((idx.to(p.dtype) - p[:, None, :]) ** 2).sum(-1) * spacing**2
    return idx, amp[:, None] * torch.exp(-(math.pi**2) * d2 / b[:, None])


def atoms_to_volume(
    positions: torch.Tensor,
    b_factor: Any,
    height: Any,
    shape: tuple[int, int, int],
    voxel_size: float,
    chunk: int = 4096,
) -> torch.Tensor:
    """Sample atoms on a ``[z, y, x]`` grid of ``voxel_size`` Å centred on the origin.

    Args:
        positions: ``[N, 3]`` (x, y, z) in Å.
        b_factor: B per atom or one for all, Å² (AET convention).
        height: H per atom or one for all.
    """
    pos, b, h = _atom_params(positions, b_factor, height)
    n = pos.shape[0]
    nz, ny, nx = shape
    out = torch.zeros(nz * ny * nx, dtype=pos.dtype, device=pos.device)
    if n == 0:
        return out.reshape(shape)
    w = window_radius(float(b.detach().max()), voxel_size)
    off = torch.arange(-w, w + 1, device=pos.device)
    oz, oy, ox = torch.meshgrid(off, off, off, indexing="ij")
    offsets = torch.stack([ox.reshape(-1), oy.reshape(-1), oz.reshape(-1)], 1)  # (x, y, z) voxel offsets
    ctr = torch.tensor([centre_index(nx), centre_index(ny), centre_index(nz)], dtype=pos.dtype, device=pos.device)
    size = torch.tensor([nx, ny, nz], device=pos.device)
    for s in range(0, n, chunk):
        p = pos[s : s + chunk] / voxel_size + ctr  # voxel coordinates (x, y, z)
        idx, val = _gaussian_patch(p, offsets, h[s : s + chunk], b[s : s + chunk], voxel_size)
        ok = ((idx >= 0) & (idx < size)).all(-1)
        flat = (idx[..., 2] * ny + idx[..., 1]) * nx + idx[..., 0]
        out = out.index_add(0, flat[ok], val[ok])
    return out.reshape(shape)


def atoms_to_projections(
    positions: torch.Tensor,
    b_factor: Any,
    height: Any,
    angles: Any,
    image_shape: tuple[int, int],
    pixel_size: float,
    convention: str = "zyz",
    shifts: Any = None,
    chunk: int = 4096,
    rotations: torch.Tensor | None = None,
    tilt_axis: float = 0.0,
) -> torch.Tensor:
    """Project atoms analytically -> ``[n, rows, cols]``, in the units of the voxel projector.

    Args:
        positions: ``[N, 3]`` (x, y, z) in Å.
        angles: ``[n, 3]`` Euler angles in degrees (or 1-D tilts about y).
        image_shape: detector (rows, cols); pixel (rows//2, cols//2) is the rotation centre.
        pixel_size: Å per pixel (= voxel size of the equivalent volume).
        shifts: optional ``[n, 2]`` (row, col) image shifts in Å (drift, misalignment); array or tensor.
        rotations: optional ``[n, 3, 3]`` tensor of extra rotations applied to the specimen before each image's
            Euler rotation (differentiable: angle refinement).
        tilt_axis: in-plane direction of the tilt axis in the images, degrees counter-clockwise from the rows
            (a detector rotated by it; 0: the axis runs along the rows).
    """
    pos, b, h = _atom_params(positions, b_factor, height)
    n = pos.shape[0]
    ang = as_euler_angles(angles)
    frame = detector_frame(ang, convention, tilt_axis)[:, :2, :]  # [m, 2, 3]: (x', y') rows
    rt = torch.as_tensor(frame, dtype=pos.dtype, device=pos.device)
    if rotations is not None:
        rt = rt @ rotations
    nr, nc = image_shape
    m = len(ang)
    if n == 0:
        return torch.zeros(m, nr, nc, dtype=pos.dtype, device=pos.device)
    shift = torch.zeros(m, 2, dtype=pos.dtype, device=pos.device)
    if shifts is not None:
        shift = torch.as_tensor(shifts, dtype=pos.dtype, device=pos.device)[:, [1, 0]]
    w = window_radius(float(b.detach().max()), pixel_size)
    ctr = torch.tensor([centre_index(nc), centre_index(nr)], dtype=pos.dtype, device=pos.device)
    amp = h * torch.sqrt(b / math.pi) / pixel_size  # line integral per voxel length
    uv = torch.einsum("mij,aj->mai", rt, pos) + shift[:, None, :]  # [m, N, 2] (x', y') Å
    p = (uv / pixel_size + ctr).contiguous()  # (col, row) in pixels
    out = _splat(p, amp, b, (nr, nc), w, pixel_size, chunk)
    pad = pad_of(w)
    return out[:, pad : pad + nr, pad : pad + nc]


class _Splat(torch.autograd.Function):
    """Padded images ``[m, rows + 2·pad, cols + 2·pad]`` (:func:`pad_of`) of 2-D Gaussians amp·exp(−π² d²/B) at
    pixel coordinates ``p``.

    Written by hand, forward and backward: autograd through the scatter would keep every atom × window value of
    the graph alive (tens of GB at 100,000 atoms, so the refinement had to project every image twice: once for the
    residual, once in chunks with a graph) and differentiate the window element by element. Here the backward
    recomputes the separable window factors and gathers the incoming gradient at the same taps, so an evaluation
    of the misfit and its gradient costs one scatter plus one gather and keeps only ``p`` (atoms × images × 2).
    """

    @staticmethod
    def forward(
        ctx: Any, p: torch.Tensor, amp: torch.Tensor, b: torch.Tensor, shape: tuple[int, int], w: int,
        pixel_size: float, chunk: int,
    ) -> torch.Tensor:  # fmt: skip
        ctx.save_for_backward(p, amp, b)
        ctx.geometry = (shape, w, pixel_size, chunk)
        if _compiled(p):
            return splat_cpu.scatter(p, amp, b, shape, w, pixel_size, pad_of(w))
        m = p.shape[0]
        pr, pc = shape[0] + 2 * pad_of(w), shape[1] + 2 * pad_of(w)
        k = 2 * w + 1
        taps = torch.arange(k, device=p.device)[:, None] * pc + torch.arange(k, device=p.device)  # [k, k]
        # torch's CPU scatter-add runs on one core: with more threads, each scatters half of every chunk into its
        # own copy of the series (no two threads write one pixel), summed at the end (torch releases the GIL)
        n_bufs = 2 if p.device.type == "cpu" and torch.get_num_threads() > 1 and p.shape[1] >= 2048 else 1
        bufs = [torch.zeros(m * pr * pc, dtype=p.dtype, device=p.device) for _ in range(n_bufs)]
        with ThreadPoolExecutor(n_bufs) as pool:
            for _, sl, corner, gx, gy in _windows(p, b, shape, w, pixel_size, chunk):
                val = amp[sl, None, None] * gy[..., :, None] * gx[..., None, :]  # [mb, a, row, col]
                flat = corner[..., None, None] + taps
                parts = zip(flat.chunk(n_bufs, 1), val.chunk(n_bufs, 1), bufs, strict=False)
                list(pool.map(lambda job: job[2].scatter_add_(0, job[0].reshape(-1), job[1].reshape(-1)), parts))
        out = bufs[0] if n_bufs == 1 else bufs[0].add_(bufs[1])
        return out.reshape(m, pr, pc)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        p, amp, b = ctx.saved_tensors
        shape, w, pixel_size, chunk = ctx.geometry
        need_p, need_amp, need_b = ctx.needs_input_grad[:3]
        if _compiled(p):
            g_p, g_amp, g_b = splat_cpu.gather(p, amp, b, grad, shape, w, pixel_size, pad_of(w))
            return (g_p if need_p else None, g_amp.sum(0) if need_amp else None, g_b.sum(0) if need_b else None,
                    None, None, None, None)  # fmt: skip
        d_p = torch.zeros_like(p) if need_p else None
        d_amp = torch.zeros_like(amp) if need_amp else None
        d_b = torch.zeros_like(b) if need_b else None
        k = 2 * w + 1
        pc = shape[1] + 2 * pad_of(w)
        g_flat = grad.contiguous().reshape(-1)
        # every k × k window of the padded series as a view, indexed by its top-left corner: a gather of whole
        # window rows, 1.8× faster than gathering k² single taps (measured: 4,096 windows of 15², 1.3 vs 2.3 ms)
        all_windows = g_flat.as_strided((g_flat.numel() - (k - 1) * (pc + 1), k, k), (1, pc, 1))
        k2 = math.pi**2
        for img, sl, corner, gx, gy in _windows(p, b, shape, w, pixel_size, chunk):
            g = all_windows[corner]  # [mb, a, row, col]: the incoming gradient at every tap
            dx, dy = _tap_offsets(p[img, sl], w, pixel_size)  # [mb, a, k] Å, tap − centre
            # every sum needed is u·G·v with u ∈ {gy, gy·dy, gy·dy²} and v ∈ {gx, gx·dx, gx·dx²}: one pass over G
            gv = g @ torch.stack([gx, gx * dx, gx * dx * dx], -1)  # [mb, a, row, 3]
            s_ = torch.stack([gy, gy * dy, gy * dy * dy], -2) @ gv  # [mb, a, 3, 3]
            a_ = amp[sl]
            if d_amp is not None:
                d_amp[sl] += s_[..., 0, 0].sum(0)
            if d_p is not None:  # ∂g/∂p = g · 2π² d · pixel / B  (d = (tap − p)·pixel)
                d_p[img, sl, 0] += a_ * s_[..., 0, 1] * (2 * k2 * pixel_size) / b[sl]
                d_p[img, sl, 1] += a_ * s_[..., 1, 0] * (2 * k2 * pixel_size) / b[sl]
            if d_b is not None:  # ∂g/∂B = g · π² d² / B²
                d_b[sl] += (a_ * (s_[..., 0, 2] + s_[..., 2, 0])).sum(0) * k2 / b[sl] ** 2
        return d_p, d_amp, d_b, None, None, None, None


#: ``_Splat.apply`` with its signature spelled out (torch declares ``Function.apply`` untyped).
_splat: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, int], int, float, int], torch.Tensor] = (
    _Splat.apply
)


def _compiled(p: torch.Tensor) -> bool:
    return CPU_KERNELS and p.device.type == "cpu"


def _tap_offsets(p: torch.Tensor, w: int, pixel_size: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(tap − centre) in Å along columns and rows, ``[mb, a, 2w + 1]`` each, for pixel coordinates ``p``."""
    off = torch.arange(-w, w + 1, device=p.device, dtype=p.dtype)
    frac = (torch.round(p) - p) * pixel_size  # [mb, a, 2]
    return frac[..., 0, None] + off * pixel_size, frac[..., 1, None] + off * pixel_size


def _windows(
    p: torch.Tensor, b: torch.Tensor, shape: tuple[int, int], w: int, pixel_size: float, chunk: int
) -> Iterator[tuple[torch.Tensor, slice, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Blocks of images × atom chunks: (images, atoms, flat index of each window's top-left pixel ``[mb, a]``,
    column factors, row factors).

    The series ``[m, rows + 2·pad, cols + 2·pad]`` is padded by ``pad_of(w)`` on every side and each window
    centre is clamped to within w + 1 pixels of the image: a window then always lies inside the padded image (one
    index per atom plus a constant k × k offset table, no clamp per tap), and a window moved by the clamp has no
    tap in the image, so the caller's crop removes it. The 2-D Gaussian is separable: one 1-D factor per axis
    ``[mb, a, k]``, whose outer product is the window (k² values from 2k exponentials).
    """
    m, n = p.shape[:2]
    pad = pad_of(w)
    pr, pc = shape[0] + 2 * pad, shape[1] + 2 * pad
    a = min(n, chunk)
    k = 2 * w + 1
    # images per vectorised step: ≈ 4 M window values at once, and an output block that stays in cache (≈ 4 MB;
    # measured at 100,000 atoms × 512²: 20 images in one block 3.7 s, image by image 2.4 s)
    block = max(1, min(2**22 // (a * k * k), 2**19 // (pr * pc)))
    for i0 in range(0, m, block):
        img = torch.arange(i0, min(m, i0 + block), device=p.device)
        for s in range(0, n, chunk):
            sl = slice(s, s + chunk)
            dx, dy = _tap_offsets(p[img, sl], w, pixel_size)
            bb = b[sl, None]
            gx, gy = torch.exp(-(math.pi**2) * dx * dx / bb), torch.exp(-(math.pi**2) * dy * dy / bb)
            centre = torch.round(p[img, sl]).long()
            col = centre[..., 0].clamp(-w - 1, shape[1] + w) + pad - w
            row = centre[..., 1].clamp(-w - 1, shape[0] + w) + pad - w
            yield img, sl, (img[:, None] * pr + row) * pc + col, gx, gy


def pad_of(w: int) -> int:
    """Padding (pixels) of the images that :func:`_windows` fills, for windows of ±``w`` pixels."""
    return 2 * w + 1
