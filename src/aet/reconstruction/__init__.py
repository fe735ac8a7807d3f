"""Tomographic reconstruction: WBP, SIRT, GENFIRE and RESIRE, all on the shared projector.

``aet.reconstruct(tilt_series, method=...)`` checks the input and the memory budget, runs the method with a
progress bar and returns a :class:`~aet.model.Volume` whose voxel size is the pixel size and whose
``metadata["reconstruction"]`` holds the settings and the per-iteration error log.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from aet.errors import AetInputError
from aet.metrics.rfactor import r1, r1_per_projection
from aet.model import TiltSeries, Volume
from aet.reconstruction.genfire import genfire, grid_bytes
from aet.reconstruction.realspace import resire, sirt
from aet.reconstruction.setup import auto_support, make_job
from aet.reconstruction.wbp import wbp
from aet.settings import names, updated
from aet.settings.reconstruct import (
    METHOD_SETTINGS,
    GenfireSettings,
    MethodSettings,
    ReconstructSettings,
    ResireSettings,
    SirtSettings,
    WbpSettings,
)

METHODS = tuple(METHOD_SETTINGS)


def resolve_settings(
    method: str | None = None,
    settings: ReconstructSettings | None = None,
    method_settings: MethodSettings | None = None,
    options: dict[str, Any] | None = None,
) -> tuple[ReconstructSettings, MethodSettings]:
    """The shared and the method's settings, with ``options`` (field name → value) applied to either."""
    options = dict(options or {})
    common = {k: options.pop(k) for k in list(options) if k in names(ReconstructSettings)}
    if method is not None:
        common["method"] = method.lower() if isinstance(method, str) else method
    base = updated(settings or ReconstructSettings(), common)
    cls = METHOD_SETTINGS[base.method]
    if method_settings is not None and not isinstance(method_settings, cls):
        raise AetInputError(f"method_settings are {type(method_settings).__name__}, but the method is {base.method}.")
    unknown = set(options) - set(names(cls))
    if unknown:
        raise AetInputError(
            f"option(s) {', '.join(sorted(unknown))} do not apply to {base.method}; it takes "
            f"{', '.join(sorted({*names(cls), *names(ReconstructSettings)} - {'method'}))}."
        )
    return base, updated(method_settings or cls(), options)


def reconstruct(
    tilt_series: TiltSeries,
    method: str | None = None,
    settings: ReconstructSettings | None = None,
    *,
    method_settings: MethodSettings | None = None,
    support_mask: np.ndarray | Volume | None = None,
    device: str | torch.device | None = "auto",
    dtype: torch.dtype = torch.float32,
    progress: bool = True,
    memory_limit: float | None = None,
    **options: Any,
) -> Volume:
    """Reconstruct a tomogram from a tilt series.

    Args:
        tilt_series: images ``[n, rows, cols]`` with Euler angles in degrees and the pixel size in Å.
        method: ``"resire"``, ``"genfire"``, ``"sirt"`` or ``"wbp"``; default ``settings.method``.
        settings: what every method shares (:class:`ReconstructSettings`: support, positivity, thickness).
        method_settings: the method's own settings (:class:`ResireSettings`, :class:`SirtSettings`,
            :class:`GenfireSettings`, :class:`WbpSettings`); default: that class's defaults.
        support_mask: a boolean mask ``[nz, ny, nx]`` (array or Volume) instead of ``settings.support``. A mask
            may also be passed as ``support=``.
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"``.
        memory_limit: bytes the job may use; default 90 % of the free memory of the device.
        **options: any field of either settings class by name, e.g. ``iterations=50``, ``support="auto"``.

    Returns:
        The tomogram (voxel size = pixel size, origin so that the rotation centre sits at 0 Å); its
        ``metadata["reconstruction"]`` holds the settings used and the per-iteration error log.
    """
    if "support" in options and options["support"] is not None and not isinstance(options["support"], str):
        support_mask = options.pop("support")
    common, ms = resolve_settings(method, settings, method_settings, options)
    if common.support is not None and common.support != "auto" and support_mask is None:
        raise AetInputError(
            f"support {common.support!r} names a file; read it with aet.io.read_volume and pass it as support_mask."
        )
    support: Any = support_mask if support_mask is not None else common.support
    ts, thickness = tilt_series, common.thickness
    nbytes = torch.finfo(dtype).bits // 8
    rows, cols = (ts.images.shape[1:] if isinstance(ts, TiltSeries) else (0, 0))
    vox = (thickness or cols) * rows * cols
    work = 6 * vox * nbytes + 4 * (ts.images.size if isinstance(ts, TiltSeries) else 0) * nbytes
    if isinstance(ms, GenfireSettings):
        work += grid_bytes(((thickness or cols), rows, cols), rows, cols, ms.oversampling)
    shared = {"thickness": thickness, "positivity": common.positivity, "device": device, "dtype": dtype}
    job = make_job(
        ts, common.method, support=support, progress=progress, memory_limit=memory_limit, work_bytes=work,
        settings=dataclasses.asdict(ms), **shared,
    )  # fmt: skip
    if isinstance(support, str):  # "auto"
        first = make_job(ts, "sirt", support=None, progress=progress, memory_limit=memory_limit, **shared)
        rough = sirt(first, SirtSettings(iterations=common.support_iterations)).cpu().numpy()
        job.support = torch.from_numpy(auto_support(rough, ts.pixel_size)).to(job.device)
        job.settings["support_voxels"] = int(job.support.sum())
    if isinstance(ms, WbpSettings):
        vol = wbp(job, ms)
    elif isinstance(ms, GenfireSettings):
        vol = genfire(job, ms)
    elif isinstance(ms, SirtSettings):
        vol = sirt(job, ms)
    else:
        vol = resire(job, ms)
    calc = job.projector.forward(vol)
    per_projection = r1_per_projection(calc, job.images).cpu().numpy().tolist()
    return job.result(vol, r1_per_projection=per_projection, r1=r1(calc, job.images))


__all__ = [
    "METHODS", "GenfireSettings", "ReconstructSettings", "ResireSettings", "SirtSettings", "WbpSettings",
    "reconstruct", "resolve_settings",
]  # fmt: skip
