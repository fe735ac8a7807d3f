"""Refinement of an atomic model against the measured projections, and the R-factor.

``aet.refine(model, tilt_series)`` follows the published AET refinement (e.g. Yang et al., Nature 592, 60
(2021)) on the shared differentiable atom projector:

1. **Heights and B-factors per species** (AET convention H·exp(−π² r²/B)). H starts from a linear least-squares
   fit of the images by one projection per species plus one background per image; then L-BFGS fits log H and
   log B per species (and the backgrounds, and optional per-image scales). B is held within :data:`B_RANGE` and H
   within :data:`H_FACTOR` of its start, which keeps every line-search trial finite.
2. **Positions** (and optionally small per-image shifts): L-BFGS on ε = ½‖calc − meas‖² with
   everything from stage 1 still free. After every outer step each atom's total move from its starting point is
   capped at ``max_move`` Å (1 Å as published). Converged when ε falls by less than ``tol`` (relative) in a step.

3. **R_free** (as GENFIRE holds out data): ``free_fraction`` of the projections (every k-th, spread over the tilt
   range) stay out of the fit. After every outer iteration their R1 (each with its own background offset) is
   R_free. An iteration whose R_free lies within :data:`FREE_TOLERANCE` (0.1 %) of the lowest so far counts as
   falling (R_free's own noise at low dose); the refinement stops after ``free_patience`` iterations above that and
   returns the latest state that low, so it never returns a model that predicts the unseen images worse than the
   one it was given, beyond that noise (at low dose a fit of every image lowers R1 by fitting the noise while the
   atoms move away from the truth).
   With ``per_atom = "auto"`` (the default) a second phase then starts from that state with one B and one H per
   atom free as well (B 0.25–4 × its species' at the same scattering power H·B^1.5, then that power 0.5–2 × its
   species') and is kept only where R_free falls below the first phase's best by :data:`PER_ATOM_GAIN` (1 %):
   atoms of unequal blur or brightness (thermal motion; a measured film, whose atoms' power varies) gain from it,
   a model with one B and H per species costs only the phase's few iterations.
   Finally the held-out images' own parameters (angle correction, shift, scale, background) are fitted with the
   atoms fixed, so that the R1 reported covers every image on equal terms.

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
from aet.refinement.forward import Geometry, misfit_and_grad, predict, project
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
#: ``per_atom = "auto"`` keeps the per-atom phase only if it lowers R_free by at least this fraction: it adds two
#: parameters per atom, and on asi208 (one B and H for all atoms, in truth) it lowered R_free by 0.15–0.4 % while
#: the RMSD moved by −1.1 to +0.9 pm; on the measured Ta film it lowers R_free by 5–10 % (docs/benchmarks.md).
PER_ATOM_GAIN = 0.01
#: R_free counts as still falling while it stays within this fraction of its lowest value, and the latest such state
#: is kept: at low dose R_free wanders by about 0.1 % from one iteration to the next (asi208 ±60° at 1.6e4 e/Å²,
#: R_free ≈ 0.974 ± 0.0006) while the atoms still converge; stopping at the first minimum kept outer iteration 2
#: (17.4 pm) where the fit converges at 14.8 pm by iteration 5 (docs/benchmarks.md).
FREE_TOLERANCE = 1e-3


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
    tilt_series = tilt_series.measured()  # projections predicted by sinogram inpainting are no measurement
    check_inputs(model, tilt_series)
    t0 = time.perf_counter()
    dev = resolve_device(device)
    kw = {"dtype": torch.float64, "device": dev}
    ts = tilt_series
    radius = float(np.sqrt(((model.positions - model.positions.mean(0)) ** 2).sum(1).mean())) or 1.0
    geo = Geometry.of(ts, tilt_scale=1 / radius)
    meas = torch.as_tensor(ts.images, **kw)
    species = model.species
    kind = torch.as_tensor([species.index(e) for e in model.elements], device=dev)
    start = torch.as_tensor(model.positions, **kw)
    b0 = np.clip([
        np.median(model.b_factor[np.array(model.elements) == s]) if model.b_factor is not None else DEFAULT_B
        for s in species
    ], *B_RANGE)  # fmt: skip
    n = ts.n_images
    free = free_images(n, s.free_fraction)
    fit = np.setdiff1d(np.arange(n), free)
    h0, bg0 = _linear_heights(geo, meas, start, kind, torch.as_tensor(b0, **kw), len(species), fit)
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
        h = species_h(q)[kind]
        if "db" in q:  # per atom: its width at the same scattering power (H·B^1.5, the 3-D integral), and its power
            f = torch.exp(q["db"].clamp(-np.log(4), np.log(4)))
            b, h = b * f, h * f**-1.5 * torch.exp(q["dh"].clamp(-np.log(2), np.log(2)))
        pos = q["pos"] if "pos" in q else start
        return pos, b, h

    log: list[RefineStep] = []
    calc0 = predict(geo, *expand(p), p["scale"].detach(), p["background"].detach())
    before = r_factors(calc0, meas, fit="refined")
    stop = "iterations"
    with progress_bar(hb_iterations + iterations * (1 + (s.per_atom == "auto")), "refine", progress) as advance:
        if hb_iterations:
            _step(_lbfgs([v for v in p.values() if v.requires_grad], hb_iterations), geo, meas, p, expand, log,
                  advance, "hb", fit)  # fmt: skip
        p["pos"] = start.clone().requires_grad_()
        if s.per_atom == "on":
            p["db"], p["dh"] = (torch.zeros(len(model), **kw).requires_grad_() for _ in range(2))
        if s.image_shifts:
            p["shift"] = torch.zeros(n, 2, **kw).requires_grad_()
        if s.angle_correction:
            p["tilt"] = torch.zeros(n, 3, **kw).requires_grad_()
        geometric = {k for k in ("tilt", "shift") if k in p}
        r_free = [_r_free(geo, meas, p, expand, free)] if len(free) else []
        best, best_state, since, it = 0, _snapshot(p) if len(free) else {}, 0, 0
        lowest = r_free[0] if len(free) else np.inf
        # "auto": a second phase from the best state with one B and H per atom, kept only if R_free falls further
        phases = ["positions", *(["per-atom B and H"] if s.per_atom == "auto" and len(free) else [])]
        for phase in phases:
            if phase == "per-atom B and H":
                _restore(p, best_state)
                p["db"], p["dh"] = (torch.zeros(len(model), **kw).requires_grad_() for _ in range(2))
                since, one_b, lowest = 0, (best, best_state), r_free[best]
            # one optimiser per block for the phase (their curvature histories are what make L-BFGS fast); angle
            # corrections and shifts alternate with the rest, as their curvature differs by orders of magnitude
            opt_main = _lbfgs([v for k, v in p.items() if v.requires_grad and k not in geometric])
            opt_geo = _lbfgs([p[k] for k in geometric]) if geometric else None
            last = np.inf  # the misfit of the phase's previous iteration
            for _ in range(iterations):
                it += 1
                _step(opt_main, geo, meas, p, expand, log, advance, phase, fit)
                if opt_geo is not None:
                    _step(opt_geo, geo, meas, p, expand, log, None, "geometry", fit)
                with torch.no_grad():
                    move = p["pos"] - start
                    norm = torch.linalg.vector_norm(move, dim=1, keepdim=True)
                    p["pos"].copy_(start + move * torch.clamp(max_move / norm.clamp_min(1e-12), max=1.0))
                    if "shift" in p:
                        p["shift"].clamp_(-max_shift, max_shift)
                    if "tilt" in p:
                        p["tilt"].clamp_(-np.deg2rad(max_angle) * radius, np.deg2rad(max_angle) * radius)
                if len(free):  # held-out projections: keep the latest state as low as the lowest R_free (within its
                    # noise); stop when it stays above that
                    r_free.append(_r_free(geo, meas, p, expand, free))
                    lowest = min(lowest, r_free[-1])
                    if r_free[-1] <= lowest * (1 + FREE_TOLERANCE):  # as low as the lowest, within its noise
                        best, best_state, since = it, _snapshot(p), 0
                    else:
                        since += 1
                    if since >= s.free_patience:
                        stop = "R_free"
                        break
                if np.isfinite(last) and last - log[-1].misfit < tol * last:
                    stop = "converged"
                    break
                last = log[-1].misfit
            else:
                stop = "iterations"
        if len(phases) > 1 and r_free[best] > (1 - PER_ATOM_GAIN) * r_free[one_b[0]]:
            best, best_state = one_b  # the per-atom phase did not earn its parameters
    if len(free):
        _restore(p, best_state)
        with torch.no_grad():  # the held-out images' backgrounds: the offset R_free was measured with
            p["background"][free] += _free_prediction(geo, meas, p, expand, free)[1]
        # then their own angle corrections, shifts and scales, with the atoms fixed, so that R1 covers every image
        own = [p[k] for k in ("tilt", "shift", "scale", "background") if k in p and p[k].requires_grad]
        p["pos"].requires_grad_(False)
        _step(_lbfgs(own, hb_iterations or 5), geo, meas, p, expand, log, None, "held-out images", free)
        p["pos"].requires_grad_(True)
    else:
        best = it
    converged = stop == "converged"
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
        free_images=tuple(int(i) for i in free),
        r_free=tuple(r_free),
        best_iteration=best,
        stopped=stop,
        per_atom="db" in p and bool(p["db"].detach().abs().max() > 0 or p["dh"].detach().abs().max() > 0),
    )  # fmt: skip
    return refined, report


def free_images(n: int, fraction: float) -> np.ndarray:
    """Indices of the projections held out for R_free: every k-th (k = round(1 / fraction)), starting at k // 2,
    so that they spread over the tilt range; none with fewer than 10 projections or ``fraction`` 0."""
    if fraction <= 0 or n < 10:
        return np.zeros(0, dtype=int)
    k = max(2, round(1 / fraction))
    return np.arange(k // 2, n, k)


def _free_prediction(geo, meas, p, expand, free) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """The held-out images' prediction with the backgrounds they have in ``p`` (no graph), and per image the offset
    that makes its mean match the image's (its own background, one number from its mean)."""
    with torch.no_grad():
        pos, b, h = (t.detach() for t in expand(p))
        sel = torch.as_tensor(free, device=pos.device)
        img = project(geo, pos, b, h, _opt(p, "shift"), _opt(p, "tilt"), free)
        calc = p["scale"].detach()[sel, None, None] * img + p["background"].detach()[sel, None, None]
        return calc, (meas[sel] - calc).mean((1, 2))


def _r_free(geo, meas, p, expand, free) -> float:  # noqa: ANN001
    """R1 of the held-out images, each with its own background offset: R_free."""
    calc, offset = _free_prediction(geo, meas, p, expand, free)
    return r1(calc + offset[:, None, None], meas[torch.as_tensor(free, device=meas.device)])


def _snapshot(p: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in p.items()}


def _restore(p: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> None:
    """``p`` as it was in ``state``; a parameter added since (the per-atom B and H of ``per_atom = "auto"``) goes
    back to zero, i.e. to no change."""
    with torch.no_grad():
        for k, v in p.items():
            v.copy_(state[k]) if k in state else v.zero_()


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
        all over the measured images (an inpainted series' predicted projections are left out),
        ``R1_per_projection``, and with ``calculated=True`` the calculated images ``[n, rows, cols]``.
    """
    if fit not in ("scale", "none"):
        raise AetInputError(f"fit must be 'scale' or 'none', got {fit!r}.")
    tilt_series = tilt_series.measured()  # measured images only: never the projections inpainting predicted
    check_inputs(model, tilt_series)
    kw = {"dtype": torch.float64}
    ts = tilt_series
    geo = Geometry.of(ts)
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
    geo: Geometry, meas: torch.Tensor, pos: torch.Tensor, kind: torch.Tensor, b: torch.Tensor, n_species: int,
    fit: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """H per species and background per image by linear least squares (B fixed): calc_i = Σ_s H_s·P_si + bg_i.

    The per-image backgrounds are eliminated by removing each image's mean, leaving an S-column problem; H comes
    from the images ``fit`` only, the backgrounds are those of every image.
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
    rows = torch.as_tensor(fit, device=pos.device)
    design = (proj - proj_mean[:, None, None])[rows].reshape(-1, n_species)
    target = (meas - meas_mean[:, None, None])[rows].reshape(-1, 1)
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


def _step(opt, geo, meas, p, expand, log, advance, stage, fit) -> None:  # noqa: ANN001
    """One optimiser step on the images ``fit``; logs ε and R1 (of those images) of its last evaluation."""
    state: dict[str, Any] = {}

    def closure() -> torch.Tensor:
        eps, calc = misfit_and_grad(geo, meas, p, expand, fit)
        state["eps"], state["calc"] = eps, calc
        return torch.tensor(eps)

    opt.step(closure)
    r1_now = r1(state["calc"], meas[torch.as_tensor(fit, device=meas.device)])
    log.append(RefineStep(stage, float(state["eps"]), r1_now))
    if advance is not None:
        advance(R1=r1_now)


__all__ = ["RFactors", "RefineReport", "RefineSettings", "refine", "rfactor"]
