"""Denoising of the measured projections, image by image, before anything else touches them.

* ``"gaussian"``: a Gaussian low-pass of σ = ``sigma`` Å (SciPy).
* ``"median"``: a median filter of half-width ``sigma`` Å (SciPy).
* ``"bm3d"``: block matching and 3-D filtering (Dabov et al., IEEE TIP 16, 2080 (2007)), the denoiser of the
  published AET pipelines, from the ``bm3d`` package (``pip install 'aet[denoise]'``; its licence allows
  non-commercial use only, so it is an optional extra). Raw counts (non-negative whole numbers, e.g. asi208's) go
  through the Anscombe transform 2·√(x + 3/8), which makes Poisson noise Gaussian of σ = 1, and back through its
  closed-form unbiased inverse (Mäkitalo & Foi, IEEE TIP 20, 99 (2011)); other images get σ estimated per image
  from their finest wavelet coefficients (scikit-image's ``estimate_sigma``, Donoho's MAD rule).

Every denoiser keeps the image's units, shape and dtype class (float64 out).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from aet.errors import AetInputError, AetUsageError
from aet.progress import progress_bar

DENOISERS = ("gaussian", "median", "bm3d")

Images = npt.NDArray[np.float64]


def denoise(images: npt.ArrayLike, method: str, sigma: float, pixel_size: float, progress: bool = False,
            strength: float = 1.0) -> Images:  # fmt: skip
    """``images`` ``[n, rows, cols]`` denoised by ``method`` (see the module docstring); ``sigma`` in Å is the
    Gaussian σ or the median half-width (unused by BM3D, which estimates the noise and removes ``strength`` times
    it); ``pixel_size`` in Å."""
    stack = np.asarray(images, dtype=np.float64)
    if stack.ndim != 3:
        raise AetInputError(f"denoising needs a stack [n, rows, cols], got shape {stack.shape}.")
    if method == "gaussian":
        return ndimage.gaussian_filter(stack, (0, sigma / pixel_size, sigma / pixel_size))
    if method == "median":
        size = 2 * max(1, int(round(sigma / pixel_size))) + 1
        return ndimage.median_filter(stack, size=(1, size, size))
    if method == "bm3d":
        return _bm3d(stack, progress, strength)
    raise AetUsageError(f"unknown denoiser {method!r}; use one of {', '.join(DENOISERS)}.")


def is_counts(images: Images) -> bool:
    """Whether the images are raw detector counts: non-negative whole numbers, not all zero."""
    return bool(images.size and images.min() >= 0 and images.max() > 0 and np.all(images == np.round(images)))


def anscombe(x: Images) -> Images:
    """Poisson counts -> approximately Gaussian values of σ = 1."""
    return 2.0 * np.sqrt(x + 3.0 / 8.0)


def inverse_anscombe(y: Images) -> Images:
    """Closed-form approximation of the exact unbiased inverse of :func:`anscombe` (Mäkitalo & Foi 2011)."""
    y = np.maximum(y, 1e-6)
    s = np.sqrt(1.5)
    return np.maximum(0.25 * y**2 + 0.25 * s / y - 11.0 / 8.0 / y**2 + 0.625 * s / y**3 - 0.125, 0.0)


def _bm3d(stack: Images, progress: bool, strength: float) -> Images:
    try:
        import bm3d
    except ImportError as err:
        raise AetUsageError(
            "denoise = 'bm3d' needs the bm3d package: pip install 'aet[denoise]' (free for non-commercial use)."
        ) from err
    from skimage.restoration import estimate_sigma

    counts = is_counts(stack)
    out = np.empty_like(stack)
    with progress_bar(len(stack), "denoise (BM3D)", progress) as advance:
        for i, img in enumerate(stack):
            if counts:
                out[i] = inverse_anscombe(np.asarray(bm3d.bm3d(anscombe(img), sigma_psd=strength)))
            else:
                scale = float(np.abs(img).max()) or 1.0  # BM3D's defaults are tuned for values of order 1
                sigma = float(estimate_sigma(img / scale))
                out[i] = img if sigma == 0 else np.asarray(bm3d.bm3d(img / scale, sigma_psd=strength * sigma)) * scale
            advance()
    return out
