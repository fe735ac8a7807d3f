"""The one shared projector: volume -> projections and its exact adjoint, in PyTorch.

Simulation, reconstruction, refinement and the R-factor all call this module, so the geometry of
docs/conventions.md is fixed here once.

Method (chosen by measurement, see docs/benchmarks.md): voxel-driven interpolation. Every voxel centre
is carried to the detector (x', y') = (Rᵀ r)[:2] and its value is shared between the neighbouring detector
pixels with linear weights. The adjoint uses the very same weights (a gather), so ⟨P x, y⟩ = ⟨x, Pᵀ y⟩ holds
to rounding error.

* Single-axis tilt series (every R maps y onto itself) take the fast path: each detector row sees one volume
  slice, all slices share the same 2-D operator, and that operator is stored once as a sparse CSR matrix
  applied to all slices in one sparse-dense product.
* Rotations close to a tilt about y (φ, ψ of a few degrees at most, as measured series have) take the banded
  path (:mod:`aet.physics.banded`): the fast path's sparse slice operators, one per slab of rows and per row shift,
  with bilinear weights; its speed is within a small factor of the fast path's.
* Any other Euler angles take the general path: a 2-D scatter per projection (index_add) with Keys cubic
  weights (4×4 taps) by default, and the matching gather for the adjoint. Linear weights blur by 1/6 px² per
  interpolated axis, which on two axes costs the atom-vs-volume agreement measurably (docs/benchmarks.md,
  "Figures behind design choices"), while the fast path interpolates along one axis only and stays linear for speed.

Both paths are differentiable: autograd calls the adjoint for the backward pass of the forward and vice versa.
Hand-written because no maintained Python library offers an exact-adjoint, differentiable, CPU+GPU
parallel-beam projector for arbitrary Euler angles (ASTRA's is not differentiable and is CPU-slow in 3-D).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from aet.errors import AetInputError
from aet.geometry import as_euler_angles, beam_frame, centre_index, is_single_axis
from aet.physics import banded

#: Cache key: volume shape, angle bytes, convention and the remaining options (arrays as bytes).
_Key = tuple[tuple[int, ...], bytes, str, tuple[tuple[str, bytes | str], ...]]
_CACHE: OrderedDict[_Key, Projector] = OrderedDict()
_CACHE_SIZE = 4


def uses_fast_path(
    shape: tuple[int, ...],
    angles: Any,
    convention: str = "zyz",
    image_shape: tuple[int, ...] | None = None,
    shifts: npt.ArrayLike | None = None,
) -> bool:
    """Whether a :class:`Projector` of this geometry takes the single-axis fast path (the memory budget asks too).

    It does when every rotation maps y onto itself (:func:`aet.geometry.is_single_axis`), the detector has as
    many rows as the volume (``image_shape[0] == ny``; default ``image_shape`` is (ny, nx)) and no image is
    shifted along its rows (``shifts[:, 0] == 0``; shifts ``[n, 2]`` (row, col), any length unit).
    """
    rows = shape[1] if image_shape is None else int(image_shape[0])
    row_shifts = None if shifts is None else np.asarray(shifts, dtype=np.float64).reshape(-1, 2)[:, 0]
    return (
        is_single_axis(angles, convention)
        and rows == shape[1]
        and (row_shifts is None or bool(np.all(row_shifts == 0)))
    )


def projector_path(
    shape: tuple[int, ...],
    angles: Any,
    convention: str = "zyz",
    image_shape: tuple[int, ...] | None = None,
    shifts: npt.ArrayLike | None = None,
) -> str:
    """The path a :class:`Projector` of this geometry takes: ``"single"`` (:func:`uses_fast_path`), ``"banded"``
    (close to a tilt about y: :func:`aet.physics.banded.is_feasible`) or ``"general"``. The memory budget asks too."""
    if uses_fast_path(shape, angles, convention, image_shape, shifts):
        return "single"
    return "banded" if banded.is_feasible(beam_frame(as_euler_angles(angles), convention), shape[1]) else "general"


class Projector:
    """Parallel-beam projector for a volume ``[z, y, x]`` and images ``[n, rows, cols]``.

    Args:
        shape: volume shape (nz, ny, nx) in voxels.
        angles: ``[n, 3]`` Euler angles in degrees (or a 1-D list of tilts about y).
        convention: ``"zyz"`` or ``"zyx"``.
        image_shape: detector (rows, cols); defaults to (ny, nx). Rows run along y.
        shifts: optional ``[n, 2]`` (row, col) image shifts in voxels (the image is displaced by them).
        device, dtype: where and in which precision to compute.
        general_kernel: detector interpolation of the general path, ``"cubic"`` (Keys, a = −0.5: no added
            blur) or ``"linear"`` (bilinear: identical to the fast path for single-axis geometry).
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        angles: Any,
        convention: str = "zyz",
        image_shape: tuple[int, int] | None = None,
        shifts: npt.ArrayLike | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        general_kernel: str = "cubic",
        path: str = "auto",
    ) -> None:
        if len(shape) != 3 or min(shape) < 1:
            raise AetInputError(f"volume shape must be (nz, ny, nx) with positive sizes, got {shape}.")
        self.shape = tuple(int(s) for s in shape)
        self.angles = as_euler_angles(angles)
        self.convention = convention
        self.image_shape = tuple(int(s) for s in (image_shape or self.shape[1:]))
        self.shifts = None if shifts is None else np.asarray(shifts, dtype=np.float64).reshape(-1, 2)
        if self.shifts is not None and len(self.shifts) != len(self.angles):
            raise AetInputError(f"{len(self.shifts)} shifts for {len(self.angles)} angles; give one per image.")
        self.device = torch.device(device)
        self.dtype = dtype
        if general_kernel not in ("cubic", "linear"):
            raise AetInputError(f"general_kernel must be 'cubic' or 'linear', got {general_kernel!r}.")
        self.general_kernel = general_kernel
        self.rt = beam_frame(self.angles, convention)  # [n, 3, 3]
        # Single-axis fast path: y' = y for every image, no row shift, and detector rows = volume rows.
        self.single_axis = uses_fast_path(self.shape, self.angles, convention, self.image_shape, self.shifts)
        auto = projector_path(self.shape, self.angles, convention, self.image_shape, self.shifts)
        if path not in ("auto", "single", "banded", "general") or (path == "single" and not self.single_axis):
            raise AetInputError(f"path must be auto, banded, general (or single for a single-axis tilt), got {path!r}.")
        self.path = auto if path == "auto" else path  #: "single", "banded" or "general"
        self._operators: tuple[torch.Tensor, torch.Tensor] | None = None  # (A, Aᵀ) of the fast path, built lazily
        self._banded: banded.BandedOperator | None = None  # the near-single-axis operator, built lazily

    @property
    def n_images(self) -> int:
        return len(self.angles)

    # ------------------------------------------------------------------ single-axis fast path
    def _slice_weights(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """COO triplets (row = image·cols + col, column = z·nx + x, weight) of the 2-D slice operator."""
        nz, _, nx = self.shape
        ncol = self.image_shape[1]
        z = np.arange(nz, dtype=np.float64) - centre_index(nz)
        x = np.arange(nx, dtype=np.float64) - centre_index(nx)
        zz, xx = np.meshgrid(z, x, indexing="ij")
        vox = np.arange(nz * nx, dtype=np.int64)
        rows, cols, vals = [], [], []
        for i, m in enumerate(self.rt):
            u = m[0, 0] * xx + m[0, 2] * zz + centre_index(ncol)
            if self.shifts is not None:
                u = u + self.shifts[i, 1]
            u = u.ravel()
            i0 = np.floor(u).astype(np.int64)
            w1 = u - i0
            for idx, w in ((i0, 1.0 - w1), (i0 + 1, w1)):
                ok = (idx >= 0) & (idx < ncol) & (w > 0)
                rows.append(i * ncol + idx[ok])
                cols.append(vox[ok])
                vals.append(w[ok])
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)

    def _matrices(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._operators is None:
            r, c, v = self._slice_weights()
            size = (self.n_images * self.image_shape[1], self.shape[0] * self.shape[2])
            with warnings.catch_warnings():  # torch flags sparse CSR as beta; it is exact and tested here
                warnings.simplefilter("ignore", UserWarning)
                coo = torch.sparse_coo_tensor(
                    torch.from_numpy(np.stack([r, c])),
                    torch.from_numpy(v).to(self.dtype),
                    size,
                    check_invariants=False,
                ).coalesce()
                matrix = coo.to_sparse_csr().to(self.device)
                matrix_t = coo.t().coalesce().to_sparse_csr().to(self.device)
            self._operators = (matrix, matrix_t)
        return self._operators

    def _slab(self) -> int:
        """Volume rows (y) per sparse product on the CPU.

        The sparse × dense product gathers rows of the dense operand in the scattered order of the matrix; when
        that operand exceeds the CPU caches the gathers go to memory. Slabs of about 2 M values (8 MB in float32)
        stay in cache (the speed-up is in docs/benchmarks.md, "Figures behind design choices"). Below 16 columns
        the product itself gets slow, so slabs never go thinner.
        """
        nz, ny, nx = self.shape
        if self.device.type != "cpu":
            return ny
        width = 2 ** round(np.log2(max(1.0, 2**21 / (nz * nx))))
        return int(min(ny, max(16, width)))

    def _forward_single(self, vol: torch.Tensor) -> torch.Tensor:
        a, _ = self._matrices()
        nz, _, nx = self.shape
        parts = []
        for slab in torch.split(vol, self._slab(), dim=1):  # [nz, k, nx]
            k = slab.shape[1]
            flat = slab.permute(0, 2, 1).reshape(nz * nx, k)  # [(z, x), y]
            parts.append((a @ flat).reshape(self.n_images, self.image_shape[1], k))
        return torch.cat(parts, dim=2).permute(0, 2, 1).contiguous()

    def _adjoint_single(self, img: torch.Tensor) -> torch.Tensor:
        _, at = self._matrices()
        nz, _, nx = self.shape
        parts = []
        for slab in torch.split(img, self._slab(), dim=1):  # [n, k, cols]
            k = slab.shape[1]
            flat = slab.permute(0, 2, 1).reshape(self.n_images * self.image_shape[1], k)
            parts.append((at @ flat).reshape(nz, nx, k))
        return torch.cat(parts, dim=2).permute(0, 2, 1).contiguous()

    # ------------------------------------------------------------------ general path
    def _taps(self, i: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Flat detector indices and weights of the interpolation neighbours of every voxel, for image i."""
        nz, ny, nx = self.shape
        nr, nc = self.image_shape
        dev, f64 = self.device, torch.float64
        z = torch.arange(nz, device=dev, dtype=f64) - centre_index(nz)
        y = torch.arange(ny, device=dev, dtype=f64) - centre_index(ny)
        x = torch.arange(nx, device=dev, dtype=f64) - centre_index(nx)
        m = torch.as_tensor(self.rt[i], device=dev, dtype=f64)
        du, dv = (0.0, 0.0) if self.shifts is None else (self.shifts[i, 1], self.shifts[i, 0])
        u = (m[0, 0] * x)[None, None, :] + (m[0, 1] * y)[None, :, None] + (m[0, 2] * z)[:, None, None]
        v = (m[1, 0] * x)[None, None, :] + (m[1, 1] * y)[None, :, None] + (m[1, 2] * z)[:, None, None]
        u = (u + centre_index(nc) + du).reshape(-1)
        v = (v + centre_index(nr) + dv).reshape(-1)
        u0, v0 = torch.floor(u), torch.floor(v)
        kernel = _keys if self.general_kernel == "cubic" else _linear
        (ou, wus), (ov, wvs) = kernel(u - u0), kernel(v - v0)
        u0, v0 = u0.long(), v0.long()
        idx, wts = [], []
        for dv_, wv in zip(ov, wvs, strict=True):
            for du_, wu in zip(ou, wus, strict=True):
                uu, vv = u0 + du_, v0 + dv_
                ok = (uu >= 0) & (uu < nc) & (vv >= 0) & (vv < nr)
                idx.append(torch.where(ok, vv * nc + uu, torch.zeros_like(uu)))
                wts.append(torch.where(ok, wu * wv, torch.zeros_like(wu)).to(self.dtype))
        return idx, wts

    def _forward_general(self, vol: torch.Tensor) -> torch.Tensor:
        nr, nc = self.image_shape
        flat = vol.reshape(-1)
        out = torch.zeros(self.n_images, nr * nc, device=self.device, dtype=vol.dtype)
        for i in range(self.n_images):
            idx, wts = self._taps(i)
            for k in range(len(idx)):
                out[i].index_add_(0, idx[k], flat * wts[k])
        return out.reshape(self.n_images, nr, nc)

    def _adjoint_general(self, img: torch.Tensor) -> torch.Tensor:
        flat = img.reshape(self.n_images, -1)
        out = torch.zeros(int(np.prod(self.shape)), device=self.device, dtype=img.dtype)
        for i in range(self.n_images):
            idx, wts = self._taps(i)
            for k in range(len(idx)):
                out += flat[i][idx[k]] * wts[k]
        return out.reshape(self.shape)

    # ------------------------------------------------------------------ public
    def _check(self, t: torch.Tensor, expected: tuple[int, ...], what: str) -> torch.Tensor:
        if tuple(t.shape) != expected:
            raise AetInputError(f"{what} must have shape {expected}, got {tuple(t.shape)}.")
        return t.to(device=self.device, dtype=self.dtype)

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        """Project ``[z, y, x]`` -> ``[n, rows, cols]`` (sums over voxels; differentiable)."""
        vol = self._check(torch.as_tensor(volume), self.shape, "the volume")
        return _apply(vol, self, False)

    def adjoint(self, images: torch.Tensor) -> torch.Tensor:
        """Exact adjoint (back-projection) ``[n, rows, cols]`` -> ``[z, y, x]`` (differentiable)."""
        img = self._check(torch.as_tensor(images), (self.n_images, *self.image_shape), "the images")
        return _apply(img, self, True)

    def _banded_operator(self) -> banded.BandedOperator:
        if self._banded is None:
            self._banded = banded.BandedOperator.build(self.shape, self.image_shape, self.rt, self.shifts,  # type: ignore[arg-type]
                                                       self.device, self.dtype)  # fmt: skip
        return self._banded

    def _raw_forward(self, vol: torch.Tensor) -> torch.Tensor:
        if self.path == "single":
            return self._forward_single(vol)
        return self._banded_operator().forward(vol) if self.path == "banded" else self._forward_general(vol)

    def _raw_adjoint(self, img: torch.Tensor) -> torch.Tensor:
        if self.path == "single":
            return self._adjoint_single(img)
        return self._banded_operator().adjoint(img) if self.path == "banded" else self._adjoint_general(img)


def _linear(t: torch.Tensor) -> tuple[tuple[int, ...], list[torch.Tensor]]:
    """Tap offsets and weights of linear interpolation at fractional position t in [0, 1)."""
    return (0, 1), [1 - t, t]


def _keys(t: torch.Tensor) -> tuple[tuple[int, ...], list[torch.Tensor]]:
    """Keys cubic convolution (a = −0.5): weights sum to 1 and reproduce quadratics (no added variance)."""
    return (-1, 0, 1, 2), [
        ((-0.5 * t + 1) * t - 0.5) * t,
        (1.5 * t - 2.5) * t * t + 1,
        ((-1.5 * t + 2) * t + 0.5) * t,
        (0.5 * t - 0.5) * t * t,
    ]


class _Apply(torch.autograd.Function):
    """P (``adjoint=False``) or Pᵀ (``adjoint=True``); the gradient of one is the other."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, proj: Projector, adjoint: bool) -> torch.Tensor:
        ctx.proj, ctx.adjoint = proj, adjoint
        return proj._raw_adjoint(x) if adjoint else proj._raw_forward(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        grad = grad.contiguous()
        proj: Projector = ctx.proj
        return (proj._raw_forward(grad) if ctx.adjoint else proj._raw_adjoint(grad)), None, None


#: ``_Apply.apply`` with its signature spelled out (torch declares ``Function.apply(*args, **kwargs)`` untyped).
_apply: Callable[[torch.Tensor, Projector, bool], torch.Tensor] = _Apply.apply


def get_projector(shape: tuple[int, ...], angles: Any, convention: str = "zyz", **options: Any) -> Projector:
    """A cached :class:`Projector` (building the sparse operator is the costly part).

    ``options`` are the remaining :class:`Projector` arguments (image_shape, shifts, device, dtype,
    general_kernel); arrays among them are keyed by their bytes.
    """
    a = as_euler_angles(angles)
    key: _Key = (
        tuple(shape),
        a.tobytes(),
        convention,
        tuple(
            (k, np.asarray(v).tobytes() if isinstance(v, np.ndarray | list) else str(v))
            for k, v in sorted(options.items())
        ),
    )
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    proj = Projector(shape, a, convention, **options)
    _CACHE[key] = proj
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return proj


def project(volume: Any, angles: Any, convention: str = "zyz", **kw: Any) -> torch.Tensor:
    """Project a volume ``[z, y, x]`` (array or tensor) at the given Euler angles -> ``[n, rows, cols]``."""
    vol = torch.as_tensor(np.asarray(volume) if not isinstance(volume, torch.Tensor) else volume)
    kw.setdefault("dtype", vol.dtype if vol.is_floating_point() else torch.float32)
    return get_projector(tuple(vol.shape), angles, convention, **kw).forward(vol)


def backproject(
    images: Any, angles: Any, shape: tuple[int, int, int], convention: str = "zyz", **kw: Any
) -> torch.Tensor:
    """Exact adjoint of :func:`project`: images ``[n, rows, cols]`` -> volume of ``shape``."""
    img = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    kw.setdefault("dtype", img.dtype if img.is_floating_point() else torch.float32)
    kw.setdefault("image_shape", tuple(img.shape[1:]))
    return get_projector(tuple(shape), angles, convention, **kw).adjoint(img)
