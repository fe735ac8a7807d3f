"""The model's predicted tilt series and the gradient of its misfit, streamed over groups of images.

The prediction of image i is ``scale_i · Σ_atoms P_i(atom) + background_i``, with ``P_i`` the shared analytic atom
projector (:func:`aet.physics.atoms_to_projections`, AET Gaussians H·exp(−π² r²/B)). The misfit is
ε = ½ Σ_i Σ_pixels (calc − meas)², a sum over images, hence ∂ε/∂θ = Σ_groups ∂ε_group/∂θ, one group of images
at a time. The projector's hand-written backward keeps only the atoms' image coordinates, so a group's graph holds
about 100 bytes per atom and image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from aet.model import TiltSeries
from aet.physics.atoms import atoms_to_projections


@dataclass
class Geometry:
    """What the prediction needs besides the parameters: angles (deg), convention, image shape, pixel size (Å)."""

    angles: np.ndarray
    convention: str
    image_shape: tuple[int, int]
    pixel_size: float
    chunk: int = 8192
    tilt_scale: float = 1.0  #: radians per unit of the angle-correction parameters (1 / model radius in Å)
    shifts: np.ndarray | None = None  #: ``[n, 2]`` (row, col) Å: the series' own image shifts (TiltSeries.shifts)

    @classmethod
    def of(cls, ts: TiltSeries, tilt_scale: float = 1.0) -> Geometry:
        """The geometry of the tilt series ``ts`` (its angles, convention, image shape, pixel size and shifts)."""
        return cls(ts.angles, ts.euler_convention, tuple(ts.images.shape[1:]), ts.pixel_size,  # type: ignore[arg-type]
                   tilt_scale=tilt_scale, shifts=ts.shifts)  # fmt: skip


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
    images: slice | np.ndarray = slice(None),
    atoms: slice = slice(None),
) -> torch.Tensor:
    """Unscaled projections ``[m, rows, cols]`` of the atoms ``atoms`` in the images ``images`` (a slice or image
    indices; differentiable).

    ``tilt`` ``[n, 3]`` are small per-image rotation vectors, in units of ``geo.tilt_scale`` radians, applied to the
    specimen before the nominal rotation: an angle correction that stays differentiable while the Euler angles stay
    fixed. With ``tilt_scale`` = 1 / (model radius), one unit moves the outer atoms by about 1 Å, so the optimiser
    sees angle and position parameters on the same scale.
    """
    sel = images if isinstance(images, slice) else torch.as_tensor(images, device=pos.device)
    rot = None if tilt is None else rotation_from_vector(tilt[sel] * geo.tilt_scale)
    moved = None if shift is None else shift[sel]
    if geo.shifts is not None:  # the series' own shifts, plus the fitted ones
        own = torch.as_tensor(geo.shifts[images], dtype=pos.dtype, device=pos.device)
        moved = own if moved is None else own + moved
    return atoms_to_projections(
        pos[atoms], b[atoms], h[atoms], geo.angles[images], geo.image_shape, geo.pixel_size, geo.convention,
        moved, chunk=geo.chunk, rotations=rot,
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


#: Largest atoms × images in one autograd graph (the projector keeps ≈ 100 bytes per atom and image); bigger
#: problems are streamed in groups of images.
GRAPH_BUDGET = 4 * 10**6


def misfit_and_grad(
    geo: Geometry,
    meas: torch.Tensor,
    params: dict[str, torch.Tensor],
    expand: Callable[[dict[str, torch.Tensor]], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    images: np.ndarray | None = None,
) -> tuple[float, torch.Tensor]:
    """ε = ½‖calc − meas‖² over ``images`` and, in place, ``.grad`` of every tensor in ``params`` that requires it.

    Args:
        params: the free parameters (positions, B, H, scale, background, shift, tilt…), leaf tensors.
        expand: maps ``params`` to per-atom (positions ``[N, 3]``, B ``[N]``, H ``[N]``); differentiable.
        images: indices of the images in the fit (default all; the others, held out, get no gradient).
    Returns:
        ε and the predicted images ``[len(images), rows, cols]``.
    """
    for p in params.values():
        p.grad = None
    scale, bg, shift, tilt = params["scale"], params["background"], params.get("shift"), params.get("tilt")
    fit = np.arange(len(geo.angles)) if images is None else np.asarray(images)
    group = max(1, GRAPH_BUDGET // max(1, len(expand(params)[0])))
    calc_all = torch.empty((len(fit), *meas.shape[1:]), dtype=meas.dtype, device=meas.device)
    total = 0.0
    for g0 in range(0, len(fit), group):  # each image projected once, with its graph; gradients accumulate
        idx = fit[g0 : g0 + group]
        sel = torch.as_tensor(idx, device=meas.device)
        pos, b, h = expand(params)
        calc = scale[sel, None, None] * project(geo, pos, b, h, shift, tilt, idx) + bg[sel, None, None]
        loss = 0.5 * ((calc - meas[sel]) ** 2).sum()
        loss.backward()
        total += float(loss.detach())
        calc_all[g0 : g0 + len(idx)] = calc.detach()
    return total, calc_all
