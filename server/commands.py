"""``hadir server``: run the central server, or administer it with a sub-command.

    hadir server [--config FILE] [--host H] [--port P] [--database-url URL]
    hadir server create-enrollment-code --opd CODE [--hours N] [--json]
    hadir server revoke-device DEVICE_ID
    hadir server import-employees FILE.csv [--json]
    hadir server admin-token
    hadir server adms-devices [--json]
    hadir server zk-pull --host H [--port 4370] [--clear] [--json] | --configured | --scheduled
    hadir server adms-approve SERIAL [--network CIDR] [--timezone TZ] [--release-pending]
    hadir server recap|discipline|close-month|rebuild-ledger|import-punches|... (the ledger:
        see server/ledger_commands.py)
    hadir server create-user USERNAME --role ROLE [--opd CODE] [--nip NIP] [--totp]
    hadir server screenshots OUT_DIR | hadir server bench-console [--json]

Sub-commands work on the database directly (the server may be running).
Top-level imports stay light: FastAPI, SQLAlchemy and uvicorn load in ``run``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hadir.command import (
    Command,
    CommandError,
    add_config_argument,
    add_data_dir_argument,
    config_from_args,
)
from server.config import ServerConfig

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
        "drop-templates",
        help="delete every face template of an embedding model, on the server and (through "
        "the change feed) on every kiosk",
        description="delete every face template of an embedding model, on the server and "
        "(through the change feed) on every kiosk; the erasure is audit-logged per person",
    )
    _common(p, suppress=True)
    p.add_argument("--model", required=True, help="model name, e.g. the old dlib model")

    p = sub.add_parser(
        "admin-token",
        help="print the admin API token (created if absent)",
        description="print the admin API token (created if absent)",
    )
    _common(p, suppress=True)

    p = sub.add_parser(
        "zk-pull",
        help="read the attendance log of ZKTeco machines without ADMS (TCP 4370, pyzk)",
        description="read one machine (--host), every [server] zk_machines entry once "
        "(--configured), or those every zk_pull_minutes (--scheduled)",
    )
    _common(p, suppress=True)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--host", help="the machine's address")
    which.add_argument("--configured", action="store_true", help="each [server] zk_machines once")
    which.add_argument(
        "--scheduled", action="store_true", help="[server] zk_machines every zk_pull_minutes"
    )
    p.add_argument("--port", type=int, default=4370, help="TCP port (default 4370)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per answer")
    p.add_argument(
        "--clear",
        action="store_true",
        help="clear the machine's log after its records are stored (never before)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser(
        "adms-devices",
        help="list ADMS machines (pending ones with their address)",
        description="list the ZKTeco ADMS machines that have called the server: serial, "
        "status, last address, allowed network and held batches",
    )
    _common(p, suppress=True)
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser(
        "adms-approve",
        help="approve an ADMS machine (its uploads count from now)",
        description="approve a pending ADMS machine: its uploads count from now on; what it "
        "sent while pending is released only with --release-pending",
    )
    _common(p, suppress=True)
    p.add_argument("serial", help="the machine's serial number (as in adms-devices)")
    p.add_argument("--network", default=None, help="allowed source address or CIDR network")
    p.add_argument("--timezone", default=None, help="IANA zone of the machine's clock")
    p.add_argument(
        "--release-pending",
        action="store_true",
        help="also count what it sent while pending",
    )

    p = sub.add_parser(
        "review-punches",
        help="punches stored for NIPs the roster does not know or a kiosk does not serve",
        description="list the punches stored for NIPs the roster does not know or a kiosk "
        "does not serve, with the total count",
    )
    _common(p, suppress=True)
    p.add_argument(
        "--limit", type=int, default=1000, help="most punches to list, 1-10000 (default 1000)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser(
        "audit-log",
        help="who read, uploaded, refused or erased face templates, and why",
        description="the audit log of face templates, newest first: who read, uploaded, "
        "refused or erased them, and why",
    )
    _common(p, suppress=True)
    p.add_argument("--subject", default=None, help="a NIP or device id")
    p.add_argument("--action", default=None, help="e.g. template_read, template_refused")
    p.add_argument(
        "--limit", type=int, default=100, help="most entries to list, 1-10000 (default 100)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

    from server.ledger_commands import add_ledger_subcommands

    add_ledger_subcommands(sub, lambda p: _common(p, suppress=True))

    from server.console.commands import add_console_commands

    add_console_commands(sub, lambda parser: _common(parser, suppress=True))


def _settings(args: argparse.Namespace) -> ServerSettings:
    from server.settings import settings_from_config

    settings = settings_from_config(
        config_from_args(args, ServerConfig, data_dir_key="server.data_dir")
    )
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
    from server.console.commands import CONSOLE_ACTIONS, run_console_command

    if action in CONSOLE_ACTIONS:
        return run_console_command(action, args, settings)
    return _administer(action, args, settings)


def _open(settings: ServerSettings) -> Any:
    from server.app import open_private_database
    from server.db import DatabaseError

    try:
        return open_private_database(settings)
    except DatabaseError as exc:
        raise CommandError(str(exc)) from None


def _administer(action: str, args: argparse.Namespace, settings: ServerSettings) -> int:
    from server.devices import DeviceRegistry
    from server.errors import ApiError
    from server.roster import Roster

    db = _open(settings)
    now = settings.clock()
    try:
        from server.ledger_commands import LEDGER_ACTIONS, run_ledger

        if action in LEDGER_ACTIONS:
            return run_ledger(action, args, settings, db)
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
        if action == "review-punches":
            from server.review import review_punches

            if not 1 <= args.limit <= 10000:
                raise CommandError("--limit must be between 1 and 10000")
            review = review_punches(db, limit=args.limit)
            if args.json:
                print(json.dumps(review))
            else:
                print(f"{review['total']} punches to review")
                for p in review["punches"]:
                    print(
                        f"{p['utc']}  {p['nip']}  {p['device_id']}  {p['direction']}  "
                        f"{','.join(p['flags'])}  {p['id']}"
                    )
            return 0
        if action == "audit-log":
            from server.trust import list_audit

            if not 1 <= args.limit <= 10000:
                raise CommandError("--limit must be between 1 and 10000")
            entries = list_audit(db, subject=args.subject, action=args.action, limit=args.limit)
            if args.json:
                print(json.dumps({"entries": entries}))
            else:
                for e in entries:
                    print(
                        f"{e['at_utc']}  {e['actor']}  {e['action']}  {e['subject']}  "
                        f"{json.dumps(e['detail'], ensure_ascii=False)}"
                    )
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
            from server.trust import ServerKeyError, load_server_keys

            try:
                keys = load_server_keys(settings.server_key_dir, db)
            except ServerKeyError as exc:
                raise CommandError(str(exc)) from None
            result = Roster(db, keys).import_csv(body, now)
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
        if action == "zk-pull":
            return _zk_pull(args, settings, db)
        if action in ("adms-devices", "adms-approve"):
            return _adms(action, args, settings, db)
        if action == "drop-templates":
            from server.template_admin import drop_model_templates
            from server.trust import load_server_keys

            keys = load_server_keys(settings.server_key_dir, db)
            count = drop_model_templates(db, keys, args.model, now)
            print(f"deleted {count} templates of model {args.model}; kiosks follow the feed")
            return 0
        raise CommandError(f"unknown sub-command {action!r}")
    except ApiError as exc:
        raise CommandError(exc.detail) from None
    finally:
        db.dispose()


def _adms_service(settings: ServerSettings, db: Any) -> Any:
    from server.adms import AdmsService, adms_policy
    from server.ingest import IngestLimits

    limits = IngestLimits(
        max_future=timedelta(seconds=settings.max_future_seconds),
        max_age=timedelta(days=settings.max_age_days),
    )
    return AdmsService(db, settings.adms_serials, settings.timezone, limits, adms_policy(settings))


def _zk_pull(args: argparse.Namespace, settings: ServerSettings, db: Any) -> int:
    from server.zkpull import ZkPullError, parse_machine, pull_all, pull_machine, run_schedule

    adms = _adms_service(settings, db)
    if not 0.5 <= args.timeout <= 300:
        raise CommandError("--timeout must be 0.5-300 seconds")
    if args.host:
        if not 1 <= args.port <= 65535:
            raise CommandError(f"--port must be 1-65535, got {args.port}")
        try:
            got = pull_machine(
                adms,
                args.host,
                args.port,
                now=settings.clock(),
                timeout=args.timeout,
                clear=args.clear,
            )
        except ZkPullError as exc:
            raise CommandError(str(exc)) from None
        if args.json:
            print(json.dumps(got.as_json()))
        else:
            print(
                f"{got.serial} ({got.host}:{got.port}): {got.records} records, "
                f"{got.stored} new, {got.duplicates} already stored, {got.unmatched} unknown PIN, "
                f"{got.for_review} for review"
                + (f", held: {got.held}" if got.held else "")
                + (", log cleared" if got.cleared else "")
            )
        return 0
    if not settings.zk_machines:
        raise CommandError("[server] zk_machines is empty: nothing to pull")
    try:
        for entry in settings.zk_machines:
            parse_machine(entry)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if args.scheduled:
        run_schedule(
            adms, settings.zk_machines, settings.zk_pull_minutes, settings.clock, clear=args.clear
        )
        return 0
    results = pull_all(
        adms, settings.zk_machines, settings.clock(), timeout=args.timeout, clear=args.clear
    )
    if args.json:
        print(json.dumps({"machines": results}))
    else:
        for r in results:
            print(json.dumps(r))
    return 1 if any("error" in r for r in results) else 0


def _adms(action: str, args: argparse.Namespace, settings: ServerSettings, db: Any) -> int:
    adms = _adms_service(settings, db)
    if action == "adms-devices":
        devices = adms.devices()
        if args.json:
            print(json.dumps({"devices": devices}))
        for d in [] if args.json else devices:
            print(
                f"{d['serial']}\t{d['status']}\t{d['last_address']}\t"
                f"network={d['allowed_network'] or 'any'}\theld_batches={d['held_batches']}"
            )
        return 0
    result = adms.approve(
        args.serial,
        settings.clock(),
        allowed_network=args.network,
        timezone=args.timezone,
        release_pending=args.release_pending,
    )
    print(
        f"{args.serial} approved (network {result['allowed_network'] or 'any'}); "
        f"{result['released_punches']} held punches released"
    )
    return 0


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
        # The app sets the one Date header itself (server/dateheader.py): ADMS
        # machines set their clock from it and are confused by two.
        "date_header": False,
        # Request headers larger than this are refused (the body has its own limit).
        "h11_max_incomplete_event_size": 65_536,
        # Beyond this many open connections new ones get 503 instead of memory.
        "limit_concurrency": settings.max_connections,
    }
    if settings.tls_certfile or settings.tls_keyfile:
        if not (settings.tls_certfile and settings.tls_keyfile):
            raise CommandError("[server] tls_certfile and tls_keyfile must be set together")
        for name in ("tls_certfile", "tls_keyfile"):
            path = getattr(settings, name)
            if not Path(path).is_file():
                raise CommandError(f"[server] {name}: no such file {path}")
        common["ssl_certfile"] = settings.tls_certfile
        common["ssl_keyfile"] = settings.tls_keyfile
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
        "revoke-device, import-employees, admin-token, review-punches, audit-log, "
        "adms-devices, adms-approve, zk-pull, and the ledger: recap, discipline, "
        "close-month, rebuild-ledger, import-punches, import-absences, leave-*, "
        "correction-*, seed-demo, bench-ledger; the console: create-user, screenshots, "
        "bench-console)",
        add_arguments=_add_arguments,
        run=_run,
    ),
}
