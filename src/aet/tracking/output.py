"""Files of a tracked series: trajectory.xyz (extended XYZ, one frame per model, all in model 0's frame, with
track ids: OVITO and ASE read it), tracking.json (registrations, counts, events, order per model; NaN as null)
and tracking.html (the series report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ase
import ase.io
import numpy as np

from aet.analysis.output import strict_json
from aet.errors import AetUsageError
from aet.io.atomic import atomic_paths, check_creatable, dump_json
from aet.tracking.register import Registration
from aet.tracking.track import KINDS, Tracking

FILES = ("trajectory.xyz", "tracking.json", "tracking.html")
CONVENTIONS = {
    "lengths": "Å",
    "displacement": "later − registration(earlier): each atom's own move with the particle's rigid motion removed; "
                    "in tracking.json in the later model's orientation, in trajectory.xyz in model 0's",
    "registration": "x_later ≈ matrix @ x_earlier + shift_A",
    "trajectory": "every frame mapped into model 0's frame; column id is the track id (the same atom in every "
                  "frame), kind the correspondence with the frame before (codes in the comment line, -1: none)",
}  # fmt: skip


def _inverse(reg: Registration) -> tuple[np.ndarray, np.ndarray]:
    inv = np.linalg.inv(reg.matrix)
    return inv, -inv @ reg.shift


def frames(tracking: Tracking) -> list[ase.Atoms]:
    """The trajectory frames: every model in model 0's frame, with id, displacement and kind columns."""
    out, to_first = [], (np.eye(3), np.zeros(3))  # model t → model 0: x0 = m @ x + s
    for t, model in enumerate(tracking.models):
        m, s = to_first
        atoms = ase.Atoms(model.elements, positions=model.positions @ m.T + s)
        disp, kind = np.zeros((len(model), 3)), np.full(len(model), -1, dtype=np.int64)
        if t > 0:
            step = tracking.steps[t - 1]
            disp[step.after] = step.displacement @ m.T
            kind[step.after] = step.kind
        atoms.arrays["id"] = tracking.track_ids[t]
        atoms.arrays["displacement"] = disp
        atoms.arrays["kind"] = kind
        atoms.info.update({"frame": t, "kind_codes": ",".join(KINDS)})
        out.append(atoms)
        if t < len(tracking.steps):
            inv_m, inv_s = _inverse(tracking.steps[t].registration)
            to_first = (m @ inv_m, m @ inv_s + s)
    return out


def summary(tracking: Tracking, names: list[str] | None = None) -> dict[str, Any]:
    """What tracking.json holds."""
    names = names or [f"model {t}" for t in range(len(tracking.models))]
    return {
        "models": [{"source": n, "atoms": len(m)} | ({"order": tracking.order[t]} if tracking.order else {})
                   for t, (n, m) in enumerate(zip(names, tracking.models, strict=True))],
        "steps": [{"from": t, "to": t + 1} | s.summary() for t, s in enumerate(tracking.steps)],
        "settings": tracking.settings,
        "conventions": CONVENTIONS,
    }  # fmt: skip


def write_tracking(out: Path, tracking: Tracking, names: list[str] | None = None,
                   overwrite: bool = False) -> list[Path]:  # fmt: skip
    """Write the three files into the folder ``out`` (created if needed), all or none."""
    from aet.tracking.report import write_tracking_report

    out = Path(out)
    check_creatable(out, "a folder with --out")
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in FILES]
    existing = [p.name for p in paths if p.exists()]
    if existing and not overwrite:
        raise AetUsageError(f"{out} already holds {', '.join(existing)}; choose another --out or pass --overwrite.")
    record = summary(tracking, names)
    with atomic_paths(*paths) as (xyz, js, page):
        ase.io.write(xyz, frames(tracking), format="extxyz")
        dump_json(strict_json(record), js)
        write_tracking_report(page, tracking, record)
    return paths
