"""aet.metrics.fsc and fsc_resolution."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from aet.errors import AetInputError
from aet.metrics import fsc, fsc_resolution
from aet.model import Volume


def test_fsc_of_a_volume_with_itself_is_one_and_frequencies_are_in_inverse_angstrom():
    rng = np.random.default_rng(0)
    vol = Volume(rng.normal(size=(32, 32, 32)), voxel_size=0.4)
    freq, values = fsc(vol, vol)  # voxel size taken from the Volume
    assert freq.shape == values.shape == (16,)
    assert freq[0] == pytest.approx(1 / (32 * 0.4)) and freq[-1] == pytest.approx(0.5 / 0.4)  # Nyquist
    np.testing.assert_allclose(values, 1.0, atol=1e-12)
    np.testing.assert_allclose(fsc(vol.data, 3.0 * vol.data + 1.0, voxel_size=0.4)[1], 1.0, atol=1e-12)
    np.testing.assert_allclose(fsc(vol.data, -vol.data, 0.4)[1], -1.0, atol=1e-12)


def test_fsc_with_independent_noise_drops():
    rng = np.random.default_rng(1)
    signal = gaussian_filter(rng.normal(size=(40, 40, 40)), 2.0, mode="wrap")  # periodic, like the FFT
    signal /= signal.std()
    a = signal + 0.3 * rng.normal(size=signal.shape)
    b = signal + 0.3 * rng.normal(size=signal.shape)
    freq, values = fsc(a, b, voxel_size=0.5)
    assert values[0] > 0.95  # the low-pass signal dominates the first shells
    assert np.abs(values[-5:]).max() < 0.15  # pure independent noise at high frequency
    noise_only = fsc(rng.normal(size=signal.shape), rng.normal(size=signal.shape), 0.5)[1]
    assert np.abs(noise_only[3:]).max() < 0.15  # ~1/√(voxels per shell)

    # Expected: SNR(f) = (4πσ²)^1.5 / 0.3² · exp(−4π²σ²f²) (f in cycles/voxel, σ = 2), FSC = SNR / (1 + SNR).
    def crossing(threshold: float) -> float:
        snr = threshold / (1 - threshold)
        f = np.sqrt(np.log((4 * np.pi * 4) ** 1.5 / 0.09 / snr) / (4 * np.pi**2 * 4))
        return 0.5 / f  # Å at 0.5 Å voxels

    res = fsc_resolution(freq, values)
    assert res[0.5] == pytest.approx(crossing(0.5), rel=0.05)  # ≈ 2.18 Å
    assert res[0.143] == pytest.approx(crossing(0.143), rel=0.05)  # ≈ 1.98 Å


def test_fsc_is_exact_on_a_known_spectrum():
    # Two volumes whose Fourier coefficients agree in phase inside |k| < 5 shells and are orthogonal beyond.
    n = 24
    rng = np.random.default_rng(2)
    spec = np.fft.fftn(rng.normal(size=(n, n, n)))
    k = np.sqrt(sum(g**2 for g in np.meshgrid(*[np.fft.fftfreq(n) * n] * 3, indexing="ij")))
    other = np.where(np.rint(k) < 5, spec, np.fft.fftn(rng.normal(size=(n, n, n))))
    a, b = np.fft.ifftn(spec).real, np.fft.ifftn(other).real
    freq, values = fsc(a, b, 1.0)
    np.testing.assert_allclose(values[:4], 1.0, atol=1e-12)  # shells 1…4
    assert np.abs(values[4:]).max() < 0.3


def test_resolution_interpolates_the_crossing():
    freq = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    values = np.array([1.0, 0.8, 0.6, 0.1, 0.0])
    res = fsc_resolution(freq, values)
    assert res[0.5] == pytest.approx(1 / (0.3 + 0.1 * (0.6 - 0.5) / 0.5))
    assert res[0.143] == pytest.approx(1 / (0.3 + 0.1 * (0.6 - 0.143) / 0.5))
    assert fsc_resolution(freq, np.ones(5), [0.143])[0.143] == pytest.approx(2.0)  # never crosses: Nyquist
    assert fsc_resolution(freq, np.zeros(5), [0.5])[0.5] == np.inf


def test_fsc_rejects_mismatched_volumes():
    with pytest.raises(AetInputError):
        fsc(np.zeros((8, 8, 8)), np.zeros((8, 8, 9)), 1.0)
    with pytest.raises(AetInputError):
        fsc(np.zeros((8, 8)), np.zeros((8, 8)), 1.0)
    with pytest.raises(AetInputError):
        fsc(np.zeros((8, 8, 8)), np.zeros((8, 8, 8)), -1.0)
