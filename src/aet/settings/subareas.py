"""Settings of sub-area AET (``[subareas]`` of ``aet run``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from aet.errors import AetUsageError
from aet.settings import Settings, setting


@dataclass(frozen=True)
class SubareaSettings(Settings):
    """[subareas]: split the field of view into overlapping sub-areas, run each through the pipeline as a Dask task,
    stitch the models (lengths in Å, at 0° tilt)."""

    TABLE: ClassVar[str] = "subareas"
    enabled: bool = setting(False, "Sub-area AET (--subareas): split the field, run every sub-area, stitch.")
    size: float = setting(40.0, "Width of each square sub-area.", unit="Å", minimum=5)
    overlap: float = setting(10.0, "Overlap of neighbouring sub-areas.", unit="Å", minimum=0)
    centres: str | None = setting(
        None, "File of sub-area centres, one 'x y' or 'x y z' per line, in Å about the rotation centre (as published "
        "crop centres give them); none: a grid over the field of view.")  # fmt: skip
    merge_distance: float | None = setting(
        None, "Atoms of two sub-areas closer than this are one site (the more central one is kept); auto: 0.7 × the "
        "nearest-neighbour distance of the elements.", unit="Å", none="auto", minimum=0.1)  # fmt: skip
    seam_iterations: int = setting(3, "Outer refinement iterations of the stitched model against the whole field "
                                   "(the seams); 0: none.", minimum=0, maximum=1000)  # fmt: skip
    scheduler: str | None = setting(
        None, "Dask scheduler address (tcp://host:8786) whose workers see this folder; none: a local cluster; "
        "'serial': no Dask.")  # fmt: skip
    workers: int = setting(2, "Processes of the local cluster (one thread each).", minimum=1, maximum=1024)

    def check(self) -> None:
        if self.overlap >= self.size:
            raise AetUsageError(f"[subareas] overlap ({self.overlap:g} Å) must be smaller than size ({self.size:g} Å).")
