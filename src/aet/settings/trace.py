"""Settings of :func:`aet.trace`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aet.settings import Settings, setting

#: Candidate threshold and weak-peak cut used when ``threshold`` / ``min_height`` are ``None`` and the volume is
#: not a network output whose model card recommends its own (fractions; see :func:`aet.trace`).
FALLBACK_THRESHOLD = 0.1
FALLBACK_MIN_HEIGHT = 0.25


@dataclass(frozen=True)
class TraceSettings(Settings):
    """How atoms are found in a tomogram or a network's output (see :mod:`aet.trace`)."""

    min_distance: float = setting(2.0, "Closest allowed pair of atoms (Si: 1.9).", unit="Å", minimum=0)
    threshold: float | None = setting(
        None, f"Candidate peaks above this fraction of the top; auto: the network card's, else {FALLBACK_THRESHOLD}.",
        none="auto", minimum=0,
    )  # fmt: skip
    min_height: float | None = setting(
        None, f"Reject atoms dimmer than this fraction; auto: the network card's, else {FALLBACK_MIN_HEIGHT}.",
        none="auto", minimum=0,
    )  # fmt: skip
    max_sigma: float = setting(1.2, "Reject fitted peaks wider than this standard deviation.", unit="Å", minimum=0)
    max_residual: float = setting(1.0, "Reject peaks whose Gaussian fit leaves a larger relative residual.", minimum=0)
    fit_radius: float = setting(0.6, "Half-width of the sub-voxel fit window.", unit="Å", minimum=0)
    integration_radius: float = setting(1.0, "Radius of the integrated intensity (species).", unit="Å", minimum=0)
    smooth: float = setting(0.3, "Gaussian low-pass before the search (0: none).", unit="Å", minimum=0)
    upsample: int = setting(1, "Upsampling factor before the peak search.", minimum=1)
    support: str | None = setting(
        None, "Peaks outside this mask are dropped: 'auto' (the particle's envelope: 1 Å blur, Otsu, 2 Å margin), "
        "a mask file, or none.",
    )  # fmt: skip
    classify: Literal["kmeans", "gmm"] = setting("kmeans", "Global species step: kmeans or gmm.")
    local_radius: float = setting(10.0, "Local species re-classification radius (0: off).", unit="Å", minimum=0)
    equal_heights: bool | None = setting(
        None, "All species have equal peak heights (a network output): thresholds not scaled by contrast; "
        "auto: true when a species volume is given.", none="auto",
    )  # fmt: skip
    seed: int = setting(0, "Seed of the species clustering.")
