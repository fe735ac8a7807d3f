"""Typed settings: one frozen dataclass per stage or method holds every default of that stage.

A settings class lists its fields with :func:`setting`, which records the help text, the unit, the TOML
spelling of ``None`` (``"none"``, or ``"auto"`` where ``None`` means "decided from the data") and the allowed
choices. Everything else is derived from those fields, so no default is ever written twice:

* the function of the stage takes ``settings=`` (and ``**options`` as shorthand, applied with :func:`updated`);
* ``aet run``'s TOML tables are read with :func:`from_table` and written with :func:`to_table`;
* the CLI options are built from the fields (``aet.cli_settings``).

Every instance checks its values when it is made (types, choices, finite numbers, the class's own
:meth:`Settings.check`), so a wrong value is refused with one sentence before any work starts.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

from aet.errors import AetUsageError

S = TypeVar("S", bound="Settings")


def setting(
    default: Any,
    help: str,  # noqa: A002  (the word every CLI library uses)
    *,
    unit: str | None = None,
    none: str = "none",
    minimum: float | None = None,
    maximum: float | None = None,
    what: str | None = None,
) -> Any:
    """A settings field: its default, a one-line help text, its unit, the TOML word for ``None``, bounds, and
    ``what`` the value is called in the error for a choice outside a ``Literal`` (e.g. "reconstruction method")."""
    meta = {"help": help, "unit": unit, "none": none, "minimum": minimum, "maximum": maximum, "what": what}
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of every settings class: values are checked when an instance is made."""

    def __post_init__(self) -> None:
        hints = field_types(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(type(self), f, hints[f.name], getattr(self, f.name))
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Checks that involve more than one field (subclasses override; raise :class:`AetUsageError`)."""


_TYPES: dict[type, dict[str, Any]] = {}


def field_types(cls: type[Settings]) -> dict[str, Any]:
    """The resolved type of every field of ``cls`` (resolved once per class)."""
    if cls not in _TYPES:
        _TYPES[cls] = typing.get_type_hints(cls)
    return _TYPES[cls]


def _optional(tp: Any) -> tuple[Any, bool]:
    """``(inner type, True)`` for ``X | None``, else ``(tp, False)``."""
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
    return tp, False


def choices(tp: Any) -> tuple[Any, ...] | None:
    """The allowed values of a ``Literal`` (or ``Literal | None``) field type, else None."""
    inner, _ = _optional(tp)
    return get_args(inner) if get_origin(inner) is Literal else None


def _coerce(cls: type[Settings], f: dataclasses.Field[Any], tp: Any, value: Any) -> Any:
    """``value`` checked against the field's type and bounds (ints are accepted for floats, lists for tuples)."""
    name = f"{label(cls)}.{f.name}"
    inner, optional = _optional(tp)
    if value is None:
        if optional:
            return None
        raise AetUsageError(f"{name} needs a value ({_describe(inner)}), got none.")
    allowed = choices(inner)
    if allowed is not None:
        if value not in allowed:
            raise AetUsageError(f"unknown {f.metadata.get('what') or name} {value!r}; use one of {', '.join(allowed)}.")
        return value
    if inner is bool:
        if not isinstance(value, bool):
            raise AetUsageError(f"{name} must be true or false, got {value!r}.")
        return value
    if inner is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise AetUsageError(f"{name} must be a whole number, got {value!r}.")
    elif inner is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise AetUsageError(f"{name} must be a finite number, got {value!r}.")
        value = float(value)
    elif inner is str:
        if not isinstance(value, str) or not value.strip():
            raise AetUsageError(f"{name} must be a non-empty text, got {value!r}.")
    elif get_origin(inner) is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
            raise AetUsageError(f"{name} must be a non-empty list of names, e.g. [\"Pt\"], got {value!r}.")
        return tuple(value)
    lo, hi = f.metadata.get("minimum"), f.metadata.get("maximum")
    if isinstance(value, (int, float)) and ((lo is not None and value < lo) or (hi is not None and value > hi)):
        unit = f" {f.metadata['unit']}" if f.metadata.get("unit") else ""
        bounds = f"≥ {lo:g}" if hi is None else f"≤ {hi:g}" if lo is None else f"between {lo:g} and {hi:g}"
        raise AetUsageError(f"{name} must be {bounds}{unit}, got {value!r}.")
    return value


def _describe(tp: Any) -> str:
    inner, _ = _optional(tp)
    allowed = choices(inner)
    if allowed is not None:
        return "one of " + ", ".join(map(str, allowed))
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a text"}.get(inner, "a list")


def label(cls: type[Settings]) -> str:
    """How errors name the class's table: ``TABLE`` if it has one, else its name without "Settings"."""
    return str(getattr(cls, "TABLE", cls.__name__.removesuffix("Settings").lower()))


def names(cls: type[Settings]) -> tuple[str, ...]:
    """The field names of a settings class, in order."""
    return tuple(f.name for f in dataclasses.fields(cls))


def updated(settings: S, options: Mapping[str, Any], where: str = "") -> S:
    """``settings`` with ``options`` (field name → value) applied and checked; unknown names are refused."""
    unknown = set(options) - set(names(type(settings)))
    if unknown:
        what = where or type(settings).__name__
        raise AetUsageError(
            f"unknown key(s) {', '.join(sorted(unknown))} for {what}; allowed: {', '.join(names(type(settings)))}."
        )
    return dataclasses.replace(settings, **options) if options else settings


def from_table(cls: type[S], table: Mapping[str, Any], where: str, base: S | None = None) -> S:
    """Settings from a TOML table (``where`` names it in errors); the field's ``none`` word means ``None``."""
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in table.items():
        f = by_name.get(key)
        if f is not None and isinstance(value, str) and value.lower() in ("none", f.metadata.get("none", "none")):
            value = None if _optional(field_types(cls)[key])[1] else value
        values[key] = value
    return updated(base if base is not None else cls(), values, where)


def to_table(settings: Settings) -> dict[str, Any]:
    """The settings as a TOML table: ``None`` written as the field's ``none`` word, tuples as lists."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        out[f.name] = f.metadata.get("none", "none") if value is None else list(value) if isinstance(
            value, tuple) else value  # fmt: skip
    return out


def help_text(f: dataclasses.Field[Any]) -> str:
    """The field's help with its unit and, where ``None`` has a meaning, that word."""
    text = str(f.metadata.get("help", ""))
    if f.metadata.get("unit"):
        text += f" ({f.metadata['unit']})"
    return text
