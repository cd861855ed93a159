"""Strict loading of TOML configuration into frozen dataclasses.

Every section of ``config.toml`` is a frozen dataclass. Loading rejects
unknown keys, wrong types and values outside what a field allows, and the
error names the file, the dotted key and what is allowed, so an IT officer
editing the file at an OPD learns exactly what to fix.

Field constraints are declared with :func:`setting` metadata::

    threshold: float = setting(0.5, min=0.0, max=1.0, doc="...")
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message says where and why."""


def setting(
    default: Any,
    *,
    min: float | None = None,  # noqa: A002 - reads naturally at the call site
    max: float | None = None,  # noqa: A002
    choices: tuple[Any, ...] | None = None,
    pattern: str | None = None,
    doc: str = "",
) -> Any:
    """Declare a config field with its default and the values it allows."""
    meta = {"min": min, "max": max, "choices": choices, "pattern": pattern, "doc": doc}
    if isinstance(default, (list, dict)):
        frozen = default

        def factory() -> Any:
            return type(frozen)(frozen)

        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (list, tuple):
        return f"a list of {_describe(get_args(tp)[0])}"
    if origin is dict:
        return f"a table of {_describe(get_args(tp)[1])}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp))
    if tp is type(None):
        return "absent"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arm in get_args(tp):
            if arm is type(None):
                continue
            try:
                return _coerce(value, arm, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{where} must be {_describe(tp)}, got {value!r}")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where} must be {_describe(tp)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be {_describe(tp)}, got {value!r}")
        (item_tp, *_) = get_args(tp)
        items = [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be {_describe(tp)}, got {value!r}")
        _, val_tp = get_args(tp)
        return {str(k): _coerce(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table, got {value!r}")
        return _build(tp, value, where)  # type: ignore[arg-type]
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported setting type {tp!r}")  # pragma: no cover


def _check(value: Any, field: dataclasses.Field[Any], where: str) -> None:
    meta = field.metadata
    lo, hi, choices, pattern = (
        meta.get("min"),
        meta.get("max"),
        meta.get("choices"),
        meta.get("pattern"),
    )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if lo is not None and value < lo:
            raise ConfigError(f"{where} must be >= {lo}, got {value!r}")
        if hi is not None and value > hi:
            raise ConfigError(f"{where} must be <= {hi}, got {value!r}")
    if choices is not None:
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v not in choices:
                allowed = ", ".join(repr(c) for c in choices)
                raise ConfigError(f"{where} must be one of {allowed}, got {v!r}")
    if pattern is not None and isinstance(value, str):
        import re

        if not re.fullmatch(pattern, value):
            raise ConfigError(f"{where} must match {pattern}, got {value!r}")


def _build(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        prefix = f"{where}." if where else ""
        allowed = ", ".join(sorted(fields))
        raise ConfigError(f"unknown key {prefix}{unknown[0]} (allowed here: {allowed})")
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        key = f"{where}.{name}" if where else name
        if name in data:
            value = _coerce(data[name], hints[name], key)
            _check(value, field, key)
            kwargs[name] = value
    try:
        obj = cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where or 'config'}: {exc}") from None
    return obj


def load_dataclass(cls: type[T], data: Mapping[str, Any], source: str = "config") -> T:
    """Build ``cls`` from a parsed mapping, prefixing every error with ``source``."""
    try:
        return _build(cls, data, "")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_toml(cls: type[T], path: Path) -> T:
    """Read and validate a TOML file; errors name the file and the key."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return load_dataclass(cls, data, str(path))
