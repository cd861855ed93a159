"""``hadir server create-user | screenshots | bench-console``: the console's commands.

Kept light at import: argon2, FastAPI and the browser load inside the run
functions.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hadir.command import CommandError

if TYPE_CHECKING:
    from server.settings import ServerSettings

CONSOLE_ACTIONS = ("create-user", "screenshots", "bench-console")


def add_console_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "create-user",
        help="create a console account (the first superadmin, for example)",
        description="create a console account; the password is asked twice, or read "
        "from standard input with --password-stdin",
    )
    common(p)
    p.add_argument("username", help="the login name of the new account")
    p.add_argument(
        "--role",
        required=True,
        choices=["superadmin", "operator", "head", "auditor", "employee"],
        help="what the account may see and do in the console",
    )
    p.add_argument("--name", default=None, help="full name (default: the username)")
    p.add_argument("--opd", default=None, help="OPD code (operator, head, employee)")
    p.add_argument("--nip", default=None, help="NIP (employee)")
    p.add_argument("--totp", action="store_true", help="require an authenticator code")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser(
        "screenshots",
        help="every console page at 1366x768 and 390x844 as PNG (headless chromium)",
        description="seed a demo regency (on --database-url, else a temporary SQLite file), "
        "serve it on loopback and save every console page at 1366x768 and 390x844 as PNG "
        "(headless chromium)",
    )
    common(p)
    p.add_argument("out_dir", type=Path, help="directory the PNG files are written to (created)")
    p.add_argument("--chromium", default="/usr/bin/chromium", help="the browser to drive")
    p.add_argument("--employees", type=int, default=300, help="demo roster size")

    p = sub.add_parser(
        "bench-console",
        help="server time of the dashboard, recap and roll call pages (p50/p95)",
        description="seed a demo regency (on --database-url, else a temporary SQLite file) "
        "and time the dashboard, recap and roll call pages in-process (p50/p95/max)",
    )
    common(p)
    p.add_argument("--employees", type=int, default=10000, help="demo roster size (default 10000)")
    p.add_argument("--opds", type=int, default=60, help="number of demo OPDs (default 60)")
    p.add_argument("--days", type=int, default=20, help="working days of punches to seed")
    p.add_argument("--requests", type=int, default=40, help="requests per page")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run_console_command(action: str, args: argparse.Namespace, settings: ServerSettings) -> int:
    if action == "create-user":
        return _create_user(args, settings)
    if action == "screenshots":
        from server.console.screenshots import run_screenshots

        return run_screenshots(args, settings)
    if action == "bench-console":
        from server.console.bench import run_bench

        return run_bench(args, settings)
    raise CommandError(f"unknown sub-command {action!r}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise CommandError("the two passwords differ")
    return first


def _create_user(args: argparse.Namespace, settings: ServerSettings) -> int:
    from server.console.accounts import Accounts
    from server.db import DatabaseError, open_database
    from server.errors import ApiError

    password = _read_password(args.password_stdin)
    try:
        db = open_database(settings.database_url)
    except DatabaseError as exc:
        raise CommandError(str(exc)) from None
    try:
        created = Accounts(db).create_user(
            username=args.username,
            full_name=args.name or args.username,
            role=args.role,
            password=password,
            now=settings.clock(),
            opd_code=args.opd,
            nip=args.nip,
            totp=args.totp,
        )
        Accounts(db).audit(
            actor="cli",
            role="cli",
            action="account_create",
            target=created["username"],
            now=settings.clock(),
            detail={"role": args.role, "opd_code": args.opd, "nip": args.nip},
        )
    except ApiError as exc:
        raise CommandError(exc.detail) from None
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(created))
    else:
        print(f"account {created['username']} ({args.role}) created")
        if "totp_uri" in created:
            print(f"authenticator: {created['totp_uri']}")
    return 0
