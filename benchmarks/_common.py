"""Helpers shared by the benchmark scripts: timing, tables and result files."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"


def best_time(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls after one warm-up call, seconds (least disturbed by a shared machine)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
    }


def report(name: str, columns: list[str], rows: list[list], extra: dict | None = None) -> None:
    """Print a table and write it, with the machine, to benchmarks/results/<name>.json."""
    table = Table(title=name)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r])
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    out = {"columns": columns, "rows": rows, "machine": machine(), **(extra or {})}
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=2))
