"""Tomographic reconstruction: WBP, SIRT, GENFIRE and RESIRE, all on the shared projector.

``aet.reconstruct(tilt_series, method=...)`` checks the input and the memory budget, runs the method with a
progress bar and returns a :class:`~aet.model.Volume` whose voxel size is the pixel size and whose
``metadata["reconstruction"]`` holds the settings and the per-iteration error log.
"""

from __future__ import annotations

from typing import Any

import torch

from aet._callable import make_callable
from aet.errors import AetInputError
from aet.metrics.rfactor import r1, r1_per_projection
from aet.model import TiltSeries, Volume
from aet.reconstruct.genfire import genfire, grid_bytes
from aet.reconstruct.realspace import resire, sirt
from aet.reconstruct.setup import auto_support, make_job
from aet.reconstruct.wbp import wbp

METHODS = ("resire", "genfire", "sirt", "wbp")
_ITERATIVE = {"resire": resire, "sirt": sirt}
_OPTIONS = {
    "resire": {"iterations", "step", "momentum"},
    "sirt": {"iterations", "relaxation"},
    "genfire": {
        "iterations", "oversampling", "interpolation_radius", "resolution_extension", "r_free_fraction", "seed"
    },
    "wbp": {"filter"},
}


def reconstruct(
    tilt_series: TiltSeries,
    method: str = "resire",
    *,
    support: Any = None,
    positivity: bool = True,
    thickness: int | None = None,
    device: str | torch.device | None = "auto",
    dtype: torch.dtype = torch.float32,
    progress: bool = True,
    memory_limit: float | None = None,
    support_iterations: int = 20,
    **options: Any,
) -> Volume:
    """Reconstruct a tomogram from a tilt series.

    Args:
        tilt_series: images ``[n, rows, cols]`` with Euler angles in degrees and the pixel size in Å.
        method: ``"resire"`` (default), ``"genfire"``, ``"sirt"`` or ``"wbp"``.
        support: boolean mask ``[nz, ny, nx]`` (array or Volume), ``"auto"`` (from a first SIRT
            reconstruction: blur 1 Å, Otsu threshold, 2 Å margin) or None (no support).
        positivity: clip negative voxels after every update (WBP: once at the end).
        thickness: voxels along the beam (z); default = image columns.
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"``.
        memory_limit: bytes the job may use; default 90 % of the free memory of the device.
        support_iterations: SIRT iterations of the first reconstruction behind ``support="auto"``.
        **options: method settings: ``iterations`` (resire/sirt/genfire, default 100), ``step`` (RESIRE, 1.9),
            ``momentum`` (RESIRE, False), ``relaxation`` (SIRT, 1.0), ``filter`` (WBP: ramp, shepp-logan,
            cosine, hann), ``oversampling`` (GENFIRE, 3), ``interpolation_radius`` (GENFIRE, 0.7 grid units),
            ``resolution_extension`` (GENFIRE, True), ``r_free_fraction`` (GENFIRE, 0.05), ``seed``.

    Returns:
        The tomogram (voxel size = pixel size, origin so that the rotation centre sits at 0 Å).
    """
    method = method.lower()
    if method not in METHODS:
        raise AetInputError(f"unknown reconstruction method {method!r}; use one of {', '.join(METHODS)}.")
    unknown = set(options) - _OPTIONS[method]
    if unknown:
        raise AetInputError(
            f"option(s) {', '.join(sorted(unknown))} do not apply to {method}; it takes "
            f"{', '.join(sorted(_OPTIONS[method]))}."
        )
    if "iterations" in options and int(options["iterations"]) < 1:
        raise AetInputError(f"iterations must be ≥ 1, got {options['iterations']}.")
    if isinstance(support, str) and support != "auto":
        raise AetInputError(f"support must be a mask, 'auto' or None, got {support!r}.")
    ts = tilt_series
    nbytes = torch.finfo(dtype).bits // 8
    rows, cols = (ts.images.shape[1:] if isinstance(ts, TiltSeries) else (0, 0))
    vox = (thickness or cols) * rows * cols
    work = 6 * vox * nbytes + 4 * (ts.images.size if isinstance(ts, TiltSeries) else 0) * nbytes
    if method == "genfire":
        work += grid_bytes(((thickness or cols), rows, cols), rows, cols, float(options.get("oversampling", 3.0)))
    common = {"thickness": thickness, "positivity": positivity, "device": device, "dtype": dtype}
    job = make_job(
        ts, method, support=support, progress=progress, memory_limit=memory_limit, work_bytes=work,
        settings=dict(options), **common,
    )
    if isinstance(support, str):  # "auto"
        first = make_job(ts, "sirt", support=None, progress=progress, memory_limit=memory_limit, **common)
        rough = sirt(first, iterations=support_iterations).cpu().numpy()
        job.support = torch.from_numpy(auto_support(rough, ts.pixel_size)).to(job.device)
        job.settings["support_voxels"] = int(job.support.sum())
    if method == "wbp":
        vol = wbp(job, **options)
    elif method == "genfire":
        vol = genfire(job, **options)
    else:
        vol = _ITERATIVE[method](job, **options)
    calc = job.projector.forward(vol)
    per_projection = r1_per_projection(calc, job.images).cpu().numpy().tolist()
    return job.result(vol, r1_per_projection=per_projection, r1=r1(calc, job.images))


make_callable(__name__, reconstruct)

__all__ = ["METHODS", "reconstruct"]
