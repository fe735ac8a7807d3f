"""Loaders for the published asi208 benchmark files (shared/data/asi208), in aet's frame and Å.

aet's frame (docs/conventions.md): y is the tilt axis. The published traced models
(``published_traced_model_Dose*.mat``) are MATLAB ``Vol(x, y, z)`` indices, so their rows already are aet's
(x, y, z); only the units change. The true positions (``aSi_208atoms_GT.txt``) name the tilt axis x, so
their x and y columns are swapped into aet's frame (no sign flips). With these two loaders and
``aet.metrics.compare(model, truth, 0.9)`` the published figures come out: 199/208 atoms and 28.8 pm at a
dose of 8.0e3 e/Å², 208/208 and 17.3 pm at 1.6e4, 208/208 and 4.2 pm at 1.6e5.
"""

from __future__ import annotations

import os

import numpy as np

from aet.model import AtomicModel

#: Projection pixel size of the asi208 series, Å.
ASI208_PIXEL_SIZE = 0.195
#: Upsampling factor of the published traced coordinates.
ASI208_UPSAMPLING = 3
#: Offset of the published traced coordinates, in original pixels.
ASI208_OFFSET = 2.0


def published_asi208_to_angstrom(p: np.ndarray) -> np.ndarray:
    """Published traced coordinates (3× upsampled pixels) to Å: ``(p / 3 − 2) × 0.195``."""
    return (np.asarray(p, dtype=np.float64) / ASI208_UPSAMPLING - ASI208_OFFSET) * ASI208_PIXEL_SIZE


def load_published_asi208_model(path: str | os.PathLike, elements: dict[int, str] | None = None) -> AtomicModel:
    """A published asi208 traced model (keys ``temp_model`` 3×N, ``temp_atomtype``) in Å, aet frame.

    Rows (x, y, z) stay in order; positions become ``(p / 3 − 2) × 0.195`` Å. The origin is that of the
    published volume, not the particle centre: :func:`aet.metrics.compare` removes the offset (≈ 12.7 Å
    per axis against the centred truth) with its default ``initial_shift="auto"``.

    Args:
        path: ``published_traced_model_Dose*.mat``.
        elements: atom type → symbol (default ``{1: "Si"}``).
    """
    import aet.io

    types = aet.io.read(path, key="temp_atomtype", kind="types")
    raw = aet.io.read(path, key="temp_model", kind="model", types=types, elements=elements or {1: "Si"})
    return AtomicModel(
        published_asi208_to_angstrom(raw.positions),
        raw.elements,
        labels=raw.labels,
        metadata={"source": str(path), "conversion": "Å = (p/3 − 2) × 0.195, rows (x, y, z) as published"},
    )


def load_asi208_truth(path: str | os.PathLike) -> AtomicModel:
    """The 208 true Si positions of ``aSi_208atoms_GT.txt`` in aet's frame: the file's x and y swapped (Å)."""
    import aet.io

    truth = aet.io.read(path, kind="model", elements={1: "Si"})
    return AtomicModel(
        truth.positions[:, [1, 0, 2]],
        truth.elements,
        labels=truth.labels,
        metadata={"source": str(path), "conversion": "file columns (x, y, z) → aet (y, x, z)"},
    )
