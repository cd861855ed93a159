"""``hadir server``: run the central server, or administer it with a sub-command.

    hadir server [--config FILE] [--host H] [--port P] [--database-url URL]
    hadir server create-enrollment-code --opd CODE [--hours N] [--json]
    hadir server revoke-device DEVICE_ID
    hadir server import-employees FILE.csv [--json]
    hadir server admin-token

Sub-commands work on the database directly (the server may be running).
Top-level imports stay light: FastAPI, SQLAlchemy and uvicorn load in ``run``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hadir.command import (
    Command,
    CommandError,
    add_config_argument,
    add_data_dir_argument,
    config_from_args,
)

if TYPE_CHECKING:
    from server.settings import ServerSettings


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    if suppress:
        # On sub-commands: accept --config/--data-dir here too, without
        # overwriting a value given before the sub-command.
        parser.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="config file")
        parser.add_argument(
            "--data-dir", type=Path, default=argparse.SUPPRESS, help="data directory"
        )
    else:
        add_config_argument(parser)
        add_data_dir_argument(parser)
    parser.add_argument(
        "--database-url",
        default=argparse.SUPPRESS if suppress else None,
        help="SQLAlchemy URL (default: [server] database_url, or SQLite in <data_dir>)",
    )


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser, suppress=False)
    parser.add_argument("--host", default=None, help="listen address (default: [server] host)")
    parser.add_argument("--port", type=int, default=None, help="port (default: [server] port)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (each verifies signatures on its own CPU core; default 1)",
    )
    sub = parser.add_subparsers(dest="server_command", metavar="SUBCOMMAND", required=False)

    p = sub.add_parser(
        "create-enrollment-code",
        help="issue a one-time code a kiosk exchanges for its credentials",
        description="issue a one-time code a kiosk exchanges for its credentials",
    )
    _common(p, suppress=True)
    p.add_argument("--opd", required=True, help="OPD code the kiosk will belong to")
    p.add_argument("--hours", type=int, default=72, help="hours until the code expires")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser(
        "revoke-device",
        help="revoke a kiosk's credentials",
        description="revoke a kiosk's credentials (it must register again with a new code)",
    )
    _common(p, suppress=True)
    p.add_argument("device_id", help="the kiosk's device id (as in sync status)")

    p = sub.add_parser(
        "import-employees",
        help="import the roster from CSV (nip,name,opd,type,schedule_group)",
        description="import the roster from CSV (nip,name,opd,type,schedule_group)",
    )
    _common(p, suppress=True)
    p.add_argument("file", type=Path, help="the CSV file (UTF-8, header row)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser(
        "admin-token",
        help="print the admin API token (created if absent)",
        description="print the admin API token (created if absent)",
    )
    _common(p, suppress=True)


def _settings(args: argparse.Namespace) -> ServerSettings:
    from server.settings import settings_from_config

    settings = settings_from_config(config_from_args(args))
    changes: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        changes["database_url"] = args.database_url
    if getattr(args, "host", None):
        changes["host"] = args.host
    if getattr(args, "port", None) is not None:
        if not 0 <= args.port <= 65535:
            raise CommandError(f"--port must be 0-65535, got {args.port}")
        changes["port"] = args.port
    return replace(settings, **changes) if changes else settings


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    action = getattr(args, "server_command", None)
    if action is None:
        return _serve(settings, args.workers)
    if action == "admin-token":
        from server.admintoken import AdminTokenError, load_or_create_admin_token

        try:
            print(load_or_create_admin_token(settings.admin_token_file))
        except AdminTokenError as exc:
            raise CommandError(str(exc)) from None
        return 0
    return _administer(action, args, settings)


def _open(settings: ServerSettings) -> Any:
    from server.db import DatabaseError, open_database

    try:
        return open_database(settings.database_url)
    except DatabaseError as exc:
        raise CommandError(str(exc)) from None


def _administer(action: str, args: argparse.Namespace, settings: ServerSettings) -> int:
    from server.devices import DeviceRegistry
    from server.errors import ApiError
    from server.roster import Roster

    db = _open(settings)
    now = settings.clock()
    try:
        if action == "create-enrollment-code":
            if not 1 <= args.hours <= 24 * 90:
                raise CommandError("--hours must be between 1 and 2160")
            code, expires = DeviceRegistry(db).create_enrollment_code(args.opd, now, args.hours)
            from server.timeutil import format_utc

            if args.json:
                print(
                    json.dumps(
                        {"code": code, "opd_code": args.opd, "expires_utc": format_utc(expires)}
                    )
                )
            else:
                print(code)
            return 0
        if action == "revoke-device":
            DeviceRegistry(db).revoke(args.device_id, now)
            print(f"device {args.device_id} revoked")
            return 0
        if action == "import-employees":
            try:
                body = args.file.read_bytes()
            except OSError as exc:
                raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
            result = Roster(db).import_csv(body, now)
            if args.json:
                print(json.dumps(result))
            else:
                print(
                    f"created {result['created']}, updated {result['updated']}, "
                    f"unchanged {result['unchanged']}, errors {len(result['errors'])}"
                )
                for err in result["errors"]:
                    print(f"{args.file}:{err['line']}: {err['error']}")
            return 1 if result["errors"] else 0
        raise CommandError(f"unknown sub-command {action!r}")
    except ApiError as exc:
        raise CommandError(exc.detail) from None
    finally:
        db.dispose()


def _serve(settings: ServerSettings, workers: int) -> int:
    import logging
    import os

    import uvicorn

    from server.admintoken import AdminTokenError, load_or_create_admin_token
    from server.app import create_app
    from server.db import DatabaseError
    from server.logs import configure_json_logging
    from server.settings import SETTINGS_ENV, settings_to_json

    if not 1 <= workers <= 64:
        raise CommandError(f"--workers must be 1-64, got {workers}")
    configure_json_logging(logging.getLogger().level or logging.INFO)
    logging.getLogger("server").info(
        "server starting",
        extra={
            "host": settings.host,
            "port": settings.port,
            "workers": workers,
            "database": settings.database_url.split("://", 1)[0],
        },
    )
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "timeout_keep_alive": 30,
    }
    try:
        if workers == 1:
            uvicorn.run(create_app(settings), **common)
            return 0
        # Migrate and create the admin token once, before the workers start.
        _open(settings).dispose()
        load_or_create_admin_token(settings.admin_token_file)
    except (DatabaseError, AdminTokenError) as exc:
        raise CommandError(str(exc)) from None
    os.environ[SETTINGS_ENV] = settings_to_json(settings)
    uvicorn.run("server.app:app_from_environment", factory=True, workers=workers, **common)
    return 0


COMMANDS = {
    "server": Command(
        help="run the central server, or administer it (create-enrollment-code, "
        "revoke-device, import-employees, admin-token)",
        add_arguments=_add_arguments,
        run=_run,
    ),
}
