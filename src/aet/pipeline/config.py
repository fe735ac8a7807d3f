"""The settings of ``aet run``: one TOML file with a table per stage; what was used is written beside the outputs.

Each table is a settings class (:class:`aet.settings.run.RunConfig`); the stage tables are the stage functions'
own classes, so a default is written once, in the class, whether a stage is run from Python, the CLI or a config.
Every key is optional. Unknown tables or keys and wrong types are refused (a typo must not be silently ignored).
TOML has no null: ``"none"`` (or ``"auto"`` where a field says so) means "no value".
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from aet.errors import AetUsageError
from aet.settings import from_table, names
from aet.settings.reconstruct import METHOD_SETTINGS
from aet.settings.run import ReconstructStage, RunConfig


def _apply(cfg: RunConfig, layer: Mapping[str, Any], source: str) -> RunConfig:
    """``cfg`` updated by one layer of tables (a TOML file, or the command line's options)."""
    changes: dict[str, Any] = {}
    for section, values in layer.items():
        if section != "reconstruct" and section not in RunConfig.TABLES:
            raise AetUsageError(
                f"unknown table [{section}] in {source}; tables are {', '.join(cfg.tables())}."
            )
        if not isinstance(values, Mapping):
            raise AetUsageError(f"[{section}] in {source} must be a table of settings, got {values!r}.")
        values = {k: v for k, v in values.items() if v is not None}
        where = f"[{section}] of {source}"
        if section == "reconstruct":
            common = {k: v for k, v in values.items() if k in names(ReconstructStage)}
            rec = from_table(ReconstructStage, common, where, cfg.reconstruct)
            cls = METHOD_SETTINGS[rec.method]
            base = cfg.method if isinstance(cfg.method, cls) else cls()
            rest = {k: v for k, v in values.items() if k not in common}
            unknown = set(rest) - set(names(cls))
            if unknown:
                allowed = ", ".join([*names(ReconstructStage), *names(cls)])
                raise AetUsageError(
                    f"unknown key(s) {', '.join(sorted(unknown))} in {where} for method {rec.method}; allowed: "
                    f"{allowed}."
                )
            changes["reconstruct"], changes["method"] = rec, from_table(cls, rest, where, base)
        else:
            changes[section] = from_table(RunConfig.TABLES[section], values, where, getattr(cfg, section))
    return dataclasses.replace(cfg, **changes)


def load_config(path: str | Path | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> RunConfig:
    """Defaults, updated by the TOML file at ``path`` and then by ``overrides`` (command-line options; a value of
    ``None`` means "not given")."""
    cfg = RunConfig()
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise AetUsageError(f"config file {path} does not exist.")
        try:
            cfg = _apply(cfg, tomllib.loads(path.read_text()), str(path))
        except tomllib.TOMLDecodeError as err:
            raise AetUsageError(f"{path} is not valid TOML: {err}") from err
    return _apply(cfg, overrides or {}, "the command line")


def dumps(cfg: RunConfig) -> str:
    """The config as TOML text (written to ``DIR/config_used.toml``)."""
    return tomli_w.dumps(cfg.tables())
