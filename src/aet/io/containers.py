"""Self-describing containers: HDF5 (h5py), NPZ (numpy) and MATLAB .mat (scipy.io, v7.3 through h5py).

Each stores an aet record (see :mod:`aet.io.records`) so every object round-trips with its units; foreign
files are read by naming the array (``key``), or by taking the only array there is.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt
import scipy.io

from aet.errors import AetFormatError
from aet.io.checks import REWRITE, reading, reason
from aet.io.records import UNITS

Loaded = tuple[str | None, dict[str, np.ndarray], dict[str, Any]]


def _pick_key(keys: list[str], key: str | None, path: Path) -> str:
    if key is not None:
        if key not in keys:
            raise AetFormatError(f"{path} has no array named {key!r}; it holds {keys}.")
        return key
    if len(keys) == 1:
        return keys[0]
    raise AetFormatError(f"{path} holds several arrays {keys}; name the one to read with key=... (CLI: --key).")


# ---------------------------------------------------------------- HDF5
def write_hdf5(kind: str, arrays: dict[str, np.ndarray], attrs: dict[str, Any], path: Path) -> None:
    with h5py.File(path, "w") as f:
        f.attrs["aet_kind"] = kind
        for name, value in attrs.items():
            f.attrs[name] = json.dumps(value) if isinstance(value, (list, dict)) else value
        for name, arr in arrays.items():
            data = arr.astype(h5py.string_dtype()) if arr.dtype.kind == "U" else arr
            ds = f.create_dataset(name, data=data, compression="gzip" if arr.size > 4096 else None)
            if name in UNITS:
                ds.attrs["unit"] = UNITS[name]


def read_hdf5(path: Path, key: str | None) -> Loaded:
    with reading(path, "HDF5 file"), h5py.File(path, "r") as f:
        if "aet_kind" in f.attrs and key is None:
            attrs = {k: _h5_attr(v) for k, v in f.attrs.items() if k != "aet_kind"}
            arrays = {k: _h5_read(f[k]) for k in f if isinstance(f[k], h5py.Dataset)}
            return str(f.attrs["aet_kind"]), arrays, attrs
        names: list[str] = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        name = _pick_key([n for n in names if not n.startswith("#")], key, path)
        return None, {"array": _h5_read(f[name])}, {}


def _h5_read(ds: h5py.Dataset) -> np.ndarray:
    if h5py.check_string_dtype(ds.dtype) is not None:
        return np.array([s.decode() if isinstance(s, bytes) else s for s in ds[()]], dtype=str)
    return np.asarray(ds[()])


def _h5_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "[{" and value != "{}":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------- NPZ / NPY
def write_npz(kind: str, arrays: dict[str, np.ndarray], attrs: dict[str, Any], path: Path) -> None:
    with open(path, "wb") as fh:
        # allow_pickle is numpy's default, spelled out so that no array name can be taken for the option.
        header = np.array(json.dumps({"kind": kind, "attrs": attrs}))
        np.savez_compressed(fh, allow_pickle=True, __aet__=header, **arrays)


def read_npz(path: Path, key: str | None) -> Loaded:
    if not zipfile.is_zipfile(path):
        raise AetFormatError(
            f"{path} is not a NumPy .npz file (it is no zip archive, so it is damaged or of another format); "
            f"{REWRITE} with numpy.savez, or give the file its real suffix."
        )
    with reading(path, "NumPy .npz file"), np.load(path, allow_pickle=False) as z:
        if "__aet__" in z.files and key is None:
            header = json.loads(str(_npz_member(z, "__aet__", path)))
            arrays = {k: _npz_member(z, k, path) for k in z.files if k != "__aet__"}
            return header["kind"], arrays, header["attrs"]
        name = _pick_key([k for k in z.files if k != "__aet__"], key, path)
        return None, {"array": _npz_member(z, name, path)}, {}


def _npz_member(z: Any, name: str, path: Path) -> npt.NDArray[Any]:
    """One array of an open .npz, refusing pickled (object) arrays with a sentence naming it."""
    try:
        arr: npt.NDArray[Any] = z[name]
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise
        raise AetFormatError(
            f"the array {name!r} in {path} holds Python objects, which aet never unpickles; save it as a numeric "
            "array (e.g. np.asarray(a, dtype=float)) instead."
        ) from exc
    return arr


_NPY_MAGIC = b"\x93NUMPY"


def read_npy(path: Path) -> npt.NDArray[Any]:
    """Read a .npy file without ever unpickling; a damaged, truncated or pickled file is an AetFormatError."""
    with reading(path, "NumPy .npy file"), open(path, "rb") as fh:
        if fh.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
            raise AetFormatError(
                f"{path} is not a NumPy .npy file (it lacks the .npy signature, so it is damaged or of another "
                "format); save the array with numpy.save, or give the file its real suffix."
            )
        fh.seek(0)
        version = np.lib.format.read_magic(fh)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(fh)
        if dtype.hasobject:
            raise AetFormatError(
                f"{path} holds Python objects, which aet never unpickles; save the array as numbers (numpy.save of "
                "a numeric array) instead."
            )
        start = fh.tell()
        fh.seek(0, 2)
        have, need = fh.tell() - start, int(np.prod(shape)) * dtype.itemsize
        if have < need:
            raise AetFormatError(
                f"{path} is truncated: its header announces {need} bytes of {dtype} data of shape {tuple(shape)} but "
                f"only {have} follow; {REWRITE}."
            )
        fh.seek(0)
        arr: npt.NDArray[Any] = np.load(fh, allow_pickle=False)
    return arr


# ---------------------------------------------------------------- MATLAB
# MATLAB is column-major and the AET MATLAB codes index volumes as (x, y, z) and projection stacks as
# (x, y, n) with y the tilt axis; reversing the axes gives aet's [z, y, x] and [n, y, x]. Position lists
# are 3×N in MATLAB and N×3 here.
def from_matlab(arr: np.ndarray) -> np.ndarray:
    """Convert a MATLAB-ordered array to aet's axis order."""
    arr = np.asarray(arr)
    if arr.ndim == 3:
        return np.ascontiguousarray(arr.transpose(2, 1, 0))
    return arr


def to_matlab(name: str, arr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`from_matlab` for the arrays of a record."""
    if arr.ndim == 3:
        return np.asfortranarray(arr.transpose(2, 1, 0))
    if name == "positions":
        return arr.T
    return arr


def write_mat(kind: str, arrays: dict[str, np.ndarray], attrs: dict[str, Any], path: Path) -> None:
    out: dict[str, Any] = {"aet_kind": kind, "aet_attrs": json.dumps(attrs)}
    for name, arr in arrays.items():
        out[name] = to_matlab(name, arr) if arr.dtype.kind != "U" else np.array(list(arr), dtype=object)
    with open(path, "wb") as fh:
        scipy.io.savemat(fh, out, do_compression=True)


def read_mat(path: Path, key: str | None) -> Loaded:
    try:
        raw = scipy.io.loadmat(path, simplify_cells=False)
    except NotImplementedError:  # MATLAB v7.3 files are HDF5
        return _read_mat73(path, key)
    except MemoryError:
        raise
    except Exception as exc:  # scipy raises MatReadError, ValueError, OSError, zlib.error, ... for damaged files
        raise AetFormatError(
            f"{path} is not a readable MATLAB .mat file ({reason(exc)}); {REWRITE} (save -v7 or -v7.3 in MATLAB)."
        ) from exc
    keys = [k for k in raw if not k.startswith("__")]
    if "aet_kind" in raw and key is None:
        kind = str(np.asarray(raw["aet_kind"]).reshape(-1)[0])
        attrs = json.loads(str(np.asarray(raw["aet_attrs"]).reshape(-1)[0]))
        arrays = {}
        for k in keys:
            if k.startswith("aet_"):
                continue
            v = raw[k]
            if v.dtype == object or v.dtype.kind == "U":
                arrays[k] = np.array([str(np.asarray(s).reshape(-1)[0]).strip() for s in v.reshape(-1)], dtype=str)
            elif k == "positions":
                arrays[k] = v.T
            elif k in ("dose", "b_factor", "height", "labels") or k.startswith("score_"):
                arrays[k] = v.reshape(-1)
            else:
                arrays[k] = from_matlab(v)
        return kind, arrays, attrs
    name = _pick_key(keys, key, path)
    return None, {"array": from_matlab(raw[name])}, {}


def _read_mat73(path: Path, key: str | None) -> Loaded:
    with reading(path, "MATLAB v7.3 .mat file"), h5py.File(path, "r") as f:
        keys = [k for k in f if not k.startswith("#")]
        name = _pick_key(keys, key, path)
        # h5py sees MATLAB's column-major data with the axes already reversed.
        arr = np.asarray(f[name][()])
    return None, {"array": arr.transpose(*reversed(range(arr.ndim))) if arr.ndim == 2 else arr}, {}
