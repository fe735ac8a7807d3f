"""Atomic file output: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aet.errors import AetFormatError, AetUsageError


def check_writable(path: Path, overwrite: bool, create: bool = False) -> None:
    """Refuse to replace an existing file unless asked, and make sure the folder exists and may be written
    (``create``: make it). Errors are :class:`AetUsageError`: the command names the wrong output."""
    path = Path(path)
    if path.is_dir():
        raise AetUsageError(f"{path} is a folder; give a file name for the output.")
    if path.exists() and not overwrite:
        raise AetUsageError(f"{path} already exists; choose another name or pass overwrite=True to replace it.")
    parent = path.parent
    check_creatable(path, "another output path", start=parent)
    if not parent.exists():
        if not create:
            raise AetUsageError(f"the folder {parent} does not exist; create it first.")
        parent.mkdir(parents=True)


def check_creatable(path: Path, what: str, start: Path | None = None) -> None:
    """Refuse ``path`` when the first existing folder at or above ``start`` (default: ``path``) is a file or may
    not be written; ``what`` says what to give instead (e.g. "a folder with --out"). Writes nothing."""
    start = path if start is None else start
    for above in [start, *start.parents]:
        if above.exists():
            if not above.is_dir():
                where = "is" if above == path else f"lies under {above}, which is"
                raise AetUsageError(f"{path} {where} a file; give {what}.")
            if not os.access(above, os.W_OK | os.X_OK):
                raise AetUsageError(f"aet may not write into {above}; give {what} you can write to.")
            return


@contextlib.contextmanager
def atomic_paths(*paths: Path) -> Iterator[list[Path]]:
    """Yield temporary paths (same folder, same suffix) for ``paths``; rename them into place on success.

    If the body raises, every temporary file is removed and no target is touched.
    """
    tmps: list[Path] = []
    try:
        for p in paths:
            fd, name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=f".tmp{p.suffix}", dir=p.parent)
            os.close(fd)
            tmps.append(Path(name))
        yield tmps
        umask = os.umask(0)
        os.umask(umask)
        for tmp, p in zip(tmps, paths, strict=True):
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; outputs get the usual permissions
            os.replace(tmp, p)
    finally:
        for tmp in tmps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def sidecar_path(path: Path) -> Path:
    """The JSON sidecar that holds what the main file's format cannot (``name.mrc`` -> ``name.mrc.json``)."""
    return path.with_name(path.name + ".json")


def read_sidecar(path: Path) -> dict[str, Any]:
    """Return the sidecar's content, or an empty dict when there is none."""
    side = sidecar_path(path)
    if not side.exists():
        return {}
    try:
        content: dict[str, Any] = json.loads(side.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AetFormatError(f"the sidecar {side} is not valid JSON ({exc}); fix or delete it.") from exc
    return content


def dump_json(obj: dict[str, Any], path: Path) -> None:
    """Write JSON (used on temporary paths from :func:`atomic_paths`)."""
    path.write_text(json.dumps(obj, indent=2, default=_jsonable))


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
