"""The small contract between ``hadir`` and each package's commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from attendance.config import HadirConfig, load_config


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
    """``--config FILE``: defaults to $HADIR_CONFIG or ./config.toml."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="config file (default: $HADIR_CONFIG or ./config.toml)",
    )


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    """``--data-dir DIR``: overrides [device] data_dir of the config."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="kiosk data directory (default: [device] data_dir in the config)",
    )


def config_from_args(args: argparse.Namespace) -> HadirConfig:
    """Load the config named by ``--config`` and apply ``--data-dir``.

    A bad file becomes a :class:`CommandError` naming the file and key.
    """
    from attendance.configfile import ConfigError

    try:
        cfg = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    data_dir = getattr(args, "data_dir", None)
    if data_dir is not None:
        cfg = replace(cfg, device=replace(cfg.device, data_dir=str(data_dir)))
    return cfg
