"""Inference with the shipped weights: any size, tiny and non-cubic volumes, voxel-size invariance, uncertainty."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import aet
from aet.errors import AetInputError
from aet.metrics import compare
from aet.model import Volume
from aet.nn.augment import augment
from aet.nn.data import reconstruct_for_network
from aet.nn.weights import load
from aet.simulate.acquisition import Acquisition, simulate_tilt_series
from aet.simulate.structures import build_model

RECON = load("default")[1].reconstruction


def _tomogram(pixel_size: float, size_nm: float = 2.0, seed: int = 3):
    model = build_model("cuboctahedron", ["Pt"], size_nm)
    angles = np.linspace(-65, 65, 21)
    ts = simulate_tilt_series(model, angles, Acquisition(pixel_size=pixel_size, dose=1e4, angle_error=0.3, seed=seed))
    return model, reconstruct_for_network(ts, RECON)


def _trace(volume: Volume, species_volume: Volume) -> aet.model.AtomicModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return aet.trace(volume, ["Pt"], species_volume=species_volume)


@pytest.mark.parametrize("shape", [(37, 45, 50), (9, 11, 10), (20, 70, 33)])
def test_any_shape(shape) -> None:
    """Sizes that are not multiples of the stride, a tiny volume, non-cubic volumes: same grid out."""
    rng = np.random.default_rng(0)
    vol = Volume(rng.random(shape).astype(np.float32), 0.357, (1.0, 2.0, 3.0))
    out, unc = augment(vol, tta=2, progress=False, return_uncertainty=True)
    assert out.shape == unc.shape == shape
    assert out.voxel_size == vol.voxel_size and out.origin == vol.origin
    assert np.isfinite(out.data).all() and (unc.data >= 0).all()
    assert out.metadata["augment"]["tta"] == 2


def test_sharpens_and_finds_atoms() -> None:
    truth, vol = _tomogram(0.357)
    aug, unc = augment(vol, progress=False, return_uncertainty=True)
    result = compare(_trace(aug, vol), truth, radius=0.9)
    assert result.recall >= 0.98 and result.precision >= 0.98, result.to_dict()
    assert result.rmsd_pm < 20
    assert unc.data.max() > 0  # the flips disagree somewhere
    assert 0.6 < np.percentile(aug.data, 99.9) < 1.5  # peaks near the target height 1


def test_voxel_size_invariance() -> None:
    """The same particle imaged at 0.357 Å and at 0.30 Å pixels gives the same atoms."""
    truth, a = _tomogram(0.357)
    _, b = _tomogram(0.30)
    atoms_a = _trace(augment(a, progress=False), a)
    atoms_b = _trace(augment(b, progress=False), b)
    same = compare(atoms_b, atoms_a, radius=0.9)
    assert same.recall >= 0.97 and same.precision >= 0.97, same.to_dict()
    assert same.rmsd_pm < 15
    assert compare(atoms_b, truth, radius=0.9).recall >= 0.97


def test_warns_on_other_reconstruction() -> None:
    _, vol = _tomogram(0.357, size_nm=1.2)
    other = Volume(vol.data, vol.voxel_size, vol.origin, {"reconstruction": {"method": "sirt", "settings": {}}})
    with pytest.warns(UserWarning, match="trained on resire"):
        augment(other, tta=1, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        augment(vol, tta=1, progress=False)  # the expected reconstruction: no warning


def test_bad_input() -> None:
    vol = Volume(np.ones((20, 20, 20), np.float32), 0.357)
    with pytest.raises(AetInputError, match="tta"):
        augment(vol, tta=9, progress=False)
    with pytest.raises(AetInputError, match="empty"):
        augment(Volume(np.zeros((20, 20, 20), np.float32), 0.357), progress=False)
    with pytest.raises(AetInputError, match="multiple of the network stride"):
        augment(vol, window=30, progress=False)
    with pytest.raises(AetInputError, match="too small"):
        augment(Volume(np.ones((20, 20, 20), np.float32), 0.05), progress=False)
    with pytest.raises(AetInputError, match="Volume"):
        augment(vol.data, progress=False)
