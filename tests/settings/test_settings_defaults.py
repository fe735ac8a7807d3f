"""One source per default: the stage functions, aet run's TOML tables and the CLI options all take their defaults
from the stage's settings class, and no second copy exists to drift."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import typer.main

import aet
from aet.cli import app
from aet.nn.augment import augment
from aet.pipeline.config import dumps, load_config
from aet.reconstruction import reconstruct
from aet.settings import Settings
from aet.settings.adapt import AdaptSettings
from aet.settings.augment import AugmentSettings
from aet.settings.reconstruct import METHOD_SETTINGS, ReconstructSettings, ResireSettings
from aet.settings.refine import RefineSettings
from aet.settings.run import RunConfig
from aet.settings.trace import TraceSettings

# stage function, its settings classes, the CLI command
STAGES = [
    (reconstruct, (ReconstructSettings, *METHOD_SETTINGS.values()), "reconstruct"),
    (aet.trace, (TraceSettings,), "trace"),
    (aet.refine, (RefineSettings,), "refine"),
    (augment, (AugmentSettings,), "augment"),
]


def _cli_params(command: str) -> dict[str, object]:
    click_cmd = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {p.name: p.default for p in click_cmd.params}


def _field_defaults(classes: tuple[type[Settings], ...]) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            out.setdefault(f.name, []).append(f.default)
    return out


@pytest.mark.parametrize(("fn", "classes", "command"), STAGES, ids=[s[2] for s in STAGES])
def test_function_has_no_default_of_its_own(fn, classes, command) -> None:
    """The stage function restates none of its settings: they come in through ``settings`` / ``**options``."""
    fields = set(_field_defaults(classes))
    own = set(inspect.signature(fn).parameters) & fields
    assert own <= {"method", "model"}, f"{fn.__name__} restates {own}"
    for name in own:  # the positional shorthands default to "take it from the settings"
        assert inspect.signature(fn).parameters[name].default is None


@pytest.mark.parametrize(("fn", "classes", "command"), STAGES, ids=[s[2] for s in STAGES])
def test_cli_defaults_are_the_fields_defaults(fn, classes, command) -> None:
    cli = _cli_params(command)
    for name, defaults in _field_defaults(classes).items():
        assert name in cli, f"aet {command} has no --{name.replace('_', '-')}"
        if all(d == defaults[0] for d in defaults):
            assert cli[name] is defaults[0], f"aet {command} --{name}: {cli[name]!r} is not {defaults[0]!r}"
        else:  # differs between methods (e.g. iterations): not given on the command line, the method decides
            assert cli[name] is None


def test_toml_defaults_are_the_fields_defaults() -> None:
    cfg = load_config()
    assert cfg == RunConfig()
    for name, cls in RunConfig.TABLES.items():
        table = getattr(cfg, name)
        for f in dataclasses.fields(cls):
            assert getattr(table, f.name) is f.default, f"[{name}] {f.name}"
    for f in dataclasses.fields(ReconstructSettings):
        assert getattr(cfg.reconstruct, f.name) is f.default
    assert isinstance(cfg.method, ResireSettings)
    for f in dataclasses.fields(ResireSettings):
        assert getattr(cfg.method, f.name) is f.default


def test_stage_tables_are_the_stage_classes() -> None:
    """[trace] is TraceSettings; [augment] adds only whether it runs, its guard and whether the network is adapted
    first, [refine] also its warm start, [adapt] nothing."""
    assert RunConfig.TABLES["trace"] is TraceSettings
    extra = {"augment": {"enabled", "guard", "adapt"}, "refine": {"enabled", "warm_start"}, "adapt": set()}
    for table, cls in (("augment", AugmentSettings), ("refine", RefineSettings), ("adapt", AdaptSettings)):
        sub = RunConfig.TABLES[table]
        assert issubclass(sub, cls)
        assert {f.name for f in dataclasses.fields(sub)} - {f.name for f in dataclasses.fields(cls)} == extra[table]


def test_config_round_trip_and_none_words(tmp_path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[trace]\nthreshold = "auto"\nsupport = "none"\nmin_height = 0.4\n'
                    '[reconstruct]\nmethod = "sirt"\niterations = 7\n')
    cfg = load_config(path)
    assert cfg.trace.threshold is None and cfg.trace.support is None and cfg.trace.min_height == 0.4
    assert cfg.reconstruct.method == "sirt" and cfg.method.iterations == 7 and cfg.method.relaxation == 1.0
    again = tmp_path / "again.toml"
    again.write_text(dumps(cfg))
    assert load_config(again) == cfg
    assert 'threshold = "auto"' in dumps(cfg) and 'support = "none"' in dumps(cfg)
