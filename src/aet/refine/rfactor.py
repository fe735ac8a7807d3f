"""R-factors of a predicted tilt series against the measured one (the definitions the AET literature uses)."""

from __future__ import annotations

from typing import Any

import torch


def r_factors(calc: torch.Tensor, meas: torch.Tensor) -> dict[str, Any]:
    """R1 pooled, R1 averaged over projections, R2 and R1 per projection of ``calc`` vs ``meas`` ``[n, rows, cols]``.

    * R1 = Σ|calc − meas| / Σ|meas| over every pixel of every projection;
    * R1_mean = mean over projections of Σ_pixels|calc − meas| / Σ_pixels|meas| (Materials Data Bank's figure);
    * R2 = ‖calc − meas‖₂ / ‖meas‖₂.
    """
    diff = (calc - meas).abs().flatten(1)
    norm = meas.abs().flatten(1)
    per = diff.sum(1) / norm.sum(1).clamp_min(1e-300)
    return {
        "R1": float(diff.sum() / norm.sum().clamp_min(1e-300)),
        "R1_mean": float(per.mean()),
        "R2": float(torch.linalg.vector_norm(calc - meas) / torch.linalg.vector_norm(meas).clamp_min(1e-300)),
        "R1_per_projection": per.cpu().numpy().tolist(),
    }
