"""One progress bar for every long stage: a rich bar on stderr that shows the latest error figures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


@contextmanager
def progress_bar(total: int, what: str, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """Yield ``advance(**figures)``: one step forward, showing ``figures`` (floats) beside the bar.

    Nothing is drawn when ``enabled`` is False; ``advance`` is then a no-op.
    """
    if not enabled:
        yield lambda **_: None
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

        yield advance
