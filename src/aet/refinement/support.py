"""How strongly the measured projections support each atom of a refined model: its least-squares occupancy.

With every other atom and every image parameter held, the prediction of image i is c_i + o·s_i·p_ai, where p_ai
is atom a's projection (H·√(B/π)·exp(−π² ρ²/B) per voxel length, the shared projector's) and s_i the image's
scale. The occupancy o that minimises ½ Σ_i ‖c_i + o·s_i·p_ai − m_i‖² is

    o_a = 1 − ⟨r, s·p_a⟩ / ‖s·p_a‖²,   r = calc − meas (the model's residual, atom a included),

a number per atom from one gradient of the misfit (⟨r, s·p_a⟩ = H_a · ∂ε/∂H_a) and one projection of the squared
atoms (‖s·p_a‖²: the square of a Gaussian of B and amplitude A is a Gaussian of B/2 and amplitude A²). o ≈ 1: the
images hold the atom as modelled; o < 1/2: the misfit falls when the atom is removed, so the data do not support
it; o ≫ 1: more density than one atom (a missing neighbour, or a heavier species). The figure is the one a
crystallographer reads from a difference map at the atom, summed over every projection.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from aet.model import AtomicModel, TiltSeries
from aet.refinement.forward import Geometry, project
from aet.refinement.report import RefineReport

#: Below this occupancy the misfit falls when the atom is removed (o = 1/2 is where keeping and removing it fit the
#: images equally well).
SUPPORTED = 0.5


def _fitted(tilt_series: TiltSeries, report: RefineReport, kw: dict[str, Any]) -> tuple[Geometry, torch.Tensor | None]:
    """The series' geometry with the refinement's image shifts, and its angle corrections (rotation vectors,
    radians), as the refined model was fitted."""
    ts = tilt_series
    geo = Geometry.of(ts)
    if report.image_shift_A is not None:
        own = np.zeros((ts.n_images, 2)) if ts.shifts is None else np.asarray(ts.shifts, dtype=float)
        geo.shifts = own + np.asarray(report.image_shift_A)
    tilt = None if report.angle_correction_deg is None else torch.as_tensor(
        np.deg2rad(np.asarray(report.angle_correction_deg)), **kw)  # fmt: skip
    return geo, tilt


def residual(model: AtomicModel, tilt_series: TiltSeries, report: RefineReport, device: str = "cpu") -> TiltSeries:
    """The measured images minus the refined ``model``'s prediction (each image's scale, background, shift and
    angle correction from ``report``): what the model leaves unexplained, as a tilt series (a difference map's
    data)."""
    kw = {"dtype": torch.float64, "device": device}
    geo, tilt = _fitted(tilt_series, report, kw)
    scale, bg = (torch.as_tensor(v, **kw) for v in (report.image_scale, report.image_background))
    with torch.no_grad():
        pos, b, h = (torch.as_tensor(v, **kw) for v in (model.positions, model.b_factor, model.height))
        calc = scale[:, None, None] * project(geo, pos, b, h, None, tilt) + bg[:, None, None]
    images = tilt_series.images - calc.cpu().numpy()
    return replace(tilt_series, images=images.astype(np.float32))


def occupancy(model: AtomicModel, tilt_series: TiltSeries, report: RefineReport, candidates: AtomicModel | None = None,
              device: str = "cpu") -> np.ndarray:  # fmt: skip
    """Least-squares occupancy of every atom of a refined ``model`` given the others (see module docstring).

    Args:
        model: positions (Å), ``b_factor`` (Å², AET convention) and ``height`` per atom, as :func:`aet.refine`
            returns them.
        tilt_series: the measured images the model was refined against.
        report: the refinement's report, for each image's scale, background, shift and angle correction.
        candidates: atoms that are not in the model (with B and H): each one's occupancy if it alone were added,
            −⟨r, s·p_a⟩ / ‖s·p_a‖², is appended to the model's.
    Returns:
        ``[N (+ candidates)]`` occupancies (1: as modelled; below :data:`SUPPORTED`: unsupported).
    """
    for m in (model, candidates):
        if m is not None and (m.b_factor is None or m.height is None):
            raise ValueError("occupancy needs B and H per atom (a refined model, candidates with their species').")
    kw = {"dtype": torch.float64, "device": device}
    geo, tilt = _fitted(tilt_series, report, kw)
    scale = torch.as_tensor(report.image_scale, **kw)[:, None, None]
    r = -torch.as_tensor(residual(model, tilt_series, report, device).images, **kw)  # calc − meas
    start = np.ones(len(model))
    if candidates is not None and len(candidates):
        model = AtomicModel(np.vstack([model.positions, candidates.positions]), [*model.elements, *candidates.elements],
                            b_factor=np.r_[model.b_factor, candidates.b_factor],
                            height=np.r_[model.height, candidates.height])  # fmt: skip
        start = np.r_[start, np.zeros(len(candidates))]
    pos, b, h = (torch.as_tensor(v, **kw) for v in (model.positions, model.b_factor, model.height))

    def per_atom(b_atoms: torch.Tensor, h_atoms: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Σ_i Σ_pixels weight_i · P_i(atom a) for every atom a: one gather, through the projector's backward."""
        h_free = h_atoms.detach().clone().requires_grad_()
        (weight * project(geo, pos, b_atoms, h_free, None, tilt)).sum().backward()
        return (h_free.grad * h_free).detach()

    overlap = per_atom(b, h, scale * r)  # ⟨r, s·p_a⟩
    # ‖s·p_a‖²: atoms of B/2 whose projected amplitude is the square of the atom's own, A = H·√(B/π)/pixel
    amp = h * torch.sqrt(b / math.pi) / tilt_series.pixel_size
    norm = per_atom(b / 2, amp**2 * tilt_series.pixel_size / torch.sqrt(b / (2 * math.pi)), scale**2)
    return start - (overlap / norm.clamp_min(1e-30)).cpu().numpy()
