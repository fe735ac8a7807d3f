"""Warm start of a time point's refinement from the refined model of the time point before."""

from __future__ import annotations

import numpy as np

from aet.analysis.neighbours import median_nn_distance
from aet.metrics.matching import match_atoms
from aet.model import AtomicModel
from aet.tracking.register import register

#: A traced atom starts from the earlier refined position when the two lie within this many nearest-neighbour
#: distances of each other after registration (0.42 Å in Pt): it has not hopped, and the earlier position, refined
#: against a whole tilt series, is the better start.
WARM_FACTOR = 0.15


def warm_start(traced: AtomicModel, previous: AtomicModel) -> tuple[AtomicModel, int]:
    """``traced`` with every atom that sits where an atom of ``previous`` sat (after registering ``previous`` onto
    it) moved to that refined position, with its B-factor; returns the model and how many atoms were moved."""
    if len(traced) < 4 or len(previous) < 4:
        return traced, 0
    nn = median_nn_distance(traced.positions)
    reg = register(previous.positions, traced.positions, nn)
    ip, it = match_atoms(reg.apply(previous.positions), traced.positions, WARM_FACTOR * nn)
    same = np.asarray(previous.elements)[ip] == np.asarray(traced.elements)[it]
    ip, it = ip[same], it[same]
    pos = traced.positions.copy()
    pos[it] = reg.apply(previous.positions[ip])
    b = None
    if previous.b_factor is not None:
        b = traced.b_factor.copy() if traced.b_factor is not None else np.full(len(traced), np.nan)
        b[it] = previous.b_factor[ip]
        if np.isnan(b).any():
            b[np.isnan(b)] = np.nanmedian(previous.b_factor)
    warm = AtomicModel(pos, traced.elements, b_factor=b, height=traced.height, labels=traced.labels,
                       scores=dict(traced.scores), metadata=dict(traced.metadata))  # fmt: skip
    return warm, len(it)
