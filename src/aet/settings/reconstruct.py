"""Settings of :func:`aet.reconstruct`: what every method shares, and one class per method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aet.errors import AetUsageError
from aet.settings import Settings, setting

Method = Literal["resire", "genfire", "sirt", "wbp"]
WbpFilter = Literal["ramp", "shepp-logan", "cosine", "hann"]
#: More iterations than any method needs (published runs use 50–1000): a larger value is a typo, not a wish.
MAX_ITERATIONS = 100_000


@dataclass(frozen=True)
class ReconstructSettings(Settings):
    """What every reconstruction method shares."""

    method: Method = setting(
        "resire", "Reconstruction method: resire, genfire, sirt or wbp.", what="reconstruction method"
    )
    support: str | None = setting(
        None, "Support: 'auto' (from a first SIRT: 1 Å blur, Otsu, 2 Å margin), a mask file, or none."
    )
    positivity: bool = setting(True, "Clip negative voxels after every update (WBP: once at the end).")
    thickness: int | None = setting(None, "Voxels along the beam (z); none: the image width.", minimum=1)
    support_iterations: int = setting(20, "SIRT iterations of the first reconstruction behind support 'auto'.",
                                      minimum=1)  # fmt: skip


@dataclass(frozen=True)
class ResireSettings(Settings):
    """RESIRE (Pham et al., Sci. Rep. 13, 5624 (2023)): gradient descent x ← x − t/L·Aᵀ(Ax − b)."""

    iterations: int = setting(50, "Iterations.", minimum=1, maximum=MAX_ITERATIONS)
    step: float | None = setting(
        None, "Step t, scaled by 1/L: 0 < t < 2 (none: 1.9; with momentum 0 < t ≤ 1, none: 1.0).", minimum=0
    )
    momentum: bool = setting(False, "Nesterov/FISTA momentum (fewer iterations, fits noise sooner).")

    def check(self) -> None:
        top = 1.0 if self.momentum else 2.0
        if self.step is not None and not 0 < self.step < top + (self.momentum * 1e-12):
            raise AetUsageError(
                f"RESIRE step must lie in (0, {top:g}{']' if self.momentum else ')'} "
                f"{'with' if self.momentum else 'without'} momentum (it is scaled by 1/L internally), got {self.step}."
            )

    @property
    def step_or_default(self) -> float:
        """The step t actually used: ``step``, or 1.9 (plain) / 1.0 (momentum)."""
        return self.step if self.step is not None else (1.0 if self.momentum else 1.9)


@dataclass(frozen=True)
class SirtSettings(Settings):
    """SIRT (Gilbert 1972, as ASTRA implements it)."""

    iterations: int = setting(100, "Iterations.", minimum=1, maximum=MAX_ITERATIONS)
    relaxation: float = setting(1.0, "Relaxation λ, 0 < λ < 2.")

    def check(self) -> None:
        if not 0 < self.relaxation < 2:
            raise AetUsageError(f"SIRT relaxation must lie in (0, 2), got {self.relaxation}.")


@dataclass(frozen=True)
class GenfireSettings(Settings):
    """GENFIRE (Pryor et al., Sci. Rep. 7, 10409 (2017))."""

    iterations: int = setting(100, "Iterations.", minimum=1, maximum=MAX_ITERATIONS)
    oversampling: float = setting(3.0, "Oversampling ratio of the Fourier grid (≥ 1).")
    interpolation_radius: float = setting(0.7, "Gridding radius, grid units (0 < r ≤ 1).")
    resolution_extension: bool = setting(True, "Enforce measured values up to a growing spatial frequency.")
    r_free_fraction: float = setting(0.05, "Fraction of grid points withheld for R_free (0 ≤ f < 0.5).")
    seed: int = setting(0, "Seed of the R_free selection.")

    def check(self) -> None:
        if self.oversampling < 1:
            raise AetUsageError(
                f"oversampling must be ≥ 1 (the grid is oversampling × the volume), got {self.oversampling}."
            )
        if not 0 < self.interpolation_radius <= 1:
            raise AetUsageError(f"interpolation_radius must be in (0, 1] grid units, got {self.interpolation_radius}.")
        if not 0 <= self.r_free_fraction < 0.5:
            raise AetUsageError(f"r_free_fraction must be in [0, 0.5), got {self.r_free_fraction}.")


@dataclass(frozen=True)
class WbpSettings(Settings):
    """Weighted (filtered) back-projection."""

    filter: WbpFilter = setting("ramp", "Filter: ramp, shepp-logan, cosine or hann.", what="WBP filter")


MethodSettings = ResireSettings | SirtSettings | GenfireSettings | WbpSettings
#: The settings class of each method.
METHOD_SETTINGS: dict[str, type[MethodSettings]] = {
    "resire": ResireSettings, "genfire": GenfireSettings, "sirt": SirtSettings, "wbp": WbpSettings
}  # fmt: skip
