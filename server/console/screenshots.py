"""``hadir server screenshots OUT_DIR``: every console page at 1366x768 and 390x844 as PNG.

A temporary server (SQLite unless ``--database-url``) is filled by
:func:`server.console.demo.seed_demo`, served on loopback, and each page is
opened in headless chromium by the account that would use it.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from hadir.command import CommandError

if TYPE_CHECKING:
    from server.settings import ServerSettings

SIZES = {"desktop": (1366, 768), "phone": (390, 844)}


def pages(opd: str, nip: str, month: str) -> list[tuple[str, str, str]]:
    """(file name, account, path) of every page."""
    return [
        ("01-login", "", "/login"),
        ("02-dashboard", "bkpsdm", "/"),
        ("03-rollcall", "operator", f"/rollcall/{opd}"),
        ("04-recap", "kepala", f"/recap/{opd}?month={month}"),
        ("05-employees", "operator", "/employees"),
        ("06-employee", "kepala", f"/employee/{nip}?month={month}"),
        ("07-my-attendance", "pegawai", f"/employee/{nip}?month={month}"),
        ("08-inbox-head", "kepala", "/inbox"),
        ("09-inbox-employee", "pegawai", "/inbox"),
        ("10-devices", "bkpsdm", "/devices"),
        ("11-roster-import", "operator", "/roster"),
        ("12-schedules", "bkpsdm", "/schedules"),
        ("13-audit", "auditor", "/audit"),
        ("14-accounts", "bkpsdm", "/accounts"),
        ("15-forbidden", "pegawai", "/devices"),
        ("16-my-account", "kepala", "/account"),
        ("17-recap-comparison", "bkpsdm", f"/recap?month={month}"),
    ]


def demo_time(settings: ServerSettings) -> datetime:
    """10:30 local on the latest working day: people have arrived, some late."""
    zone = ZoneInfo(settings.timezone)
    day = settings.clock().astimezone(zone).date()
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return datetime.combine(day, time(10, 30), tzinfo=zone)


def run_screenshots(args: argparse.Namespace, settings: ServerSettings) -> int:
    from server.console.browser import CHROMIUM, chromium, serve, sign_in
    from server.console.demo import DEMO_PASSWORD, create_demo_accounts, seed_demo

    executable = Path(args.chromium)
    if not executable.exists():
        raise CommandError(f"{executable} not found: install Debian's chromium package")
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    from server.app import create_app

    with tempfile.TemporaryDirectory(prefix="hadir-screens-") as tmp:
        url = (
            settings.database_url
            if getattr(args, "database_url", None)
            else f"sqlite:///{Path(tmp) / 'demo.db'}"
        )
        now = demo_time(settings)
        demo_settings = replace(
            settings,
            database_url=url,
            admin_token_file=Path(tmp) / "admin-token",
            clock=lambda: now,
        )
        app = create_app(demo_settings)
        svc = app.state.services
        world = seed_demo(svc, now, employees=args.employees)
        create_demo_accounts(app.state.console.accounts, world, now)
        opd = world.opds[0]
        nip = next(p["nip"] for p in world.employees if p["opd"] == opd)
        month = now.astimezone(app.state.console.zone).strftime("%Y-%m")
        written = 0
        with serve(app) as base, chromium(executable or CHROMIUM) as browser:
            for size_name, (width, height) in SIZES.items():
                contexts: dict[str, object] = {}
                for name, account, path in pages(opd, nip, month):
                    context = contexts.get(account)
                    if context is None:
                        context = browser.new_context(viewport={"width": width, "height": height})
                        contexts[account] = context
                        if account:
                            sign_in(context.new_page(), base, account, DEMO_PASSWORD)  # type: ignore[attr-defined]
                    page = context.new_page()  # type: ignore[attr-defined]
                    page.goto(base + path)
                    page.wait_for_load_state("networkidle")
                    page.wait_for_timeout(300)  # charts draw after DOMContentLoaded
                    target = out / f"{name}-{size_name}.png"
                    page.screenshot(path=str(target), full_page=True)
                    page.close()
                    written += 1
                for context in contexts.values():
                    context.close()  # type: ignore[attr-defined]
        svc.db.dispose()
    print(f"{written} screenshots in {out}")
    return 0
