"""Atomic structure files through ASE: (extended) XYZ, CIF and PDB.

Extended XYZ keeps every per-atom array; CIF and PDB keep positions and elements, and the rest
(B-factors in the AET convention, heights, labels, scores) goes to the JSON sidecar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import ase.io
import numpy as np

from aet.errors import AetFormatError
from aet.io.atomic import atomic_paths, dump_json, sidecar_path
from aet.io.checks import REWRITE, reason
from aet.model import AtomicModel

_ASE_FORMAT = {".xyz": "extxyz", ".extxyz": "extxyz", ".cif": "cif", ".pdb": "proteindatabank"}


def write_structure(model: AtomicModel, path: Path) -> None:
    fmt = _ASE_FORMAT[path.suffix.lower()]
    atoms = model.to_ase()
    if fmt == "extxyz":
        with atomic_paths(path) as (tmp,):
            ase.io.write(tmp, atoms, format=fmt)
        return
    extra = {k: v for k, v in atoms.arrays.items() if k not in ("numbers", "positions")}
    with atomic_paths(path, sidecar_path(path)) as (tmp, tmp_side):
        ase.io.write(tmp, model.to_ase(), format=fmt)
        dump_json({"kind": "model", "arrays": extra, "metadata": model.metadata}, tmp_side)


def read_structure(path: Path, side: dict[str, Any]) -> AtomicModel:
    fmt = _ASE_FORMAT[path.suffix.lower()]
    if fmt == "proteindatabank":
        _check_pdb_end(path)
    try:
        # index=0 selects one frame, so ase returns a single Atoms (its annotation covers lists too).
        atoms = cast(ase.Atoms, ase.io.read(path, format=fmt, index=0))
    except MemoryError:
        raise
    except Exception as exc:  # ase raises many types for malformed files
        raise AetFormatError(f"{path} is not a readable {fmt} file ({reason(exc)}); {REWRITE}.") from exc
    model = AtomicModel.from_ase(atoms)
    for name, value in side.get("arrays", {}).items():
        arr = np.asarray(value)
        if name.startswith("score_"):
            model.scores[name[len("score_") :]] = arr.astype(float)
        elif name in ("b_factor", "height", "labels"):
            setattr(model, name, arr)
    model.metadata.update(side.get("metadata", {}))
    model.__post_init__()
    return model


def _check_pdb_end(path: Path) -> None:
    """Refuse a PDB file that stops at an atom record: a PDB file ends with END (or ENDMDL, as ase writes).

    ase reads whatever whole atom lines a truncated file still holds, so without this check a cut file would
    silently give a model with fewer atoms.
    """
    lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else ""
    if last and any(last.startswith(record) or record.startswith(last) for record in ("ATOM", "HETATM")):
        raise AetFormatError(
            f"{path} stops at an atom line without the END record that closes a PDB file, so it looks truncated; "
            f"{REWRITE}, or add a line END at its end if it is complete."
        )
