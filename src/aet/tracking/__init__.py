"""4D AET: atoms followed through a time series of models (registration, correspondences, events, output)."""

from aet.tracking.output import write_tracking
from aet.tracking.register import Registration, register
from aet.tracking.track import Step, Tracking, order_parameters, track, track_pair
from aet.tracking.warm import warm_start

__all__ = [
    "Registration",
    "Step",
    "Tracking",
    "order_parameters",
    "register",
    "track",
    "track_pair",
    "warm_start",
    "write_tracking",
]
