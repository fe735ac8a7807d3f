"""Is the angular sampling fine enough for the particle's size? Crowther's criterion, calibrated for atoms.

A tilt series with an angular step Δθ (radians) resolves about d = D·Δθ across an object D wide (Crowther, DeRosier
and Klug 1970): beyond that, the streaks of sparse sampling add up towards the particle's centre. The atomicity
prior carries aet well past d = nearest-neighbour distance, but not without limit. Measured on the central slab of a
14.2 nm Pt sphere (2.77 Å neighbours), ±70°, 1e5 e/Å², RESIRE + trace (docs/benchmarks.md, "A 100,000-atom
particle"): 60 projections (d = 2.1 neighbour distances) recall 0.37, none within 1 nm of the centre; 75 (1.7)
recall 1.0, 27 pm; 90 (1.4) 13 pm; 120 (1.05) 8 pm; 180 (0.7) 3 pm. Lee et al.'s 4 nm particles at 21 projections
over ±65° sit at 1.6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aet.elements import nearest_neighbour_distance
from aet.model import TiltSeries

#: Warn above this many nearest-neighbour distances of Crowther resolution (recall fell to 0.37 at 2.1).
SPARSE = 1.9
#: Advise projections enough for this many (recall 1.0 at 1.7 in the measurement above).
ADVISED = 1.7


@dataclass(frozen=True)
class Sampling:
    """The particle's width across the tilt axis (Å), the median angular step (degrees), Crowther's resolution
    d = width × step (Å) and the nearest-neighbour distance it is compared with (Å)."""

    width: float
    step: float
    resolution: float
    neighbour: float

    @property
    def ratio(self) -> float:
        return self.resolution / self.neighbour


def bright_width(columns: np.ndarray, pixel_size: float, fraction: float) -> float | None:
    """Width (Å) of the region where the column sums ``columns`` rise above ``fraction`` of their peak over their
    dimmest 5 % (the background: an object may fill most of the field of view, so not their median); None when
    nothing rises above it."""
    profile = columns - np.percentile(columns, 5)
    if profile.max() <= 0:
        return None
    bright = np.flatnonzero(profile > fraction * profile.max())
    return float((bright[-1] - bright[0] + 1) * pixel_size)


def particle_width(images: np.ndarray, pixel_size: float) -> float:
    """Width (Å) across the tilt axis (along the columns, the axis running along the rows) of the bright region of
    the images: the widest over the projections, each one's column sums above 5 % of their peak
    (:func:`bright_width`)."""
    widths = [bright_width(image.sum(0), pixel_size, 0.05) for image in images]
    return max([0.0, *(w for w in widths if w is not None)])


def angular_sampling(ts: TiltSeries, elements: list[str]) -> Sampling | None:
    """Crowther's resolution of the series ``ts`` (an aligned particle) against the closest neighbour distance of
    ``elements``; None for fewer than 2 distinct tilts."""
    tilts = np.unique(np.round(np.asarray(ts.tilt_angles, dtype=np.float64), 6))
    if len(tilts) < 2 or not elements:
        return None
    step = float(np.median(np.diff(tilts)))
    width = particle_width(np.asarray(ts.images, dtype=np.float64), ts.pixel_size)
    neighbour = min(nearest_neighbour_distance(e) for e in elements)
    return Sampling(width, step, width * math.radians(step), neighbour)


def sampling_warning(s: Sampling | None, n_images: int, tilt_range: float) -> str | None:
    """One sentence when the sampling is too sparse for the particle (see the module docstring), else None.

    Args:
        tilt_range: degrees from the lowest to the highest tilt.
    """
    if s is None or s.ratio <= SPARSE:
        return None
    advised = math.ceil(math.radians(tilt_range) * s.width / (ADVISED * s.neighbour)) + 1
    return (
        f"{n_images} projections {s.step:.2g}° apart resolve about {s.resolution:.1f} Å across a {s.width / 10:.1f} nm "
        f"particle (Crowther: width × step), {s.ratio:.1f}× the {s.neighbour:.2f} Å between neighbours: expect atoms "
        f"near the centre to be lost (a 14.2 nm Pt sphere at 2.1× lost 63 % of a central slab's atoms). About "
        f"{advised} projections over the same {tilt_range:.0f}° would be needed."
    )
