"""Damaged files (empty, truncated, random bytes, pickled, complex) and implausible angles give one-line AetErrors.

Every case asserts the exception type, that the message names the file, and that it is a single line: no library
exception (OSError, EOFError, BadZipFile, MatReadError, UnicodeDecodeError, ...) may reach the user.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import mrcfile
import numpy as np
import pytest
import scipy.io

import aet
from aet.errors import AetFormatError, AetInputError
from aet.geometry import as_euler_angles
from aet.model import AtomicModel, TiltSeries, Volume

RNG = np.random.default_rng(24)
VOLUME = Volume(RNG.random((6, 6, 6), dtype=np.float32), voxel_size=0.4)
MODEL = AtomicModel(RNG.normal(scale=4.0, size=(6, 3)), ["Pt", "Ni", "Pt", "Pt", "Ni", "Pt"])
ANGLES = np.stack([np.zeros(7), np.linspace(-60, 60, 7), np.zeros(7)], axis=1)


def write_mat73(path: Path) -> Path:
    """A MATLAB v7.3 file as MATLAB writes it: HDF5 behind a 512-byte user block that starts with the .mat header."""
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("A", data=RNG.random((8, 8, 8)))
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(header.ljust(116) + bytes(8) + b"\x00\x02IM")  # subsystem offset, version 0x0200, little endian
    return path


#: name -> (file suffix, writer of a small valid file, typed reader for what it holds)
GOOD = {
    "mrc": (".mrc", lambda p: aet.io.write(VOLUME, p), aet.io.read_volume),
    "tif": (".tif", lambda p: aet.io.write(VOLUME, p), aet.io.read_volume),
    "h5": (".h5", lambda p: aet.io.write(VOLUME, p), aet.io.read_volume),
    "npy": (".npy", lambda p: aet.io.write(VOLUME, p), aet.io.read_volume),
    "npz": (".npz", lambda p: aet.io.write(VOLUME, p), aet.io.read_volume),
    "mat": (".mat", lambda p: aet.io.write(VOLUME, p), aet.io.read_volume),
    "mat73": (".mat", write_mat73, aet.io.read_volume),
    "xyz": (".xyz", lambda p: aet.io.write(MODEL, p), aet.io.read_model),
    "cif": (".cif", lambda p: aet.io.write(MODEL, p), aet.io.read_model),
    "pdb": (".pdb", lambda p: aet.io.write(MODEL, p), aet.io.read_model),
    "csv": (".csv", lambda p: aet.io.write(MODEL, p), aet.io.read_model),
    "txt": (".txt", lambda p: aet.io.write(ANGLES, p), aet.io.read_angles),
}
TEXT = {"xyz", "cif", "pdb", "csv", "txt"}


def assert_one_line_error(exc: pytest.ExceptionInfo[Exception], path: Path) -> str:
    message = str(exc.value)
    assert path.name in message, message
    assert "\n" not in message and message.strip() == message and message.endswith("."), message
    return message


def truncate(data: bytes, text: bool) -> bytes:
    """The first half of a file; a text file is cut inside a line, just after a separator between two values.

    (A cut inside the last number of a line leaves a shorter, valid number, which no reader can tell apart.)
    """
    cut = len(data) // 2
    if text:
        cut = min(i for i in (data.find(b",", cut), data.find(b" ", cut)) if i >= 0) + 1
    return data[:cut]


@pytest.mark.parametrize("damage", ["empty", "truncated", "random"])
@pytest.mark.parametrize("name", list(GOOD))
def test_damaged_file(tmp_path, name, damage):
    suffix, write, typed_reader = GOOD[name]
    good = write(tmp_path / f"good{suffix}")
    typed_reader(good)  # the undamaged file reads
    data = Path(good).read_bytes()
    bad = tmp_path / f"{damage}_{name}{suffix}"
    bad.write_bytes(
        {"empty": b"", "truncated": truncate(data, name in TEXT), "random": RNG.bytes(max(len(data), 2048))}[damage]
    )
    for reader in (aet.io.read, typed_reader):
        with pytest.raises(AetFormatError) as exc:
            reader(bad)
        message = assert_one_line_error(exc, bad)
    if damage == "empty":
        assert "empty (0 bytes)" in message


@pytest.mark.parametrize("suffix", sorted(aet.io.SUFFIXES))
@pytest.mark.parametrize("damage", ["empty", "random"])
def test_every_suffix_refuses_empty_and_random_files(tmp_path, suffix, damage):
    bad = tmp_path / f"{damage}{suffix}"
    bad.write_bytes(b"" if damage == "empty" else RNG.bytes(4096))
    with pytest.raises(AetFormatError) as exc:
        aet.io.read(bad)
    assert_one_line_error(exc, bad)


def test_truncated_npy_is_not_called_pickled(tmp_path):
    good = aet.io.write(VOLUME, tmp_path / "vol.npy")
    bad = tmp_path / "cut.npy"
    bad.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(AetFormatError) as exc:
        aet.io.read(bad)
    message = assert_one_line_error(exc, bad)
    assert "truncated" in message and "objects" not in message


@pytest.mark.parametrize("container", [".npy", ".npz"])
def test_object_arrays_are_never_unpickled(tmp_path, container):
    bad = tmp_path / f"objects{container}"
    objects = np.array([{"a": 1}, None], dtype=object)
    if container == ".npy":
        np.save(bad, objects, allow_pickle=True)
    else:
        np.savez(bad, a=objects)
    with pytest.raises(AetFormatError) as exc:
        aet.io.read(bad)
    message = assert_one_line_error(exc, bad)
    assert "Python objects" in message and "never unpickles" in message
    if container == ".npz":
        assert "'a'" in message  # names the array


def write_complex(path: Path, data: np.ndarray) -> None:
    if path.suffix == ".npy":
        np.save(path, data)
    elif path.suffix == ".h5":
        with h5py.File(path, "w") as f:
            f.create_dataset("stack", data=data)
    elif path.suffix == ".mat":
        scipy.io.savemat(path, {"stack": data})
    else:
        with mrcfile.new(path) as mrc:
            mrc.set_data(data.astype(np.complex64))


@pytest.mark.parametrize("suffix", [".npy", ".h5", ".mat", ".mrc"])
def test_complex_images_are_refused(tmp_path, suffix):
    data = (RNG.random((5, 8, 8)) + 1j * RNG.random((5, 8, 8))).astype(np.complex64)
    bad = tmp_path / f"complex{suffix}"
    write_complex(bad, data)
    for read in (
        lambda: aet.io.read(bad, angles=ANGLES[:5]),
        lambda: aet.io.read_tilt_series(bad, angles=ANGLES[:5]),
        lambda: aet.io.read_volume(bad),
    ):
        with pytest.raises(AetInputError) as exc:
            read()
        message = assert_one_line_error(exc, bad)
        assert "complex" in message and "np.abs" in message and ".real" in message


def test_complex_arrays_are_refused_in_memory():
    data = np.ones((3, 4, 4), dtype=np.complex128)
    for build in (lambda: TiltSeries(data, [-30.0, 0.0, 30.0]), lambda: Volume(data)):
        with pytest.raises(AetInputError, match=r"complex \(dtype complex128\).*np\.abs.*\.real"):
            build()
    with pytest.raises(AetInputError, match="complex"):
        AtomicModel(np.ones((2, 3), dtype=complex), ["Pt", "Pt"])


def test_repeated_angles_are_refused(tmp_path):
    angles = ANGLES.copy()
    angles[5] = angles[2]
    p = aet.io.write(angles, tmp_path / "angles.txt")
    with pytest.raises(AetInputError) as exc:
        aet.io.read_angles(p)
    message = assert_one_line_error(exc, p)
    assert "images 2 and 5" in message
    stack = tmp_path / "stack.npy"
    np.save(stack, RNG.random((7, 8, 8)))
    for angle_source, named in ((p, p), (angles, stack)):  # the angle file, or the stack when angles are an array
        with pytest.raises(AetInputError) as exc:
            aet.io.read_tilt_series(stack, angles=angle_source)
        assert "images 2 and 5" in assert_one_line_error(exc, named)


def test_angles_in_radians_are_refused(tmp_path):
    p = aet.io.write(np.deg2rad(ANGLES), tmp_path / "radians.txt")
    with pytest.raises(AetInputError) as exc:
        aet.io.read_angles(p)
    assert "radians" in assert_one_line_error(exc, p)
    stack = tmp_path / "stack.npy"
    np.save(stack, RNG.random((7, 8, 8)))
    with pytest.raises(AetInputError) as exc:
        aet.io.read(stack, angles=np.deg2rad(np.linspace(-60, 60, 7)))
    assert "radians" in assert_one_line_error(exc, stack)


@pytest.mark.parametrize(
    "angles",
    [
        np.linspace(-0.4, 0.4, 9),  # small tilts (all ≤ 0.5): may be degrees
        np.deg2rad([-60.0, 0.0, 60.0]),  # three images: too few to tell
        np.stack([np.full(9, 90.0), np.linspace(-1.5, 1.5, 9), np.zeros(9)], axis=1),  # φ = 90: degrees
    ],
)
def test_plausible_angles_still_read(tmp_path, angles):
    p = aet.io.write(as_euler_angles(angles), tmp_path / "angles.txt")
    assert aet.io.read_angles(p).shape == (len(angles), 3)


def test_a_table_that_is_not_angles_is_not_checked_as_angles(tmp_path):
    """An [n, 3] table read without kind= (crop centres, say) may repeat rows and hold small numbers."""
    p = tmp_path / "centres.npy"
    np.save(p, np.ones((5, 3)))
    assert aet.io.read(p).shape == (5, 3)
