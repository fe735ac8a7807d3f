"""What every reconstruction method shares: input checks, geometry, device, memory budget, support, progress.

A :class:`Job` is built once from a :class:`~aet.model.TiltSeries` and the user's options; the methods in this
package read their geometry, the measured images and the support from it and hand back a volume through
:meth:`Job.result`, so that units (voxel size = pixel size), the log and the settings are recorded the same way.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from aet.device import check_memory, resolve_device
from aet.errors import AetInputError
from aet.geometry import Grid, beam_frame, single_axis_tilts
from aet.model import TiltSeries, Volume
from aet.physics import banded
from aet.physics.projector import Projector, get_projector, projector_path
from aet.progress import progress_bar


def check_tilts(ts: TiltSeries) -> None:
    """Catch angle lists that are almost certainly not degrees or not a tomography experiment."""
    if ts.n_images < 2:
        raise AetInputError(f"a reconstruction needs at least 2 projections, got {ts.n_images}.")
    if np.shape(ts.angles) != (ts.n_images, 3):  # a TiltSeries changed after it was made
        raise AetInputError(
            f"the tilt series has {ts.n_images} images but angles of shape {np.shape(ts.angles)}; give one (φ, θ, ψ) "
            "per image (make a new TiltSeries instead of changing one)."
        )
    single = ts.is_single_axis()
    # the tilt about y read off the rotation matrices: (180, θ, 180) in "zyz" is a tilt of −θ, not θ
    theta = single_axis_tilts(ts.angles, ts.euler_convention) if single else ts.tilt_angles
    span = float(np.ptp(theta))
    if single and 0 < span <= np.pi + 1e-6 and np.max(np.abs(theta)) <= np.pi + 1e-6 and span > 0.5:
        raise AetInputError(
            f"the tilt angles span only {span:.3f}°, which looks like radians; aet takes angles in degrees "
            "(multiply by 180/π)."
        )
    if np.max(np.abs(ts.angles)) > 360:
        raise AetInputError(
            f"an Euler angle of {np.max(np.abs(ts.angles)):.1f}° is outside ±360°; "
            "check the angle file's units and columns."
        )


@dataclass
class Job:
    """One reconstruction: geometry, data on the device, support and bookkeeping.

    Attributes:
        ts: the tilt series (never modified).
        shape: output volume shape ``(nz, ny, nx)`` in voxels (voxel size = pixel size).
        device, dtype: where the arithmetic runs.
        images: measured images ``[n, rows, cols]`` as a tensor on the device.
        support: boolean ``[nz, ny, nx]`` tensor or None (no support constraint).
        positivity: clip negative voxels after each update.
        progress: show a progress bar.
        log: one dict per iteration (the error measures of the method).
    """

    ts: TiltSeries
    shape: tuple[int, int, int]
    device: torch.device
    dtype: torch.dtype
    images: torch.Tensor
    support: torch.Tensor | None
    positivity: bool
    progress: bool
    method: str
    settings: dict[str, Any] = field(default_factory=dict)
    log: list[dict[str, float]] = field(default_factory=list)

    @property
    def projector(self) -> Projector:
        """The shared projector for this geometry (cached: building the sparse operator is the costly part)."""
        return get_projector(
            self.shape,
            self.ts.angles,
            self.ts.euler_convention,
            image_shape=tuple(self.images.shape[1:]),
            shifts=pixel_shifts(self.ts),
            device=self.device,
            dtype=self.dtype,
        )

    def constrain(self, vol: torch.Tensor) -> torch.Tensor:
        """Apply positivity and the support in place; returns ``vol``."""
        if self.positivity:
            vol.clamp_(min=0)
        if self.support is not None:
            vol.mul_(self.support)
        return vol

    @contextmanager
    def bar(self, total: int, what: str, log: bool = True) -> Iterator[Any]:
        """A rich progress bar (to stderr) of ``total`` steps; yields ``advance(**fields)``.

        With ``log`` every ``advance(**errors)`` also appends ``errors`` to :attr:`log`, with ``seconds``, the
        wall time of that step.
        """
        last = time.perf_counter()

        def record(**fields: float) -> None:
            nonlocal last
            now = time.perf_counter()
            if log:
                self.log.append({**fields, "seconds": now - last})
            last = now

        with progress_bar(total, what, self.progress) as advance:

            def step(**fields: float) -> None:
                record(**fields)
                advance(**fields)

            yield step

    def result(self, vol: torch.Tensor, **extra: Any) -> Volume:
        """Wrap a ``[nz, ny, nx]`` tensor as a :class:`Volume` with voxel size = pixel size and the record."""
        data = vol.detach().to("cpu", torch.float32).numpy()
        ps = self.ts.pixel_size
        origin = Grid.centred(self.shape, ps).origin  # the rotation centre (N//2) sits at 0 Å
        meta = {
            "reconstruction": {
                "method": self.method,
                "settings": self.settings,
                "log": self.log,
                "euler_convention": self.ts.euler_convention,
                "n_projections": self.ts.n_images,
                "pixel_size_A": ps,
                "device": str(self.device),
                **extra,
            }
        }
        return Volume(data, voxel_size=ps, origin=origin, metadata=meta)


def pixel_shifts(ts: TiltSeries) -> np.ndarray | None:
    """The tilt series' image shifts ``[n, 2]`` (row, col) in pixels, as the projector takes them; None if none."""
    return None if ts.shifts is None else ts.shifts / ts.pixel_size


def support_tensor(
    support: Any, shape: tuple[int, int, int], device: torch.device
) -> torch.Tensor | None:
    """A given support (array or Volume) as a boolean tensor of ``shape``; None stays None."""
    if support is None:
        return None
    arr = support.data if isinstance(support, Volume) else np.asarray(support)
    if arr.shape != tuple(shape):
        raise AetInputError(
            f"the support mask has shape {arr.shape} but the volume is {tuple(shape)} (z, y, x); "
            "crop or pad the mask to the volume, or set thickness= to match its z size."
        )
    mask = np.asarray(arr) > 0
    if not mask.any():
        raise AetInputError("the support mask is empty (no voxel > 0); nothing could be reconstructed inside it.")
    return torch.from_numpy(mask).to(device)


def auto_support(vol: np.ndarray, voxel_size: float, smooth: float = 1.0, margin: float = 2.0) -> np.ndarray:
    """Support from a first reconstruction: Gaussian blur (``smooth`` Å), Otsu threshold, dilate ``margin`` Å.

    Uses scikit-image's Otsu threshold and SciPy's morphology; holes are filled so that the support is the
    particle's envelope, not its atoms.
    """
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    blurred = ndimage.gaussian_filter(np.asarray(vol, dtype=np.float32), smooth / voxel_size)
    if np.ptp(blurred) <= 0:
        raise AetInputError("the first reconstruction is constant, so no support can be derived from it.")
    mask = blurred > threshold_otsu(blurred)
    mask = ndimage.binary_fill_holes(mask)
    r = max(1, int(round(margin / voxel_size)))
    ball = np.add.outer(np.add.outer(np.arange(-r, r + 1) ** 2, np.arange(-r, r + 1) ** 2), np.arange(-r, r + 1) ** 2)
    return ndimage.binary_dilation(mask, structure=ball <= r * r)


def volume_shape(ts: TiltSeries, thickness: int | None) -> tuple[int, int, int]:
    """Output shape (nz, ny, nx): rows and columns of the images, and ``thickness`` (default: columns) along z."""
    _, rows, cols = ts.images.shape
    nz = cols if thickness is None else int(thickness)
    if nz < 1:
        raise AetInputError(f"thickness must be a positive number of voxels, got {thickness}.")
    return (nz, rows, cols)


def operator_bytes(shape: tuple[int, int, int], n: int, path: str, dtype_bytes: int = 4,
                   rt: npt.NDArray[np.float64] | None = None) -> int:  # fmt: skip
    """Peak bytes of the shared projector's own storage and construction for this geometry (``path`` as
    :func:`aet.physics.projector.projector_path` names it; the banded path needs the beam-frame matrices ``rt``)."""
    nz, ny, nx = shape
    if path in ("single", "banded"):
        nnz = 2 * n * nz * nx if path == "single" else banded.operator_nnz(shape, n, rt)  # type: ignore[arg-type]
        build = nnz * (8 + 8 + 8) * 3  # numpy COO triplets, concatenation and torch coalesce copies
        return build + 2 * nnz * (dtype_bytes + 8)
    return 16 * nz * ny * nx * (8 + dtype_bytes) * 3  # 4×4 cubic taps per voxel, built per image


def make_job(
    ts: TiltSeries,
    method: str,
    *,
    thickness: int | None = None,
    support: Any = None,
    positivity: bool = True,
    device: str | torch.device | None = "auto",
    dtype: torch.dtype = torch.float32,
    progress: bool = True,
    memory_limit: float | None = None,
    work_bytes: int = 0,
    settings: dict[str, Any] | None = None,
) -> Job:
    """Check the inputs and the memory budget, then put the data on the device.

    Args:
        work_bytes: the method's own peak memory beyond the shared projector, in bytes.
        memory_limit: bytes the job may use (default: 90 % of what is free on the device).
    """
    if not isinstance(ts, TiltSeries):
        raise AetInputError(f"reconstruct needs a TiltSeries, got {type(ts).__name__}; load one with aet.io.read.")
    check_tilts(ts)
    if ts.tilt_axis != 0:
        raise AetInputError(
            f"the tilt axis is at {ts.tilt_axis}° from the image rows; align the series first (aet align, or "
            "aet.prepare.align.align_series), which rotates the images so that the axis runs along the rows."
        )
    dev = resolve_device(device)
    shape = volume_shape(ts, thickness)
    # the projector's own decision (Euler angles, detector rows, row shifts), so the budget matches its path
    path = projector_path(shape, ts.angles, ts.euler_convention, ts.images.shape[1:], pixel_shifts(ts))
    rt = beam_frame(ts.angles, ts.euler_convention)
    needed = operator_bytes(shape, ts.n_images, path, torch.finfo(dtype).bits // 8, rt) + work_bytes
    check_memory(needed, dev, f"a {method} reconstruction of {shape[0]}×{shape[1]}×{shape[2]} voxels", memory_limit)
    sup = None if isinstance(support, str) else support_tensor(support, shape, dev)
    images = torch.from_numpy(ts.images).to(dev, dtype)
    return Job(
        ts=ts,
        shape=shape,
        device=dev,
        dtype=dtype,
        images=images,
        support=sup,
        positivity=positivity,
        progress=progress,
        method=method,
        settings={"thickness": shape[0], "positivity": positivity, "support": _describe_support(support)}
        | (settings or {}),
    )


def _describe_support(support: Any) -> str:
    if support is None:
        return "none"
    if isinstance(support, str):
        return support
    return "given"
