"""Single-array image formats: MRC/MRCS (mrcfile) and TIFF stacks (tifffile).

The voxel/pixel size travels in the file header (MRC) or ImageJ tags (TIFF); angles and other metadata go
to the JSON sidecar written beside the file (``name.mrc.json``).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import mrcfile
import numpy as np
import tifffile

from aet.errors import AetFormatError
from aet.io.checks import REWRITE, one_line, reading


def write_mrc(arr: np.ndarray, spacing: float, path: Path, stack: bool) -> None:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(arr, dtype=np.float32))
        if stack:
            mrc.set_image_stack()
        mrc.voxel_size = spacing


def read_mrc(path: Path) -> tuple[np.ndarray, float | None]:
    # permissive: foreign files with small header faults still load; mrcfile warns about what it found instead.
    with reading(path, "MRC file"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with mrcfile.open(path, permissive=True, mode="r") as mrc:
            data = None if mrc.data is None else np.array(mrc.data)
            vs = float(mrc.voxel_size.x)
    found = [one_line(w.message) for w in caught]
    if data is None:
        why = found[-1] if found else "no data block"
        if any("Map ID string not found" in f for f in found):
            raise AetFormatError(
                f"{path} is not an MRC file (its header lacks the MAP identifier, and: {why}); give the file its real "
                "suffix, or convert it to MRC again."
            )
        raise AetFormatError(f"{path} has an MRC header but its data cannot be read ({why}); {REWRITE}.")
    for w in caught:  # the data are whole: pass mrcfile's remarks on the header on
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
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
    size = path.stat().st_size
    with reading(path, "TIFF file"), _tifffile_log() as logged, tifffile.TiffFile(path) as tif:
        data = tif.asarray()
        meta = tif.imagej_metadata or {}
        # a truncated file can still hold its first pages: tifffile then logs a bad page offset and returns those
        ends = [o + c for page in tif.pages for o, c in zip(page.dataoffsets, page.databytecounts, strict=False)]
    frames = data.size // max(1, data.shape[-1] * data.shape[-2]) if data.ndim >= 2 else 0
    problems = [one_line(r.getMessage()) for r in logged if "offset" in r.getMessage()]
    if ends and max(ends) > size:
        problems.append(f"image data run to byte {max(ends)} of a {size}-byte file")
    if int(meta.get("images", 1) or 1) > frames:
        problems.append(f"its ImageJ header announces {meta['images']} images but {frames} could be read")
    if problems:
        raise AetFormatError(f"{path} is a truncated or damaged TIFF file ({'; '.join(problems)}); {REWRITE}.")
    for record in logged:  # nothing is missing: pass tifffile's remarks on
        logging.getLogger("tifffile").handle(record)
    spacing = meta.get("spacing")
    return data, (float(spacing) if spacing else None)


@contextlib.contextmanager
def _tifffile_log() -> Iterator[list[logging.LogRecord]]:
    """Collect what tifffile logs while a file is read (it logs, rather than raises, on a broken page chain)."""
    log = logging.getLogger("tifffile")
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler, propagate = Collect(logging.WARNING), log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield records
    finally:
        log.removeHandler(handler)
        log.propagate = propagate
