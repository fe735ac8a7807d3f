"""Command-line options derived from settings classes: one ``--option`` per field, its default the field's own.

Typer builds options from a function's signature; :func:`with_settings` rewrites a command's signature so that
each parameter annotated with a settings class becomes that class's fields, and rebuilds the object when the
command runs. So no CLI default is ever typed by hand (``tests/test_settings_defaults.py`` checks it).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from aet.settings import Settings, field_types, help_text, label

#: A default meaning "not given on the command line": the settings class (or a method's class) decides.
NOT_GIVEN = None


def _option_type(tp: Any) -> Any:
    """The type typer is given for a field type (tuples of names are typed as comma-separated text)."""
    inner = tp
    if typing.get_origin(tp) is tuple:
        return str
    return inner


def settings_parameters(
    classes: Sequence[type[Settings]], exclude: Sequence[str] = (), not_given: bool = False
) -> list[inspect.Parameter]:
    """One keyword parameter per field of ``classes`` (a name in several classes appears once; its default is
    the field's default when the classes agree, else :data:`NOT_GIVEN`). With ``not_given`` every default is
    :data:`NOT_GIVEN` (for ``aet run``, whose config file sits between the defaults and the command line)."""
    seen: dict[str, tuple[dataclasses.Field[Any], Any, list[tuple[str, Any]]]] = {}
    for cls in classes:
        hints = field_types(cls)
        for f in dataclasses.fields(cls):
            if f.name in exclude:
                continue
            if f.name in seen:
                seen[f.name][2].append((label(cls), f.default))
            else:
                seen[f.name] = (f, hints[f.name], [(label(cls), f.default)])
    params = []
    for name, (f, tp, defaults) in seen.items():
        agreed = all(d == defaults[0][1] for _, d in defaults)
        default = NOT_GIVEN if not_given or not agreed else defaults[0][1]
        text = help_text(f)
        if not agreed and not not_given:
            text += " (default: " + ", ".join(f"{who} {d}" for who, d in defaults) + ")"
        elif default is None and not not_given:
            text += f" (default: {f.metadata.get('none', 'none')})"
        option_tp = _option_type(tp)
        if default is NOT_GIVEN and typing.get_origin(option_tp) not in (typing.Union, type(int | None)):
            option_tp = option_tp | None
        annotation = Annotated[option_tp, typer.Option(help=text)]
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
    return params


def with_settings(**slots: Sequence[type[Settings]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: each keyword ``slot=(Class, ...)`` adds the fields of those classes as options and passes the
    command a dict ``slot`` of the values given (field name → value), for the command to build the settings."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name not in slots]
        added: dict[str, list[str]] = {}
        extra: list[inspect.Parameter] = []
        taken = {p.name for p in own}
        for slot, classes in slots.items():
            params = [p for p in settings_parameters(classes) if p.name not in taken]
            added[slot] = [p.name for p in params]
            taken |= set(added[slot])
            extra += params

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            for slot, fields in added.items():
                kwargs[slot] = {k: kwargs.pop(k) for k in fields}
            return fn(**kwargs)

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + extra
        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate
