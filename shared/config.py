"""Strict typed configuration from TOML (after Frigate's strict config).

A component's config is a tree of frozen dataclasses. :func:`from_mapping` builds one from
the parsed TOML, rejecting unknown keys, wrong types and non-finite numbers (``nan``, ``inf``)
with a :class:`ConfigError` that names the dotted key, the bad value and what was expected.
A field declared with ``metadata={"config": False}`` is set by code and never read from a file.
A field declared with ``metadata=bounds(...)`` has its value checked (range, length, pattern);
the API's OpenAPI document shows the same bounds (``server.web.registry.json_schema``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from shared.errors import ConfigError

T = TypeVar("T")


def bounds(*, minimum: int | float | None = None, maximum: int | float | None = None,
           min_length: int | None = None, max_length: int | None = None,
           pattern: str | None = None) -> dict[str, Any]:
    """Field metadata declaring the bounds of a value: ``field(metadata=bounds(max_length=64))``.

    ``minimum``/``maximum`` for numbers (inclusive); ``min_length``/``max_length`` for strings
    (characters) and lists (items); ``pattern`` a regular expression a string must match
    (``re.fullmatch``). :func:`from_mapping` refuses a value outside them (``ConfigError``
    naming the key, the value and the bound); None (for an optional field) is not checked.
    """
    out: dict[str, Any] = {}
    for name, value in (("minimum", minimum), ("maximum", maximum), ("min_length", min_length),
                        ("max_length", max_length), ("pattern", pattern)):
        if value is not None:
            out[name] = value
    return {"bounds": out}


def _check_bounds(limits: dict[str, Any], value: Any, dotted: str) -> None:
    if value is None:
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in limits and value < limits["minimum"]:
            raise ConfigError(f"{dotted} = {value!r}; expected at least {limits['minimum']}")
        if "maximum" in limits and value > limits["maximum"]:
            raise ConfigError(f"{dotted} = {value!r}; expected at most {limits['maximum']}")
    if isinstance(value, (str, list, tuple)):
        unit = "characters" if isinstance(value, str) else "items"
        if "min_length" in limits and len(value) < limits["min_length"]:
            raise ConfigError(f"{dotted} has {len(value)} {unit}; expected at least {limits['min_length']}")
        if "max_length" in limits and len(value) > limits["max_length"]:
            raise ConfigError(f"{dotted} has {len(value)} {unit}; expected at most {limits['max_length']}")
    if isinstance(value, str) and "pattern" in limits and not _pattern(limits["pattern"]).fullmatch(value):
        raise ConfigError(f"{dotted} = {value[:40]!r} does not match {limits['pattern']}")


@functools.cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def load_toml(path: Path, cls: type[T]) -> T:
    """Read ``path`` (TOML) into dataclass ``cls``.

    Raises:
        ConfigError: the file is missing, not TOML, or does not match ``cls``.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return from_mapping(cls, data)


def from_mapping(cls: type[T], data: Any, where: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, strictly.

    Raises:
        ConfigError: unknown key, missing required key, or a value of the wrong type.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} is {data!r}; expected a table")
    hints = _type_hints(cls)  # type: ignore[arg-type]
    fields = _config_fields(cls)  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            raise ConfigError(
                f"unknown key {_join(where, key)!r} = {data[key]!r}; expected one of {sorted(fields)}"
            )
    kwargs = {}
    for name, f in fields.items():
        dotted = _join(where, name)
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], dotted)
            limits = f.metadata.get("bounds")
            if limits:
                _check_bounds(limits, kwargs[name], dotted)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required key {dotted!r}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where or 'config'}: {exc}") from None


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    # Resolving string annotations is slow (~0.5 ms for a body class); API bodies are parsed on
    # every request, and a class's hints never change.
    return get_type_hints(cls)


@functools.cache
def _config_fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    # fields marked field(metadata={"config": False}) are set by code, never read from a file;
    # cached like the hints (API bodies are parsed on every request)
    return {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("config", True)}


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


@functools.cache
def _shape(tp: Any) -> tuple[Any, tuple[Any, ...], bool]:
    # (origin, args, is a dataclass) of a field type: asked for every field of every API body
    return get_origin(tp), get_args(tp), dataclasses.is_dataclass(tp)


def _convert(tp: Any, value: Any, dotted: str) -> Any:
    origin, type_args, is_dataclass = _shape(tp)
    if is_dataclass:
        return from_mapping(tp, value, dotted)
    if origin is Literal:
        allowed = type_args
        if value not in allowed:
            raise ConfigError(f"{dotted} = {value!r}; expected one of {list(allowed)}")
        return value
    if origin in (types.UnionType, typing.Union):
        args = type_args
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, dotted)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{dotted} = {value!r} matches none of {tp}")
    if origin in (list, tuple):
        (inner, *_rest) = type_args or (Any,)
        if not isinstance(value, list):
            raise ConfigError(f"{dotted} = {value!r}; expected a list")
        items = [_convert(inner, v, f"{dotted}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{dotted} = {value!r}; expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{dotted} = {value!r}; expected an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{dotted} = {value!r}; expected a number")
        if not math.isfinite(value):
            raise ConfigError(f"{dotted} = {value!r}; expected a finite number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{dotted} = {value!r}; expected a string")
        return value
    if tp is Any:
        return value
    raise ConfigError(f"{dotted}: unsupported config type {tp}")
