"""aet.prepare.denoise: the built-in denoisers, BM3D with the Anscombe transform for counts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from aet.errors import AetUsageError
from aet.prepare.denoise import anscombe, denoise, inverse_anscombe, is_counts


def _blobs(n: int = 3, size: int = 48, peak: float = 20.0) -> np.ndarray:
    """Images of Gaussian 'atoms' of ``peak`` counts on a background of 2 counts."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    out = np.full((n, size, size), 2.0)
    for i in range(n):
        for cy, cx in rng.uniform(6, size - 6, (12, 2)):
            out[i] += peak * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.5**2))
    return out


def test_anscombe_inverse_is_unbiased_for_poisson_counts() -> None:
    rng = np.random.default_rng(1)
    for mean in (1.0, 3.0, 20.0):
        y = anscombe(rng.poisson(mean, 200_000).astype(float))
        if mean >= 3:  # below a few counts the transform is known to leave σ < 1 (0.85 at 1 count)
            assert np.std(y) == pytest.approx(1.0, abs=0.02)
        assert inverse_anscombe(np.array([np.mean(y)]))[0] == pytest.approx(mean, rel=0.03)


def test_bm3d_removes_poisson_noise_from_counts() -> None:
    pytest.importorskip("bm3d", reason="the optional 'denoise' extra (make test installs it)")
    clean = _blobs()
    noisy = np.random.default_rng(2).poisson(clean).astype(float)
    assert is_counts(noisy) and not is_counts(clean + 0.5)
    out = denoise(noisy, "bm3d", 0.0, 0.4)
    assert out.shape == noisy.shape
    error_before, error_after = np.sqrt(np.mean((noisy - clean) ** 2)), np.sqrt(np.mean((out - clean) ** 2))
    assert error_after < 0.6 * error_before, (error_before, error_after)
    assert abs(out.mean() - clean.mean()) < 0.05 * clean.mean()  # no bias from the transform


def test_bm3d_on_scaled_images_estimates_the_noise() -> None:
    pytest.importorskip("bm3d", reason="the optional 'denoise' extra (make test installs it)")
    clean = _blobs() * 1e-3
    noisy = clean + np.random.default_rng(3).normal(0, 2e-3, clean.shape)
    out = denoise(noisy, "bm3d", 0.0, 0.4)
    assert np.sqrt(np.mean((out - clean) ** 2)) < 0.6 * 2e-3


def test_linear_filters_and_errors() -> None:
    imgs = _blobs(2)
    assert np.allclose(denoise(imgs, "gaussian", 0.8, 0.4), ndimage.gaussian_filter(imgs, (0, 2, 2)))
    assert np.allclose(denoise(imgs, "median", 0.4, 0.4), ndimage.median_filter(imgs, size=(1, 3, 3)))
    with pytest.raises(AetUsageError, match="unknown denoiser"):
        denoise(imgs, "nlm", 0.3, 0.4)
