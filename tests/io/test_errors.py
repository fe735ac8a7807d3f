"""Bad input gives a clear AetError, never a raw traceback, and never damages the input file."""

from __future__ import annotations

import hashlib
from unittest import mock

import numpy as np
import pytest
import scipy.io

import aet
from aet.errors import AetError, AetFileNotFoundError, AetFormatError, AetInputError, AetUsageError
from aet.model import AtomicModel, TiltSeries, Volume


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_file(tmp_path):
    with pytest.raises(AetFileNotFoundError, match="does not exist"):
        aet.io.read(tmp_path / "nope.mrc")


def test_unknown_suffix(tmp_path):
    p = tmp_path / "data.xyzzy"
    p.write_text("1 2 3")
    with pytest.raises(AetFormatError, match="does not know the file type"):
        aet.io.read(p)
    with pytest.raises(AetFormatError, match="does not know the file type"):
        aet.io.write(Volume(np.zeros((2, 2, 2))), tmp_path / "out.xyzzy")


def test_mat_with_several_keys_and_none_named(tmp_path):
    p = tmp_path / "two.mat"
    scipy.io.savemat(p, {"a": np.zeros((4, 4, 4)), "b": np.ones((3, 5))})
    before = digest(p)
    with pytest.raises(AetFormatError, match=r"several arrays \['a', 'b'\]; name the one"):
        aet.io.read(p)
    with pytest.raises(AetFormatError, match="no array named 'c'"):
        aet.io.read(p, key="c")
    assert aet.io.read(p, key="a").shape == (4, 4, 4)
    assert digest(p) == before


def test_angle_count_mismatch(tmp_path):
    with pytest.raises(AetInputError, match="5 angles were given for 4 images"):
        TiltSeries(np.zeros((4, 8, 8)), np.linspace(-60, 60, 5))
    p = tmp_path / "projs.mat"
    scipy.io.savemat(p, {"P": np.zeros((8, 8, 4))})
    before = digest(p)
    with pytest.raises(AetInputError, match="5 angles were given for 4 images"):
        aet.io.read(p, angles=np.linspace(-60, 60, 5))
    assert digest(p) == before


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf(tmp_path, bad):
    arr = np.zeros((4, 4, 4))
    arr[1, 2, 3] = bad
    with pytest.raises(AetInputError, match="NaN or infinite"):
        Volume(arr)
    with pytest.raises(AetInputError, match="NaN or infinite"):
        TiltSeries(arr, [0, 1, 2, 3])
    np.save(tmp_path / "bad.npy", arr)
    before = digest(tmp_path / "bad.npy")
    with pytest.raises(AetInputError, match="NaN or infinite"):
        aet.io.read(tmp_path / "bad.npy")
    assert digest(tmp_path / "bad.npy") == before
    with pytest.raises(AetInputError, match="NaN or infinite"):
        AtomicModel([[0, 0, bad]], ["Pt"])


def test_2d_array_where_a_stack_is_needed(tmp_path):
    with pytest.raises(AetInputError, match="needs a stack"):
        TiltSeries(np.zeros((8, 8)), [0.0])
    np.save(tmp_path / "img.npy", np.zeros((8, 8)))
    with pytest.raises(AetInputError, match="needs a stack"):
        aet.io.read(tmp_path / "img.npy", angles=[0.0])
    with pytest.raises(AetInputError, match="3-D array"):
        Volume(np.zeros((8, 8)))


def test_model_type_count_mismatch():
    with pytest.raises(AetInputError, match="3 positions but 2 element"):
        AtomicModel(np.zeros((3, 3)), ["Pt", "Ni"])


def test_bad_element_and_units():
    with pytest.raises(AetInputError, match="'Qq' is not a chemical element"):
        AtomicModel(np.zeros((1, 3)), ["Qq"])
    with pytest.raises(AetInputError, match="pixel_size must be a positive"):
        TiltSeries(np.zeros((1, 4, 4)), [0.0], pixel_size=0)
    with pytest.raises(AetInputError, match="Euler convention"):
        TiltSeries(np.zeros((1, 4, 4)), [0.0], euler_convention="xyz")


def test_pickled_npy_is_refused(tmp_path):
    p = tmp_path / "obj.npy"
    np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(AetFormatError, match="never unpickles"):
        aet.io.read(p)


def test_no_overwrite_without_permission(tmp_path):
    p = tmp_path / "vol.mrc"
    aet.io.write(Volume(np.zeros((2, 2, 2))), p)
    before = digest(p)
    with pytest.raises(AetUsageError, match="already exists"):
        aet.io.write(Volume(np.ones((2, 2, 2))), p)
    assert digest(p) == before
    aet.io.write(Volume(np.ones((2, 2, 2))), p, overwrite=True)
    assert aet.io.read(p).data.sum() == 8


@pytest.mark.parametrize("suffix", [".mrc", ".h5", ".xyz", ".csv"])
def test_failed_write_leaves_no_partial_file(tmp_path, suffix):
    """A crash mid-write leaves neither the target nor a temporary file behind, and keeps an old file intact."""
    obj = AtomicModel(np.zeros((2, 3)), ["Pt", "Pt"]) if suffix in (".xyz", ".csv") else Volume(np.zeros((4, 4, 4)))
    target = tmp_path / f"out{suffix}"

    def boom(*args, **kwargs):
        raise OSError("disk full")

    writers = {
        ".mrc": "aet.io.images.write_mrc",
        ".h5": "aet.io.containers.write_hdf5",
        ".xyz": "ase.io.write",
        ".csv": "aet.io.text.write_csv",
    }
    with mock.patch(writers[suffix], side_effect=boom), pytest.raises(OSError, match="disk full"):
        aet.io.write(obj, target)
    assert list(tmp_path.iterdir()) == []

    aet.io.write(obj, target)
    before = digest(target)
    with mock.patch(writers[suffix], side_effect=boom), pytest.raises(OSError):
        aet.io.write(obj, target, overwrite=True)
    assert digest(target) == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".json")) == [target.name]


def test_errors_are_one_family():
    for cls in (AetInputError, AetFormatError, AetFileNotFoundError):
        assert issubclass(cls, AetError)
