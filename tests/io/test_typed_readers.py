"""The typed readers return exactly one type, and name what a file holds instead when it is the wrong one."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

import aet
from aet.errors import AetFormatError, AetInputError
from aet.model import AtomicModel, TiltSeries, Volume


@pytest.fixture
def tilt_series() -> TiltSeries:
    rng = np.random.default_rng(0)
    return TiltSeries(
        rng.random((5, 12, 10), dtype=np.float32), np.linspace(-60, 60, 5), pixel_size=0.357, euler_convention="zyx"
    )


@pytest.fixture
def volume() -> Volume:
    return Volume(np.random.default_rng(1).random((6, 7, 8), dtype=np.float32), voxel_size=0.41)


@pytest.fixture
def model() -> AtomicModel:
    return AtomicModel(np.random.default_rng(2).normal(scale=5, size=(4, 3)), ["Pt", "Ni", "Pt", "Pt"])


ANGLES = np.array([[0.0, -65.0, 0.0], [1.5, 0.25, -2.0], [0.0, 64.3, 0.1]])


def test_all_exported():
    for name in ("read", "read_tilt_series", "read_volume", "read_model", "read_angles", "write"):
        assert name in aet.io.__all__ and callable(getattr(aet.io, name))


# ---------------------------------------------------------------- read_tilt_series
@pytest.mark.parametrize("suffix", [".h5", ".mrc", ".mat"])
def test_read_tilt_series(tmp_path, tilt_series, suffix):
    ts = aet.io.read_tilt_series(aet.io.write(tilt_series, tmp_path / f"ts{suffix}"))
    assert isinstance(ts, TiltSeries) and ts.images.shape == (5, 12, 10) and ts.euler_convention == "zyx"
    np.testing.assert_array_equal(ts.images, tilt_series.images)


def test_read_tilt_series_bare_stack_with_angles(tmp_path):
    scipy.io.savemat(tmp_path / "proj.mat", {"P": np.ones((8, 6, 3))})  # MATLAB (x, y, n)
    aet.io.write(ANGLES, tmp_path / "angles.txt")
    ts = aet.io.read_tilt_series(
        tmp_path / "proj.mat", key="P", angles=tmp_path / "angles.txt", pixel_size=0.5, euler_convention="zyx"
    )
    assert ts.images.shape == (3, 6, 8) and ts.pixel_size == 0.5 and ts.euler_convention == "zyx"
    np.testing.assert_allclose(ts.angles, ANGLES)


def test_read_tilt_series_wrong_type(tmp_path, volume, model):
    with pytest.raises(AetFormatError, match=r"holds a volume of 6×7×8 voxels, not a tilt series; .*read_volume\(\)"):
        aet.io.read_tilt_series(aet.io.write(volume, tmp_path / "vol.h5"))
    with pytest.raises(AetFormatError, match=r"holds an atomic model of 4 atoms, not a tilt series"):
        aet.io.read_tilt_series(aet.io.write(model, tmp_path / "atoms.xyz"))
    # An MRC volume: its sidecar says so, and the forced kind must not turn it into a tilt series.
    with pytest.raises(AetFormatError, match=r"vol\.mrc holds a volume \(so says its sidecar vol\.mrc\.json\)"):
        aet.io.read_tilt_series(aet.io.write(volume, tmp_path / "vol.mrc"), angles=np.zeros(6))
    # A bare 2-D array cannot be a tilt series, angles or not.
    np.save(tmp_path / "table.npy", np.zeros((3, 7)))
    with pytest.raises(AetFormatError, match=r"holds an array of shape \(3, 7\), not a tilt series; .*3-D stack"):
        aet.io.read_tilt_series(tmp_path / "table.npy", angles=np.zeros(3))


def test_read_tilt_series_keeps_input_errors(tmp_path):
    """A stack that is one, with a wrong angle count, keeps its own error (not a wrong-type one)."""
    scipy.io.savemat(tmp_path / "proj.mat", {"P": np.zeros((8, 8, 4))})
    with pytest.raises(AetInputError, match="5 angles were given for 4 images"):
        aet.io.read_tilt_series(tmp_path / "proj.mat", angles=np.linspace(-60, 60, 5))
    with pytest.raises(AetInputError, match="needs its angles"):
        aet.io.read_tilt_series(tmp_path / "proj.mat")


# ---------------------------------------------------------------- read_volume
@pytest.mark.parametrize("suffix", [".mrc", ".npz", ".mat"])
def test_read_volume(tmp_path, volume, suffix):
    vol = aet.io.read_volume(aet.io.write(volume, tmp_path / f"vol{suffix}"))
    assert isinstance(vol, Volume) and vol.shape == (6, 7, 8)
    assert vol.voxel_size == pytest.approx(0.41, rel=1e-6)


def test_read_volume_bare_array(tmp_path):
    # A non-cubic 3-D array is ambiguous for read(); read_volume says what it is.
    scipy.io.savemat(tmp_path / "vol.mat", {"V": np.ones((4, 5, 6))})
    vol = aet.io.read_volume(tmp_path / "vol.mat", voxel_size=0.3)
    assert vol.shape == (6, 5, 4) and vol.voxel_size == 0.3


def test_read_volume_wrong_type(tmp_path, tilt_series, model):
    with pytest.raises(
        AetFormatError, match=r"holds a tilt series of 5 images of 12×10 pixels, not a volume; .*read_tilt_series"
    ):
        aet.io.read_volume(aet.io.write(tilt_series, tmp_path / "ts.npz"))
    with pytest.raises(AetFormatError, match=r"holds a tilt series \(so says its sidecar"):
        aet.io.read_volume(aet.io.write(tilt_series, tmp_path / "ts.mrc"))
    with pytest.raises(AetFormatError, match=r"holds an atomic model of 4 atoms, not a volume; .*read_model\(\)"):
        aet.io.read_volume(aet.io.write(model, tmp_path / "atoms.csv"))
    scipy.io.savemat(tmp_path / "model.mat", {"model": np.zeros((3, 10))})
    with pytest.raises(AetFormatError, match=r"model\.mat holds an array of shape \(3, 10\), not a volume"):
        aet.io.read_volume(tmp_path / "model.mat")


# ---------------------------------------------------------------- read_model
@pytest.mark.parametrize("suffix", [".xyz", ".csv", ".h5"])
def test_read_model(tmp_path, model, suffix):
    back = aet.io.read_model(aet.io.write(model, tmp_path / f"atoms{suffix}"))
    assert isinstance(back, AtomicModel) and back.elements == model.elements
    np.testing.assert_allclose(back.positions, model.positions, atol=1e-6)


def test_read_model_bare_positions_with_types(tmp_path):
    scipy.io.savemat(tmp_path / "m.mat", {"model": np.arange(12.0).reshape(3, 4), "atoms": np.array([[1, 2, 2, 1]])})
    m = aet.io.read_model(tmp_path / "m.mat", key="model", types=np.array([1, 2, 2, 1]), elements={1: "Ni", 2: "Pt"})
    assert len(m) == 4 and m.elements == ["Ni", "Pt", "Pt", "Ni"]
    np.testing.assert_array_equal(m.positions[1], [1.0, 5.0, 9.0])
    # An 'x y z' text table read as a model keeps the element given.
    (tmp_path / "xyz.txt").write_text("0 0 0\n1 2 3\n")
    m = aet.io.read_model(tmp_path / "xyz.txt", elements="Si")
    assert len(m) == 2 and m.elements == ["Si", "Si"]


def test_read_model_wrong_type(tmp_path, volume, tilt_series):
    with pytest.raises(AetFormatError, match=r"holds a volume of 6×7×8 voxels, not an atomic model"):
        aet.io.read_model(aet.io.write(volume, tmp_path / "vol.mat"))
    with pytest.raises(AetFormatError, match=r"holds a tilt series \(so says its sidecar ts\.tif\.json\)"):
        aet.io.read_model(aet.io.write(tilt_series, tmp_path / "ts.tif"))
    with pytest.raises(AetFormatError, match=r"holds 3 Euler angles, not an atomic model; .*read_angles\(\)"):
        aet.io.read_model(aet.io.write(ANGLES, tmp_path / "angles.h5"))
    np.save(tmp_path / "stack.npy", np.zeros((4, 5, 6)))
    with pytest.raises(AetFormatError, match=r"holds an array of shape \(4, 5, 6\), not an atomic model"):
        aet.io.read_model(tmp_path / "stack.npy")


# ---------------------------------------------------------------- read_angles
@pytest.mark.parametrize("suffix", [".txt", ".npz", ".mat"])
def test_read_angles(tmp_path, suffix):
    back = aet.io.read_angles(aet.io.write(ANGLES, tmp_path / f"angles{suffix}"), euler_convention="zyz")
    assert back.shape == (3, 3) and back.dtype == np.float64
    np.testing.assert_allclose(back, ANGLES, atol=1e-6)


def test_read_angles_tilt_list(tmp_path):
    (tmp_path / "tilts.rawtlt").write_text("-60\n0\n60\n")
    np.testing.assert_array_equal(aet.io.read_angles(tmp_path / "tilts.rawtlt"), [[0, -60, 0], [0, 0, 0], [0, 60, 0]])
    with pytest.raises(AetInputError, match="unknown Euler convention 'xyz'"):
        aet.io.read_angles(tmp_path / "tilts.rawtlt", euler_convention="xyz")


def test_read_angles_wrong_type(tmp_path, volume, model):
    with pytest.raises(AetFormatError, match=r"holds a volume of 6×7×8 voxels, not angles; .*read_volume\(\)"):
        aet.io.read_angles(aet.io.write(volume, tmp_path / "vol.npz"))
    with pytest.raises(AetFormatError, match=r"holds an atomic model of 4 atoms, not angles; .*read_model\(\)"):
        aet.io.read_angles(aet.io.write(model, tmp_path / "atoms.xyz"))
    with pytest.raises(
        AetFormatError, match=r"atoms\.pdb holds an atomic model \(so says its sidecar .*read_model\(\)"
    ):
        aet.io.read_angles(aet.io.write(model, tmp_path / "atoms.pdb"))
    np.save(tmp_path / "stack.npy", np.zeros((4, 5, 6)))
    with pytest.raises(AetFormatError, match=r"holds an array of shape \(4, 5, 6\), not angles; .*\[n, 3\]"):
        aet.io.read_angles(tmp_path / "stack.npy")
