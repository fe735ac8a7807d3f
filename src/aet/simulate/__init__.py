"""Simulation: atomic models (structure builders) and ADF-STEM tilt series."""

from aet.simulate import structures
from aet.simulate.acquisition import Acquisition, fitting_image_size, simulate_tilt_series
from aet.simulate.schemes import dose_symmetric_order, missing_wedge_range, tilt_range

__all__ = [
    "Acquisition",
    "dose_symmetric_order",
    "fitting_image_size",
    "missing_wedge_range",
    "simulate_tilt_series",
    "structures",
    "tilt_range",
]
