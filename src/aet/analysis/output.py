"""Files of an analysis: atoms.xyz with the per-atom columns (extended XYZ: OVITO and ASE read them), analysis.json
(the summary; NaN written as null) and analysis.html (tables and figures)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import ase.io

from aet.analysis.analyse import Analysis, with_columns
from aet.io.atomic import atomic_paths, check_creatable, dump_json
from aet.model import AtomicModel

FILES = ("atoms.xyz", "analysis.json", "analysis.html")


def strict_json(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None, so the JSON is valid for any reader."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def write_analysis(out: Path, model: AtomicModel, analysis: Analysis, overwrite: bool = False) -> list[Path]:
    """Write the three files into the folder ``out`` (created if needed), all or none."""
    from aet.errors import AetUsageError
    from aet.pipeline.report import write_analysis_report

    out = Path(out)
    check_creatable(out, "a folder with --out")
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in FILES]
    existing = [p.name for p in paths if p.exists()]
    if existing and not overwrite:
        raise AetUsageError(f"{out} already holds {', '.join(existing)}; choose another --out or pass --overwrite.")
    with atomic_paths(*paths) as (xyz, js, page):
        ase.io.write(xyz, with_columns(model, analysis), format="extxyz")
        dump_json(strict_json(analysis.summary), js)
        write_analysis_report(page, model, analysis)
    return paths
