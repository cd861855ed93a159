"""The whole of ``config.toml``: every package's sections composed in one place.

Each package owns its sections next to the code that reads them
(``recognition/config.py``, ``attendance/config.py``, ``sync/config.py``,
``server/config.py``, ``kiosk/config.py``) and a *view* of the file with just
those sections; :class:`HadirConfig` derives from every view, so it can be
passed wherever a package's view is expected, and refuses unknown sections.
Only the composition roots (``kiosk/``, ``hadir``'s dispatcher) import this
module; the files are read by :mod:`hadir.configfile`, which knows no
package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from hadir.configfile import DEFAULT_SOURCE, Layer, Merged, config_layers, load
from kiosk.config import KioskSection
from recognition.config import RecognitionConfig
from server.config import ServerConfig
from sync.config import SyncConfig

# The order of the sections in ``hadir config show`` (that of config.toml).
SECTION_ORDER = (
    "device",
    "camera",
    "recognition",
    "store",
    "rules",
    "admin",
    "sync",
    "server",
    "kiosk",
    "fingerprint",
)


class HadirConfig(SyncConfig, ServerConfig, RecognitionConfig):
    """Every section of ``config.toml``; unknown sections are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    kiosk: KioskSection = Field(default_factory=KioskSection)


def load_config(path: Path | None = None, overrides: list[Layer] | None = None) -> HadirConfig:
    """The effective configuration: defaults, then the layers of :func:`config_layers`.

    ``path`` is the ``--config`` layer; ``overrides`` come last (``--data-dir``).
    Raises :class:`hadir.configfile.ConfigError` naming the file and the key.
    """
    return load_config_with_origin(path, overrides)[0]


def load_config_with_origin(
    path: Path | None = None, overrides: list[Layer] | None = None
) -> tuple[HadirConfig, Merged]:
    """:func:`load_config` and which layer gave each key (for ``config show``)."""
    return load(HadirConfig, [*config_layers(path), *(overrides or [])])


def effective_settings(cfg: HadirConfig, merged: Merged) -> list[tuple[str, Any, str]]:
    """``(dotted key, value, source)`` for every key, in the order of config.toml."""
    out: list[tuple[str, Any, str]] = []

    def walk(prefix: str, data: dict[str, Any]) -> None:
        for key, value in data.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(dotted + ".", value)
            else:
                out.append((dotted, value, merged.origin.get(dotted, DEFAULT_SOURCE)))

    dumped = cfg.model_dump()
    for section in SECTION_ORDER:
        walk(section + ".", dumped.pop(section))
    walk("", dumped)  # a section added without updating SECTION_ORDER still shows
    return out
