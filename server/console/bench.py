"""``hadir server bench-console``: server time of the busiest console pages.

Seeds a regency (default 10,000 employees in 60 OPDs, a month of punches,
through :func:`server.console.demo.seed_demo`) on ``--database-url`` (a
temporary SQLite file otherwise), signs in, and times each page through the
ASGI app in-process (routing, session and role checks, queries, template
rendering; no network). Prints p50 / p95 / max per page; ``--json`` prints
one object. Targets (issue #11): dashboard and recap p95 <= 300 ms, roll call
p95 <= 150 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from server.settings import ServerSettings


def last_working_day_of_previous_month(today: date) -> date:
    day = today.replace(day=1) - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def run_bench(args: argparse.Namespace, settings: ServerSettings) -> int:

    zone = ZoneInfo(settings.timezone)
    day = last_working_day_of_previous_month(settings.clock().astimezone(zone).date())
    now = datetime.combine(day, clock_time(10, 30), tzinfo=zone)
    with tempfile.TemporaryDirectory(prefix="hadir-bench-console-") as tmp:
        url = (
            settings.database_url
            if getattr(args, "database_url", None)
            else f"sqlite:///{Path(tmp) / 'bench.db'}"
        )
        with fresh_schema(url) as url:
            return _bench(args, settings, url, now, Path(tmp))


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """On PostgreSQL, a new schema for the run (dropped afterwards); SQLite URLs as given."""
    if not url.startswith("postgresql"):
        yield url
        return
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"hadir_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _bench(
    args: argparse.Namespace, settings: ServerSettings, url: str, now: datetime, tmp: Path
) -> int:
    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.console.demo import DEMO_PASSWORD, create_demo_accounts, seed_demo

    bench_settings = replace(
        settings, database_url=url, admin_token_file=tmp / "token", clock=lambda: now
    )
    app = create_app(bench_settings)
    svc = app.state.services
    started = time.perf_counter()
    world = seed_demo(svc, now, employees=args.employees, opds=args.opds)
    seed_s = time.perf_counter() - started
    create_demo_accounts(app.state.console.accounts, world, now)
    opd = world.opds[0]
    month = now.strftime("%Y-%m")
    results: dict[str, Any] = {
        "database": url.split(":", 1)[0],
        "employees": len(world.employees),
        "opds": len(world.opds),
        "punches": world.punches,
        "ledger_days": world.ledger_keys,
        "seed_s": round(seed_s, 1),
        "requests_per_page": args.requests,
        "pages": {},
    }
    targets = {"dashboard": 300.0, "recap": 300.0, "rollcall": 150.0}
    plan = [
        ("dashboard", "bkpsdm", "/"),
        ("recap", "kepala", f"/recap/{opd}?month={month}"),
        ("rollcall", "operator", f"/rollcall/{opd}"),
    ]
    with TestClient(app) as client:
        for name, account, path in plan:
            client.cookies.clear()
            login = client.get("/login")
            token = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            client.post(
                "/login",
                data={"username": account, "password": DEMO_PASSWORD, "csrf_token": token},
                follow_redirects=False,
            )
            first = client.get(path)
            if first.status_code != 200:
                raise RuntimeError(f"{path}: HTTP {first.status_code}")
            timings = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                r = client.get(path)
                timings.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200
            results["pages"][name] = {
                "path": path.split("?")[0],
                "first_ms": round(first.elapsed.total_seconds() * 1000, 1),
                "p50_ms": round(statistics.median(timings), 1),
                "p95_ms": round(percentile(timings, 0.95), 1),
                "max_ms": round(max(timings), 1),
                "target_p95_ms": targets[name],
            }
    svc.db.dispose()
    if args.json:
        print(json.dumps(results))
    else:
        for name, r in results["pages"].items():
            print(
                f"{name:10s} p50 {r['p50_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms  "
                f"max {r['max_ms']:7.1f} ms  (target p95 <= {r['target_p95_ms']:.0f} ms)"
            )
        print(
            f"{results['employees']} employees, {results['opds']} OPDs, "
            f"{results['punches']} punches, seeded in {results['seed_s']} s ({results['database']})"
        )
    return 0
