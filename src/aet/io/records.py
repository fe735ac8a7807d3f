"""Objects <-> flat records (named arrays + attributes) shared by the HDF5, NPZ, MATLAB and sidecar formats.

Record layout (also the documented HDF5 layout, see docs/conventions.md):

============  ===============================================  ========================================
kind          arrays                                           attributes
============  ===============================================  ========================================
tiltseries    images [n, rows, cols], angles [n, 3] (deg),     pixel_size (Å), euler_convention,
              shifts [n, 2] (Å, optional), dose [n] (e/Å²)     tilt_axis (deg), metadata (JSON)
volume        data [z, y, x]                                   voxel_size (Å), origin (z, y, x; Å), metadata
model         positions [N, 3] (x, y, z; Å), elements [N],     metadata (JSON); B in Å², AET convention
              b_factor [N] (Å²), height [N], labels [N],       H·exp(−π² r² / B)
              score_<name> [N]
angles        angles [n, 3] (φ, θ, ψ; deg)                     euler_convention
============  ===============================================  ========================================
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from aet.errors import AetFormatError
from aet.model import AtomicModel, TiltSeries, Volume

KINDS = ("tiltseries", "volume", "model", "angles")
MAIN_ARRAY = {"tiltseries": "images", "volume": "data", "model": "positions", "angles": "angles"}
UNITS = {
    "images": "counts or arbitrary",
    "angles": "degree",
    "shifts": "angstrom",
    "dose": "electron/angstrom^2",
    "data": "arbitrary",
    "positions": "angstrom",
    "b_factor": "angstrom^2 (AET convention H*exp(-pi^2 r^2/B))",
}


def kind_of(obj: Any) -> str:
    if isinstance(obj, TiltSeries):
        return "tiltseries"
    if isinstance(obj, Volume):
        return "volume"
    if isinstance(obj, AtomicModel):
        return "model"
    if isinstance(obj, np.ndarray) and obj.ndim == 2 and obj.shape[1] == 3:
        return "angles"
    raise AetFormatError(
        f"aet cannot write a {type(obj).__name__}; give a TiltSeries, Volume, AtomicModel or an [n, 3] angle array."
    )


def to_record(obj: Any) -> tuple[str, dict[str, np.ndarray], dict[str, Any]]:
    """Split an object into (kind, arrays, attributes)."""
    kind = kind_of(obj)
    arrays: dict[str, np.ndarray] = {}
    attrs: dict[str, Any] = {}
    if kind == "tiltseries":
        arrays = {"images": obj.images, "angles": obj.angles}
        if obj.shifts is not None:
            arrays["shifts"] = obj.shifts
        if obj.dose is not None:
            arrays["dose"] = obj.dose
        attrs = {"pixel_size": obj.pixel_size, "euler_convention": obj.euler_convention, "tilt_axis": obj.tilt_axis}
    elif kind == "volume":
        arrays = {"data": obj.data}
        attrs = {"voxel_size": obj.voxel_size, "origin": list(obj.origin)}
    elif kind == "model":
        arrays = {"positions": obj.positions, "elements": np.array(obj.elements, dtype=str)}
        for name in ("b_factor", "height", "labels"):
            if getattr(obj, name) is not None:
                arrays[name] = getattr(obj, name)
        for key, value in obj.scores.items():
            arrays[f"score_{key}"] = value
    else:
        arrays = {"angles": np.asarray(obj, dtype=np.float64)}
    if kind != "angles":
        attrs["metadata"] = json.dumps(obj.metadata, default=str)
    return kind, arrays, attrs


def from_record(kind: str, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> Any:
    """Rebuild an object from a record made by :func:`to_record`."""
    meta = attrs.get("metadata", "{}")
    metadata = json.loads(meta) if isinstance(meta, str) else dict(meta or {})
    if kind == "tiltseries":
        return TiltSeries(
            images=arrays["images"],
            angles=arrays["angles"],
            pixel_size=float(attrs.get("pixel_size", 1.0)),
            euler_convention=str(attrs.get("euler_convention", "zyz")),
            tilt_axis=float(attrs.get("tilt_axis", 0.0)),
            shifts=arrays.get("shifts"),
            dose=arrays.get("dose"),
            metadata=metadata,
        )
    if kind == "volume":
        return Volume(
            data=arrays["data"],
            voxel_size=float(attrs.get("voxel_size", 1.0)),
            origin=tuple(np.asarray(attrs.get("origin", (0.0, 0.0, 0.0)), dtype=float).reshape(-1)),
            metadata=metadata,
        )
    if kind == "model":
        scores = {k[len("score_") :]: v for k, v in arrays.items() if k.startswith("score_")}
        return AtomicModel(
            positions=arrays["positions"],
            elements=[str(e) for e in np.asarray(arrays["elements"]).reshape(-1)],
            b_factor=arrays.get("b_factor"),
            height=arrays.get("height"),
            labels=arrays.get("labels"),
            scores=scores,
            metadata=metadata,
        )
    if kind == "angles":
        return np.asarray(arrays["angles"], dtype=np.float64)
    raise AetFormatError(f"unknown record kind {kind!r}; expected one of {KINDS}.")
