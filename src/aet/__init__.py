"""aet: neural-network-assisted atomic electron tomography.

The stages are callable packages, imported on first use: ``aet.reconstruct(tilt_series)``,
``aet.trace(volume)``, ``aet.refine(model, tilt_series)``, ``aet.rfactor(model, tilt_series)``,
``aet.metrics.compare(model, truth)``, ``aet.augment(volume)`` (the shipped network),
``aet.run(tilts, out_dir)`` (the whole pipeline).
"""

import importlib
from typing import Any

from aet.threads import passive_waits

passive_waits()  # before anything loads torch's OpenMP runtime: spinning waits are 3–30× slower on a busy machine

import aet.io  # noqa: E402, F401  (aet.io.read / aet.io.write)
from aet.errors import AetError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["AetError", "__version__"]

_LAZY = ("reconstruct", "trace", "refine", "metrics", "physics", "simulate", "nn", "pipeline")
_FUNCTIONS = {"rfactor": "aet.refine", "augment": "aet.nn.augment", "run": "aet.pipeline.run"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"aet.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(_FUNCTIONS[name]), name)
    raise AttributeError(f"module 'aet' has no attribute {name!r}")
