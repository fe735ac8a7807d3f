"""What :func:`aet.refine` reports besides the refined model: :class:`RefineReport`, with its JSON form."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from aet.metrics.rfactor import RFactors
from aet.settings import names
from aet.settings.refine import RefineSettings

#: The Gaussian convention of every B-factor aet fits and writes.
B_CONVENTION = "AET: H·exp(−π² r² / B)"


@dataclass(frozen=True)
class RefineStep:
    """One optimiser step: its stage (``"hb"``, ``"positions"``, ``"geometry"``, ``"held-out images"``), the
    misfit ε = ½‖calc − meas‖² (image units squared) and R1 (of the images it fitted) after it."""

    stage: str
    misfit: float
    R1: float


@dataclass(frozen=True)
class SpeciesFit:
    """The fitted height H (image units) and B-factor (Å², :data:`B_CONVENTION`) of one species."""

    height: float
    b_factor_A2: float


@dataclass(frozen=True)
class Moves:
    """How far the atoms moved from the traced positions, in Å; ``capped``: how many reached ``max_move``."""

    mean: float
    max: float
    capped: int


@dataclass(frozen=True)
class RefineReport:
    """The refinement's figures: R-factors before and after, the per-step log, the fit per species and per image.

    Per-image lists follow the tilt series' order; shifts are (row, col) in Å, angle corrections (x, y, z) rotation
    vectors in degrees, ``None`` where they were not fitted. ``free_images`` were held out of the fit; ``r_free``
    is their R1 for the start model (after the H and B fit) and after each outer iteration; the model returned is
    that of ``best_iteration`` (0: the start positions), the latest within ``FREE_TOLERANCE`` of the lowest R_free.
    ``stopped``: ``"R_free"`` (it stopped falling), ``"converged"`` (the misfit did) or ``"iterations"``.
    ``per_atom``: whether the model returned has one B and H per atom (``per_atom = "auto"`` keeps them only when
    they lowered R_free).
    """

    before: RFactors
    after: RFactors
    log: tuple[RefineStep, ...]
    converged: bool
    species: dict[str, SpeciesFit]
    image_scale: tuple[float, ...]
    image_background: tuple[float, ...]
    image_shift_A: tuple[tuple[float, ...], ...] | None
    angle_correction_deg: tuple[tuple[float, ...], ...] | None
    move_A: Moves
    settings: RefineSettings
    seconds: float
    b_factor_convention: str = B_CONVENTION
    free_images: tuple[int, ...] = ()
    r_free: tuple[float, ...] = ()
    best_iteration: int = 0
    stopped: str = "iterations"
    per_atom: bool = False

    @property
    def r_free_before_after(self) -> tuple[float, float] | None:
        """R_free of the start model and of the model returned; None without held-out projections."""
        return (self.r_free[0], self.r_free[self.best_iteration]) if self.r_free else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``.aet/refine_report.json`` of ``aet run``, the output of ``aet refine --report``)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["before"], d["after"] = self.before.to_dict(), self.after.to_dict()
        d["log"] = [dataclasses.asdict(step) for step in self.log]
        d["species"] = {s: dataclasses.asdict(fit) for s, fit in self.species.items()}
        d["move_A"] = dataclasses.asdict(self.move_A)
        d["settings"] = {k: getattr(self.settings, k) for k in names(RefineSettings)}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RefineReport:
        """Inverse of :meth:`to_dict`."""

        def pairs(v: Any) -> tuple[tuple[float, ...], ...] | None:
            return None if v is None else tuple(tuple(float(x) for x in row) for row in v)

        return cls(
            before=RFactors.from_dict(d["before"]),
            after=RFactors.from_dict(d["after"]),
            log=tuple(RefineStep(str(s["stage"]), float(s["misfit"]), float(s["R1"])) for s in d["log"]),
            converged=bool(d["converged"]),
            species={k: SpeciesFit(float(v["height"]), float(v["b_factor_A2"])) for k, v in d["species"].items()},
            image_scale=tuple(float(v) for v in d["image_scale"]),
            image_background=tuple(float(v) for v in d["image_background"]),
            image_shift_A=pairs(d["image_shift_A"]),
            angle_correction_deg=pairs(d["angle_correction_deg"]),
            move_A=Moves(float(d["move_A"]["mean"]), float(d["move_A"]["max"]), int(d["move_A"]["capped"])),
            settings=_settings(d["settings"]),
            seconds=float(d["seconds"]),
            b_factor_convention=str(d.get("b_factor_convention", B_CONVENTION)),
            free_images=tuple(int(i) for i in d.get("free_images", ())),
            r_free=tuple(float(v) for v in d.get("r_free", ())),
            best_iteration=int(d.get("best_iteration", 0)),
            stopped=str(d.get("stopped", "iterations")),
            per_atom=bool(d.get("per_atom", False)),
        )


def _settings(saved: dict[str, Any]) -> RefineSettings:
    """Saved settings as today's class takes them (``per_atom_b = true/false`` became ``per_atom``)."""
    if "per_atom_b" in saved:
        saved = {**saved, "per_atom": "on" if saved["per_atom_b"] else "off"}
    return RefineSettings(**{k: v for k, v in saved.items() if k in names(RefineSettings)})


def free_summary(report: RefineReport) -> dict[str, Any] | None:
    """R_free before and after, the outer iteration kept, why it stopped and the held-out images (``summary.json``);
    None when no projection was held out."""
    if (pair := report.r_free_before_after) is None:
        return None
    return {"R_free_before": pair[0], "R_free_after": pair[1], "best_iteration": report.best_iteration,
            "stopped": report.stopped, "free_images": list(report.free_images),
            "per_atom": report.per_atom}  # fmt: skip
