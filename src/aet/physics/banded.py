"""The projector's near-single-axis path: rotations that keep detector rows close to volume rows.

Measured series are rarely a pure tilt about y: φ and ψ of a few tenths of a degree (the Ta film's) send a voxel
of row y to detector row v = y + ε(x, z) + (R₁₁ − 1)·y and column u = a(x, z) + R₀₁·y. The single-axis fast path
stores one 2-D slice operator for all rows; this path keeps that structure:

* the volume is cut into slabs of rows short enough that the y-dependent terms R₀₁·y and (R₁₁ − 1)·y change by at
  most :data:`TOLERANCE_PX` pixels across a slab (they are evaluated at the slab's centre);
* within a slab every voxel column (z, x) moves by ε(x, z) rows, split bilinearly between two integer row shifts,
  and by u along the detector row (linear, as on the fast path); one sparse slice operator per slab and row shift
  holds those weights, and its products land on the detector rows shifted by that amount.

So the cost is the fast path's times about four (two taps along u, two along v) plus one product per distinct row
shift, and the adjoint is the exact transpose. Hand-written for the same reason as the projector itself.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from aet.geometry import centre_index

#: Largest error, in pixels, of evaluating the row-dependent terms at the slab centre instead of at each row.
TOLERANCE_PX = 0.05
#: Slabs thinner than this (rotations far from a tilt about y) make the path slower than the general one.
MIN_SLAB = 4


def slab_height(rt: npt.NDArray[np.float64], ny: int, tolerance: float = TOLERANCE_PX) -> int:
    """Rows per slab for the beam-frame matrices ``rt`` ``[n, 3, 3]`` of a volume with ``ny`` rows."""
    g = float(np.max(np.abs(rt[:, 0, 1]) + np.abs(rt[:, 1, 1] - 1))) if len(rt) else 0.0
    return ny if g == 0 else int(max(1, min(ny, np.floor(2 * tolerance / g))))


def is_feasible(rt: npt.NDArray[np.float64], ny: int) -> bool:
    """Whether this path suits the geometry (slabs of at least :data:`MIN_SLAB` rows, or the whole volume)."""
    return slab_height(rt, ny) >= min(ny, MIN_SLAB)


def operator_nnz(shape: tuple[int, int, int], n: int, rt: npt.NDArray[np.float64]) -> int:
    """Stored weights (upper bound) of this path's operators for a volume ``shape`` and ``n`` images."""
    nz, ny, nx = shape
    slabs = -(-ny // slab_height(rt, ny))
    return 4 * n * nz * nx * slabs


@dataclass
class _Block:
    """The operator of one slab and one row shift: detector rows = volume rows + ``shift``."""

    shift: int
    matrix: torch.Tensor  # CSR [(image, col), (z, x)]
    matrix_t: torch.Tensor  # its transpose, CSR


@dataclass
class BandedOperator:
    """The near-single-axis operator of one projector geometry (see the module docstring)."""

    shape: tuple[int, int, int]
    image_shape: tuple[int, int]
    n_images: int
    slabs: list[tuple[int, int]]
    blocks: list[list[_Block]]

    @classmethod
    def build(
        cls,
        shape: tuple[int, int, int],
        image_shape: tuple[int, int],
        rt: npt.NDArray[np.float64],
        shifts: npt.NDArray[np.float64] | None,
        device: torch.device,
        dtype: torch.dtype,
    ) -> BandedOperator:
        nz, ny, nx = shape
        nr, ncol = image_shape
        h = slab_height(rt, ny)
        slabs = [(lo, min(ny, lo + h)) for lo in range(0, ny, h)]
        z = np.arange(nz, dtype=np.float64) - centre_index(nz)
        x = np.arange(nx, dtype=np.float64) - centre_index(nx)
        zz, xx = (a.ravel() for a in np.meshgrid(z, x, indexing="ij"))
        vox = np.arange(nz * nx, dtype=np.int64)
        blocks = []
        for lo, hi in slabs:
            yc = (lo + hi - 1) / 2 - centre_index(ny)  # the slab's centre row, centred coordinates
            rows, cols, vals, row_shift = [], [], [], []
            for i, m in enumerate(rt):
                du, dv = (0.0, 0.0) if shifts is None else (shifts[i, 1], shifts[i, 0])
                u = m[0, 0] * xx + m[0, 2] * zz + m[0, 1] * yc + centre_index(ncol) + du
                v = m[1, 0] * xx + m[1, 2] * zz + (m[1, 1] - 1) * yc + centre_index(nr) - centre_index(ny) + dv
                u0, v0 = np.floor(u), np.floor(v)
                wu, wv = u - u0, v - v0
                u0, v0 = u0.astype(np.int64), v0.astype(np.int64)
                for iu, a in ((u0, 1 - wu), (u0 + 1, wu)):
                    for sv, b in ((v0, 1 - wv), (v0 + 1, wv)):
                        w = a * b
                        ok = (iu >= 0) & (iu < ncol) & (w > 0)
                        rows.append(i * ncol + iu[ok])
                        cols.append(vox[ok])
                        vals.append(w[ok])
                        row_shift.append(sv[ok])
            r, c, val, s = (np.concatenate(a) for a in (rows, cols, vals, row_shift))
            blocks.append([_block(int(k), r[s == k], c[s == k], val[s == k], (len(rt) * ncol, nz * nx), device, dtype)
                           for k in np.unique(s) if lo + k < nr and hi + k > 0])  # fmt: skip
        return cls(shape, image_shape, len(rt), slabs, blocks)

    def forward(self, vol: torch.Tensor) -> torch.Tensor:
        nz, _, nx = self.shape
        nr, ncol = self.image_shape
        out = torch.zeros(self.n_images, nr, ncol, device=vol.device, dtype=vol.dtype)
        for (lo, hi), blocks in zip(self.slabs, self.blocks, strict=True):
            k = hi - lo
            flat = vol[:, lo:hi, :].permute(0, 2, 1).reshape(nz * nx, k)
            for b in blocks:
                part = (b.matrix @ flat).reshape(self.n_images, ncol, k).permute(0, 2, 1)
                a, e = max(lo + b.shift, 0), min(hi + b.shift, nr)
                out[:, a:e, :] += part[:, a - lo - b.shift : e - lo - b.shift, :]
        return out

    def adjoint(self, img: torch.Tensor) -> torch.Tensor:
        nz, ny, nx = self.shape
        nr, ncol = self.image_shape
        vol = torch.zeros(nz, ny, nx, device=img.device, dtype=img.dtype)
        for (lo, hi), blocks in zip(self.slabs, self.blocks, strict=True):
            k = hi - lo
            acc = torch.zeros(nz * nx, k, device=img.device, dtype=img.dtype)
            for b in blocks:
                a, e = max(lo + b.shift, 0), min(hi + b.shift, nr)
                part = torch.zeros(self.n_images, k, ncol, device=img.device, dtype=img.dtype)
                part[:, a - lo - b.shift : e - lo - b.shift, :] = img[:, a:e, :]
                acc += b.matrix_t @ part.permute(0, 2, 1).reshape(self.n_images * ncol, k)
            vol[:, lo:hi, :] = acc.reshape(nz, nx, k).permute(0, 2, 1)
        return vol


def _block(shift: int, r: npt.NDArray[np.int64], c: npt.NDArray[np.int64], v: npt.NDArray[np.float64],
           size: tuple[int, int], device: torch.device, dtype: torch.dtype) -> _Block:  # fmt: skip
    with warnings.catch_warnings():  # torch flags sparse CSR as beta; it is exact and tested
        warnings.simplefilter("ignore", UserWarning)
        coo = torch.sparse_coo_tensor(torch.from_numpy(np.stack([r, c])), torch.from_numpy(v).to(dtype), size,
                                      check_invariants=False).coalesce()  # fmt: skip
        return _Block(shift, coo.to_sparse_csr().to(device), coo.t().coalesce().to_sparse_csr().to(device))
