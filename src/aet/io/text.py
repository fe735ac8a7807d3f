"""Plain-text files: angle lists (.txt/.tlt/.rawtlt), CSV atom tables and 'type x y z' text models."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aet.errors import AetFormatError
from aet.io.checks import REWRITE, one_line
from aet.model import AtomicModel

CSV_FIXED = ("element", "x", "y", "z", "b_factor", "height", "label")


def _text(path: Path) -> str:
    """The file's text; bytes that are not UTF-8 mean a binary or damaged file."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise AetFormatError(
            f"{path} is not a text file (byte {exc.start} is not UTF-8 text), so it is binary or damaged; give the "
            "file its real suffix, or write the table again as plain text."
        ) from exc


def read_table(path: Path) -> npt.NDArray[np.float64]:
    """Read whitespace- or comma-separated numbers, skipping '#' and '%' comment lines."""
    rows = [
        (number, ln.replace(",", " "))
        for number, ln in enumerate(_text(path).splitlines(), 1)
        if ln.strip() and ln.lstrip()[0] not in "#%"
    ]
    if not rows:
        raise AetFormatError(f"{path} holds no numbers, only blank or comment lines; {REWRITE}.")
    width = len(rows[0][1].split())
    for number, ln in rows:
        if len(ln.split()) != width:
            raise AetFormatError(
                f"line {number} of {path} has {len(ln.split())} value(s) where the lines above have {width}; every "
                f"line needs the same number of columns (a truncated file ends mid-line): {REWRITE}."
            )
    try:
        return np.loadtxt(io.StringIO("\n".join(ln for _, ln in rows)), ndmin=2)
    except ValueError as exc:
        raise AetFormatError(f"{path} is not a table of numbers ({one_line(exc)}); {REWRITE}.") from exc


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
    try:
        reader = csv.DictReader(io.StringIO(_text(path), newline=""))
        rows: list[dict[str | Any, str | Any]] = []
        lines: list[int] = []
        for row in reader:
            rows.append(row)
            lines.append(reader.line_num)
        header = reader.fieldnames
    except csv.Error as exc:
        raise AetFormatError(f"{path} is not a readable CSV file ({one_line(exc)}); {REWRITE}.") from exc
    if not header:
        raise AetFormatError(f"{path} has no header line (element, x, y, z, ...); {REWRITE}.")
    missing = {"x", "y", "z"} - set(header)
    if missing:
        raise AetFormatError(f"{path} lacks the column(s) {sorted(missing)}; an atom CSV needs x, y, z in Å.")
    if not rows:
        return AtomicModel(np.zeros((0, 3)), [])

    def number(i: int, name: str) -> float:
        value = rows[i][name]
        try:
            return float(value)
        except (TypeError, ValueError):
            what = "is missing" if value is None else f"is {value!r}, not a number"
            raise AetFormatError(
                f"the {name} value of atom {i + 1} (line {lines[i]}) in {path} {what}; fix that line, or {REWRITE} "
                "(a truncated file ends mid-line)."
            ) from None

    def col(name: str) -> npt.NDArray[np.float64]:
        return np.array([number(i, name) for i in range(len(rows))])

    def optional(name: str) -> npt.NDArray[np.float64] | None:
        return col(name) if name in header else None

    labels = optional("label")
    return AtomicModel(
        positions=np.stack([col("x"), col("y"), col("z")], axis=1),
        elements=[r.get("element") or "X" for r in rows],
        b_factor=optional("b_factor"),
        height=optional("height"),
        labels=None if labels is None else labels.astype(np.int64),
        scores={k[len("score_") :]: col(k) for k in header if k.startswith("score_")},
    )
