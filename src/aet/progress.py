"""One progress bar for every long stage: a rich bar on stderr that shows the latest error figures."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

#: Milestones (every tenth of a bar) go to this logger: ``aet run`` writes them into its log.txt, so a run without a
#: terminal (a batch job, a notebook, nohup) still shows how far each stage has come.
LOG = logging.getLogger("aet.progress")
MILESTONES = 10


@contextmanager
def progress_bar(total: int, what: str, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """Yield ``advance(**figures)``: one step forward, showing ``figures`` (floats) beside the bar.

    The bar is drawn on stderr when ``enabled`` and stderr is a terminal; every tenth of ``total`` (and the end) is
    also logged to :data:`LOG` with the figures and the elapsed time, terminal or not.
    """
    start, done = time.perf_counter(), 0
    marks = {max(1, round(total * k / MILESTONES)) for k in range(1, MILESTONES + 1)}

    def milestone(figures: dict[str, float]) -> None:
        nonlocal done
        done += 1
        if done in marks and LOG.isEnabledFor(logging.INFO):
            shown = " ".join(f"{k}={v:.4g}" for k, v in figures.items())
            LOG.info(f"{what}: {done}/{total} after {time.perf_counter() - start:.1f} s {shown}".rstrip())

    if not enabled or not sys.stderr.isatty():
        yield lambda **figures: milestone(figures)
        return
    cols = (
        TextColumn(f"[bold]{what}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[msg]}"),
        TimeRemainingColumn(),
    )
    with Progress(*cols, console=Console(stderr=True), transient=True) as prog:
        task = prog.add_task(what, total=total, msg="")

        def advance(**figures: float) -> None:
            prog.update(task, advance=1, msg=" ".join(f"{k}={v:.4f}" for k, v in figures.items()))
            milestone(figures)

        yield advance
