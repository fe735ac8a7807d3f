"""Plain-text files: angle lists (.txt/.tlt/.rawtlt), CSV atom tables and 'type x y z' text models."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aet.errors import AetFormatError
from aet.model import AtomicModel

CSV_FIXED = ("element", "x", "y", "z", "b_factor", "height", "label")


def read_table(path: Path) -> npt.NDArray[np.float64]:
    """Read whitespace- or comma-separated numbers, skipping '#' and '%' comment lines."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and ln.lstrip()[0] not in "#%"]
    try:
        return np.loadtxt(io.StringIO("\n".join(ln.replace(",", " ") for ln in lines)), ndmin=2)
    except ValueError as exc:
        raise AetFormatError(f"{path} is not a table of numbers ({exc}).") from exc


def write_angles(angles: npt.NDArray[np.float64], convention: str, path: Path) -> None:
    header = f"Euler angles (phi, theta, psi) in degrees, convention {convention}; theta is the tilt"
    np.savetxt(path, angles, fmt="%.6f", header=header)


def write_csv(model: AtomicModel, path: Path) -> None:
    cols: list[tuple[str, npt.NDArray[Any] | list[str]]] = [("element", model.elements)]
    cols += [(c, model.positions[:, i]) for i, c in enumerate("xyz")]
    for name, col in (("b_factor", model.b_factor), ("height", model.height), ("label", model.labels)):
        if col is not None:
            cols.append((name, col))
    cols += [(f"score_{k}", v) for k, v in model.scores.items()]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([c[0] for c in cols])
        for i in range(len(model)):
            w.writerow([c[1][i] if c[0] == "element" else repr(float(c[1][i])) for c in cols])


def read_csv(path: Path) -> AtomicModel:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return AtomicModel(np.zeros((0, 3)), [])
    missing = {"x", "y", "z"} - set(rows[0])
    if missing:
        raise AetFormatError(f"{path} lacks the column(s) {sorted(missing)}; an atom CSV needs x, y, z in Å.")

    def col(name: str) -> npt.NDArray[np.float64]:
        return np.array([float(r[name]) for r in rows])

    def optional(name: str) -> npt.NDArray[np.float64] | None:
        return col(name) if name in rows[0] else None

    labels = optional("label")
    return AtomicModel(
        positions=np.stack([col("x"), col("y"), col("z")], axis=1),
        elements=[r.get("element") or "X" for r in rows],
        b_factor=optional("b_factor"),
        height=optional("height"),
        labels=None if labels is None else labels.astype(np.int64),
        scores={k[len("score_") :]: col(k) for k in rows[0] if k.startswith("score_")},
    )
