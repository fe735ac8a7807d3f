"""R-factors of a predicted tilt series against the measured one (the definitions the AET literature uses).

The one place these are defined: reconstruction logs R1 per iteration with them, refinement and ``aet.rfactor``
report them as :class:`RFactors`. (Not imported by ``aet.metrics`` itself, which stays free of torch.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch


@dataclass(frozen=True)
class RFactors:
    """R-factors of calculated vs measured projections (dimensionless).

    Attributes:
        R1: Σ|calc − meas| / Σ|meas| over every pixel of every projection (pooled).
        R1_mean: mean over projections of the per-projection R1 (the figure Materials Data Bank reports).
        R2: ‖calc − meas‖₂ / ‖meas‖₂.
        R1_per_projection: R1 of each projection, in the tilt series' order.
        fit: how calc was scaled to meas first: ``"scale"`` (one global scale and background), ``"none"``, or
            ``"refined"`` (refinement's per-image scales and backgrounds).
        calculated: the calculated images ``[n, rows, cols]`` when asked for (never serialised).
    """

    R1: float
    R1_mean: float
    R2: float
    R1_per_projection: tuple[float, ...]
    fit: str = "none"
    calculated: npt.NDArray[np.float32] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (without the calculated images)."""
        return {"R1": self.R1, "R1_mean": self.R1_mean, "R2": self.R2,
                "R1_per_projection": list(self.R1_per_projection), "fit": self.fit}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RFactors:
        """Inverse of :meth:`to_dict`."""
        return cls(float(d["R1"]), float(d["R1_mean"]), float(d["R2"]),
                   tuple(float(v) for v in d["R1_per_projection"]), str(d.get("fit", "none")))  # fmt: skip


def r1(calc: torch.Tensor, meas: torch.Tensor) -> float:
    """R1 = Σ|calc − meas| / Σ|meas| over every pixel of every projection."""
    return float((calc - meas).abs().sum() / meas.abs().sum().clamp_min(1e-300))


def r1_per_projection(calc: torch.Tensor, meas: torch.Tensor) -> torch.Tensor:
    """R1 of each projection ``[n]``: Σ_pixels|calc − meas| / Σ_pixels|meas|."""
    return (calc - meas).abs().flatten(1).sum(1) / meas.abs().flatten(1).sum(1).clamp_min(1e-300)


def r_factors(calc: torch.Tensor, meas: torch.Tensor, fit: str = "none", keep: bool = False) -> RFactors:
    """:class:`RFactors` of ``calc`` vs ``meas`` ``[n, rows, cols]``; ``keep=True`` keeps ``calc`` (as float32)."""
    per = r1_per_projection(calc, meas)
    return RFactors(
        R1=r1(calc, meas),
        R1_mean=float(per.mean()),
        R2=float(torch.linalg.vector_norm(calc - meas) / torch.linalg.vector_norm(meas).clamp_min(1e-300)),
        R1_per_projection=tuple(per.cpu().numpy().tolist()),
        fit=fit,
        calculated=calc.detach().cpu().numpy().astype(np.float32) if keep else None,
    )
