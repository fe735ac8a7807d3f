"""Multislice ADF-STEM images (abTEM): the same geometry as the linear projector, cached, and in a tilt series."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from aet.errors import AetInputError
from aet.model import AtomicModel
from aet.physics.atoms import atoms_to_projections
from aet.simulate import Acquisition, simulate_tilt_series
from aet.simulate.multislice import MultisliceSettings, multislice_images

#: As coarse as a check of the geometry allows: a 0.08 Å potential resolves 80 mrad at 300 keV, one phonon.
FAST = MultisliceSettings(phonons=1, sampling_A=0.08, detector_mrad=(30.0, 80.0), thermal_sigma_A=0.0)
ATOMS = AtomicModel(np.array([[2.8, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.5]]), ["Pt", "Au", "Pt"])


def _peaks(image: np.ndarray) -> set[tuple[int, int]]:
    top = (image == ndimage.maximum_filter(image, 3)) & (image > 0.3 * image.max())
    return {(int(r), int(c)) for r, c in np.argwhere(top)}


def test_atoms_sit_where_the_linear_projector_puts_them(tmp_path) -> None:
    """Three atoms off the centre, at 0° and 40°, on a 24×20 image: the same pixels in both image models."""
    angles = np.array([0.0, 40.0])
    images = multislice_images(ATOMS, angles, (24, 20), 0.4, settings=FAST, progress=False, cache=tmp_path)
    linear = atoms_to_projections(torch.from_numpy(ATOMS.positions), 5.0, 1.0, angles, (24, 20), 0.4).numpy()
    assert images.shape == (2, 24, 20) and np.all(images >= 0) and images.max() < 1  # a fraction of the beam
    for ms, lin in zip(images, linear, strict=True):
        assert _peaks(ms) == _peaks(lin)
    # a second call comes from the cache, bit for bit
    again = multislice_images(ATOMS, angles, (24, 20), 0.4, settings=FAST, progress=False, cache=tmp_path)
    assert np.array_equal(again, images) and len(list((tmp_path / "multislice").glob("*.npy"))) == 2


def test_a_tilt_series_with_dose(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AET_CACHE", str(tmp_path))
    acq = Acquisition(pixel_size=0.4, image_size=16, dose=1e5, physics="multislice", multislice=FAST, seed=1)
    ts = simulate_tilt_series(ATOMS, np.array([0.0]), acq)
    expected = multislice_images(ATOMS, np.array([0.0]), (16, 16), 0.4, settings=FAST, progress=False,
                                 cache=tmp_path)[0] * 0.4**2 * 1e5  # fmt: skip
    assert ts.images.shape == (1, 16, 16) and ts.metadata["simulation"]["physics"] == "multislice"
    assert abs(ts.images.sum() - expected.sum()) < 5 * np.sqrt(expected.sum())  # Poisson counts of the fraction


def test_settings_are_checked() -> None:
    with pytest.raises(AetInputError, match="outer angle"):
        MultisliceSettings(sampling_A=0.1, detector_mrad=(40.0, 200.0))
    with pytest.raises(AetInputError, match="inner"):
        MultisliceSettings(detector_mrad=(100.0, 50.0))
    with pytest.raises(AetInputError, match="physics"):
        simulate_tilt_series(ATOMS, np.array([0.0]), Acquisition(physics="dynamical"))  # type: ignore[arg-type]


def test_prism_puts_the_atoms_where_multislice_does(tmp_path) -> None:
    """PRISM (interpolation 2) against the probe-by-probe multislice of the same specimen: the same peaks, images
    alike."""
    prism = MultisliceSettings(**{**FAST.__dict__, "prism_interpolation": 2})
    angles = np.array([0.0])
    a = multislice_images(ATOMS, angles, (24, 20), 0.4, settings=FAST, progress=False, cache=tmp_path)[0]
    b = multislice_images(ATOMS, angles, (24, 20), 0.4, settings=prism, progress=False, cache=tmp_path)[0]
    assert _peaks(a) == _peaks(b)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.95
    with pytest.raises(AetInputError, match="prism_interpolation"):
        MultisliceSettings(prism_interpolation=0)
