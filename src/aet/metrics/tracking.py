"""Tracking against the truth (simulated time series): right correspondences and displacement errors.

The true models of a series name each atom by its index (the same index is the same atom at every step, as
:func:`aet.simulate.dynamics.evolve` makes them). Each tracked model is matched to its true model
(:func:`aet.metrics.compare`); an atom present at both steps of an interval is one that both tracked models
found; its correspondence is right when the tracked pair names the same true atom. The true displacement removes
the true rigid motion (fitted on the atoms that stayed), as tracking removes the fitted one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aet.errors import AetInputError
from aet.metrics.matching import compare
from aet.model import AtomicModel
from aet.tracking.register import fit_pairs
from aet.tracking.track import Tracking


def true_displacements(earlier: AtomicModel, later: AtomicModel, stayed_A: float = 0.3) -> np.ndarray:
    """Each true atom's own move (Å, rigid motion removed, in ``later``'s orientation); atom i is atom i in both."""
    if len(earlier) != len(later):
        raise AetInputError("true models of a series hold the same atoms in the same order (index = identity).")
    a, b = earlier.positions, later.positions
    reg = fit_pairs(a, b)
    for _ in range(2):  # refit on the atoms that stayed
        still = np.linalg.norm(b - reg.apply(a), axis=1) < stayed_A
        reg = fit_pairs(a[still], b[still])
    return np.asarray(b - reg.apply(a), dtype=np.float64)


def tracking_accuracy(tracking: Tracking, truths: list[AtomicModel], radius: float = 0.9) -> list[dict[str, Any]]:
    """Per interval: atoms present at both steps, the fraction with the right correspondence, and the RMS error
    (pm) of the tracked displacement vectors of those (all of them, and the atoms that truly moved ≥ 0.5 Å)."""
    if len(truths) != len(tracking.models):
        raise AetInputError(f"{len(truths)} true models for {len(tracking.models)} tracked models.")
    ids = []
    for model, truth in zip(tracking.models, truths, strict=True):
        c = compare(model, truth, radius)
        found = np.full(len(model), -1, dtype=np.int64)
        found[c.model_index] = c.truth_index
        ids.append(found)
    out = []
    for t, step in enumerate(tracking.steps):
        present = np.intersect1d(ids[t][ids[t] >= 0], ids[t + 1][ids[t + 1] >= 0])
        before, after = ids[t][step.before], ids[t + 1][step.after]
        right = (before == after) & np.isin(before, present)
        true = true_displacements(truths[t], truths[t + 1])[before[right]]
        err = step.displacement[right] - true
        moved = np.linalg.norm(true, axis=1) >= 0.5
        out.append({
            "interval": f"{t} → {t + 1}",
            "present_at_both": len(present),
            "right_correspondence": int(right.sum()),
            "fraction_right": float(right.sum() / max(len(present), 1)),
            "displacement_rms_error_pm": float(np.sqrt(np.mean(np.sum(err**2, axis=1))) * 100),
            "moved_atoms": int(moved.sum()),
            "moved_rms_error_pm": float(np.sqrt(np.mean(np.sum(err[moved] ** 2, axis=1))) * 100)
            if moved.any() else float("nan"),
        })  # fmt: skip
    return out
