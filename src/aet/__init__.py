"""aet: neural-network-assisted atomic electron tomography.

The stages are plain functions, imported on first use (torch loads only then, so ``aet --help`` stays fast):
``aet.reconstruct(tilt_series)``, ``aet.trace(volume)``, ``aet.refine(model, tilt_series)``,
``aet.rfactor(model, tilt_series)``, ``aet.augment(volume)`` (the shipped network), ``aet.run(tilts, out_dir)``
(the whole pipeline) and ``aet.metrics.compare(model, truth)``. Each lives in the package named after its stage
(``aet.reconstruction``, ``aet.tracing``, ``aet.refinement``, ``aet.nn.augment``, ``aet.pipeline.run``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from aet.threads import passive_waits

passive_waits()  # before anything loads torch's OpenMP runtime: spinning waits are 3–30× slower on a busy machine

import aet.io  # noqa: E402, F401  (aet.io.read / aet.io.write)
from aet.errors import AetError  # noqa: E402

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from aet.nn.augment import augment
    from aet.pipeline.run import run
    from aet.reconstruction import reconstruct
    from aet.refinement import refine, rfactor
    from aet.tracing import trace

__version__ = "0.1.0"
__all__ = ["AetError", "__version__", "augment", "reconstruct", "refine", "rfactor", "run", "trace"]

_PACKAGES = ("reconstruction", "tracing", "refinement", "metrics", "physics", "simulate", "nn", "pipeline", "settings")
_FUNCTIONS = {
    "reconstruct": "aet.reconstruction",
    "trace": "aet.tracing",
    "refine": "aet.refinement",
    "rfactor": "aet.refinement",
    "augment": "aet.nn.augment",
    "run": "aet.pipeline.run",
}


def __getattr__(name: str) -> Any:
    if name in _PACKAGES:
        return importlib.import_module(f"aet.{name}")
    if name in _FUNCTIONS:
        function = getattr(importlib.import_module(_FUNCTIONS[name]), name)
        globals()[name] = function  # looked up once
        return function
    raise AttributeError(f"module 'aet' has no attribute {name!r}")
