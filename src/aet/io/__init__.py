"""Read and write aet objects, choosing the format from the file suffix.

``read(path)`` returns a :class:`~aet.model.TiltSeries`, :class:`~aet.model.Volume`,
:class:`~aet.model.AtomicModel`, an ``[n, 3]`` angle array (degrees) or an integer atom-type array,
depending on what the file holds. The typed readers :func:`read_tilt_series`, :func:`read_volume`,
:func:`read_model` and :func:`read_angles` return exactly one type and raise
:class:`~aet.errors.AetFormatError` when the file holds something else. ``write(obj, path)`` writes
atomically (temporary file, then rename) and never replaces an existing file unless ``overwrite=True``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aet.errors import AetFileNotFoundError, AetFormatError, AetInputError
from aet.io import containers, images, structures, text
from aet.io.atomic import atomic_paths, check_writable, dump_json, read_sidecar, sidecar_path
from aet.io.checks import check_angles, refuse_complex
from aet.io.records import MAIN_ARRAY, from_record, kind_of, to_record
from aet.model import EULER_CONVENTIONS, AtomicModel, TiltSeries, Volume, as_euler_angles

__all__ = ["read", "read_angles", "read_model", "read_tilt_series", "read_volume", "write", "SUFFIXES"]

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
    path: str | os.PathLike[str],
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

    Raises:
        AetFileNotFoundError: the file does not exist.
        AetFormatError: the file is empty, damaged, truncated or not of the format its suffix names.
        AetInputError: what it holds cannot be what was asked for, or is implausible: complex numbers, NaN,
            two images with the same angles, angles that look like radians.
    """
    path = Path(path)
    obj = _read(path, key, kind, angles, pixel_size, euler_convention, elements, types)
    # Angles are checked where they are used as angles: in a tilt series, or when asked for. Any [n, 3] table
    # (crop centres, positions) also reads as "angles" when no kind is given, and must not be refused as such.
    if isinstance(obj, TiltSeries):
        check_angles(obj.angles, path)
    elif kind == "angles" and isinstance(obj, np.ndarray):
        check_angles(obj, path)
    return obj


def _read(
    path: Path,
    key: str | None,
    kind: str | None,
    angles: Any,
    pixel_size: float | None,
    euler_convention: str | None,
    elements: ElementSpec,
    types: Any,
) -> Any:
    """:func:`read` without the final checks of the angles it returns."""
    if not path.exists():
        raise AetFileNotFoundError(f"{path} does not exist; check the path and the working folder.")
    if path.is_dir():
        raise AetFormatError(f"{path} is a folder; give a file.")
    fmt = _format(path)
    if not os.access(path, os.R_OK):
        raise AetFormatError(f"{path} cannot be opened: permission denied; make it readable (chmod u+r) or copy it.")
    if path.stat().st_size == 0:
        raise AetFormatError(
            f"{path} is empty (0 bytes), so it was not written or copied completely; write or copy it again."
        )
    side = read_sidecar(path)
    if isinstance(angles, (str, os.PathLike)):
        angles = read(angles, kind="angles")
    if isinstance(types, (str, os.PathLike)):
        types = read(types, kind="types")

    if fmt in ("hdf5", "npz", "mat"):
        reader = {"hdf5": containers.read_hdf5, "npz": containers.read_npz, "mat": containers.read_mat}[fmt]
        rec_kind, arrays, attrs = reader(path, key)
        for name, value in arrays.items():
            refuse_complex(value, path, name if rec_kind is not None else key)
        if rec_kind is not None:
            return _stated_geometry(from_record(rec_kind, arrays, attrs), pixel_size, euler_convention)
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
        return _interpret(table, path, kind or "angles", None, None, euler_convention, elements, types)

    # Single-array formats: MRC, TIFF, NPY, with an optional JSON sidecar.
    if fmt == "mrc":
        arr, spacing = images.read_mrc(path)
    elif fmt == "tiff":
        arr, spacing = images.read_tiff(path)
    else:
        arr, spacing = containers.read_npy(path), None
    refuse_complex(arr, path)
    if side.get("kind") in ("tiltseries", "volume") and kind in (None, side["kind"]) and angles is None:
        arrays = {k: np.asarray(v) for k, v in side.get("arrays", {}).items()}
        arrays[MAIN_ARRAY[side["kind"]]] = arr
        attrs = dict(side.get("attrs", {}))
        obj = from_record(side["kind"], arrays, attrs)
        return _stated_geometry(obj, pixel_size, euler_convention)
    if pixel_size is None:
        pixel_size = spacing
    return _interpret(arr, path, kind, angles, pixel_size, euler_convention, elements, types)


def _stated_geometry(obj: Any, pixel_size: float | None, euler_convention: str | None) -> Any:
    """``obj`` with the pixel size and Euler convention the caller stated, which win over the file's own."""
    changes: dict[str, Any] = {}
    if not isinstance(obj, TiltSeries | Volume):
        return obj
    if pixel_size is not None:
        changes["voxel_size" if isinstance(obj, Volume) else "pixel_size"] = pixel_size
    if euler_convention is not None and isinstance(obj, TiltSeries):
        changes["euler_convention"] = euler_convention
    if not changes:
        return obj
    obj = dataclasses.replace(obj, **changes)  # checked again on construction
    obj.metadata = {**obj.metadata, "stated_by_caller": sorted(changes)}
    return obj


# ---------------------------------------------------------------- typed readers
#: What each kind is called in messages, the typed reader for it, and what a bare array needs to be one.
_KIND_TEXT = {
    "tiltseries": ("a tilt series", "read_tilt_series", "a 3-D stack [n, rows, cols] with its angles"),
    "volume": ("a volume", "read_volume", "a 3-D array [z, y, x]"),
    "model": ("an atomic model", "read_model", "a 3×N or N×3 list of positions in Å"),
    "angles": ("angles", "read_angles", "an [n, 3] array of Euler angles or a list of tilts in degrees"),
}


def read_tilt_series(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    angles: Any = None,
    pixel_size: float | None = None,
    euler_convention: str | None = None,
    angles_key: str | None = None,
) -> TiltSeries:
    """Read a :class:`~aet.model.TiltSeries`; a bare projection stack needs ``angles`` (array or path;
    ``angles_key`` names the array inside an angle file that holds several).

    Raises :class:`~aet.errors.AetFormatError` when the file holds something else (a volume, a model, ...).
    """
    if angles_key is not None and isinstance(angles, str | os.PathLike):
        angles = read_angles(angles, key=angles_key)
    obj = _read_as(path, "tiltseries", key, angles=angles, pixel_size=pixel_size, euler_convention=euler_convention)
    if not isinstance(obj, TiltSeries):
        raise _wrong_kind(Path(path), *_describe(obj), "tiltseries")
    return obj


def read_volume(path: str | os.PathLike[str], *, key: str | None = None, voxel_size: float | None = None) -> Volume:
    """Read a :class:`~aet.model.Volume` (any 3-D array in the file is taken as ``[z, y, x]``).

    Raises :class:`~aet.errors.AetFormatError` when the file holds something else (a tilt series, a model, ...).
    """
    obj = _read_as(path, "volume", key, pixel_size=voxel_size)
    if not isinstance(obj, Volume):
        raise _wrong_kind(Path(path), *_describe(obj), "volume")
    return obj


def read_model(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    elements: ElementSpec = None,
    types: Any = None,
) -> AtomicModel:
    """Read an :class:`~aet.model.AtomicModel`; ``elements`` and ``types`` as for :func:`read`.

    Raises :class:`~aet.errors.AetFormatError` when the file holds something else (a volume, a tilt series, ...).
    """
    obj = _read_as(path, "model", key, elements=elements, types=types)
    if not isinstance(obj, AtomicModel):
        raise _wrong_kind(Path(path), *_describe(obj), "model")
    return obj


def read_angles(
    path: str | os.PathLike[str], *, key: str | None = None, euler_convention: str | None = None
) -> npt.NDArray[np.float64]:
    """Read Euler angles as an ``[n, 3]`` float64 array of (φ, θ, ψ) in degrees (a tilt list becomes (0, θ, 0)).

    A bare array cannot carry its convention: ``euler_convention`` (``"zyz"`` or ``"zyx"``) is only checked
    here; pass the same value on to the tilt series. Raises :class:`~aet.errors.AetFormatError` when the file
    holds something else (a volume, a model, ...).
    """
    if euler_convention is not None and euler_convention not in EULER_CONVENTIONS:
        raise AetInputError(f"unknown Euler convention {euler_convention!r}; use one of {EULER_CONVENTIONS}.")
    obj = _read_as(path, "angles", key, euler_convention=euler_convention)
    if not (isinstance(obj, np.ndarray) and obj.ndim == 2 and obj.shape[1] == 3 and obj.dtype.kind == "f"):
        raise _wrong_kind(Path(path), *_describe(obj), "angles")
    return np.asarray(obj, dtype=np.float64)


def _read_as(path: str | os.PathLike[str], kind: str, key: str | None, **options: Any) -> Any:
    """``read(path, kind=kind)``, with a wrong-kind AetFormatError where the file plainly holds another kind.

    A file whose sidecar names another kind is refused before reading (``kind`` would override the sidecar).
    When the forced interpretation fails on a bare array whose shape cannot be ``kind`` at all, the error
    becomes a wrong-kind AetFormatError; any other error (NaN, angle count, ...) is raised unchanged.
    """
    p = Path(path)
    held = read_sidecar(p).get("kind") if p.is_file() else None
    if held in _KIND_TEXT and held != kind:
        raise _wrong_kind(p, f"{_KIND_TEXT[held][0]} (so says its sidecar {sidecar_path(p).name})", held, kind)
    try:
        return read(p, key=key, kind=kind, **options)
    except AetInputError as exc:
        arr = _bare_array(p, key)
        if arr is None or _could_be(kind, arr):
            raise
        raise _wrong_kind(p, f"an array of shape {arr.shape}", None, kind) from exc


def _bare_array(path: Path, key: str | None) -> npt.NDArray[Any] | None:
    """The single unlabelled array a file holds (None for aet records, structures and CSV tables)."""
    fmt = _format(path)
    if fmt in ("hdf5", "npz", "mat"):
        reader = {"hdf5": containers.read_hdf5, "npz": containers.read_npz, "mat": containers.read_mat}[fmt]
        rec_kind, arrays, _ = reader(path, key)
        return None if rec_kind is not None else np.asarray(arrays["array"])
    if fmt == "text":
        return text.read_table(path)
    if fmt == "mrc":
        return images.read_mrc(path)[0]
    if fmt == "tiff":
        return images.read_tiff(path)[0]
    if fmt == "npy":
        return containers.read_npy(path)
    return None


def _could_be(kind: str, arr: npt.NDArray[Any]) -> bool:
    """Whether an array's shape fits ``kind`` (so that a failure to read it as one is an input error)."""
    if kind in ("tiltseries", "volume"):
        return arr.ndim == 3
    if kind == "model":
        return arr.size == 0 or (arr.ndim == 2 and 3 in arr.shape)
    return arr.ndim <= 1 or (arr.ndim == 2 and (arr.shape[1] in (1, 3) or arr.shape[0] == 3))


def _describe(obj: Any) -> tuple[str, str | None]:
    """A few words on an object :func:`read` returned, for error messages, and its kind (None: no aet kind)."""
    if isinstance(obj, TiltSeries):
        n, rows, cols = obj.images.shape
        return f"a tilt series of {n} images of {rows}×{cols} pixels", "tiltseries"
    if isinstance(obj, Volume):
        return "a volume of {}×{}×{} voxels".format(*obj.shape), "volume"
    if isinstance(obj, AtomicModel):
        return f"an atomic model of {len(obj)} atoms", "model"
    if isinstance(obj, np.ndarray):
        if obj.ndim == 2 and obj.shape[1] == 3:
            return f"{obj.shape[0]} Euler angles", "angles"
        if obj.ndim == 1 and obj.dtype.kind in "iu":
            return f"{obj.shape[0]} integer atom types", None
        return f"an array of shape {obj.shape}", None
    return f"a {type(obj).__name__}", None


def _wrong_kind(path: Path, holds: str, held: str | None, kind: str) -> AetFormatError:
    """The one-sentence error for a file that holds ``holds`` (of kind ``held``) where ``kind`` was asked for."""
    want, _, needs = _KIND_TEXT[kind]
    if held in _KIND_TEXT:
        fix = f"read it with aet.io.{_KIND_TEXT[held][1]}(), or give a file that holds {want}"
    else:
        fix = f"{want} needs {needs}: name another array with key=... or give another file"
    return AetFormatError(f"{path} holds {holds}, not {want}; {fix}.")


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
            pixel_size=1.0 if pixel_size is None else pixel_size,
            euler_convention=euler_convention or "zyz",
            metadata=meta,
        )
    if kind == "volume":
        return Volume(arr, voxel_size=1.0 if pixel_size is None else pixel_size, metadata=meta)
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


def write(obj: Any, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
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
