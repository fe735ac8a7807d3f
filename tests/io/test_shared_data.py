"""Every file under ../shared/data loads through aet.io.read into the right object and shape."""

from __future__ import annotations

import numpy as np
import pytest

import aet
from aet.errors import AetInputError
from aet.model import AtomicModel, TiltSeries, Volume


def test_resire_sample(shared_data):
    d = shared_data / "resire_sample"
    vol = aet.io.read(d / "ground_truth_amorphous_vol.mat")
    assert isinstance(vol, Volume) and vol.shape == (64, 64, 64)
    ang = aet.io.read(d / "sample_angles_amorphous.mat")
    assert ang.shape == (41, 3) and ang[0, 1] == -70 and ang[-1, 1] == 70
    ts = aet.io.read(
        d / "sample_projections_amorphous.mat", angles=d / "sample_angles_amorphous.mat", euler_convention="zyx"
    )
    assert isinstance(ts, TiltSeries) and ts.images.shape == (41, 64, 64)
    # README fact: the θ = 0 projection is Vol.sum(axis=2) in MATLAB order, i.e. the sum over aet's z axis.
    zero = int(np.argmin(np.abs(ts.tilt_angles)))
    np.testing.assert_allclose(ts.images[zero], vol.data.sum(axis=0), rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("dose", ["8p0e3", "1p6e4", "1p6e5"])
def test_asi208(shared_data, dose):
    d = shared_data / "asi208"
    ts = aet.io.read(d / f"aSi_2nmFosCetr_Dose{dose}_cov35pm_ForBM3D.mat", angles=d / "Si_Angle.mat", pixel_size=0.195)
    assert ts.images.shape == (60, 128, 128) and ts.pixel_size == 0.195
    np.testing.assert_array_equal(ts.tilt_angles, np.arange(0, 178, 3))
    path = d / f"published_traced_model_Dose{dose}.mat"
    types = aet.io.read(path, key="temp_atomtype")
    model = aet.io.read(path, key="temp_model", types=types, elements={1: "Si"})
    assert isinstance(model, AtomicModel)
    assert len(model) == {"8p0e3": 199, "1p6e4": 208, "1p6e5": 208}[dose]
    assert set(model.elements) == {"Si"}


def test_asi208_truth_and_mask(shared_data):
    d = shared_data / "asi208"
    truth = aet.io.read(d / "aSi_208atoms_GT.txt", elements={1: "Si"})
    assert len(truth) == 208 and truth.species == ["Si"]
    assert abs(truth.positions[0, 0] - 0.18172587) < 1e-8
    mask = aet.io.read(d / "Mask_aSi_cov35pm.mat")
    assert isinstance(mask, Volume) and mask.shape == (128, 128, 128)


def test_fept_mdb(shared_data):
    d = shared_data / "fept_mdb"
    types = aet.io.read(d / "atoms.npy", kind="types")
    model = aet.io.read(d / "model.npy", types=types, elements={0: "Fe", 1: "Pt"})
    assert len(model) == 23196
    assert model.elements.count("Fe") == 6569 and model.elements.count("Pt") == 16627
    ang = aet.io.read(d / "angles.npy")
    assert ang.shape == (68, 3)


def test_ptni_models(shared_data):
    d = shared_data / "ptni_models"
    p5 = aet.io.read(d / "model_p5.mat", types=d / "atoms_p5.mat", elements={1: "Ni", 2: "Pt"})
    assert len(p5) == 4281 and set(p5.species) == {"Ni", "Pt"}
    assert aet.io.read(d / "angle_p5.mat").shape == (57, 3)
    assert aet.io.read(d / "angle_p1.mat").shape == (56, 3)
    # The published p1 files disagree (11559 positions, 11561 types): a clear error, never a silent guess.
    with pytest.raises(AetInputError, match="11559 positions but its type list has 11561"):
        aet.io.read(d / "model_p1.mat", types=d / "atoms_p1.mat", elements={1: "Ni", 2: "Pt"})
    assert len(aet.io.read(d / "model_p1.mat")) == 11559


def test_genfire_workshop(shared_data):
    d = shared_data / "genfire_workshop_fept"
    for name, angles, n in [
        ("projections_FePt.mat", "angles.mat", 37),
        ("projections_FePt_mw.mat", "angles_mw.mat", 21),
        ("projections_FePt_noisy.mat", "angles.mat", 37),
        ("projections_FePt_misaligned.mat", "angles.mat", 37),
    ]:
        ts = aet.io.read(d / name, angles=d / angles)
        assert ts.images.shape == (n, 68, 68)
    assert aet.io.read(d / "support_FePt.mat").shape == (110, 110, 110)


@pytest.mark.parametrize("area", [1, 2, 3])
def test_ta_film_projections(shared_data, area):
    d = shared_data / "ta_film"
    ts = aet.io.read(
        d / f"Projections_area{area}.mat",
        key="Proj_sub",
        angles=d / "angles.mat",
        pixel_size=0.3216,
        euler_convention="zyx",
    )
    assert isinstance(ts, TiltSeries)
    # README: MATLAB 131×61×46 (rows × columns × projections) reads as [n, y, x] = [46, 61, 131].
    assert ts.images.shape == (46, 61, 131)
    assert ts.pixel_size == 0.3216 and ts.euler_convention == "zyx"
    assert np.all(np.isfinite(ts.images)) and ts.images.mean() > 0


def test_ta_film_angles_and_alignment(shared_data):
    d = shared_data / "ta_film"
    ang = aet.io.read(d / "angles.mat", key="angle")
    assert ang.shape == (46, 3)
    # README facts: θ from −63.0 to 55.9°, φ within ±0.2°, ψ within ±0.4° (not a pure single-axis tilt).
    assert ang[:, 1].min() == pytest.approx(-63.0, abs=0.05) and ang[:, 1].max() == pytest.approx(55.9, abs=0.05)
    assert np.abs(ang[:, 0]).max() <= 0.2 + 1e-6 and np.abs(ang[:, 2]).max() <= 0.4 + 1e-6
    assert np.abs(ang[:, 2]).max() > 0
    cen = aet.io.read(d / "alignPara.mat", key="CropCen")
    half = aet.io.read(d / "alignPara.mat", key="CropHalf")
    assert cen.shape == (65, 3) and half.shape == (65, 3)
    # 1-based crops that stay inside the 401×351×341 full reconstruction.
    assert np.all(cen - half >= 1) and np.all(cen + half <= np.array([401, 351, 341]))


def test_ta_film_published_model(shared_data):
    d = shared_data / "ta_film"
    model = aet.io.read(d / "Final_atomic_model_Ta_film.mat", key="model", elements="Ta")
    assert isinstance(model, AtomicModel)
    assert len(model) == 8284 and model.positions.shape == (8284, 3)
    assert set(model.elements) == {"Ta"}
    # Positions in Å about voxel (201, 176, 171) of the 401×351×341 full volume: inside it.
    half_extent = np.array([200, 175, 170]) * 0.3216
    assert np.all(np.abs(model.positions) <= half_extent + 0.3216)


def test_every_shared_file_is_covered(shared_data):
    """No file in shared/data escapes the tests above (a new file must get a loading test)."""
    covered = {
        "README.md",
        "sample_projections_amorphous.mat",
        "sample_angles_amorphous.mat",
        "ground_truth_amorphous_vol.mat",
        "Si_Angle.mat",
        "aSi_208atoms_GT.txt",
        "Mask_aSi_cov35pm.mat",
        "model.npy",
        "atoms.npy",
        "angles.npy",
        "angle_p1.mat",
        "angle_p5.mat",
        "model_p1.mat",
        "model_p5.mat",
        "atoms_p1.mat",
        "atoms_p5.mat",
        "projections_FePt.mat",
        "projections_FePt_mw.mat",
        "angles.mat",
        "projections_FePt_noisy.mat",
        "projections_FePt_misaligned.mat",
        "angles_mw.mat",
        "support_FePt.mat",
        "Projections_area1.mat",
        "Projections_area2.mat",
        "Projections_area3.mat",
        "alignPara.mat",
        "Final_atomic_model_Ta_film.mat",
    }
    for path in shared_data.rglob("*"):
        if path.is_file() and "Dose" not in path.name:
            assert path.name in covered, f"{path} has no loading test"
