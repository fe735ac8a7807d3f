"""Removing a support film's signal from a particle's tilt series (``[prepare] support = "remove"``).

A particle on a film (amorphous carbon or SiNₓ, a crystalline oxide) sits in front of an extended object that adds
to every pixel: a level that grows as 1/cos θ, lattice fringes where the film is a crystal near a zone axis, and its
own noise. The part of that signal that can be predicted is removed, image by image, as a fit and subtraction:

1. **Footprint.** Where the particle is in the image: the image smoothed by ``FOOTPRINT_SIGMA_A``, thresholded by
   Otsu's rule (particle against film; heavy atoms are tens of times brighter per atom than C, N, O, Al or Si), holes
   filled, grown by ``margin`` Å so that the tails of the edge atoms stay inside. Everything outside shows the film
   alone.
2. **Film model.** Fitted to the pixels outside the footprint only: a smooth part (a polynomial of degree
   ``POLY_DEGREE`` over the image: the film's level and any thickness gradient) and a periodic part (the lattice of
   a crystalline film): the Fourier peaks of the outside region that stand ``PEAK_FACTOR`` times above the spectrum's
   median around them (amorphous films: at most 13 ×; crystals: 20–40 ×), each placed between the frequency bins by
   a parabola through its log power, with their cosine and sine amplitudes fitted by least squares together with the
   polynomial. An amorphous film has no such peaks and keeps only the smooth part; its atom-by-atom fluctuations
   cannot be predicted under the particle and stay (they are noise to the reconstruction, a fraction of one heavy
   atom per column).
3. **Subtraction.** The film model, which extends under the particle, is subtracted from the whole image.

No library offers this (scikit-image's inpainting fills a region smoothly; it does not carry a lattice under an
object), so the fit is written here, on NumPy's least squares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from aet.errors import AetInputError

#: Smoothing of the images before the footprint threshold, Å.
FOOTPRINT_SIGMA_A = 1.0
#: Degree of the smooth part of the film model (0: a constant level).
POLY_DEGREE = 1
#: A Fourier peak of the film must exceed this multiple of the median power around it (measured: amorphous SiN and
#: C films at most 13 ×, lattice peaks of Al₂O₃ and CeO₂ films 20–40 ×; docs/benchmarks.md).
PEAK_FACTOR = 20.0
#: Most lattice peaks fitted per image (a half-plane each: one cosine and one sine).
MAX_PEAKS = 24
#: Film pixels needed outside the footprint, as a fraction of the image.
MIN_OUTSIDE = 0.15


@dataclass(frozen=True)
class SupportFit:
    """Per image: the footprint's share of the pixels, the film level (the model's mean, counts), the lattice peaks
    fitted, and the root-mean-square of what is left outside the footprint (counts)."""

    footprint_fraction: np.ndarray
    level: np.ndarray
    peaks: np.ndarray
    residual_rms: np.ndarray

    def to_dict(self) -> dict[str, object]:
        return {
            "footprint_fraction": [round(float(x), 4) for x in self.footprint_fraction],
            "film_level": [round(float(x), 4) for x in self.level],
            "lattice_peaks": [int(x) for x in self.peaks],
            "residual_rms": [round(float(x), 4) for x in self.residual_rms],
        }


def footprint(image: np.ndarray, pixel_size: float, margin: float = 3.0) -> np.ndarray:
    """Where the particle lies in one image (boolean ``[rows, cols]``): Otsu's threshold of the smoothed image, holes
    filled, grown by ``margin`` Å."""
    smooth = ndimage.gaussian_filter(np.asarray(image, np.float64), FOOTPRINT_SIGMA_A / pixel_size)
    mask = ndimage.binary_fill_holes(smooth > threshold_otsu(smooth))
    grow = int(round(margin / pixel_size))
    if grow > 0:
        ball = np.hypot(*np.mgrid[-grow : grow + 1, -grow : grow + 1]) <= grow
        mask = ndimage.binary_dilation(mask, ball)
    return np.asarray(mask, dtype=bool)


def film_model(image: np.ndarray, outside: np.ndarray) -> tuple[np.ndarray, int]:
    """The film's signal over the whole image, fitted to the pixels where ``outside`` is true: a polynomial of
    degree :data:`POLY_DEGREE` plus the lattice's Fourier peaks (see the module docstring); and the number of peaks."""
    img = np.asarray(image, np.float64)
    rows, cols = img.shape
    y, x = np.mgrid[0:rows, 0:cols]
    u, v = (y - rows / 2) / rows, (x - cols / 2) / cols
    smooth = [u**i * v**j for i in range(POLY_DEGREE + 1) for j in range(POLY_DEGREE + 1 - i)]
    first = _lstsq(smooth, img, outside)
    freqs = _lattice_peaks(img - first, outside)
    waves = [f(2 * np.pi * (fy * y + fx * x)) for fy, fx in freqs for f in (np.cos, np.sin)]
    return _lstsq(smooth + waves, img, outside), len(freqs)


def _lstsq(basis: list[np.ndarray], image: np.ndarray, where: np.ndarray) -> np.ndarray:
    a = np.stack([b[where] for b in basis], axis=1)
    coef, *_ = np.linalg.lstsq(a, image[where], rcond=None)
    return np.asarray(np.tensordot(coef, np.stack(basis), axes=1))


def _lattice_peaks(rest: np.ndarray, outside: np.ndarray, pad: int = 2) -> list[tuple[float, float]]:
    """Frequencies (cycles per pixel, (row, col)) of the strongest Fourier peaks of ``rest`` over the outside pixels
    (Hann window, zero-padded ``pad`` times) that stand above :data:`PEAK_FACTOR` × the median power around them;
    one of each ± pair."""
    rows, cols = rest.shape
    window = np.outer(np.hanning(rows), np.hanning(cols)) * outside
    power = np.abs(np.fft.fftshift(np.fft.fft2(rest * window, s=(pad * rows, pad * cols)))) ** 2
    fy = np.fft.fftshift(np.fft.fftfreq(pad * rows))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(pad * cols))[None, :]
    floor = ndimage.median_filter(power, size=6 * pad + 1)
    local_max = power == ndimage.maximum_filter(power, size=2 * pad + 1)
    high = np.hypot(fy, fx) * min(rows, cols) >= 2.5  # below: the polynomial's territory
    half = (fy > 0) | ((fy == 0) & (fx > 0))
    found = np.argwhere(local_max & high & half & (power > PEAK_FACTOR * floor))
    found = found[np.argsort(-power[tuple(found.T)])][:MAX_PEAKS]
    log = np.log(power + 1e-300)
    step_y, step_x = 1.0 / (pad * rows), 1.0 / (pad * cols)
    return [(float(fy[i, 0]) + step_y * _vertex(log[i - 1 : i + 2, j]),
             float(fx[0, j]) + step_x * _vertex(log[i, j - 1 : j + 2])) for i, j in found]  # fmt: skip


def _vertex(three: np.ndarray) -> float:
    """Offset (bins, within ±½) of the vertex of the parabola through three samples of a peak's log power: the peak
    between the bins (a Hann-windowed peak's log power is close to a parabola near its top)."""
    if len(three) < 3:
        return 0.0
    a, b, c = three
    curve = a - 2 * b + c
    return float(np.clip(0.5 * (a - c) / curve, -0.5, 0.5)) if curve < 0 else 0.0


def remove_support(
    images: np.ndarray, pixel_size: float, margin: float = 3.0, others: tuple[np.ndarray, ...] = ()
) -> tuple[np.ndarray, tuple[np.ndarray, ...], SupportFit]:
    """``images`` ``[n, rows, cols]`` less the film model fitted to each (module docstring), the same model
    subtracted from each array of ``others`` (e.g. the images before denoising), and what was fitted.

    Raises AetInputError when the particle leaves too little film to fit (less than :data:`MIN_OUTSIDE` of an image
    outside its footprint): the images are then cropped too tightly for the film to be measured beside the particle.
    """
    imgs = np.asarray(images, np.float64)
    if imgs.ndim != 3:
        raise AetInputError(f"support removal needs images [n, rows, cols], got shape {imgs.shape}.")
    cleaned, rest = np.empty_like(imgs), [np.array(o, dtype=np.float64) for o in others]
    fraction, level, peaks, rms = (np.zeros(len(imgs)) for _ in range(4))
    for k, img in enumerate(imgs):
        outside = ~footprint(img, pixel_size, margin)
        if outside.mean() < MIN_OUTSIDE:
            raise AetInputError(
                f"image {k}: only {outside.mean():.0%} of it shows the film beside the particle (at least "
                f"{MIN_OUTSIDE:.0%} needed to fit the film); use images with more of the film around the particle, or "
                "[prepare] support = \"keep\"."
            )
        model, peaks[k] = film_model(img, outside)
        cleaned[k] = img - model
        for o in rest:
            o[k] -= model
        fraction[k], level[k] = 1 - outside.mean(), model.mean()
        rms[k] = float(np.sqrt(np.mean(cleaned[k][outside] ** 2)))
    return cleaned, tuple(rest), SupportFit(fraction, level, peaks, rms)
