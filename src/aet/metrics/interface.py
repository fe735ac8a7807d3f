"""Detection at an interface: recall and precision of the atoms near a plane (a particle's contact with its support)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aet.errors import AetInputError
from aet.metrics.matching import Comparison


@dataclass(frozen=True)
class InterfaceScore:
    """Atoms within ``band`` Å of the interface plane: true ones, model ones (after the comparison's shift), matched
    pairs with the true atom in the band, and the recall and precision there (NaN when a side has none)."""

    band: float
    n_truth: int
    n_model: int
    n_matched_truth: int
    n_matched_model: int
    recall: float
    precision: float

    def to_dict(self) -> dict[str, float | int]:
        return {"band_A": self.band, "n_truth": self.n_truth, "n_model": self.n_model,
                "recall": _json(self.recall), "precision": _json(self.precision)}  # fmt: skip


def interface_score(
    comparison: Comparison,
    model: np.ndarray,
    truth: np.ndarray,
    point: np.ndarray | tuple[float, float, float],
    normal: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 1.0),
    band: float = 3.0,
) -> InterfaceScore:
    """Recall and precision of the atoms within ``band`` Å of the plane through ``point`` (Å) with ``normal``.

    ``comparison`` is :func:`aet.metrics.compare` of ``model`` (``[N, 3]`` Å) against ``truth`` (``[M, 3]`` Å); the
    model's atoms are placed with its shift. Recall: true atoms in the band that are matched; precision: model atoms
    in the band that are matched (a model atom the support made up counts against it).
    """
    n = np.asarray(normal, dtype=np.float64)
    if band <= 0 or not np.isfinite(band) or np.linalg.norm(n) == 0:
        raise AetInputError(f"the interface needs a non-zero normal and a positive band (Å), got {normal} and {band}.")
    n = n / np.linalg.norm(n)
    p = np.asarray(point, dtype=np.float64)
    t_in = np.abs((np.asarray(truth, np.float64) - p) @ n) <= band
    m_in = np.abs((np.asarray(model, np.float64) + np.asarray(comparison.shift) - p) @ n) <= band
    mt = int(t_in[comparison.truth_index].sum())
    mm = int(m_in[comparison.model_index].sum())
    nt, nm = int(t_in.sum()), int(m_in.sum())
    return InterfaceScore(band, nt, nm, mt, mm, mt / nt if nt else float("nan"), mm / nm if nm else float("nan"))


def _json(x: float) -> float | None:
    return None if np.isnan(x) else float(x)
