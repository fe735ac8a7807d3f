"""What ``aet run`` reports: :class:`RunSummary`, written as ``summary.json`` and read by the HTML report."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aet.metrics.matching import Comparison
from aet.metrics.rfactor import RFactors
from aet.model import AtomicModel, TiltSeries

#: The units of every figure in the summary.
UNITS = {"positions": "Å", "angles": "degrees", "b_factor": "Å², AET convention H·exp(−π² r² / B)"}


@dataclass(frozen=True)
class TiltSeriesFacts:
    """The measured series: image count, (rows, cols), pixel size (Å), θ range (degrees), Euler convention."""

    images: int
    shape: tuple[int, int]
    pixel_size_A: float
    tilt_range_deg: tuple[float, float]
    euler_convention: str

    @classmethod
    def of(cls, ts: TiltSeries) -> TiltSeriesFacts:
        theta = ts.tilt_angles
        rows, cols = ts.images.shape[1:]
        return cls(ts.n_images, (int(rows), int(cols)), ts.pixel_size, (float(theta.min()), float(theta.max())),
                   ts.euler_convention)  # fmt: skip


@dataclass(frozen=True)
class RunSummary:
    """The figures of one ``aet run``.

    Attributes:
        atoms: atoms of the final model per species.
        atoms_traced: atoms traced before refinement (some may be dropped at the field-of-view check).
        rfactors: R-factors of the final model (one global scale and background fitted).
        refinement_r1: R1 before and after refinement (per-image scales and backgrounds), ``None`` when off.
        subareas: the sub-area job's figures (size, overlap, sub-areas, atoms before and after the merge), when
            the run was one (``aet run --subareas``; per sub-area in subareas.json).
        refinement_free: the held-out projections' R_free before and after refinement, the outer iteration whose
            model was kept and why the refinement stopped; ``None`` when no projection was held out.
        tilt_series: the measured series.
        timings_s: seconds per stage (a reused stage: what it took when it ran).
        total_s: wall time of the whole run, in seconds.
        skipped_stages: stages reused from an earlier run into the same folder.
        seed: the run's random seed.
        comparison, comparison_traced: the final and the traced model against a ground truth, when one was given.
        alignment: what ``[prepare] align`` found (:class:`aet.prepare.align.Alignment` as a dict), or why it was
            skipped (``{"skipped": reason}``); None when alignment was off.
        analysis: key figures of the structure analysis (``aet analyse``), None when it was off or failed.
        guard: the guard's decision and figures (:class:`aet.pipeline.guard.GuardReport` as a dict), None when no
            network ran or the guard was off.
        adapt: the adaptation's figures (:func:`aet.nn.adapt.adapt`), None when the network was not adapted.
    """

    atoms: dict[str, int]
    atoms_traced: int
    rfactors: RFactors
    refinement_r1: tuple[float, float] | None
    tilt_series: TiltSeriesFacts
    timings_s: dict[str, float]
    total_s: float
    skipped_stages: tuple[str, ...]
    seed: int
    comparison: Comparison | None = None
    comparison_traced: Comparison | None = None
    alignment: dict[str, Any] | None = None
    analysis: dict[str, Any] | None = None
    refinement_free: dict[str, Any] | None = None
    subareas: dict[str, Any] | None = None
    guard: dict[str, Any] | None = None
    adapt: dict[str, Any] | None = None
    versions: dict[str, str] = field(default_factory=lambda: _versions())

    @property
    def n_atoms(self) -> int:
        return sum(self.atoms.values())

    @classmethod
    def counting(cls, model: AtomicModel, **kwargs: Any) -> RunSummary:
        """A summary whose ``atoms`` are counted from ``model``."""
        return cls(atoms={e: model.elements.count(e) for e in model.species}, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``summary.json``)."""
        r, t, r1 = self.rfactors, self.tilt_series, self.refinement_r1
        out: dict[str, Any] = {
            "status": "done",
            "atoms": {"total": self.n_atoms, **self.atoms},
            "atoms_traced": self.atoms_traced,
            "r1": {"R1": r.R1, "R1_mean": r.R1_mean, "R2": r.R2},
            "refinement": {} if r1 is None else {"before": r1[0], "after": r1[1], **(self.refinement_free or {})},
            "tilt_series": {"images": t.images, "shape": list(t.shape), "pixel_size_A": t.pixel_size_A,
                            "tilt_range_deg": list(t.tilt_range_deg), "euler_convention": t.euler_convention},
            "timings_s": {**self.timings_s, "total": round(self.total_s, 3)},
            "skipped_stages": list(self.skipped_stages),
            "versions": self.versions,
            "seeds": {"run": self.seed},
            "units": UNITS,
        }  # fmt: skip
        if self.alignment is not None:
            out["alignment"] = self.alignment
        if self.guard is not None:
            out["guard"] = self.guard
        if self.adapt is not None:
            out["adapt"] = self.adapt
        if self.analysis is not None:
            out["analysis"] = self.analysis
        if self.subareas is not None:
            out["subareas"] = self.subareas  # the key figures; all of them in analysis/analysis.json
        if self.comparison is not None:
            out["comparison"] = self.comparison.to_dict()
        if self.comparison_traced is not None:
            out["comparison_traced"] = self.comparison_traced.to_dict()  # before refinement
        return out


def _versions() -> dict[str, str]:
    import torch

    import aet

    return {"aet": aet.__version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__}  # fmt: skip
