"""Tracing: positions, species and rejection on synthetic volumes and on simulated tilt series."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aet
from aet.elements import adf_cross_section
from aet.errors import AetInputError
from aet.metrics import compare
from aet.model import AtomicModel, Volume
from aet.physics import atoms_to_volume
from aet.simulate import Acquisition, simulate_tilt_series, tilt_range
from aet.simulate.structures import build_model
from aet.tracing.classify import estimate_species_count, global_classes, local_reclassify

VS = 0.357


def volume_of(model: AtomicModel, n: int, noise: float = 0.01, seed: int = 0) -> Volume:
    """Atoms as Gaussians (B = 5 Å²) with ADF-like heights, plus Gaussian noise of ``noise`` × the Pt height."""
    heights = torch.tensor(adf_cross_section(model.elements) / adf_cross_section(["Pt"])[0])
    data = atoms_to_volume(torch.tensor(model.positions), 5.0, heights, (n, n, n), VS).numpy()
    data = data + np.random.default_rng(seed).normal(0, noise, data.shape)
    return Volume(data, voxel_size=VS, origin=(-(n // 2) * VS,) * 3)


@pytest.fixture(scope="module")
def fept() -> AtomicModel:
    return build_model("cuboctahedron", ["Fe", "Pt"], 2.5, chemistry="l10", lattice_constant=3.85)


def test_synthetic_pt_positions_are_exact():
    truth = build_model("cuboctahedron", ["Pt"], 2.5)
    model = aet.trace(volume_of(truth, 96), elements=["Pt"])
    r = compare(model, truth, 0.9)
    assert r.recall == 1.0 and r.precision == 1.0 and r.rmsd_pm < 3.0
    assert np.linalg.norm(r.shift) < 0.01  # the Å frame of the volume is honoured: nothing to shift
    assert set(model.scores) == {"height", "intensity", "fit_residual", "sigma"}
    b = model.b_factor  # fitted width in the AET convention, ≈ 5 Å² for these atoms
    assert 4.0 < np.median(b) < 6.0


def test_synthetic_fept_species(fept):
    model = aet.trace(volume_of(fept, 96), elements=["Pt", "Fe"])  # any order: sorted by Z internally
    r = compare(model, fept, 0.9)
    assert r.recall == 1.0 and r.precision == 1.0 and r.species_accuracy >= 0.99


def test_species_count_estimate():
    rng = np.random.default_rng(0)
    one = rng.normal(10, 1, 2000)
    two = np.r_[rng.normal(10, 1, 1000), rng.normal(30, 2, 1000)]
    assert estimate_species_count(one) == 1 and estimate_species_count(two) == 2


def test_upsampling_agrees():
    truth = build_model("cuboctahedron", ["Pt"], 1.5)
    vol = volume_of(truth, 64)
    a, b = aet.trace(vol, elements=["Pt"]), aet.trace(vol, elements=["Pt"], upsample=2)
    r = compare(b, a, 0.5)
    assert r.recall == 1.0 and r.rmsd_pm < 2.0


def test_support_excludes_peaks():
    truth = build_model("cuboctahedron", ["Pt"], 1.5)
    vol = volume_of(truth, 64)
    half = np.zeros(vol.shape, dtype=bool)
    half[:, :, 32:] = True  # x ≥ 0 Å only
    model = aet.trace(vol, elements=["Pt"], support=half)
    assert 0 < len(model) < len(truth) and (model.positions[:, 0] > -0.5 * VS).all()


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("pt", {"structure": "cuboctahedron", "elements": ["Pt"], "size_nm": 2.5}),
        ("fept", {"structure": "cuboctahedron", "elements": ["Fe", "Pt"], "size_nm": 2.5, "chemistry": "l10",
                  "lattice_constant": 3.85}),
        ("amorphous", {"structure": "amorphous", "elements": ["Pt"], "size_nm": 2.5}),
    ],
)  # fmt: skip
def test_simulated_tilt_series_reconstruct_and_trace(name, kwargs):
    """Full range (−90…87°, 3° steps), 1e5 e/Å²: ≥ 99 % recall and precision, RMSD ≤ 10 pm, FePt species ≥ 98 %."""
    truth = build_model(**kwargs)
    ts = simulate_tilt_series(truth, tilt_range(-90, 88, 3), Acquisition(dose=1e5, seed=1))
    vol = aet.reconstruct(ts, "resire", iterations=100, progress=False)
    model = aet.trace(vol, elements=kwargs["elements"])
    r = compare(model, truth, 0.9)
    assert r.recall >= 0.99 and r.precision >= 0.99 and r.rmsd_pm <= 10.0, r.to_dict()
    if name == "fept":
        assert r.species_accuracy >= 0.98


def test_local_reclassification_follows_a_gradient():
    """Two species whose intensities drift across the particle: global k-means mixes them, the local step fixes it."""
    rng = np.random.default_rng(0)
    pos = rng.uniform(-30, 30, (3000, 3))
    heavy = rng.random(3000) < 0.5
    drift = 1 + 0.75 * pos[:, 0] / 30  # ±75 % across the particle
    intensity = np.where(heavy, 4.0, 1.0) * drift + rng.normal(0, 0.05, 3000)
    glob = global_classes(intensity, ["Ni", "Pt"])
    local, rounds = local_reclassify(pos, intensity, glob, 2, radius=10.0)
    assert np.mean(glob == heavy) < 0.9
    assert np.mean(local == heavy) > 0.97 and rounds >= 2


def test_empty_and_constant_volumes_give_no_atoms():
    for data in (np.zeros((20, 20, 20)), np.full((20, 20, 20), 3.0)):
        with pytest.warns(UserWarning, match="empty or constant"):
            model = aet.trace(Volume(data, voxel_size=0.4), elements=["Pt"])
        assert len(model) == 0 and "no atoms" in model.metadata["trace"]["message"]


def test_bad_input():
    vol = Volume(np.random.default_rng(0).random((16, 16, 16)), voxel_size=0.4)
    with pytest.raises(AetInputError, match="smaller than the volume"):
        aet.trace(vol, min_distance=10.0)  # 16 voxels × 0.4 Å = 6.4 Å across
    with pytest.raises(AetInputError, match="not a chemical element"):
        aet.trace(vol, elements=["Xx"])
    with pytest.raises(AetInputError, match="needs a Volume"):
        aet.trace(vol.data)
    with pytest.raises(AetInputError, match="upsample"):
        aet.trace(vol, upsample=1.5)


def test_more_species_than_can_be_separated(fept):
    pure = build_model("cuboctahedron", ["Pt"], 2.5)
    with pytest.raises(AetInputError, match="cannot be separated"):
        aet.trace(volume_of(pure, 96), elements=["Fe", "Pt"])
    with pytest.raises(AetInputError, match="Fe and Co cannot be separated"):
        aet.trace(volume_of(fept, 96), elements=["Fe", "Co", "Pt"])
