"""Settings of :func:`aet.refine`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aet.errors import AetUsageError
from aet.settings import Settings, setting


@dataclass(frozen=True)
class RefineSettings(Settings):
    """What :func:`aet.refine` fits and for how long (positions in Å, B in Å², AET convention)."""

    iterations: int = setting(20, "Outer position iterations (each one L-BFGS step of up to 5 evaluations).",
                              minimum=0, maximum=10_000)  # fmt: skip
    hb_iterations: int = setting(10, "L-BFGS evaluations for heights and B-factors per species.", minimum=0,
                                 maximum=10_000)  # fmt: skip
    max_move: float = setting(1.0, "Cap of each atom's total move.", unit="Å")
    per_atom: Literal["auto", "on", "off"] = setting(
        "auto", "One B and one H per atom (B 0.25–4 × its species' at the same scattering power H·B^1.5; that power "
        "0.5–2 × its species'): on, off, or auto: after the position fit, a second phase with them, kept only if "
        "R_free falls by 1 % more (off without held-out projections).", what="per_atom")  # fmt: skip
    image_scale: bool = setting(False, "Fit one scale factor per image (dose or detector drift).")
    image_shifts: bool = setting(False, "Fit one (row, col) shift per image.")
    max_shift: float = setting(1.0, "Cap of each image shift.", unit="Å", minimum=0)
    angle_correction: bool = setting(True, "Fit a small rotation per image (three angles).")
    max_angle: float = setting(2.0, "Cap of each angle correction.", unit="degrees", minimum=0)
    tol: float = setting(1e-5, "Stop when the misfit falls by less than this fraction in an iteration.", minimum=0)
    free_fraction: float = setting(
        0.1, "Fraction of the projections held out of the fit to measure R_free (every k-th, spread over the tilt "
        "range; none with fewer than 10 projections); 0: fit every projection.", minimum=0, maximum=0.5)  # fmt: skip
    free_patience: int = setting(
        3, "Stop when R_free has stayed above its lowest (by more than 0.1 %) for this many outer iterations.",
        minimum=1, maximum=10_000,
    )  # fmt: skip

    def check(self) -> None:
        if self.max_move <= 0:
            raise AetUsageError(f"max_move is a distance in Å and must be positive, got {self.max_move}.")
