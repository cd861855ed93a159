"""``hadir config show``: the effective configuration and where each value came from."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hadir.command import Command, CommandError, add_config_argument


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    text = (
        "print every key's effective value and its source: built-in default, "
        "/etc/hadir/config.toml, ~/.config/hadir/config.toml, $HADIR_CONFIG or --config"
    )
    p = sub.add_parser("show", help=text, description=text)
    add_config_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def _run_config(args: argparse.Namespace) -> int:
    from hadir.config import effective_settings, load_config_with_origin
    from hadir.configfile import ConfigError

    try:
        cfg, merged = load_config_with_origin(args.config)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    rows = effective_settings(cfg, merged)
    if args.json:
        out = {key: {"value": value, "source": source} for key, value, source in rows}
        print(json.dumps(out, ensure_ascii=False))
        return 0
    table = None
    for key, value, source in rows:
        section, name = key.rsplit(".", 1)
        if section != table:
            print(f"{'' if table is None else chr(10)}[{section}]")
            table = section
        print(f"{name} = {_toml_value(value)}  # {source}")
    return 0


COMMANDS: dict[str, Command] = {
    "config": Command(
        help="show the effective configuration (config show)",
        add_arguments=_config_arguments,
        run=_run_config,
    ),
}
