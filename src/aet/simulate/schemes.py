"""Tilt schemes: ranges with a step, missing wedges, and the dose-symmetric acquisition order."""

from __future__ import annotations

import numpy as np

from aet.errors import AetInputError


def tilt_range(start: float, stop: float, step: float) -> np.ndarray:
    """Tilt angles θ in degrees from ``start`` to ``stop`` inclusive in steps of ``step`` (e.g. −65, 65, 3)."""
    if step <= 0 or stop < start:
        raise AetInputError(f"a tilt range needs start ≤ stop and a positive step, got {start}, {stop}, {step}.")
    if max(abs(start), abs(stop)) > 90:
        raise AetInputError(f"single-axis tilts must lie within ±90°, got {start}..{stop}.")
    n = int(np.floor((stop - start) / step + 1e-9)) + 1
    return start + step * np.arange(n)


def missing_wedge_range(max_tilt: float, n_images: int) -> np.ndarray:
    """``n_images`` tilts evenly spread over ±``max_tilt`` degrees (a missing wedge of 180 − 2·max_tilt)."""
    if not 0 < max_tilt <= 90 or n_images < 1:
        raise AetInputError(f"need 0 < max_tilt ≤ 90 and n_images ≥ 1, got {max_tilt}, {n_images}.")
    return np.linspace(-max_tilt, max_tilt, n_images)


def dose_symmetric_order(tilts: np.ndarray) -> np.ndarray:
    """Indices of ``tilts`` in dose-symmetric order (Hagen et al. 2017): start nearest 0°, then alternate
    sides with growing |θ|, so that the low tilts get the freshest sample."""
    tilts = np.asarray(tilts, dtype=float)
    return np.lexsort((-np.sign(tilts), np.abs(tilts)))
