"""The small contract between ``hadir`` and each package's commands.

This module and :mod:`hadir.configfile` sit below every package (they import
none of ours), so ``recognition/``, ``attendance/``, ``sync/``, ``server/`` and
``kiosk/`` may all use them. A command names the view of the configuration
its package reads (``AttendanceConfig``, ``ServerConfig``...);
:func:`config_from_args` reads the layered files and validates them with the
whole model the dispatcher (``hadir.cli``) passes in, so a typo anywhere in
the file is reported whatever command runs.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from hadir.configfile import ConfigError, Layer, config_layers, load

log = logging.getLogger(__name__)

V = TypeVar("V", bound=BaseModel)

# Set by ``hadir.cli`` on every parsed command line: the whole configuration model.
CONFIG_MODEL_ATTR = "_config_model"


class CommandError(Exception):
    """A failure the user can act on; printed without a traceback."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``: the last file layer, over /etc, the user's and $HADIR_CONFIG."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="config file laid over /etc/hadir/config.toml, ~/.config/hadir/config.toml "
        "and $HADIR_CONFIG (key by key)",
    )


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    """``--data-dir DIR``: overrides the data folder of the config."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data folder (default: [device] data_dir of the config; [server] data_dir "
        "for server commands)",
    )


def config_from_args(
    args: argparse.Namespace, view: type[V], *, data_dir_key: str | None = "device.data_dir"
) -> V:
    """Load the layered config, apply ``--data-dir`` to ``data_dir_key``, return ``view``.

    The data folder in use is logged once (``data_dir_key=None``: a command
    that uses none). A bad file becomes a :class:`CommandError` naming the
    file and key.
    """
    overrides: list[Layer] = []
    data_dir = getattr(args, "data_dir", None)
    if data_dir is not None and data_dir_key is not None:
        section, key = data_dir_key.split(".")
        overrides.append(Layer("--data-dir", {section: {key: str(data_dir)}}))
    model: type[BaseModel] = getattr(args, CONFIG_MODEL_ATTR, None) or view
    try:
        cfg, merged = load(model, [*config_layers(getattr(args, "config", None)), *overrides])
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    if not isinstance(cfg, view):  # pragma: no cover - the dispatcher's model has every view
        raise TypeError(f"{type(cfg).__name__} is not a {view.__name__}")
    if data_dir_key is not None:
        section, key = data_dir_key.split(".")
        folder = getattr(getattr(cfg, section), key)
        source = merged.origin.get(data_dir_key, "built-in default")
        log.info("data folder %s (%s from %s)", folder, data_dir_key, source)
    return cfg
