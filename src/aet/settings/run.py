"""Settings of ``aet run`` beyond the stages' own: input, run, prepare and report tables, whether the optional
stages run, and :class:`RunConfig`, every table of one run."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from aet.errors import AetUsageError
from aet.settings import Settings, setting, to_table
from aet.settings.adapt import AdaptSettings
from aet.settings.augment import AugmentSettings
from aet.settings.reconstruct import MethodSettings, ReconstructSettings, ResireSettings
from aet.settings.refine import RefineSettings
from aet.settings.subareas import SubareaSettings
from aet.settings.trace import TraceSettings

#: Pixel sizes (Å) aet accepts without ``force_pixel_size``: atomic-resolution ADF-STEM lies well inside; a value
#: outside is almost always in nm or pm.
PIXEL_RANGE = (0.05, 5.0)


@dataclass(frozen=True)
class InputSettings(Settings):
    """How the tilt series is read."""

    TABLE: ClassVar[str] = "input"
    pixel_size: float | None = setting(None, "Pixel size; none: from the file.", unit="Å")
    elements: tuple[str, ...] = setting(("Pt",), "Species present, e.g. [\"Ni\", \"Pt\"].")
    euler: str | None = setting(None, "Euler convention of foreign angle files: zyz or zyx.")
    tilt_axis: float | None = setting(
        None, "Tilt-axis direction in the images, counter-clockwise from the rows; none: from the file, else found "
        "by [prepare] align = auto (else 0).", unit="degrees")
    key: str | None = setting(None, "Array name inside a .mat/.h5/.npz file.")
    angles: str | None = setting(None, "Angle file (n×3 Euler or n tilts, degrees).")
    angles_key: str | None = setting(None, "Array name of the angles inside their file.")
    force_pixel_size: bool = setting(False, f"Accept a pixel size outside {PIXEL_RANGE[0]}–{PIXEL_RANGE[1]} Å.")

    def check(self) -> None:
        if self.pixel_size is not None and self.pixel_size <= 0:
            raise AetUsageError(f"pixel_size is a length in Å and must be positive, got {self.pixel_size:g}.")


@dataclass(frozen=True)
class RunOptions(Settings):
    """Where and how the run computes."""

    TABLE: ClassVar[str] = "run"
    device: str = setting("auto", "auto, cpu or cuda.")
    seed: int = setting(0, "Seed recorded with the run.")
    threads: int | None = setting(None, "CPU threads for torch and NumPy; none: all cores.", minimum=1)
    allow_code: bool = setting(False, "Let [prepare] denoise/align name Python code ('package.module:function').")

    def check(self) -> None:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise AetUsageError(f"unknown device {self.device!r}; use auto, cpu, cuda or cuda:N.")


@dataclass(frozen=True)
class PrepareSettings(Settings):
    """What is done to the images before reconstruction."""

    TABLE: ClassVar[str] = "prepare"
    sample: Literal["auto", "particle", "film"] = setting(
        "auto", "particle (on vacuum), film (fills the field of view) or auto: a film when image totals grow as "
        "1/cos θ.", what="sample kind")
    support: Literal["keep", "remove"] = setting(
        "keep", "remove: fit the support film's signal beside the particle in each image (level, gradient, lattice "
        "fringes) and subtract it under the particle as well (aet.prepare.support; particles only).",
        what="support film")
    support_margin: float = setting(3.0, "Margin around the particle's footprint kept out of the film fit.", unit="Å",
                                    minimum=0.0, maximum=20.0)  # fmt: skip
    background: bool = setting(True, "Subtract each image's border median (particles only).")
    normalise: bool = setting(True, "Scale a particle's images to one dose (equal totals); a film keeps its measured "
                              "scale.")  # fmt: skip
    denoise: str | None = setting(
        None, "none, gaussian, median, bm3d (noise estimated; counts through the Anscombe transform) or "
        "'package.module:function'(images, pixel_size) -> images."
    )
    denoise_sigma: float = setting(0.3, "Gaussian σ or median half-width of the denoising.", unit="Å", minimum=0)
    denoise_strength: float = setting(1.0, "BM3D: the noise level it removes, as a multiple of the estimated one.",
                                      minimum=0.05, maximum=5.0)  # fmt: skip
    align: str | None = setting(
        "auto", "auto (tilt axis and shifts from the data, unless the series is aligned already: an aet-aligned "
        "record, full Euler angles, or a film), always, centre-of-mass, none, or "
        "'package.module:function'(images, angles, pixel_size) -> images."
    )


@dataclass(frozen=True)
class ReconstructStage(ReconstructSettings):
    """[reconstruct]: :class:`ReconstructSettings` and the projections predicted before reconstructing."""

    inpaint: str | None = setting(
        None, "Tilts at which to predict projections before reconstructing, degrees: 'start:stop:step' (e.g. "
        "'-90:90:2') or a list; a network fills the missing wedge and the steps between tilts (aet.nn.inpaint). Only "
        "the reconstruction sees them: refinement and the R-factor fit the measured images.")
    inpaint_model: str = setting("sinogram-unet", "Inpainting network: a shipped name or a .safetensors path.")


@dataclass(frozen=True)
class AugmentStage(AugmentSettings):
    """[augment]: :class:`AugmentSettings` and whether the stage runs."""

    TABLE: ClassVar[str] = "augment"
    enabled: bool = setting(True, "Run the network (--no-augment: off).")
    guard: bool = setting(True, "Keep the network's atoms only as far as the measured projections support them, and "
                          "fall back to the tomogram's trace when the network's fits them worse.")  # fmt: skip
    adapt: bool = setting(False, "Fine-tune the network on this series first, from its own projections ([adapt] "
                          "table; aet adapt); --adapt.")  # fmt: skip


@dataclass(frozen=True)
class AdaptStage(AdaptSettings):
    """[adapt]: :class:`AdaptSettings`, used when ``[augment] adapt = true``."""

    TABLE: ClassVar[str] = "adapt"


@dataclass(frozen=True)
class RefineStage(RefineSettings):
    """[refine]: :class:`RefineSettings` and whether the stage runs."""

    TABLE: ClassVar[str] = "refine"
    enabled: bool = setting(True, "Refine the traced model against the projections.")
    warm_start: str | None = setting(
        None, "Refined atoms of an earlier time point of the same particle (file): traced atoms that sit where one of "
        "its atoms sits (after a rigid registration) start from its refined position and B-factor (aet run-series).",
    )


@dataclass(frozen=True)
class AnalyseStage(Settings):
    """[analyse]: the structure analysis of the final model (``aet analyse``)."""

    TABLE: ClassVar[str] = "analyse"
    enabled: bool = setting(True, "Analyse the final model: neighbours, structure, facets, strain, order.")
    lattice_constant: float | None = setting(
        None, "Reference lattice constant for strain; none: fitted per grain (zero mean strain).", unit="Å", minimum=0.5
    )
    cutoff: float | None = setting(None, "First-shell cut-off; none: (1 + √2)/2 × the nearest-neighbour distance.",
                                   unit="Å", minimum=0.5)  # fmt: skip
    strain_radius: float | None = setting(
        None, "Smoothing radius of the strain maps; none: 3.5 lattice constants, growing near the surface.", unit="Å",
        minimum=1.0,
    )


@dataclass(frozen=True)
class ReportSettings(Settings):
    """What the HTML report shows."""

    TABLE: ClassVar[str] = "report"
    projections: int = setting(4, "Measured vs calculated projections shown.", minimum=0)


@dataclass(frozen=True)
class RunConfig:
    """Every setting of ``aet run``, one attribute per TOML table (``[reconstruct]`` holds the shared settings
    and the chosen method's, which live in :attr:`method`)."""

    input: InputSettings = InputSettings()
    run: RunOptions = RunOptions()
    prepare: PrepareSettings = PrepareSettings()
    reconstruct: ReconstructStage = ReconstructStage()
    method: MethodSettings = ResireSettings()
    augment: AugmentStage = AugmentStage()
    adapt: AdaptStage = AdaptStage()
    trace: TraceSettings = TraceSettings()
    refine: RefineStage = RefineStage()
    analyse: AnalyseStage = AnalyseStage()
    report: ReportSettings = ReportSettings()
    subareas: SubareaSettings = SubareaSettings()

    #: The tables other than [reconstruct], and their classes.
    TABLES: ClassVar[dict[str, type[Settings]]] = {
        "input": InputSettings, "run": RunOptions, "prepare": PrepareSettings, "augment": AugmentStage,
        "adapt": AdaptStage, "trace": TraceSettings, "refine": RefineStage, "analyse": AnalyseStage,
        "report": ReportSettings, "subareas": SubareaSettings,
    }  # fmt: skip

    def tables(self) -> dict[str, dict[str, Any]]:
        """The config as TOML tables (``None`` written as each field's ``none`` word)."""
        out = {name: to_table(getattr(self, name)) for name in self.TABLES}
        out["reconstruct"] = to_table(self.reconstruct) | to_table(self.method)
        order = ["input", "run", "prepare", "reconstruct", "augment", "adapt", "trace", "refine", "analyse", "report",
                 "subareas"]
        return {k: out[k] for k in order}
