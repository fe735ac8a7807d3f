"""The Dask cluster that ``aet run-series`` and sub-area AET run their tasks on.

A ``dask.distributed`` LocalCluster of single-threaded worker processes by default, or any running Dask scheduler
given by its address (``tcp://host:8786``; its workers must have aet installed and see the run folder).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from aet.progress import progress_bar

#: Environment of the local cluster's worker processes: Dask's default adds MALLOC_TRIM_THRESHOLD_=65536, which pins
#: glibc's mmap threshold, so every large torch allocation maps fresh pages: aet's refinement then ran 2.0× slower in
#: a worker (3 iterations on 1,289 atoms: 40–43 s against 21 s without it, 17.7 s in a plain process; see
#: docs/benchmarks.md). Start the workers of your own cluster without it too.
WORKER_ENVIRON = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int) -> Iterator[Any]:
    """A ``distributed.Client``: of a new LocalCluster of ``workers`` one-thread processes (closed on exit) when
    ``scheduler`` is None, else of the scheduler at that address."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler is None:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": WORKER_ENVIRON}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        cluster, client = None, Client(scheduler)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_tasks(tasks: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]], scheduler: str | None, workers: int,
              label: str, progress: bool) -> list[Any]:  # fmt: skip
    """Independent tasks ``(function, args)``: their results in order, one progress step per finished task.
    ``scheduler="serial"`` runs them one after the other in this process."""
    results: list[Any] = [None] * len(tasks)
    with progress_bar(len(tasks), label, progress) as advance:
        if scheduler == "serial":
            for i, (fn, args) in enumerate(tasks):
                results[i] = fn(*args)
                advance()
            return results
        from distributed import as_completed

        with dask_client(scheduler, workers) as client:
            futures = [client.submit(fn, *args, pure=False) for fn, args in tasks]
            index = {f.key: i for i, f in enumerate(futures)}
            for future in as_completed(futures):
                results[index[future.key]] = future.result()  # raises the task's error here, with its traceback
                advance()
    return results
