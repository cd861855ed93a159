"""Reading ``config.toml`` in layers: the bottom of every package's settings.

Each package declares its own sections as pydantic models derived from
:class:`Section` (frozen, strict types, unknown keys refused) next to the code
that uses them; ``hadir/config.py`` composes them into the whole file. This
module knows none of them: it reads TOML files, lays them over one another
key by key, remembers which layer gave each key, and turns pydantic's errors
into one line per problem that names the file, the dotted key and what is
allowed, e.g. ``config.toml: camera.index must be >= 0, got -1``.

The layers, later ones winning key by key (see :func:`config_layers`):

1. the built-in defaults (the models' own),
2. ``/etc/hadir/config.toml`` (``$HADIR_SYSTEM_CONFIG`` names another file),
3. the user's ``$XDG_CONFIG_HOME/hadir/config.toml`` (``~/.config/...``),
4. ``$HADIR_CONFIG``,
5. ``--config FILE``,
6. command-line overrides such as ``--data-dir``.

Layers 2 and 3 are optional; a file named by 4 or 5 must exist.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

SYSTEM_CONFIG = Path("/etc/hadir/config.toml")
SYSTEM_DATA = Path("/var/lib/hadir")
DEFAULT_SOURCE = "built-in default"

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message says where and why."""


class Section(BaseModel):
    """Base of every ``config.toml`` section: frozen, strict, unknown keys refused.

    Strict means a TOML value must already have the field's type (``fps =
    true`` or ``index = "1"`` is an error, not a coercion); an integer is
    accepted for a float. Constraints are declared on the fields
    (``Field(0.5, ge=0.0, le=2.0)``), cross-field rules in a
    ``model_validator`` that raises ``ValueError``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SectionView(BaseModel):
    """Base of a package's view of the whole file: its own sections, others ignored.

    ``hadir.config.HadirConfig`` derives from every view and refuses unknown
    sections, so a command run through ``hadir`` checks the whole file while
    a package's code only names the sections it reads.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


def default_data_dir(role: str) -> Path:
    """``/var/lib/hadir/<role>`` as root, else ``$XDG_DATA_HOME/hadir/<role>``.

    ``role`` is ``kiosk`` or ``server``: the two never share a folder.
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return SYSTEM_DATA / role
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hadir" / role


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hadir" / "config.toml"


@dataclass(frozen=True)
class Layer:
    """One source of settings: a file (``path``) or overrides given in code."""

    source: str
    data: Mapping[str, Any]
    path: Path | None = None


def config_layers(explicit: Path | None = None) -> list[Layer]:
    """The file layers in order: system, user, ``$HADIR_CONFIG``, ``explicit``.

    Missing system and user files are skipped; a missing file named by
    ``$HADIR_CONFIG`` or ``explicit`` is an error.
    """
    layers: list[Layer] = []
    system = Path(os.environ.get("HADIR_SYSTEM_CONFIG") or SYSTEM_CONFIG)
    for path in (system, user_config_path()):
        if path.is_file():
            layers.append(read_layer(path))
    env = os.environ.get("HADIR_CONFIG")
    if env:
        layers.append(read_layer(Path(env)))
    if explicit is not None:
        layers.append(read_layer(explicit))
    return layers


def read_layer(path: Path) -> Layer:
    """Parse one TOML file; errors name the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return Layer(str(path), data, path)


@dataclass
class Merged:
    """The layers laid over one another, and which layer gave each dotted key."""

    data: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)

    def add(self, layer: Layer) -> None:
        _merge(self.data, layer.data, "", layer.source, self.origin)

    def source_of(self, key: str) -> str | None:
        """The layer that gave ``key`` or, for a table, the last layer that set a key in it.

        A list item (``challenges[1]``) comes from the layer that gave the list.
        """
        key = key.split("[", 1)[0]
        if key in self.origin:
            return self.origin[key]
        inside = [src for k, src in self.origin.items() if k.startswith(key + ".") or not key]
        return inside[-1] if inside else None


def _merge(
    into: dict[str, Any], data: Mapping[str, Any], prefix: str, source: str, origin: dict[str, str]
) -> None:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and isinstance(into.get(key, {}), dict):
            table = into.setdefault(key, {})
            _merge(table, value, dotted + ".", source, origin)
        else:
            into[key] = value
            origin.pop(dotted, None)  # keep the dict's order = the order of the last setting
            origin[dotted] = source


def validate(model: type[M], merged: Merged) -> M:
    """Build ``model`` from the merged layers; a :class:`ConfigError` lists every problem."""
    try:
        return model.model_validate(merged.data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = _dotted(error["loc"])
            source = merged.source_of(key) or DEFAULT_SOURCE
            lines.append(f"{source}: {describe_error(model, error, key)}")
        raise ConfigError("\n".join(lines)) from None


def load(model: type[M], layers: Sequence[Layer]) -> tuple[M, Merged]:
    """Validate ``model`` from ``layers`` (defaults first); also return the merge."""
    merged = Merged()
    for layer in layers:
        merged.add(layer)
    return validate(model, merged), merged


def load_file(model: type[M], path: Path) -> M:
    """Validate ``model`` from one TOML file over the defaults (no other layer)."""
    return load(model, [read_layer(path)])[0]


def _dotted(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _fields_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The field names of the table at ``loc`` (for 'allowed here')."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return []
        current = fields[part].annotation
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []


_TYPES = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def describe_error(model: type[BaseModel], error: Any, key: str) -> str:
    """One pydantic error as ``<key> must be <what is allowed>, got <value>``."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = error.get("input")
    if kind == "extra_forbidden":
        allowed = _fields_at(model, error["loc"][:-1])
        return f"unknown key {key} (allowed here: {', '.join(allowed)})"
    if kind == "missing":
        return f"{key} is missing"
    if kind in _TYPES:
        return f"{key} must be {_TYPES[kind]}, got {got!r}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op, bound = {
            "greater_than_equal": (">=", "ge"),
            "greater_than": (">", "gt"),
            "less_than_equal": ("<=", "le"),
            "less_than": ("<", "lt"),
        }[kind]
        return f"{key} must be {op} {ctx[bound]}, got {got!r}"
    if kind == "finite_number":
        return f"{key} must be a finite number, got {got!r}"
    if kind in ("literal_error", "enum"):
        return f"{key} must be one of {str(ctx['expected']).replace(' or ', ', ')}, got {got!r}"
    if kind == "string_pattern_mismatch":
        return f"{key} must match {ctx['pattern']}, got {got!r}"
    if kind == "too_short":
        return f"{key} must have at least {ctx['min_length']} item(s), got {got!r}"
    if kind == "too_long":
        return f"{key} must have at most {ctx['max_length']} item(s), got {got!r}"
    if kind in ("value_error", "assertion_error"):
        message = str(ctx.get("error", error["msg"]))
        if not key:
            return message
        return f"{key} {message}" if message.startswith("must") else f"{key}: {message}"
    return f"{key}: {error['msg']}, got {got!r}"
