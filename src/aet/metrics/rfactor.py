"""R-factors of a predicted tilt series against the measured one (the definitions the AET literature uses).

The one place these are defined: reconstruction logs R1 per iteration with them, refinement and ``aet.rfactor``
report them. (Not imported by ``aet.metrics`` itself, which stays free of torch.)
"""

from __future__ import annotations

from typing import Any

import torch


def r1(calc: torch.Tensor, meas: torch.Tensor) -> float:
    """R1 = Σ|calc − meas| / Σ|meas| over every pixel of every projection."""
    return float((calc - meas).abs().sum() / meas.abs().sum().clamp_min(1e-300))


def r1_per_projection(calc: torch.Tensor, meas: torch.Tensor) -> torch.Tensor:
    """R1 of each projection ``[n]``: Σ_pixels|calc − meas| / Σ_pixels|meas|."""
    return (calc - meas).abs().flatten(1).sum(1) / meas.abs().flatten(1).sum(1).clamp_min(1e-300)


def r_factors(calc: torch.Tensor, meas: torch.Tensor) -> dict[str, Any]:
    """R1 pooled, R1 averaged over projections, R2 and R1 per projection of ``calc`` vs ``meas`` ``[n, rows, cols]``.

    * R1 = Σ|calc − meas| / Σ|meas| over every pixel of every projection;
    * R1_mean = mean over projections of the per-projection R1 (Materials Data Bank's figure);
    * R2 = ‖calc − meas‖₂ / ‖meas‖₂.
    """
    per = r1_per_projection(calc, meas)
    return {
        "R1": r1(calc, meas),
        "R1_mean": float(per.mean()),
        "R2": float(torch.linalg.vector_norm(calc - meas) / torch.linalg.vector_norm(meas).clamp_min(1e-300)),
        "R1_per_projection": per.cpu().numpy().tolist(),
    }
