"""Read and write aet objects, choosing the format from the file suffix.

``read(path)`` returns a :class:`~aet.model.TiltSeries`, :class:`~aet.model.Volume`,
:class:`~aet.model.AtomicModel`, an ``[n, 3]`` angle array (degrees) or an integer atom-type array,
depending on what the file holds. ``write(obj, path)`` writes atomically (temporary file, then rename)
and never replaces an existing file unless ``overwrite=True``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from aet.errors import AetFileNotFoundError, AetFormatError, AetInputError
from aet.io import containers, images, structures, text
from aet.io.atomic import atomic_paths, check_writable, dump_json, read_sidecar, sidecar_path
from aet.io.records import MAIN_ARRAY, from_record, kind_of, to_record
from aet.model import AtomicModel, TiltSeries, Volume, as_euler_angles

__all__ = ["read", "write", "SUFFIXES"]

SUFFIXES = {
    ".mrc": "mrc",
    ".mrcs": "mrc",
    ".rec": "mrc",
    ".st": "mrc",
    ".ali": "mrc",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".hdf": "hdf5",
    ".npy": "npy",
    ".npz": "npz",
    ".mat": "mat",
    ".txt": "text",
    ".tlt": "text",
    ".rawtlt": "text",
    ".dat": "text",
    ".xyz": "structure",
    ".extxyz": "structure",
    ".cif": "structure",
    ".pdb": "structure",
    ".csv": "csv",
}
ElementSpec = str | Mapping[int, str] | None


def _format(path: Path) -> str:
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(SUFFIXES))
        raise AetFormatError(
            f"aet does not know the file type {path.suffix or '(none)'!r} of {path}; use one of {known}."
        )
    return fmt


def read(
    path: str | os.PathLike,
    *,
    key: str | None = None,
    kind: str | None = None,
    angles: Any = None,
    pixel_size: float | None = None,
    euler_convention: str | None = None,
    elements: ElementSpec = None,
    types: Any = None,
) -> Any:
    """Read a file into the aet object it holds.

    Args:
        path: the file; its suffix picks the format.
        key: array name inside a .mat/.h5/.npz holding several arrays.
        kind: force ``"tiltseries"``, ``"volume"``, ``"model"``, ``"angles"`` or ``"types"``.
        angles: Euler angles (array, or a path read with :func:`read`) for a bare projection stack;
            giving them makes the result a TiltSeries.
        pixel_size: pixel/voxel size in Å where the file has none (overrides nothing the file states).
        euler_convention: ``"zyz"`` or ``"zyx"`` for angles read from a foreign file.
        elements: one symbol for every atom, or a mapping from integer atom type to symbol.
        types: integer atom types (array or path) for a position list that has none.
    """
    path = Path(path)
    if not path.exists():
        raise AetFileNotFoundError(f"{path} does not exist; check the path and the working folder.")
    if path.is_dir():
        raise AetFormatError(f"{path} is a folder; give a file.")
    fmt = _format(path)
    side = read_sidecar(path)
    if isinstance(angles, (str, os.PathLike)):
        angles = read(angles, kind="angles")
    if isinstance(types, (str, os.PathLike)):
        types = read(types, kind="types")

    if fmt in ("hdf5", "npz", "mat"):
        reader = {"hdf5": containers.read_hdf5, "npz": containers.read_npz, "mat": containers.read_mat}[fmt]
        rec_kind, arrays, attrs = reader(path, key)
        if rec_kind is not None:
            return from_record(rec_kind, arrays, attrs)
        return _interpret(arrays["array"], path, kind, angles, pixel_size, euler_convention, elements, types)
    if fmt == "structure":
        return _label_types(structures.read_structure(path, side), elements)
    if fmt == "csv":
        return text.read_csv(path)
    if fmt == "text":
        table = text.read_table(path)
        if table.shape[1] == 4 and kind != "angles":
            types = table[:, 0] if types is None else types
            return _interpret(table[:, 1:].T, path, "model", None, None, None, elements, types)
        return _interpret(table, path, kind or "angles", None, None, euler_convention, None, None)

    # Single-array formats: MRC, TIFF, NPY, with an optional JSON sidecar.
    if fmt == "mrc":
        arr, spacing = images.read_mrc(path)
    elif fmt == "tiff":
        arr, spacing = images.read_tiff(path)
    else:
        arr, spacing = containers.read_npy(path), None
    if side.get("kind") in ("tiltseries", "volume") and kind in (None, side["kind"]) and angles is None:
        arrays = {k: np.asarray(v) for k, v in side.get("arrays", {}).items()}
        arrays[MAIN_ARRAY[side["kind"]]] = arr
        attrs = dict(side.get("attrs", {}))
        return from_record(side["kind"], arrays, attrs)
    if pixel_size is None:
        pixel_size = spacing
    return _interpret(arr, path, kind, angles, pixel_size, euler_convention, elements, types)


def _interpret(
    arr: np.ndarray,
    path: Path,
    kind: str | None,
    angles: Any,
    pixel_size: float | None,
    euler_convention: str | None,
    elements: ElementSpec,
    types: Any,
) -> Any:
    """Turn a bare array into the object it most plausibly is (or the one ``kind`` names)."""
    arr = np.asarray(arr)
    if kind is None:
        if angles is not None:
            kind = "tiltseries"
        elif arr.ndim == 3:
            kind = "volume" if len(set(arr.shape)) == 1 or path.suffix.lower() in (".mrc", ".rec") else "stack"
        elif arr.ndim == 2 and 1 in arr.shape and np.issubdtype(arr.dtype, np.integer):
            kind = "types"
        elif arr.ndim == 2 and arr.shape[1] == 3 and arr.shape[0] != 3:
            kind = "angles"
        elif arr.ndim == 2 and arr.shape[0] == 3:
            kind = "model"
        elif arr.ndim == 1:
            kind = "angles"
        else:
            raise AetInputError(
                f"{path} holds an array of shape {arr.shape} that aet cannot place; "
                "say what it is with kind='tiltseries'|'volume'|'model'|'angles'."
            )
    if kind == "stack":
        raise AetInputError(
            f"{path} holds a stack of {arr.shape[0]} projections of {arr.shape[1]}×{arr.shape[2]} pixels; "
            "give their angles (angles=... or --angles) to read it as a tilt series, or kind='volume'."
        )
    meta = {"source": str(path)}
    if kind == "tiltseries":
        if angles is None:
            raise AetInputError(f"reading {path} as a tilt series needs its angles (angles=... or --angles).")
        return TiltSeries(
            arr,
            as_euler_angles(angles),
            pixel_size=pixel_size or 1.0,
            euler_convention=euler_convention or "zyz",
            metadata=meta,
        )
    if kind == "volume":
        return Volume(arr, voxel_size=pixel_size or 1.0, metadata=meta)
    if kind == "angles":
        return as_euler_angles(arr)
    if kind == "types":
        flat = arr.reshape(-1)
        if not np.all(np.mod(flat, 1) == 0):
            raise AetInputError(f"{path} should hold integer atom types, found non-integer values.")
        return flat.astype(np.int64)
    if kind == "model":
        pos = arr.T if arr.ndim == 2 and arr.shape[0] == 3 and arr.shape[1] != 3 else arr
        if types is None:
            syms = [elements] * len(pos) if isinstance(elements, str) else ["X"] * len(pos)
            return AtomicModel(pos, syms, metadata=meta)
        types = np.asarray(types).reshape(-1).astype(np.int64)
        if len(types) != len(pos):
            raise AetInputError(
                f"the model in {path} has {len(pos)} positions but its type list has {len(types)} entries; "
                "the two must match one to one. Fix the source files, or drop the extra types explicitly "
                "(types=types[:n]) if you know which ones they are."
            )
        model = AtomicModel(pos, ["X"] * len(pos), labels=types, metadata=meta)
        return _label_types(model, elements)
    raise AetInputError(f"unknown kind {kind!r}; use 'tiltseries', 'volume', 'model', 'angles' or 'types'.")


def _label_types(model: AtomicModel, elements: ElementSpec) -> AtomicModel:
    """Give element symbols to a model whose atoms carry integer type labels."""
    if elements is None:
        return model
    if isinstance(elements, str):
        model.elements = [elements] * len(model)
    else:
        if model.labels is None:
            raise AetInputError("an element mapping needs atom types; this model has none.")
        unknown = sorted(set(model.labels.tolist()) - set(elements))
        if unknown:
            raise AetInputError(f"atom types {unknown} have no element in the mapping {dict(elements)}.")
        model.elements = [elements[int(t)] for t in model.labels]
    from aet.elements import check_symbols

    model.elements = check_symbols(model.elements)
    return model


def write(obj: Any, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``obj`` to ``path`` in the format its suffix names; returns the path written.

    Formats that cannot hold everything (MRC, TIFF, NPY, CIF, PDB, text angles) get a JSON sidecar
    ``<path>.json`` with the rest (angles, pixel size, per-atom arrays, metadata).
    """
    path = Path(path)
    fmt = _format(path)
    kind = kind_of(obj)
    check_writable(path, overwrite)
    rec_kind, arrays, attrs = to_record(obj)

    if fmt in ("hdf5", "npz", "mat"):
        writer = {"hdf5": containers.write_hdf5, "npz": containers.write_npz, "mat": containers.write_mat}[fmt]
        with atomic_paths(path) as (tmp,):
            writer(rec_kind, arrays, attrs, tmp)
        return path
    if kind == "angles":
        if fmt != "text":
            raise AetFormatError(f"angles are written as text (.txt/.tlt) or in .h5/.npz/.mat, not {path.suffix}.")
        with atomic_paths(path) as (tmp,):
            text.write_angles(obj, "zyz", tmp)
        return path
    if kind == "model":
        if fmt == "csv":
            with atomic_paths(path) as (tmp,):
                text.write_csv(obj, tmp)
            return path
        if fmt == "structure":
            structures.write_structure(obj, path)
            return path
        raise AetFormatError(
            f"an atomic model is written as .xyz/.extxyz/.cif/.pdb/.csv/.h5/.npz/.mat, not {path.suffix}."
        )
    if fmt not in ("mrc", "tiff", "npy"):
        raise AetFormatError(f"a {kind} is written as .mrc/.tif/.npy/.h5/.npz/.mat, not {path.suffix}.")

    main = arrays.pop(MAIN_ARRAY[kind])
    spacing = attrs.get("pixel_size", attrs.get("voxel_size", 1.0))
    side = {"kind": kind, "attrs": attrs, "arrays": arrays, "format": "aet sidecar v1"}
    with atomic_paths(path, sidecar_path(path)) as (tmp, tmp_side):
        if fmt == "mrc":
            images.write_mrc(main, spacing, tmp, stack=kind == "tiltseries")
        elif fmt == "tiff":
            images.write_tiff(main, spacing, tmp)
        else:
            with open(tmp, "wb") as fh:
                np.save(fh, main)
        dump_json(side, tmp_side)
    return path
