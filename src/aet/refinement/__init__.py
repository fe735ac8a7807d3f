"""Refinement of an atomic model against the measured projections, and the R-factor.

``aet.refine(model, tilt_series)`` follows the published AET refinement (e.g. Yang et al., Nature 592, 60
(2021)) on the shared differentiable atom projector:

1. **Heights and B-factors per species** (AET convention H·exp(−π² r²/B)). H starts from a linear least-squares
   fit of the images by one projection per species plus one background per image; then L-BFGS fits log H and
   log B per species (and the backgrounds, and optional per-image scales). B is held within :data:`B_RANGE` and H
   within :data:`H_FACTOR` of its start, which keeps every line-search trial finite.
2. **Positions** (and optionally a per-atom B, and small per-image shifts): L-BFGS on ε = ½‖calc − meas‖² with
   everything from stage 1 still free. After every outer step each atom's total move from its starting point is
   capped at ``max_move`` Å (1 Å as published). Converged when ε falls by less than ``tol`` (relative) in a step.

The measured images are used as they are (counts or any linear unit): scale and background absorb the units.
Every outer iteration logs R1 = Σ|calc − meas| / Σ|meas| (pooled). :func:`rfactor` gives R1 pooled, R1 averaged
over projections (as Materials Data Bank reports it), R2 = ‖calc − meas‖ / ‖meas‖ and R1 per projection.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from aet.device import resolve_device
from aet.errors import AetInputError
from aet.metrics.rfactor import RFactors, r1, r_factors
from aet.model import AtomicModel, TiltSeries
from aet.progress import progress_bar
from aet.refinement.forward import Geometry, misfit_and_grad, predict
from aet.refinement.report import Moves, RefineReport, RefineStep, SpeciesFit
from aet.refinement.validate import check_inputs
from aet.settings import names, updated
from aet.settings.refine import RefineSettings

DEFAULT_B = 5.0  #: Å², AET convention, where the model gives none
#: Å², AET convention: bounds of each species' B. A free log B lets a line-search trial reach absurd widths (and
#: projection windows of terabytes); measured AET B-factors (atom plus probe) lie well inside.
B_RANGE = (0.5, 50.0)
#: Each species' height H stays within this factor of its linear least-squares start, for the same reason.
H_FACTOR = 1e3


def refine(
    model: AtomicModel,
    tilt_series: TiltSeries,
    settings: RefineSettings | None = None,
    *,
    device: str = "auto",
    progress: bool = True,
    **options: Any,
) -> tuple[AtomicModel, RefineReport]:
    """Refine ``model`` against ``tilt_series`` (see module docstring).

    Args:
        model: positions (x, y, z) in Å about the rotation centre, elements; ``b_factor`` (Å²) seeds B.
        tilt_series: the measured images, angles (deg) and pixel size (Å).
        settings: :class:`RefineSettings` (every default lives there); ``**options`` set single fields by name,
            e.g. ``iterations=30``, ``angle_correction=False``.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.

    Returns:
        The refined model (positions, ``b_factor``, ``height``, scores ``move_A``) and a :class:`RefineReport`
        (R-factors before and after, per-step log, fitted H and B per species, per-image scale/background/shift,
        seconds).
    """
    s = updated(settings or RefineSettings(), options)
    iterations, hb_iterations, max_move, tol = s.iterations, s.hb_iterations, s.max_move, s.tol
    max_shift, max_angle = s.max_shift, s.max_angle
    check_inputs(model, tilt_series)
    t0 = time.perf_counter()
    dev = resolve_device(device)
    kw = {"dtype": torch.float64, "device": dev}
    ts = tilt_series
    radius = float(np.sqrt(((model.positions - model.positions.mean(0)) ** 2).sum(1).mean())) or 1.0
    geo = Geometry(ts.angles, ts.euler_convention, tuple(ts.images.shape[1:]), ts.pixel_size, tilt_scale=1 / radius)
    meas = torch.as_tensor(ts.images, **kw)
    species = model.species
    kind = torch.as_tensor([species.index(e) for e in model.elements], device=dev)
    start = torch.as_tensor(model.positions, **kw)
    b0 = np.clip([
        np.median(model.b_factor[np.array(model.elements) == s]) if model.b_factor is not None else DEFAULT_B
        for s in species
    ], *B_RANGE)  # fmt: skip
    h0, bg0 = _linear_heights(geo, meas, start, kind, torch.as_tensor(b0, **kw), len(species))
    n = ts.n_images
    log_h0 = torch.log(torch.as_tensor(h0, **kw).clamp_min(1e-12))
    h_bounds = (log_h0 - np.log(H_FACTOR), log_h0 + np.log(H_FACTOR))
    p = {
        "log_b": torch.log(torch.as_tensor(b0, **kw)).requires_grad_(),
        "log_h": log_h0.clone().requires_grad_(),
        "scale": torch.ones(n, **kw).requires_grad_(s.image_scale),
        "background": torch.as_tensor(bg0, **kw).requires_grad_(),
    }

    def species_h(q: dict[str, torch.Tensor]) -> torch.Tensor:
        """H per species from the free ``log_h``, held within :data:`H_FACTOR` of its start."""
        return torch.exp(q["log_h"].clamp(*h_bounds))

    def expand(q: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b = _species_b(q)[kind]
        if "db" in q:
            b = b * torch.exp(q["db"].clamp(-np.log(4), np.log(4)))
        pos = q["pos"] if "pos" in q else start
        return pos, b, species_h(q)[kind]

    log: list[RefineStep] = []
    calc0 = predict(geo, *expand(p), p["scale"].detach(), p["background"].detach())
    before = r_factors(calc0, meas, fit="refined")
    with progress_bar(hb_iterations + iterations, "refine", progress) as advance:
        if hb_iterations:
            _step(_lbfgs([v for v in p.values() if v.requires_grad], hb_iterations), geo, meas, p, expand, log,
                  advance, "hb")  # fmt: skip
        p["pos"] = start.clone().requires_grad_()
        if s.per_atom_b:
            p["db"] = torch.zeros(len(model), **kw).requires_grad_()
        if s.image_shifts:
            p["shift"] = torch.zeros(n, 2, **kw).requires_grad_()
        if s.angle_correction:
            p["tilt"] = torch.zeros(n, 3, **kw).requires_grad_()
        geometric = {k for k in ("tilt", "shift") if k in p}
        # one optimiser per block for the whole stage (their curvature histories are what make L-BFGS fast);
        # angle corrections and shifts alternate with the rest, as their curvature differs by orders of magnitude
        opt_main = _lbfgs([v for k, v in p.items() if v.requires_grad and k not in geometric])
        opt_geo = _lbfgs([p[k] for k in geometric]) if geometric else None
        converged = False
        for _ in range(iterations):
            last = log[-1].misfit if log else np.inf
            _step(opt_main, geo, meas, p, expand, log, advance, "positions")
            if opt_geo is not None:
                _step(opt_geo, geo, meas, p, expand, log, None, "geometry")
            with torch.no_grad():
                move = p["pos"] - start
                norm = torch.linalg.vector_norm(move, dim=1, keepdim=True)
                p["pos"].copy_(start + move * torch.clamp(max_move / norm.clamp_min(1e-12), max=1.0))
                if "shift" in p:
                    p["shift"].clamp_(-max_shift, max_shift)
                if "tilt" in p:
                    p["tilt"].clamp_(-np.deg2rad(max_angle) * radius, np.deg2rad(max_angle) * radius)
            if np.isfinite(last) and last - log[-1].misfit < tol * last:
                converged = True
                break
    pos, b, h = (t.detach() for t in expand(p))
    calc = predict(geo, pos, b, h, p["scale"].detach(), p["background"].detach(), _opt(p, "shift"), _opt(p, "tilt"))
    after = r_factors(calc, meas, fit="refined")
    moves = torch.linalg.vector_norm(pos - start, dim=1).cpu().numpy()
    refined = AtomicModel(
        positions=pos.cpu().numpy(),
        elements=model.elements,
        b_factor=b.cpu().numpy(),
        height=h.cpu().numpy(),
        labels=model.labels,
        scores={**model.scores, "move_A": moves},
        metadata={**model.metadata, "refinement": {"R1": after.R1, "R1_mean": after.R1_mean}},
    )
    tilt = None if "tilt" not in p else np.rad2deg(p["tilt"].detach().cpu().numpy()) / radius
    shift = None if "shift" not in p else p["shift"].detach().cpu().numpy()
    report = RefineReport(
        before=before,
        after=after,
        log=tuple(log),
        converged=converged,
        species={sp: SpeciesFit(float(h_s), float(b_s))
                 for sp, h_s, b_s in zip(species, species_h(p).detach(), _species_b(p).detach(), strict=True)},
        image_scale=tuple(p["scale"].detach().cpu().numpy().tolist()),
        image_background=tuple(p["background"].detach().cpu().numpy().tolist()),
        image_shift_A=None if shift is None else tuple(map(tuple, shift.tolist())),
        angle_correction_deg=None if tilt is None else tuple(map(tuple, tilt.tolist())),
        move_A=Moves(float(moves.mean()), float(moves.max()), int((moves >= max_move - 1e-9).sum())),
        settings=RefineSettings(**{k: getattr(s, k) for k in names(RefineSettings)}),
        seconds=time.perf_counter() - t0,
    )  # fmt: skip
    return refined, report


def rfactor(
    model: AtomicModel, tilt_series: TiltSeries, fit: str = "scale", calculated: bool = False
) -> RFactors:
    """R-factors of ``model`` against the measured ``tilt_series``.

    The prediction uses the model's ``b_factor`` (default 5 Å², AET convention) and ``height`` (default 1). With
    ``fit="scale"`` one global scale and one global background are first fitted by least squares (the model's H
    is then only relative); ``fit="none"`` compares the prediction as it is.

    Returns:
        :class:`RFactors`: ``R1`` (Σ|calc − meas| / Σ|meas| over all pixels), ``R1_mean`` (the mean over
        projections of the per-projection R1, as Materials Data Bank reports), ``R2`` (‖calc − meas‖ / ‖meas‖),
        ``R1_per_projection``, and with ``calculated=True`` the calculated images ``[n, rows, cols]``.
    """
    if fit not in ("scale", "none"):
        raise AetInputError(f"fit must be 'scale' or 'none', got {fit!r}.")
    check_inputs(model, tilt_series)
    kw = {"dtype": torch.float64}
    ts = tilt_series
    geo = Geometry(ts.angles, ts.euler_convention, tuple(ts.images.shape[1:]), ts.pixel_size)
    n = len(model)
    b = torch.as_tensor(model.b_factor if model.b_factor is not None else np.full(n, DEFAULT_B), **kw)
    h = torch.as_tensor(model.height if model.height is not None else np.ones(n), **kw)
    ones, zeros = torch.ones(ts.n_images, **kw), torch.zeros(ts.n_images, **kw)
    calc = predict(geo, torch.as_tensor(model.positions, **kw), b, h, ones, zeros)
    meas = torch.as_tensor(ts.images, **kw)
    if fit == "scale":
        a = torch.stack([calc.reshape(-1), torch.ones(calc.numel(), **kw)], 1)
        coef = torch.linalg.lstsq(a, meas.reshape(-1, 1)).solution[:, 0]
        calc = coef[0] * calc + coef[1]
    return r_factors(calc, meas, fit=fit, keep=calculated)


def _species_b(p: dict[str, torch.Tensor]) -> torch.Tensor:
    """B per species (Å²) from the free ``log_b``, held inside :data:`B_RANGE`."""
    return torch.exp(p["log_b"].clamp(np.log(B_RANGE[0]), np.log(B_RANGE[1])))


def _opt(p: dict[str, torch.Tensor], name: str) -> torch.Tensor | None:
    return p[name].detach() if name in p else None


def _linear_heights(
    geo: Geometry, meas: torch.Tensor, pos: torch.Tensor, kind: torch.Tensor, b: torch.Tensor, n_species: int
) -> tuple[np.ndarray, np.ndarray]:
    """H per species and background per image by linear least squares (B fixed): calc_i = Σ_s H_s·P_si + bg_i.

    The per-image backgrounds are eliminated by removing each image's mean, leaving an S-column problem.
    """
    n = len(geo.angles)
    ones, zeros = torch.ones(n, dtype=pos.dtype, device=pos.device), torch.zeros(n, dtype=pos.dtype, device=pos.device)
    cols = []
    for s in range(n_species):
        sel = kind == s
        k = int(sel.sum())
        cols.append(predict(geo, pos[sel], b[s].expand(k), torch.ones_like(pos[sel, 0]), ones, zeros))
    proj = torch.stack(cols, -1)  # [n, rows, cols, S]
    proj_mean = proj.mean((1, 2))  # [n, S]
    meas_mean = meas.mean((1, 2))
    design = (proj - proj_mean[:, None, None]).reshape(-1, n_species)
    target = (meas - meas_mean[:, None, None]).reshape(-1, 1)
    h = torch.linalg.lstsq(design, target).solution[:, 0]
    if torch.any(h <= 0):
        raise AetInputError(
            "the model does not explain the images (a species got a non-positive height); check the pixel size, "
            "the angles and that the model belongs to this tilt series."
        )
    return h.cpu().numpy(), (meas_mean - proj_mean @ h).cpu().numpy()


def _lbfgs(params: list[torch.Tensor], evals: int = 5) -> torch.optim.LBFGS:
    """L-BFGS with a strong-Wolfe line search, at most ``evals`` misfit evaluations per step."""
    return torch.optim.LBFGS(params, lr=1, max_iter=evals, line_search_fn="strong_wolfe", history_size=20)


def _step(opt, geo, meas, p, expand, log, advance, stage) -> None:  # noqa: ANN001
    """One optimiser step; logs ε and R1 of its last evaluation."""
    state: dict[str, Any] = {}

    def closure() -> torch.Tensor:
        eps, calc = misfit_and_grad(geo, meas, p, expand)
        state["eps"], state["calc"] = eps, calc
        return torch.tensor(eps)

    opt.step(closure)
    r1_now = r1(state["calc"], meas)
    log.append(RefineStep(stage, float(state["eps"]), r1_now))
    if advance is not None:
        advance(R1=r1_now)


__all__ = ["RFactors", "RefineReport", "RefineSettings", "refine", "rfactor"]
