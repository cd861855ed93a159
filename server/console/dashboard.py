"""Dashboard: today per OPD, arrival times, the month's trend, devices, early warnings.

Without the central ledger the figures come straight from the punches (who
has punched today, first punch per person); with it (issue #10) the roll call
adds late and on-leave counts and the discipline early warnings
(:mod:`server.console.ledger_pages` fills ``console.ledger_today``).
"""

from __future__ import annotations

import time as _time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from server.console import scope
from server.console.accounts import Principal
from server.console.web import Console
from server.models import Device, Employee, Punch
from server.timeutil import format_utc, to_db

SILENT_AFTER = timedelta(hours=1)
ARRIVAL_BUCKET_MIN = 15
TREND_TTL_SECONDS = 300.0


def local_day_bounds(day: date, console: Console) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=console.zone)
    return to_db(start), to_db(start + timedelta(days=1))


def minute_bucket(column: Any, local_midnight_utc: datetime, dialect: str) -> Any:
    """SQL: the quarter hour of the local day ``column`` (naive UTC) falls in (0 = 00:00)."""
    from sqlalchemy import Integer, cast, literal

    if dialect == "sqlite":
        seconds = func.strftime("%s", column) - literal(
            int(local_midnight_utc.replace(tzinfo=UTC).timestamp())
        )
        return cast(seconds / (60 * ARRIVAL_BUCKET_MIN), Integer)
    elapsed = func.extract("epoch", column - literal(local_midnight_utc))
    return func.floor(elapsed / (60 * ARRIVAL_BUCKET_MIN))


def register(console: Console) -> None:
    svc = console.services

    def dashboard_data(p: Principal) -> dict[str, Any]:
        now = console.now()
        today = now.astimezone(console.zone).date()
        opd_filter = [] if scope.sees_all(p) else [Employee.opd_code == p.opd_code]
        start, end = local_day_bounds(today, console)
        with svc.db.read() as conn:
            staff = {
                row.opd_code: int(row.n)
                for row in conn.execute(
                    select(Employee.opd_code, func.count().label("n"))
                    .where(Employee.active.is_(True), *opd_filter)
                    .group_by(Employee.opd_code)
                )
            }
            # Each person's first punch today, counted per OPD and per quarter hour in
            # SQL: a handful of rows come back, not one per employee.
            firsts = (
                select(Punch.nip, func.min(Punch.utc).label("first"))
                .where(Punch.utc >= start, Punch.utc < end)
                .group_by(Punch.nip)
                .subquery()
            )
            bucket = minute_bucket(firsts.c.first, start, svc.db.dialect)
            counted = conn.execute(
                select(Employee.opd_code, bucket.label("bucket"), func.count().label("n"))
                .join(firsts, firsts.c.nip == Employee.nip)
                .where(*opd_filter)
                .group_by(Employee.opd_code, bucket)
            ).all()
        present: Counter[str] = Counter()
        arrivals: Counter[str] = Counter()
        for row in counted:
            present[row.opd_code] += int(row.n)
            minute = int(row.bucket) * ARRIVAL_BUCKET_MIN
            arrivals[f"{minute // 60:02d}:{minute % 60:02d}"] += int(row.n)
        arrived = sum(present.values())
        ledger = console.ledger_today(today, p) if console.ledger_today else None
        rows = []
        for opd in sorted(staff):
            total = staff[opd]
            entry: dict[str, Any] = {
                "opd_code": opd,
                "employees": total,
                "present": present.get(opd, 0),
                "late": None,
                "on_leave": None,
            }
            if ledger is not None:
                # Arrivals come from the punches (at once); late and on leave need
                # the ledger's verdict.
                known = ledger.get(opd, {})
                entry["late"] = known.get("late", 0)
                entry["on_leave"] = known.get("on_leave", 0)
            entry["not_yet"] = max(0, total - entry["present"] - (entry["on_leave"] or 0))
            entry["rate"] = round(100.0 * entry["present"] / total, 1) if total else 0.0
            rows.append(entry)
        trend = past_trend(today, p, opd_filter)
        staff_total = sum(staff.values())
        if today.weekday() < 5 or arrived:
            trend.append(
                {
                    "date": today.isoformat(),
                    "present": arrived,
                    "rate": round(100.0 * arrived / staff_total, 1) if staff_total else 0.0,
                }
            )
        cutoff = to_db(now - SILENT_AFTER)
        with svc.db.read() as conn:
            kiosks = conn.execute(
                select(Device.device_id, Device.last_seen_utc).where(
                    Device.status == "active",
                    *([] if scope.sees_all(p) else [Device.opd_code == p.opd_code]),
                )
            ).all()
        silent = [
            k.device_id for k in kiosks if k.last_seen_utc is None or k.last_seen_utc < cutoff
        ]
        totals = {
            key: sum((r[key] or 0) for r in rows)
            for key in ("employees", "present", "not_yet", "late", "on_leave")
        }
        return {
            "date": today.isoformat(),
            "opds": rows,
            "totals": totals,
            "arrivals": sorted(arrivals.items()),
            "trend": trend,
            "devices": {"active": len(kiosks), "silent": silent},
            "warnings": console.ledger_warnings(today, p) if console.ledger_warnings else None,
            "has_ledger": ledger is not None,
            "generated_utc": format_utc(now),
        }

    trend_cache: dict[tuple[date, str | None], tuple[float, list[dict[str, Any]]]] = {}

    def past_trend(today: date, p: Principal, opd_filter: list[Any]) -> list[dict[str, Any]]:
        """The month's days before today; they rarely change, so kept for a few minutes."""
        key = (today, None if scope.sees_all(p) else p.opd_code)
        hit = trend_cache.get(key)
        if hit is not None and _time.monotonic() - hit[0] < TREND_TTL_SECONDS:
            return list(hit[1])
        first = today.replace(day=1)
        trend = month_trend(first, today - timedelta(days=1), opd_filter) if today > first else []
        trend_cache[key] = (_time.monotonic(), trend)
        return list(trend)

    def month_trend(first: date, last: date, opd_filter: list[Any]) -> list[dict[str, Any]]:
        """Per day from ``first`` to ``last``: people with a punch, as a share of staff."""
        today = last
        start, _ = local_day_bounds(first, console)
        _, end = local_day_bounds(last, console)
        offset = console.zone.utcoffset(datetime.combine(today, time(12)))
        minutes = int(offset.total_seconds() // 60) if offset else 0
        local_day: Any
        if svc.db.dialect == "sqlite":
            local_day = func.date(Punch.utc, f"{minutes:+d} minutes")
        else:
            from sqlalchemy import Date, cast, literal_column

            local_day = cast(Punch.utc + literal_column(f"interval '{minutes} minutes'"), Date)
        with svc.db.read() as conn:
            staff = conn.execute(
                select(func.count())
                .select_from(Employee)
                .where(Employee.active.is_(True), *opd_filter)
            ).scalar_one()
            counts = conn.execute(
                select(local_day.label("d"), func.count(func.distinct(Punch.nip)).label("n"))
                .join(Employee, Employee.nip == Punch.nip)
                .where(Punch.utc >= start, Punch.utc < end, *opd_filter)
                .group_by(local_day)
            ).all()
        by_day: dict[str, int] = defaultdict(int)
        for row in counts:
            by_day[str(row.d)[:10]] += int(row.n)
        out = []
        day = first
        while day <= today:
            n = by_day.get(day.isoformat(), 0)
            if day.weekday() < 5:  # weekends: only shift workers punch
                out.append(
                    {
                        "date": day.isoformat(),
                        "present": n,
                        "rate": round(100.0 * n / staff, 1) if staff else 0.0,
                    }
                )
            day += timedelta(days=1)
        return out

    def dashboard(request: Request) -> Response:
        p = console.principal(request)
        if p.role == "employee":
            if request.url.path.endswith(".json"):
                scope.require(False, "see the dashboard")
            return RedirectResponse("/me", 303)
        data = dashboard_data(p)
        return console.render(request, p, "dashboard.html", data, extra={"charts": charts(data)})

    console.page("/", dashboard)
    console.dashboard_data = dashboard_data  # for the screenshots and the bench


def charts(data: dict[str, Any]) -> dict[str, Any]:
    """Chart.js specifications (rendered as JSON in the page, drawn by console.js)."""
    return {
        "rate": {
            "type": "bar",
            "data": {
                "labels": [r["opd_code"] for r in data["opds"]],
                "datasets": [
                    {
                        "label": "%",
                        "data": [r["rate"] for r in data["opds"]],
                        "backgroundColor": "#1e88e5",
                    }
                ],
            },
            "options": {
                "scales": {"y": {"min": 0, "max": 100}},
                "plugins": {"legend": {"display": False}},
            },
        },
        "arrival": {
            "type": "bar",
            "data": {
                "labels": [label for label, _ in data["arrivals"]],
                "datasets": [
                    {
                        "label": "n",
                        "data": [n for _, n in data["arrivals"]],
                        "backgroundColor": "#fb8c00",
                    }
                ],
            },
            "options": {"plugins": {"legend": {"display": False}}},
        },
        "trend": {
            "type": "line",
            "data": {
                "labels": [t["date"][5:] for t in data["trend"]],
                "datasets": [
                    {
                        "label": "%",
                        "data": [t["rate"] for t in data["trend"]],
                        "borderColor": "#43a047",
                        "backgroundColor": "#43a047",
                    }
                ],
            },
            "options": {
                "scales": {"y": {"min": 0, "max": 100}},
                "plugins": {"legend": {"display": False}},
            },
        },
    }
