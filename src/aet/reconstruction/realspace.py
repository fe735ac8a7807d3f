"""Real-space iterative methods on the shared projector: SIRT and RESIRE.

Both minimise the mismatch between the projections of the volume and the measured images; they differ in how
the residual is weighted:

* **SIRT** (Gilbert 1972; the form ASTRA implements): x ← x + λ·C·Aᵀ·R·(b − A x), with R = 1/(row sums of A)
  and C = 1/(column sums of A), so every ray and every voxel is normalised by its own length.
* **RESIRE** (Pham et al., Sci. Rep. 13, 5624 (2023)): gradient descent on ε(x) = ½‖A x − b‖²,
  x ← x − t/L · Aᵀ(A x − b), with L = max(Aᵀ A 1), which is ≈ (number of projections) × (thickness): the
  step is normalised by the number of projections as in the paper, and L bounds the largest eigenvalue of AᵀA
  (Perron–Frobenius), so any 0 < t < 2 converges. Optional Nesterov momentum reaches the same error in far
  fewer iterations, but on noisy data it also fits the noise sooner: plain gradient descent (the paper's method)
  is the default, since its slow convergence acts as the regularisation (the asi208 figures behind this choice are
  in docs/benchmarks.md, "Figures behind design choices").

Each iteration records R1 = Σ|A x − b| / Σ|b| (pooled over every pixel) in the job's log.
"""

from __future__ import annotations

import torch

from aet.metrics.rfactor import r1
from aet.reconstruction.setup import Job
from aet.settings.reconstruct import ResireSettings, SirtSettings


def _safe_reciprocal(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > 1e-6 * t.max(), 1.0 / t.clamp_min(1e-30), torch.zeros_like(t))


def sirt(job: Job, settings: SirtSettings, x0: torch.Tensor | None = None) -> torch.Tensor:
    """SIRT with positivity and support (see module docstring); returns the ``[nz, ny, nx]`` tensor."""
    iterations, relaxation = settings.iterations, settings.relaxation
    proj = job.projector
    ones_v = torch.ones(job.shape, device=job.device, dtype=job.dtype)
    row = _safe_reciprocal(proj.forward(ones_v))
    col = _safe_reciprocal(proj.adjoint(torch.ones_like(job.images)))
    del ones_v
    x = torch.zeros(job.shape, device=job.device, dtype=job.dtype) if x0 is None else x0.clone()
    job.constrain(x)
    with torch.no_grad(), job.bar(iterations, "SIRT") as advance:
        for _ in range(iterations):
            calc = proj.forward(x)
            err = r1(calc, job.images)
            calc.sub_(job.images).neg_().mul_(row)  # R (b − A x)
            x.add_(proj.adjoint(calc).mul_(col), alpha=relaxation)
            job.constrain(x)
            advance(R1=err)
    return x


def lipschitz_bound(job: Job) -> float:
    """max(Aᵀ A 1): an upper bound of the largest eigenvalue of AᵀA for this geometry (A is non-negative)."""
    proj = job.projector
    ones_v = torch.ones(job.shape, device=job.device, dtype=job.dtype)
    return float(proj.adjoint(proj.forward(ones_v)).max())


def resire(job: Job, settings: ResireSettings, x0: torch.Tensor | None = None) -> torch.Tensor:
    """RESIRE gradient descent with positivity, support and (optionally) Nesterov momentum.

    ``settings.step`` is t in x ← x − t/L·∇ε (L is :func:`lipschitz_bound`); ``settings.momentum`` adds
    Nesterov/FISTA acceleration of the same gradient step (projected onto the constraints).
    """
    iterations, momentum = settings.iterations, settings.momentum
    proj = job.projector
    lr = settings.step_or_default / lipschitz_bound(job)
    x = torch.zeros(job.shape, device=job.device, dtype=job.dtype) if x0 is None else x0.clone()
    job.constrain(x)
    y, tk = x.clone(), 1.0
    with torch.no_grad(), job.bar(iterations, "RESIRE") as advance:
        for _ in range(iterations):
            calc = proj.forward(y)
            err = r1(calc, job.images)
            calc.sub_(job.images)
            x_new = job.constrain(y.sub_(proj.adjoint(calc), alpha=lr))
            if momentum:
                tn = (1 + (1 + 4 * tk * tk) ** 0.5) / 2
                y = x_new + (x_new - x) * ((tk - 1) / tn)
                x, tk = x_new.clone(), tn
            else:
                x = y = x_new
            advance(R1=err)
    return x
