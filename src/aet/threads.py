"""CPU threads that behave on a shared machine.

OpenMP's default is to spin while it waits for work, so a stage on a machine that another process keeps busy
runs 3–30× slower (docs/benchmarks.md). ``aet`` asks for passive waits (``OMP_WAIT_POLICY=PASSIVE``) when it is
imported, before torch loads its OpenMP runtime, unless the user set the variable; :func:`set_threads` caps the
threads of torch and of NumPy/SciPy's BLAS.
"""

from __future__ import annotations

import os

from aet.errors import AetInputError

#: Environment set by :func:`passive_waits` unless the user chose otherwise.
PASSIVE_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def passive_waits() -> None:
    """Ask OpenMP for passive waits; must run before torch (or any OpenMP library) is loaded to take effect."""
    for name, value in PASSIVE_ENV.items():
        os.environ.setdefault(name, value)


def set_threads(n: int | None) -> int:
    """Use ``n`` CPU threads for torch and for NumPy/SciPy's BLAS (``None``: leave the defaults); returns the
    number of torch threads in use."""
    import torch

    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise AetInputError(f"threads must be a whole number ≥ 1, got {n!r}.")
        torch.set_num_threads(n)
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    return torch.get_num_threads()
