"""Single-array image formats: MRC/MRCS (mrcfile) and TIFF stacks (tifffile).

The voxel/pixel size travels in the file header (MRC) or ImageJ tags (TIFF); angles and other metadata go
to the JSON sidecar written beside the file (``name.mrc.json``).
"""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import tifffile

from aet.errors import AetFormatError


def write_mrc(arr: np.ndarray, spacing: float, path: Path, stack: bool) -> None:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(arr, dtype=np.float32))
        if stack:
            mrc.set_image_stack()
        mrc.voxel_size = spacing


def read_mrc(path: Path) -> tuple[np.ndarray, float | None]:
    try:
        with mrcfile.open(path, permissive=True, mode="r") as mrc:
            if mrc.data is None:
                raise AetFormatError(f"{path} has an MRC header but no data; the file is truncated or corrupt.")
            data = np.array(mrc.data)
            vs = float(mrc.voxel_size.x)
    except ValueError as exc:
        raise AetFormatError(f"{path} is not a readable MRC file ({exc}).") from exc
    return data, (vs if vs > 0 else None)


def write_tiff(arr: np.ndarray, spacing: float, path: Path) -> None:
    # ImageJ/Fiji reads the scale from these tags (unit Å, resolution in pixels per Å).
    tifffile.imwrite(
        path,
        np.ascontiguousarray(arr, dtype=np.float32),
        imagej=True,
        resolution=(1.0 / spacing, 1.0 / spacing),
        metadata={"spacing": spacing, "unit": "angstrom", "axes": "ZYX"},
    )


def read_tiff(path: Path) -> tuple[np.ndarray, float | None]:
    try:
        with tifffile.TiffFile(path) as tif:
            data = tif.asarray()
            meta = tif.imagej_metadata or {}
    except (tifffile.TiffFileError, ValueError) as exc:
        raise AetFormatError(f"{path} is not a readable TIFF file ({exc}).") from exc
    spacing = meta.get("spacing")
    return data, (float(spacing) if spacing else None)
