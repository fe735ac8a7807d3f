"""The model's predicted tilt series and the gradient of its misfit, streamed over images and atom chunks.

The prediction of image i is ``scale_i · Σ_atoms P_i(atom) + background_i``, with ``P_i`` the shared analytic atom
projector (:func:`aet.physics.atoms_to_projections`, AET Gaussians H·exp(−π² r²/B)). The misfit is
ε = ½ Σ_i Σ_pixels (calc − meas)². Autograd through the whole series would keep atoms × window × images
intermediates alive (tens of GB for 100,000 atoms), so the gradient is accumulated instead: the prediction is a sum
over atoms, hence ∂ε/∂θ = Σ_i Σ_chunks ∂(Σ_pixels r_i · calc_i,chunk)/∂θ with the residual r_i computed first
without a graph. Peak memory is one image plus one chunk of atoms × window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from aet.physics.atoms import atoms_to_projections, window_radius


@dataclass
class Geometry:
    """What the prediction needs besides the parameters: angles (deg), convention, image shape, pixel size (Å)."""

    angles: np.ndarray
    convention: str
    image_shape: tuple[int, int]
    pixel_size: float
    chunk: int = 8192
    tilt_scale: float = 1.0  #: radians per unit of the angle-correction parameters (1 / model radius in Å)


def rotation_from_vector(w: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``[m, 3, 3]`` of rotation vectors ``w`` ``[m, 3]`` (radians, axis × angle), Rodrigues."""
    theta = torch.sqrt((w * w).sum(-1, keepdim=True) + 1e-30)[..., None]  # [m, 1, 1]
    k = w / theta[..., 0]
    zero = torch.zeros_like(k[:, 0])
    kx = torch.stack([zero, -k[:, 2], k[:, 1], k[:, 2], zero, -k[:, 0], -k[:, 1], k[:, 0], zero], -1).reshape(-1, 3, 3)
    eye = torch.eye(3, dtype=w.dtype, device=w.device)
    return eye + torch.sin(theta) * kx + (1 - torch.cos(theta)) * (kx @ kx)


def project(
    geo: Geometry,
    pos: torch.Tensor,
    b: torch.Tensor,
    h: torch.Tensor,
    shift: torch.Tensor | None,
    tilt: torch.Tensor | None,
    images: slice = slice(None),
    atoms: slice = slice(None),
) -> torch.Tensor:
    """Unscaled projections ``[m, rows, cols]`` of the atoms ``atoms`` in the images ``images`` (differentiable).

    ``tilt`` ``[n, 3]`` are small per-image rotation vectors, in units of ``geo.tilt_scale`` radians, applied to the
    specimen before the nominal rotation: an angle correction that stays differentiable while the Euler angles stay
    fixed. With ``tilt_scale`` = 1 / (model radius), one unit moves the outer atoms by about 1 Å, so the optimiser
    sees angle and position parameters on the same scale.
    """
    rot = None if tilt is None else rotation_from_vector(tilt[images] * geo.tilt_scale)
    return atoms_to_projections(
        pos[atoms], b[atoms], h[atoms], geo.angles[images], geo.image_shape, geo.pixel_size, geo.convention,
        None if shift is None else shift[images], chunk=geo.chunk, rotations=rot,
    )  # fmt: skip


def predict(
    geo: Geometry,
    pos: torch.Tensor,
    b: torch.Tensor,
    h: torch.Tensor,
    scale: torch.Tensor,
    background: torch.Tensor,
    shift: torch.Tensor | None = None,
    tilt: torch.Tensor | None = None,
) -> torch.Tensor:
    """Predicted tilt series ``[n, rows, cols]`` (no graph)."""
    with torch.no_grad():
        return scale[:, None, None] * project(geo, pos, b, h, shift, tilt) + background[:, None, None]


#: Largest atoms × window × images held in one autograd graph (≈ 40 bytes each); bigger problems are streamed.
GRAPH_BUDGET = 2 * 10**7


def misfit_and_grad(
    geo: Geometry,
    meas: torch.Tensor,
    params: dict[str, torch.Tensor],
    expand: Callable[[dict[str, torch.Tensor]], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
) -> tuple[float, torch.Tensor]:
    """ε = ½‖calc − meas‖² and, in place, ``.grad`` of every tensor in ``params`` that requires it.

    Args:
        params: the free parameters (positions, B, H, scale, background, shift, tilt…), leaf tensors.
        expand: maps ``params`` to per-atom (positions ``[N, 3]``, B ``[N]``, H ``[N]``); differentiable.
    Returns:
        ε and the predicted series ``[n, rows, cols]``.
    """
    for p in params.values():
        p.grad = None
    scale, bg, shift, tilt = params["scale"], params["background"], params.get("shift"), params.get("tilt")
    pos, b, h = expand(params)
    n_atoms, n_img = len(pos), len(geo.angles)
    taps = (2 * window_radius(float(b.detach().max()), geo.pixel_size) + 1) ** 2
    if n_atoms * taps * n_img <= GRAPH_BUDGET:  # small problem: one graph over everything
        calc = scale[:, None, None] * project(geo, pos, b, h, shift, tilt) + bg[:, None, None]
        loss = 0.5 * ((calc - meas) ** 2).sum()
        loss.backward()
        return float(loss.detach()), calc.detach()
    calc_all = torch.empty_like(meas)
    total = 0.0
    for i in range(n_img):  # streamed: residual first (no graph), then the gradient chunk by chunk
        one = slice(i, i + 1)
        with torch.no_grad():
            img = project(geo, pos, b, h, shift, tilt, one)[0]
            calc = scale[i] * img + bg[i]
            r = calc - meas[i]
        calc_all[i] = calc
        total += 0.5 * float((r * r).sum())
        if scale.requires_grad or bg.requires_grad:  # linear in scale and background: no second pass
            (scale[i] * (img * r).sum() + bg[i] * r.sum()).backward()
        for start in range(0, n_atoms, geo.chunk):
            pos, b, h = expand(params)
            part = project(geo, pos, b, h, shift, tilt, one, slice(start, start + geo.chunk))[0]
            (scale[i].detach() * (part * r).sum()).backward()
    return total, calc_all
