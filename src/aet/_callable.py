"""Stage packages that are also callable: ``aet.reconstruct(ts)`` and ``aet.trace(volume)``.

A stage lives in a package (``aet.reconstruct``) whose main function has the same name. Rebinding the package
name to the function would hide the package's modules, so instead the package's module object is given a
``__call__`` that forwards to the function: ``aet.reconstruct`` stays the package and can be called.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


def make_callable(module_name: str, fn: Callable[..., Any]) -> None:
    """Let the module ``module_name`` be called as ``fn``."""

    class _CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

    sys.modules[module_name].__class__ = _CallableModule
