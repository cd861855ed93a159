"""The daily roll call of one OPD, refreshing itself (htmx polls the table every 30 s).

Who has punched today (first and last punch, source); with the central
ledger also late, on leave and the day's status from the same rules as the
kiosk.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from server.console import scope
from server.console.accounts import Principal
from server.console.dashboard import local_day_bounds
from server.console.web import Console
from server.errors import not_found
from server.models import Employee, Punch
from server.timeutil import format_utc

REFRESH_SECONDS = 30


def register(console: Console) -> None:
    svc = console.services

    def visible_opds(p: Principal) -> list[str]:
        if not scope.sees_all(p):
            return [p.opd_code] if p.opd_code else []
        with svc.db.read() as conn:
            return [
                r[0]
                for r in conn.execute(
                    select(Employee.opd_code).distinct().order_by(Employee.opd_code)
                )
            ]

    def rollcall_data(opd: str) -> dict[str, Any]:
        now = console.now()
        today = now.astimezone(console.zone).date()
        start, end = local_day_bounds(today, console)
        with svc.db.read() as conn:
            staff = conn.execute(
                select(Employee.nip, Employee.name, Employee.schedule_group)
                .where(Employee.opd_code == opd, Employee.active.is_(True))
                .order_by(Employee.name, Employee.nip)
            ).all()
            if not staff:
                exists = conn.execute(
                    select(func.count()).select_from(Employee).where(Employee.opd_code == opd)
                ).scalar_one()
                if not exists:
                    raise not_found(f"no OPD {opd!r} (no employees)")
            punches = conn.execute(
                select(
                    Punch.nip,
                    func.min(Punch.utc).label("first"),
                    func.max(Punch.utc).label("last"),
                    func.count().label("n"),
                )
                .join(Employee, Employee.nip == Punch.nip)
                .where(Employee.opd_code == opd, Punch.utc >= start, Punch.utc < end)
                .group_by(Punch.nip)
            ).all()
        by_nip = {r.nip: r for r in punches}
        ledger = console.ledger_rollcall(opd, today) if console.ledger_rollcall else {}

        def local(at: datetime) -> str:
            return at.replace(tzinfo=UTC).astimezone(console.zone).strftime("%H:%M")

        people = []
        for s in staff:
            pr = by_nip.get(s.nip)
            entry: dict[str, Any] = {
                "nip": s.nip,
                "name": s.name,
                "schedule_group": s.schedule_group,
                "first": local(pr.first) if pr else None,
                "last": local(pr.last) if pr and pr.n > 1 else None,
                "status": "present" if pr else "not_yet",
                "label": "",
            }
            verdict = ledger.get(s.nip)
            if verdict is not None and not (verdict["status"] == "not_yet" and pr):
                # A punch the ledger has not processed yet still counts as arrived.
                entry.update(verdict)
            people.append(entry)
        counts = {
            "employees": len(people),
            "present": sum(e["first"] is not None for e in people),
            "not_yet": sum(e["status"] == "not_yet" for e in people),
        }
        if ledger:
            counts["late"] = sum(e["status"] == "late" for e in people)
            counts["on_leave"] = sum(e["status"] == "on_leave" for e in people)
        return {
            "opd_code": opd,
            "date": today.isoformat(),
            "people": people,
            "counts": counts,
            "generated_utc": format_utc(now),
            "refresh_seconds": REFRESH_SECONDS,
        }

    def choose(request: Request) -> Response:
        p = console.principal(request)
        scope.require(p.role != "employee", "see the roll call")
        opds = visible_opds(p)
        if len(opds) == 1 and not scope.sees_all(p):
            return RedirectResponse(f"/rollcall/{opds[0]}", 303)
        return console.render(request, p, "rollcall_choose.html", {"opds": opds})

    def rollcall(request: Request, opd: str) -> Response:
        p = console.principal(request)
        scope.require(scope.can_see_opd(p, opd), f"see the roll call of OPD {opd}")
        return console.render(request, p, "rollcall.html", rollcall_data(opd))

    def rows(request: Request, opd: str) -> Response:
        p = console.principal(request)
        scope.require(scope.can_see_opd(p, opd), f"see the roll call of OPD {opd}")
        return console.render(request, p, "rollcall_rows.html", rollcall_data(opd))

    console.page("/rollcall", choose, json_twin=False)
    console.page("/rollcall/{opd}", rollcall)
    console.router.add_api_route("/rollcall/{opd}/rows", rows, methods=["GET"])
    console.rollcall_data = rollcall_data
