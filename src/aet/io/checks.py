"""What every reader checks: damaged files become one-sentence AetFormatErrors, and implausible values are refused.

Libraries raise many exception types for a damaged file (OSError, EOFError, zipfile.BadZipFile, struct.error,
MatReadError, ...); :func:`reading` turns all of them into :class:`~aet.errors.AetFormatError` naming the file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aet.errors import AetError, AetFormatError, AetInputError

#: How to fix a file that a library could not read.
REWRITE = "check that it was written and copied completely, or write it again"


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) made one space, and no final full stop."""
    return " ".join(str(text).split()).rstrip(".")


def reason(exc: BaseException) -> str:
    """A library exception in a few words for a message: its text, or its type where it has none."""
    return one_line(exc) or type(exc).__name__


def unreadable(path: Path, what: str, exc: BaseException, fix: str = REWRITE) -> AetFormatError:
    """The error for a file that is not ``what`` (e.g. "an HDF5 file") as far as its library can tell."""
    return AetFormatError(f"{path} is not a readable {what} ({reason(exc)}); {fix}.")


@contextlib.contextmanager
def reading(path: Path, what: str, fix: str = REWRITE) -> Iterator[None]:
    """Turn any library exception raised in the body into :func:`unreadable`; aet's own errors pass unchanged.

    MemoryError passes too: it says the machine is short of memory, not that the file is damaged.
    """
    try:
        yield
    except (AetError, MemoryError):
        raise
    except Exception as exc:
        raise unreadable(path, what, exc, fix) from exc


def refuse_complex(arr: npt.NDArray[Any], path: Path, name: str | None = None) -> None:
    """Refuse complex numbers: casting them to the float32/float64 aet works in would drop the imaginary part."""
    if np.iscomplexobj(arr):
        where = f"the array {name!r} in {path}" if name else str(path)
        raise AetInputError(
            f"{where} holds complex numbers (dtype {arr.dtype}), but aet needs real intensities; save the "
            "magnitude (np.abs) or the real part (.real) of the data and read that instead."
        )


#: Angles whose every value lies within ±this (π and a little) may be radians ...
RADIAN_LIMIT = 3.2
#: ... and are taken for radians when some tilt exceeds this (28.6° if they were radians) ...
RADIAN_MIN_TILT = 0.5
#: ... in a series of more than this many images (a few small tilts in degrees stay possible).
RADIAN_MIN_IMAGES = 3


def check_angles(angles: npt.NDArray[np.float64], source: Path) -> None:
    """Refuse Euler angles that cannot be a tilt series in degrees: repeated orientations, or radians.

    Two images with the same (φ, θ, ψ) add no information to a tomogram and usually mean an angle file that does
    not belong to the images (or a line pasted twice). Angles that all lie within ±3.2 while the tilts reach past
    0.5, in a series of more than 3 images, are radians: no tomography experiment tilts only a few degrees.
    """
    seen: dict[tuple[float, ...], int] = {}
    for i, row in enumerate(angles.tolist()):
        first = seen.setdefault(tuple(row), i)
        if first != i:
            triple = ", ".join(f"{v:g}" for v in row)
            raise AetInputError(
                f"images {first} and {i} (counting from 0) of {source} have the same Euler angles ({triple})°; "
                "give every image its own angles, or drop the repeated image and its angle line."
            )
    if len(angles) > RADIAN_MIN_IMAGES and angles.size:
        largest, tilt = float(np.max(np.abs(angles))), float(np.max(np.abs(angles[:, 1])))
        if largest <= RADIAN_LIMIT and tilt > RADIAN_MIN_TILT:
            raise AetInputError(
                f"the angles of {source} all lie within ±{RADIAN_LIMIT} with tilts up to {tilt:.3g}, which looks "
                "like radians; aet takes degrees, so convert them (np.degrees, or × 180/π) and read them again."
            )
