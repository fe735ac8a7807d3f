"""Tilt-series alignment from the data alone: tilt-axis direction, per-image shifts, one resampling.

* **Tilt axis**: the in-plane angle at which one volume explains the images best. For a trial angle the images are
  turned onto the rows, binned, reconstructed by SIRT on aet's shared projector, projected and turned back; the
  misfit is R1 against the binned images as given (never interpolated, so no angle is favoured for smoothing its
  noise). A scan every 4° at ≤ 48 px, its deepest basins refined to 1° at ≤ 48 px, the better one kept at ≤ 80 px,
  then a parabola over ±0.6° at ≤ 80 px once the shifts are known. A turn is applied only when both halves of the
  series (even and odd images) fit it better than the rows, and only beyond 0.5°.
* **Shifts along the axis**: each image summed across the axis gives the projection of the object onto the axis,
  the same at every tilt; the shifts are the 1-D cross-correlation lags of these profiles against their mean.
* **Shifts across the axis**: each image summed along the axis gives the sinogram of the object summed along it, a
  2-D tomography problem. Centre of mass first (particles), then 2-D projection matching (SIRT on the shared
  projector, project, cross-correlate each profile with its calculated one) until the update is below
  ``tolerance`` pixels. A pattern a·cos θ + b·sin θ only moves the object, so it is removed from every update, and
  from the result with the mean row shift: the object stays where the series has it on average.
* Shifts are applied only when their RMS exceeds 3× their noise (measured again from the even and from the odd rows
  and columns); everything is applied in one cubic-spline resampling, or not at all (the images stay as measured).

The axis direction is found modulo 180°: a 180° error gives the point-inverted object (a handedness the projections
cannot show), so aet reports it in (−90°, 90°] and a given ``tilt_axis`` fixes it.

Conventions: ``tilt_axis`` is degrees counter-clockwise from image axis 0 (rows), the axis then runs along
(row, col) = (cos α, sin α). Shifts are (row, col) Å in the aligned frame (row along the axis): how far each
image's content sat from where a perfectly aligned series has it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from aet.errors import AetInputError, AetUsageError
from aet.geometry import centre_index, is_single_axis, single_axis_tilts
from aet.model import TiltSeries

Array = npt.NDArray[np.float64]

#: Below this correlation between the mean of the even and of the odd images, the series shows no object.
MIN_OBJECT_SIGNAL = 0.5
#: Corrections below these are not applied (no resampling): degrees of axis (the axis is found to about ±0.3°,
#: and 0.5° moves a point 100 pixels from the centre by under a pixel), pixels of shift.
NEGLIGIBLE_AXIS_DEG, NEGLIGIBLE_SHIFT_PX = 0.5, 0.1
#: Shifts are applied only when their RMS exceeds this many times their own noise.
SIGNIFICANT_SHIFTS = 3.0
#: Above this misfit (:func:`order_misfit`) of a particle's profile spreads, and above this many times what noise
#: gives, the angles do not belong to the images in this order.
MAX_ORDER_MISFIT, ORDER_NOISE_FACTOR = 0.03, 4.0


@dataclass
class Alignment:
    """What the alignment found (and whether it was applied).

    Attributes:
        tilt_axis: the axis the images were turned by, degrees counter-clockwise from image axis 0 (rows).
        axis_source: ``"found"`` (from the data), ``"given"``, or ``"assumed"`` (the rows: the axis found was not
            confirmed by both halves of the series).
        shifts: ``[n, 2]`` (row, col) Å in the aligned frame.
        axis_contrast: median misfit of the trial axes over the best one's (≈ 1: the data barely tell the axis).
        order_misfit: how far the images' spreads are from one object's at the given angles (particles; 0: exact).
        iterations: projection-matching rounds run.
        last_update: RMS shift update of the last round, Å.
        applied: whether the images were resampled (False when every correction was negligible).
        notes: what the user should know (an assumed axis, shifts left out).
        shift_noise: RMS noise of the shifts, Å (from the even and the odd rows and columns apart).
        axis_found: the axis the data show, degrees (``tilt_axis`` is the one applied: 0 when this is within
            0.5° of the rows or was not confirmed).
        border: how the resampling filled pixels from outside the images (``scipy.ndimage`` mode).
    """

    tilt_axis: float
    axis_source: str
    shifts: Array
    axis_contrast: float
    order_misfit: float
    iterations: int = 0
    last_update: float = 0.0
    applied: bool = False
    notes: list[str] = field(default_factory=list)
    shift_noise: float = 0.0
    axis_found: float | None = None
    border: str = "nearest"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shifts"] = np.round(self.shifts, 4).tolist()
        d["shift_rms"] = float(np.sqrt(np.mean(self.shifts**2))) if len(self.shifts) else 0.0
        return d


def tilts_of(ts: TiltSeries) -> Array:
    """The tilt θ (degrees) of every image: read off the matrices for a single-axis series, else Euler θ."""
    single = is_single_axis(ts.angles, ts.euler_convention)
    return np.asarray(single_axis_tilts(ts.angles, ts.euler_convention) if single else ts.tilt_angles, float)


# --- 1-D tools --------------------------------------------------------------------------------------------------


def shift_1d(a: Array, ref: Array) -> Array:
    """Sub-pixel lag s of every profile ``a[i]`` against ``ref[i]`` (a(x) ≈ ref(x − s)); rows of ``[n, L]``.

    Linear cross-correlation (zero-padded FFT), integer peak, parabola through the peak and its neighbours.
    """
    a, ref = np.atleast_2d(a), np.atleast_2d(ref)
    n = 2 * a.shape[1]
    cc = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(ref, n)), n)
    k = np.argmax(cc, axis=1)
    rows = np.arange(len(cc))
    c0, cm, cp = cc[rows, k], cc[rows, (k - 1) % n], cc[rows, (k + 1) % n]
    denom = cm - 2 * c0 + cp
    frac = np.where(denom < 0, 0.5 * (cm - cp) / np.where(denom < 0, denom, -1.0), 0.0)
    lag = np.where(k > n // 2, k - n, k).astype(np.float64)
    return np.asarray(lag + np.clip(frac, -0.5, 0.5))


def fourier_shift_1d(p: Array, s: Array) -> Array:
    """Profiles ``p`` ``[n, L]`` displaced by ``s`` ``[n]`` pixels (zero-padded Fourier shift: no blur)."""
    n = 2 * p.shape[1]
    k = np.fft.rfftfreq(n)
    moved = np.fft.irfft(np.fft.rfft(p, n) * np.exp(-2j * np.pi * k[None, :] * np.asarray(s)[:, None]), n)
    return np.asarray(moved[:, : p.shape[1]])


# --- the tilt axis ---------------------------------------------------------------------------------------------


def binned(images: Array, max_px: int) -> tuple[Array, int]:
    """Images averaged over f×f blocks so that the smaller side has at most ``max_px`` pixels; and f."""
    n, r, c = images.shape
    f = max(1, math.ceil(min(r, c) / max_px))
    return images[:, : r // f * f, : c // f * f].reshape(n, r // f, f, c // f, f).mean(axis=(2, 4)), f


def object_signal(images: Array) -> float:
    """Correlation between the mean of the even-numbered and of the odd-numbered images (binned to ≤ 32 pixels):
    near 1 when an object is seen through the series, near 0 for pure noise."""
    small, _ = binned(images, 32)
    a, b = small[0::2].mean(0), small[1::2].mean(0)
    a, b = a - a.mean(), b - b.mean()
    return float(np.sum(a * b) / max(float(np.sqrt(np.sum(a * a) * np.sum(b * b))), 1e-300))


def check_object(images: Array) -> None:
    """Refuse a series in which no object can be followed (pure noise): :func:`object_signal` below 0.5."""
    signal = object_signal(images)
    if signal < MIN_OBJECT_SIGNAL:
        raise AetInputError(
            f"no object can be followed through the series, so no tilt axis can be found: the mean of the even "
            f"images and that of the odd ones correlate at {signal:.2f} (an object gives ≥ {MIN_OBJECT_SIGNAL}); the "
            "images may be pure noise. Check the series (and its background), or set [prepare] align = none."
        )


def _quick_shifts(rotated: Array) -> Array:
    """Rough ``[n, 2]`` shifts (pixels) of axis-aligned images: along-axis profiles matched, centre of mass across."""
    mass = np.clip(rotated.sum(axis=1), 0, None)
    cols = mass @ np.arange(mass.shape[1]) / np.maximum(mass.sum(1), 1e-300) - centre_index(mass.shape[1])
    return np.stack([_along_axis_shifts(rotated.sum(axis=2)), cols], axis=1)


def trial_misfit(
    images: Array, ts: TiltSeries, axis: float, shifts_px: Array | None, max_px: int, iterations: int = 50,
    exact: bool = True,
) -> float:
    """How badly one volume explains the images if the tilt axis is at ``axis`` degrees.

    The images, binned to at most ``max_px`` pixels a side, are turned by ``axis`` and moved by ``shifts_px``
    (full-resolution pixels; None: rough ones from the profiles), reconstructed by SIRT (``iterations``, shared
    projector), projected, and turned back; the result is R1 against the binned images as given, inside the
    inscribed disc. Every trial is compared with the same, never interpolated, images: comparing with turned images
    would favour the angles whose interpolation smooths their noise most. ``exact`` turns by cubic spline, else
    linearly (a coarse scan).
    """
    from aet.physics.projector import project
    from aet.reconstruction import reconstruct

    small, f = binned(images, max_px)
    order = 3 if exact else 1
    shifts = (_quick_shifts(resample(small, axis, np.zeros((len(small), 2)), order=order)) if shifts_px is None
              else np.asarray(shifts_px) / f)  # fmt: skip
    turned = resample(small, axis, shifts, order=order)
    trial = TiltSeries(turned.astype(np.float32), ts.angles, ts.pixel_size * f, ts.euler_convention)
    vol = reconstruct(trial, "sirt", iterations=iterations, progress=False, device="cpu")
    calc = project(vol.data, ts.angles, ts.euler_convention, image_shape=small.shape[1:]).numpy()
    back = unturn(calc.astype(np.float64), axis, shifts, order)
    rows, cols = small.shape[1:]
    r = np.arange(rows)[:, None] - centre_index(rows)
    c = np.arange(cols)[None, :] - centre_index(cols)
    disc = r * r + c * c <= (min(rows, cols) / 2 - 1) ** 2
    return float(np.abs(back - small)[:, disc].sum() / max(float(np.abs(small)[:, disc].sum()), 1e-300))


def find_tilt_axis(images: Array, ts: TiltSeries, step_deg: float = 4.0) -> tuple[float, float]:
    """The tilt-axis direction (degrees in (−90, 90]) at which a trial reconstruction fits best, and its contrast
    (the median misfit of the scan over the best: about 1 when the data cannot tell the axis).

    A scan every ``step_deg`` on images binned to ≤ 48 pixels; the two deepest basins of the scan (a small or
    roundish particle can leave two nearly equal; the second only when it is within half the best's depth)
    are refined to 1° at ≤ 48 pixels with cubic turns, and the
    one that fits better at ≤ 80 pixels is kept.
    """
    grid = np.arange(-90.0 + step_deg, 90.0 + step_deg / 2, step_deg)
    scores = np.array([trial_misfit(images, ts, float(a), None, 48, 20, exact=False) for a in grid])
    n = len(scores)
    minima = [i for i in range(n) if scores[i] <= scores[(i - 1) % n] and scores[i] <= scores[(i + 1) % n]]
    best = sorted(minima, key=lambda i: scores[i])[:2]
    median = float(np.median(scores))
    if len(best) == 2 and scores[best[1]] - scores[best[0]] > 0.5 * (median - scores[best[0]]):
        best = best[:1]  # the second basin is clearly worse: not worth refining
    refined = [refine_tilt_axis(images, ts, float(grid[i]), None, step=1.0, span=4.0, max_px=48) for i in best]
    fits = [trial_misfit(images, ts, a, None, 80) for a in refined]
    axis = refined[int(np.argmin(fits))]
    axis = (axis + 90.0) % 180.0 - 90.0
    return (axis + 180.0 if axis <= -90.0 else axis), median / max(float(scores[best[0]]), 1e-300)


def refine_tilt_axis(
    images: Array, ts: TiltSeries, axis: float, shifts_px: Array | None, step: float, span: float, max_px: int
) -> float:
    """The axis (degrees) near ``axis`` at which a trial reconstruction (:func:`trial_misfit`) fits its images
    best: trials every ``step`` within ± ``span``, the window moved while the best trial sits at its edge, then a
    least-squares parabola through the window. A wrong axis moves every atom off the axis along it from one
    tilt to the next, which no single volume fits."""
    misfit: dict[float, float] = {}

    def fit(a: float) -> float:
        if a not in misfit:
            misfit[a] = trial_misfit(images, ts, a, shifts_px, max_px)
        return misfit[a]

    centre, half = round(axis, 6), round(span / step)
    for _ in range(8):
        trials = [round(centre + k * step, 6) for k in range(-half, half + 1)]
        values = [fit(a) for a in trials]
        k = int(np.argmin(values))
        if 0 < k < len(trials) - 1:
            break
        centre = trials[k]
    x = np.asarray(trials) - trials[k]
    c2, c1, _ = np.polyfit(x, values, 2)  # a least-squares parabola over the whole window: R1 is noisy
    offset = -c1 / (2 * c2) if c2 > 0 else 0.0
    return float(trials[k] + np.clip(offset, -step, step))


def _confirmed_by_halves(images: Array, ts: TiltSeries, axis: float) -> bool:
    """Whether the even and the odd images, each alone, fit a trial reconstruction better at ``axis`` than with the
    axis along the rows: two independent halves of the data agreeing that the turn is real."""
    for half in (slice(0, None, 2), slice(1, None, 2)):
        sub = TiltSeries(ts.images[half], ts.angles[half], ts.pixel_size, ts.euler_convention)
        if trial_misfit(images[half], sub, axis, None, 80) >= trial_misfit(images[half], sub, 0.0, None, 80):
            return False
    return True


# --- resampling -------------------------------------------------------------------------------------------------


def resample(images: Array, axis_deg: float, shifts_px: Array, mode: str = "constant", order: int = 3) -> Array:
    """Images rotated so that the axis ``axis_deg`` runs along the rows, and moved back by ``shifts_px``
    ``[n, 2]`` (row, col, aligned frame): one spline interpolation (cubic by default) per image."""
    a = math.radians(axis_deg)
    m = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])  # aligned offsets -> input offsets
    ctr = np.array([centre_index(s) for s in images.shape[1:]], dtype=np.float64)
    out = np.empty_like(images)
    for i, img in enumerate(images):
        offset = ctr + m @ (np.asarray(shifts_px[i], dtype=np.float64) - ctr)
        out[i] = ndimage.affine_transform(img, m, offset=offset, order=order, mode=mode, cval=0.0)
    return out


def unturn(images: Array, axis_deg: float, shifts_px: Array, order: int = 3) -> Array:
    """The inverse of :func:`resample`: aligned images back into the frame of the measured ones."""
    a = math.radians(axis_deg)
    mt = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])  # the inverse turn
    ctr = np.array([centre_index(s) for s in images.shape[1:]], dtype=np.float64)
    out = np.empty_like(images)
    for i, img in enumerate(images):
        offset = ctr - mt @ ctr - np.asarray(shifts_px[i], dtype=np.float64)
        out[i] = ndimage.affine_transform(img, mt, offset=offset, order=order, mode="constant", cval=0.0)
    return out


# --- shifts -----------------------------------------------------------------------------------------------------


def _spreads(profiles: Array) -> Array:
    p = np.clip(profiles, 0, None)
    x = np.arange(p.shape[1], dtype=np.float64)
    m0 = np.maximum(p.sum(1), 1e-300)
    m1 = p @ x / m0
    return np.asarray(p @ (x * x) / m0 - m1**2)


def order_misfit(rotated: Array, tilts: Array) -> tuple[float, float]:
    """How far the images' spreads across the axis are from what one 2-D object gives at these angles, and how far
    noise alone would put them (both relative to the mean spread; images with the axis along the rows).

    The second central moment of a projection of a 2-D object at angle θ is A + B·cos 2θ + C·sin 2θ (the
    object's inertia tensor projected; a Helgason–Ludwig consistency condition), whatever the shifts. The misfit is
    the RMS residual of that least-squares fit; the noise is half the RMS difference between the spreads of the
    even and of the odd rows. An object that reaches the edge of the images cannot be checked: (0, inf).
    """
    profiles = rotated.sum(axis=1)
    edges = np.abs(profiles[:, [0, 1, -2, -1]]).max()
    if edges > 0.05 * np.abs(profiles).max():  # the object reaches the image edge: its moments are cut
        return 0.0, float("inf")
    spread = _spreads(profiles)
    t = np.deg2rad(2 * tilts)
    basis = np.stack([np.ones_like(t), np.cos(t), np.sin(t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, spread, rcond=None)
    scale = max(float(spread.mean()), 1e-300)
    misfit = float(np.sqrt(np.mean((spread - basis @ coef) ** 2))) / scale
    halves = _spreads(rotated[:, 0::2].sum(axis=1)) - _spreads(rotated[:, 1::2].sum(axis=1))
    return misfit, float(np.sqrt(np.mean(halves**2)) / 2) / scale


def shift_error(found: Array, ts: TiltSeries) -> float:
    """RMS (Å) of ``found`` − the simulation's true shifts (``metadata["true_shifts_A"]``, taken into the aligned
    frame), less what only moves the whole object (the mean row shift, a·cos θ + b·sin θ across)."""
    a = math.radians(ts.metadata.get("true_tilt_axis", 0.0))
    m = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    err = np.asarray(found, dtype=np.float64) - np.asarray(ts.metadata["true_shifts_A"]) @ m
    err[:, 0] -= err[:, 0].mean()
    err[:, 1] = _remove_translation(err[:, 1], tilts_of(ts))
    return float(np.sqrt(np.mean(np.sum(err**2, axis=1))))


def _remove_translation(update: Array, tilts: Array) -> Array:
    """``update`` less its least-squares fit by a·cos θ + b·sin θ (a move of the object, not a misalignment)."""
    t = np.deg2rad(tilts)
    basis = np.stack([np.cos(t), np.sin(t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, update, rcond=None)
    return np.asarray(update - basis @ coef)


def _along_axis_shifts(profiles: Array, rounds: int = 6) -> Array:
    """Row shifts (pixels, mean 0) that bring every along-axis profile onto their mean."""
    s = np.zeros(len(profiles))
    for _ in range(rounds):
        moved = fourier_shift_1d(profiles, -s)
        ref = np.clip(moved.mean(0), 0, None)
        s = s + shift_1d(moved, np.repeat(ref[None], len(moved), 0))
        s -= s.mean()
    return s


def _across_axis_shifts(
    sinogram: Array, tilts: Array, particle: bool, max_rounds: int, tolerance: float, iterations: int
) -> tuple[Array, int, float]:
    """Column shifts (pixels) by centre of mass, then 2-D projection matching on the shared projector: each round
    reconstructs by SIRT (``iterations`` at first, a third of them from the last round's volume after that)."""
    from aet.reconstruction.realspace import sirt
    from aet.reconstruction.setup import make_job
    from aet.settings.reconstruct import SirtSettings

    n, length = sinogram.shape
    c = centre_index(length)
    s = np.zeros(n)
    if particle:
        mass = np.clip(sinogram, 0, None)
        totals = np.maximum(mass.sum(1), 1e-300)
        s = (mass @ np.arange(length)) / totals - c
    rounds, update_rms, vol = 0, 0.0, None
    while rounds < max_rounds:
        rounds += 1
        moved = fourier_shift_1d(sinogram, -s)
        ts = TiltSeries(moved[:, None, :].astype(np.float32), tilts, 1.0)
        job = make_job(ts, "sirt", support=None, progress=False, thickness=length, positivity=particle, device="cpu")
        its = iterations if vol is None else max(1, iterations // 3)
        vol = sirt(job, SirtSettings(iterations=its), x0=vol)
        calc = job.projector.forward(vol)[:, 0].numpy()
        update = _remove_translation(shift_1d(moved, calc.astype(np.float64)), tilts)
        s = s + update
        update_rms = float(np.sqrt(np.mean(update**2)))
        if update_rms < tolerance:
            break
    return s, rounds, update_rms


def without_background(images: Array) -> Array:
    """A particle's images less each one's border median (what the estimates need; the output keeps it)."""
    n = len(images)
    border = np.concatenate([images[:, :2].reshape(n, -1), images[:, -2:].reshape(n, -1),
                             images[:, :, :2].reshape(n, -1), images[:, :, -2:].reshape(n, -1)], axis=1)  # fmt: skip
    return np.asarray(images - np.median(border, axis=1)[:, None, None])


def rotate_series(ts: TiltSeries, tilt_axis: float, sample: str = "particle") -> tuple[TiltSeries, Alignment]:
    """Only turn the images so that the given ``tilt_axis`` (degrees) runs along the rows; no shifts."""
    zero = np.zeros((ts.n_images, 2))
    result = Alignment(float(tilt_axis), "given", zero, float("nan"), 0.0, applied=True,
                       border="constant" if sample == "particle" else "nearest")  # fmt: skip
    return _aligned(ts, apply_alignment(np.asarray(ts.images, dtype=np.float64), result, ts.pixel_size), result), result


def apply_alignment(images: Array, result: Alignment, pixel_size: float) -> Array:
    """``images`` turned and shifted as ``result`` says (unchanged when it was not applied): the same correction on
    another copy of the series (the images without denoising, for refinement and the R-factor)."""
    if not result.applied:
        return images
    return resample(images, result.tilt_axis, np.asarray(result.shifts) / pixel_size, result.border)


def _aligned(ts: TiltSeries, images: Array, result: Alignment) -> TiltSeries:
    return TiltSeries(images.astype(np.float32), ts.angles, ts.pixel_size, ts.euler_convention, 0.0, None, ts.dose,
                      {**ts.metadata, "alignment": result.to_dict()})  # fmt: skip


def _shifts(
    rotated: Array, tilts: Array, sample: str, max_rounds: int, tolerance: float, iterations: int
) -> tuple[Array, int, float]:
    """``[n, 2]`` (row, col) shifts in pixels of images whose tilt axis runs along the rows; rounds; last update.

    For a particle, pixels away from it (below 5 % of the smoothed image's peak, 3 pixels around) carry only noise
    and are left out of the profiles.
    """
    if sample == "particle":
        smooth = ndimage.gaussian_filter(rotated, (0, 2, 2))
        inside = smooth > 0.05 * smooth.max(axis=(1, 2), keepdims=True)
        rotated = rotated * ndimage.binary_dilation(inside, np.ones((1, 7, 7), bool))
    rows = _along_axis_shifts(rotated.sum(axis=2))
    cols, rounds, last = _across_axis_shifts(rotated.sum(axis=1), tilts, sample == "particle", max_rounds,
                                             tolerance, iterations)  # fmt: skip
    # the gauge: a move of the whole object is no misalignment, so none is applied (an aligned series stays as it is)
    return np.stack([rows - rows.mean(), _remove_translation(cols, tilts)], axis=1), rounds, last


# --- the whole alignment ----------------------------------------------------------------------------------------


def align_series(
    ts: TiltSeries,
    tilt_axis: float | None = None,
    sample: str = "particle",
    max_rounds: int = 15,
    tolerance: float = 0.02,
    iterations: int = 30,
) -> tuple[TiltSeries, Alignment]:
    """Align ``ts`` (see the module docstring): returns the aligned series (tilt axis along the rows) and what
    was found. ``tilt_axis`` (degrees) fixes the axis instead of searching for it; ``tolerance`` is the RMS
    shift update (pixels) at which projection matching stops."""
    if ts.shifts is not None and np.any(ts.shifts):
        raise AetUsageError("the series already carries image shifts; align the images as measured (without them).")
    measured = np.asarray(ts.images, dtype=np.float64)
    images = without_background(measured) if sample == "particle" else measured
    tilts = tilts_of(ts)
    flat = images.reshape(len(images), -1)
    blank = np.flatnonzero(flat.std(1) == 0)
    if len(blank):
        i = int(blank[0])
        raise AetInputError(f"image {i} (θ = {tilts[i]:.1f}°) is blank (one value everywhere); remove it from the "
                            "series (and its angle) or replace it.")  # fmt: skip
    check_object(images)
    # checked on the images as they are: a turn of the axis by a few degrees barely changes the widths
    order, noise = order_misfit(images, tilts) if sample == "particle" else (0.0, 0.0)
    if order > max(MAX_ORDER_MISFIT, ORDER_NOISE_FACTOR * noise):
        raise AetInputError(
            f"the angles do not fit the images in this order: the images' widths across the axis depart by "
            f"{order:.1%} from what one object gives at these angles (noise accounts for {noise:.1%}). Check that "
            "the angle list follows the images' order (acquisition order vs sorted by angle)."
        )
    notes: list[str] = []
    smooth = ndimage.gaussian_filter(images, (0, 1, 1))  # the trials need the object, not the pixel noise
    found, contrast = find_tilt_axis(smooth, ts)
    if tilt_axis is None:
        axis, source = found, "found"
    else:
        axis, source = float(tilt_axis), "given"
        off = abs((axis - found + 90.0) % 180.0 - 90.0)
        if off > 2.0:
            as_rad = abs((math.degrees(axis) - found + 90.0) % 180.0 - 90.0)
            if as_rad < 2.0 and abs(axis) <= math.pi:
                raise AetUsageError(
                    f"the tilt axis given, {axis:g}, is {off:.1f}° from the one in the images ({found:.2f}°), but "
                    f"{axis:g} radians is {math.degrees(axis):.2f}°: give the tilt axis in degrees."
                )
            notes.append(f"the tilt axis given ({axis:g}°) is {off:.1f}° from the one the images show "
                         f"({found:.2f}°); the given one was used")  # fmt: skip
    mode = "constant" if sample == "particle" else "nearest"
    rotated = resample(images, axis, np.zeros((len(images), 2)), mode) if abs(axis) > 0 else images
    shifts, rounds, last = _shifts(rotated, tilts, sample, max_rounds, tolerance, iterations)
    if source == "found" and sample == "particle":  # the scan sees the axis to a degree: refine it
        axis = found = refine_tilt_axis(smooth, ts, axis, shifts, step=0.2, span=0.6, max_px=80)
        if abs(axis) > NEGLIGIBLE_AXIS_DEG and not _confirmed_by_halves(smooth, ts, axis):
            notes.append(f"the axis found ({axis:.2f}°) does not fit both halves of the series (even and odd "
                         "images) better than the rows: the rows were kept; give --tilt-axis if the images are turned")
            axis, source = 0.0, "assumed"
        rotated = resample(images, axis, np.zeros((len(images), 2)), mode) if axis else images
        shifts, rounds, last = _shifts(rotated, tilts, sample, max_rounds, tolerance, iterations)
    size = np.array(images.shape[1:], dtype=np.float64)
    too_far = np.abs(shifts) > size / 3
    if too_far.any():
        i = int(np.flatnonzero(too_far.any(1))[0])
        raise AetInputError(
            f"image {i} (θ = {tilts[i]:.1f}°) would need a shift of ({shifts[i, 0]:.0f}, {shifts[i, 1]:.0f}) pixels, "
            f"more than a third of the {images.shape[1]}×{images.shape[2]} image; centre the object in that image "
            "(or crop the series around it) and run again."
        )
    # the shifts' own noise: measured again from the even and from the odd rows and columns, half their difference
    even, *_ = _shifts(rotated[:, 0::2, 0::2], tilts, sample, max_rounds, tolerance, iterations)
    odd, *_ = _shifts(rotated[:, 1::2, 1::2], tilts, sample, max_rounds, tolerance, iterations)
    noise_px = float(np.sqrt(np.mean((even - odd) ** 2)))  # (even − odd) / 2, in half-size pixels: × 2
    significant = float(np.sqrt(np.mean(shifts**2))) > SIGNIFICANT_SHIFTS * noise_px
    if not significant:
        rms = float(np.sqrt(np.mean(shifts**2))) * ts.pixel_size
        notes.append(f"shifts of {rms:.2f} Å RMS are within {SIGNIFICANT_SHIFTS:g}× their noise "
                     f"({noise_px * ts.pixel_size:.2f} Å): not applied")  # fmt: skip
        shifts = np.zeros_like(shifts)
    turn = axis if source == "given" or abs(axis) > NEGLIGIBLE_AXIS_DEG else 0.0
    if turn != axis:
        notes.append(f"the axis found ({axis:.2f}°) is within {NEGLIGIBLE_AXIS_DEG}° of the rows: not turned")
    apply = turn != 0 or float(np.abs(shifts).max()) > NEGLIGIBLE_SHIFT_PX
    result = Alignment(turn, source, shifts * ts.pixel_size, contrast, order, rounds, last * ts.pixel_size,
                       apply, notes, noise_px * ts.pixel_size, found)  # fmt: skip
    # the border continues the background ("nearest", the result's default)
    return _aligned(ts, apply_alignment(measured, result, ts.pixel_size), result), result
