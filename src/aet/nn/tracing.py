"""Atoms from a network's output: the one way aet traces an augmented tomogram (pipeline, benchmarks, training)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aet.errors import AetSpeciesError
from aet.model import AtomicModel, Volume
from aet.settings.trace import TraceSettings
from aet.tracing import trace


def trace_output(
    augmented: Volume | None,
    tomogram: Volume,
    elements: Sequence[str],
    settings: TraceSettings | None = None,
    *,
    support_mask: np.ndarray | Volume | None = None,
    **options: Any,
) -> AtomicModel:
    """Trace ``augmented`` (a network's output) with its model card's tracing recommendation for the settings
    left at ``None`` and the species from ``tomogram``'s intensities; trace ``tomogram`` itself when
    ``augmented`` is None (no network).

    Raises:
        AetSpeciesError: the species cannot be told apart; for a network output the message suggests the alloy
            network or no network.
    """
    if augmented is None:
        return trace(tomogram, elements, settings, support_mask=support_mask, **options)
    try:
        return trace(augmented, elements, settings, species_volume=tomogram, support_mask=support_mask, **options)
    except AetSpeciesError as err:
        raise AetSpeciesError(
            f"{err} The network may have missed the lighter atoms: for alloys of heavy and light metals use "
            "[augment] model = \"unet-alloy\" (or model auto with all elements given), or run with --no-augment."
        ) from err
