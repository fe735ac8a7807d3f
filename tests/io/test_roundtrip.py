"""What aet writes reads back equal, in every format, with pixel/voxel size kept."""

from __future__ import annotations

import numpy as np
import pytest

import aet
from aet.model import AtomicModel, TiltSeries, Volume


@pytest.fixture
def tilt_series() -> TiltSeries:
    rng = np.random.default_rng(0)
    return TiltSeries(
        images=rng.random((5, 12, 10), dtype=np.float32),
        angles=np.linspace(-60, 60, 5),
        pixel_size=0.357,
        euler_convention="zyx",
        shifts=rng.normal(size=(5, 2)),
        dose=np.full(5, 1e5),
        metadata={"sample": "Pt"},
    )


@pytest.fixture
def volume() -> Volume:
    rng = np.random.default_rng(1)
    return Volume(rng.random((6, 7, 8), dtype=np.float32), voxel_size=0.41, origin=(1.0, -2.0, 3.5))


@pytest.fixture
def model() -> AtomicModel:
    rng = np.random.default_rng(2)
    n = 7
    return AtomicModel(
        positions=rng.normal(scale=5, size=(n, 3)),
        elements=["Pt", "Ni", "Pt", "Pt", "Ni", "Pt", "Pt"],
        b_factor=rng.uniform(3, 6, n),
        height=rng.uniform(0.5, 1.5, n),
        labels=np.arange(n),
        scores={"fit": rng.random(n)},
    )


@pytest.mark.parametrize("suffix", [".mrc", ".mrcs", ".tif", ".h5", ".npy", ".npz", ".mat"])
def test_tiltseries_roundtrip(tmp_path, tilt_series, suffix):
    path = aet.io.write(tilt_series, tmp_path / f"ts{suffix}")
    back = aet.io.read(path)
    assert isinstance(back, TiltSeries)
    np.testing.assert_array_equal(back.images, tilt_series.images)
    np.testing.assert_allclose(back.angles, tilt_series.angles)
    np.testing.assert_allclose(back.shifts, tilt_series.shifts)
    np.testing.assert_allclose(back.dose, tilt_series.dose)
    assert back.pixel_size == pytest.approx(0.357, rel=1e-6)
    assert back.euler_convention == "zyx"
    assert back.metadata["sample"] == "Pt"


@pytest.mark.parametrize("suffix", [".mrc", ".tif", ".h5", ".npy", ".npz", ".mat"])
def test_volume_roundtrip(tmp_path, volume, suffix):
    back = aet.io.read(aet.io.write(volume, tmp_path / f"vol{suffix}"))
    assert isinstance(back, Volume)
    np.testing.assert_array_equal(back.data, volume.data)
    assert back.voxel_size == pytest.approx(0.41, rel=1e-6)
    assert back.origin == pytest.approx(volume.origin)


def test_mrc_header_keeps_voxel_size_without_sidecar(tmp_path, volume):
    path = aet.io.write(volume, tmp_path / "vol.mrc")
    (tmp_path / "vol.mrc.json").unlink()
    back = aet.io.read(path)
    assert back.voxel_size == pytest.approx(0.41, rel=1e-6)
    np.testing.assert_array_equal(back.data, volume.data)


@pytest.mark.parametrize("suffix", [".xyz", ".extxyz", ".cif", ".pdb", ".csv", ".h5", ".npz", ".mat"])
def test_model_roundtrip(tmp_path, model, suffix):
    back = aet.io.read(aet.io.write(model, tmp_path / f"atoms{suffix}"))
    assert isinstance(back, AtomicModel)
    assert back.elements == model.elements
    atol = 1e-3 if suffix == ".pdb" else 1e-6  # PDB stores 3 decimals
    np.testing.assert_allclose(back.positions, model.positions, atol=atol)
    np.testing.assert_allclose(back.b_factor, model.b_factor, atol=1e-6)
    np.testing.assert_allclose(back.height, model.height, atol=1e-6)
    np.testing.assert_array_equal(back.labels, model.labels)
    np.testing.assert_allclose(back.scores["fit"], model.scores["fit"], atol=1e-6)


@pytest.mark.parametrize("suffix", [".txt", ".tlt", ".h5", ".npz", ".mat"])
def test_angles_roundtrip(tmp_path, suffix):
    angles = np.array([[0.0, -65.0, 0.0], [1.5, 0.25, -2.0], [0.0, 64.3, 0.1]])
    back = aet.io.read(aet.io.write(angles, tmp_path / f"angles{suffix}"))
    np.testing.assert_allclose(back, angles, atol=1e-6)


def test_one_column_angle_file_is_expanded(tmp_path):
    (tmp_path / "tilts.rawtlt").write_text("-60\n0\n60\n")
    back = aet.io.read(tmp_path / "tilts.rawtlt")
    np.testing.assert_array_equal(back, [[0, -60, 0], [0, 0, 0], [0, 60, 0]])


def test_matlab_v73_through_h5py(tmp_path):
    """A v7.3 .mat (HDF5 inside) reads with MATLAB's column-major order undone, like an older .mat."""
    import h5py
    import scipy.io

    vol = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)  # MATLAB-order array (x, y, z)
    scipy.io.savemat(tmp_path / "v5.mat", {"Vol": vol})
    with h5py.File(tmp_path / "v73.mat", "w", userblock_size=512) as f:
        f["Vol"] = vol.transpose(2, 1, 0)  # MATLAB writes column-major: h5py sees the axes reversed
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116) + bytes(8) + b"\x00\x02IM"
    with open(tmp_path / "v73.mat", "r+b") as fh:  # the 128-byte MATLAB header inside the HDF5 user block
        fh.write(header)
    a = aet.io.read(tmp_path / "v5.mat", kind="volume")
    b = aet.io.read(tmp_path / "v73.mat", kind="volume")
    np.testing.assert_array_equal(a.data, b.data)
    assert a.shape == (4, 3, 2)
