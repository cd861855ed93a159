"""The ``hadir`` command: a thin dispatcher over each package's commands.

Each package owns its commands in a ``<package>/commands.py`` module that
defines ``COMMANDS: dict[str, Command]``. Command modules are imported by name
only when ``hadir`` runs, and must keep their own top-level imports light
(numpy, dlib, Qt and SQLAlchemy are imported inside ``run``), so ``hadir
--help`` is instant and ``hadir server`` never loads Qt.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from hadir.command import CONFIG_MODEL_ATTR, Command, CommandError
from hadir.logsetup import configure_logging

# Packages that contribute commands, in the order they are listed in --help.
COMMAND_MODULES = (
    "hadir.commands",
    "recognition.commands",
    "attendance.commands",
    "sync.commands",
    "server.commands",
    "kiosk.commands",
    "hadir.deploy",
)


def _collect() -> dict[str, Command]:
    commands: dict[str, Command] = {}
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # that package has no commands yet
            raise
        for name, command in getattr(module, "COMMANDS", {}).items():
            if name in commands:
                raise RuntimeError(f"command {name!r} defined twice ({module_name})")
            commands[name] = command
    return commands


def build_parser(commands: dict[str, Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hadir",
        description="Hadir: face and fingerprint attendance kiosk for ASN.",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="least important log messages shown on standard error (default INFO)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in commands.items():
        p = sub.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(p)
        p.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # One BLAS thread: the kiosk's recognition shares two cores with capture,
    # UI and sync, and OpenBLAS's spinning threads make a 1:N search up to
    # 80x slower under load. Set before numpy is imported by any command.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    commands = _collect()
    parser = build_parser(commands)
    args = parser.parse_args(argv)
    from hadir.config import HadirConfig

    # Every command validates the whole file, whatever view of it it reads.
    setattr(args, CONFIG_MODEL_ATTR, HadirConfig)
    configure_logging(args.log_level)
    try:
        return int(args._run(args) or 0)
    except CommandError as exc:
        print(f"hadir {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head(1) and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
