"""What kind of sample a tilt series shows: a particle on vacuum, or a film (an extended object).

A film fills the field of view at every tilt and the beam crosses more of it as the tilt grows, so the total
intensity of an image rises roughly as 1/cos θ; a particle's stays constant (the dose does). That physical
signature decides: a film when the images beyond 40° are on average more than 5 % brighter than those within 15°
and the totals follow 1/cos θ (correlation above 0.5). Series that do not reach 40° are taken as particles.
"""

from __future__ import annotations

import numpy as np

from aet.geometry import is_single_axis, single_axis_tilts
from aet.model import TiltSeries

#: Brightness ratio (|θ| > 40° over |θ| < 15°) and correlation with 1/cos θ above which a series is a film.
FILM_RATIO, FILM_CORRELATION = 1.05, 0.5


def tilts_deg(ts: TiltSeries) -> np.ndarray:
    """|θ| of every image in degrees, folded so that θ and θ ± 180° (the same beam direction) agree."""
    single = is_single_axis(ts.angles, ts.euler_convention)
    theta = single_axis_tilts(ts.angles, ts.euler_convention) if single else ts.tilt_angles
    theta = np.abs(np.asarray(theta, dtype=np.float64)) % 180
    return np.minimum(theta, 180 - theta)


def detect_sample(ts: TiltSeries) -> tuple[str, dict[str, float]]:
    """``"film"`` or ``"particle"``, and the evidence (brightness ratio, correlation with 1/cos θ)."""
    theta = tilts_deg(ts)
    totals = ts.images.astype(np.float64).sum(axis=(1, 2))
    high, low = theta > 40, theta < 15
    if not high.any() or not low.any() or np.mean(totals[low]) <= 0:
        return "particle", {}
    ratio = float(np.mean(totals[high]) / np.mean(totals[low]))
    secant = 1 / np.cos(np.deg2rad(theta))
    corr = float(np.corrcoef(totals, secant)[0, 1]) if np.std(totals) > 0 else 0.0
    film = ratio > FILM_RATIO and corr > FILM_CORRELATION
    return ("film" if film else "particle"), {"brightness_ratio": ratio, "correlation_with_secant": corr}
