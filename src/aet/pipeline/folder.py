"""The run folder of ``aet run``: checked before any work, owned by one run at a time, never mixed.

* :meth:`RunFolder.check` refuses, before anything is written, a path that is a file or lies under one, a folder
  aet may not write, a folder holding files aet would overwrite that it did not write (no run record), and a folder
  holding the run of another tilt series (its record names another input); ``force`` lifts the last two.
* :meth:`RunFolder.owned` takes the lock ``.aet/lock`` (pid, host, start time) for the whole run, so a second
  concurrent run into the folder is refused; a lock left by a process that no longer runs on this host is taken
  over. It removes the temporary files that a killed run left (``atomic_paths`` names them ``.NAME.*.tmp*``),
  and keeps the run record ``.aet/run.json`` up to date: status ``running``, ``done``, ``failed`` or ``interrupted``,
  with the stage.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from aet.errors import AetUsageError
from aet.io.atomic import atomic_paths, check_creatable, dump_json

LOCK = ".aet/lock"
RECORD = ".aet/run.json"


class RunFolder:
    """The output folder ``out`` of one run, whose outputs are the relative paths ``outputs``."""

    def __init__(self, out: Path, outputs: Iterable[str], force: bool = False) -> None:
        self.out = Path(out)
        self.outputs = tuple(outputs)
        self.force = force
        self.record: dict[str, Any] = {}

    def check(self, input_hash: str) -> None:
        """Refuse a folder this run may not write into (see the module docstring). Writes nothing."""
        out = self.out
        check_creatable(out, "a folder with --out")
        record = out / RECORD
        if record.exists():
            try:
                earlier = json.loads(record.read_text())
            except (OSError, json.JSONDecodeError):
                earlier = {}
            if earlier.get("input") not in (None, input_hash) and not self.force:
                raise AetUsageError(
                    f"{out} holds the outputs of a run on another tilt series; give a new folder with --out, "
                    "or --force to replace them."
                )
            return
        if out.is_dir() and not self.force:
            foreign = [name for name in self.outputs if (out / name).exists()]
            if foreign:
                raise AetUsageError(
                    f"{out} already holds {', '.join(foreign[:3])}, which aet did not write (no run record); give a "
                    "new folder with --out, or --force to overwrite."
                )

    @contextlib.contextmanager
    def owned(self, input_hash: str) -> Iterator[RunFolder]:
        """Hold the folder's lock for the body; clean leftover temporary files; keep the run record."""
        (self.out / ".aet").mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._clean_temporary_files()
            self.record = {"input": input_hash, "status": "running", "stage": None, "pid": os.getpid(),
                           "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # fmt: skip
            self.save()
            yield self
        finally:
            with contextlib.suppress(FileNotFoundError):
                (self.out / LOCK).unlink()

    def save(self, **changes: Any) -> None:
        """Update the run record ``.aet/run.json`` (atomically)."""
        self.record.update(changes)
        with atomic_paths(self.out / RECORD) as (tmp,):
            dump_json(self.record, tmp)

    def _lock(self) -> None:
        path = self.out / LOCK
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        tmp = path.with_name(f"lock-{os.getpid()}.new")  # not a temp-file name: the cleaning leaves it
        tmp.write_text(json.dumps(me))
        try:
            for _ in range(2):
                try:
                    os.link(tmp, path)  # atomic, and fails if the lock exists: the lock never exists half-written
                    return
                except FileExistsError:
                    holder = _read_lock(path)
                    if holder is None or _alive(holder):
                        who = "" if holder is None else f" (pid {holder['pid']} on {holder['host']}, since " \
                                                        f"{holder['started']})"
                        raise AetUsageError(
                            f"another aet run{who} is writing into {self.out}; wait for it to finish or give another "
                            f"folder with --out (if no run is left, delete {path})."
                        ) from None
                    path.unlink(missing_ok=True)  # left by a run that no longer exists
            raise AetUsageError(f"could not take the lock {path}; another run may be starting there, try again.")
        finally:
            tmp.unlink(missing_ok=True)

    def _clean_temporary_files(self) -> None:
        for folder in (self.out, self.out / ".aet"):
            for tmp in folder.glob(".*.tmp*"):
                if tmp.is_file():
                    tmp.unlink(missing_ok=True)


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        holder = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # unreadable: treated as held, and the message names the file to delete
    return holder if isinstance(holder, dict) and {"pid", "host", "started"} <= set(holder) else None


def _alive(holder: dict[str, Any]) -> bool:
    """Whether the lock's process still runs (always assumed for another host: aet cannot see it)."""
    if holder["host"] != socket.gethostname():
        return True
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
