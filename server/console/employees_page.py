"""Employees: the scoped list, and one employee's month (calendar and punches)."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, or_, select

from server.console import scope
from server.console.web import Console
from server.errors import invalid, not_found
from server.models import Employee
from server.roster import employee_document

MONTH_RE = re.compile(r"(\d{4})-(\d{2})")
PAGE_SIZE = 100


def parse_month(text: str | None, today: date) -> date:
    """First day of ``YYYY-MM`` (default: this month); 422 naming the field otherwise."""
    if not text:
        return today.replace(day=1)
    m = MONTH_RE.fullmatch(text)
    if not m or not 1 <= int(m.group(2)) <= 12 or not 2000 <= int(m.group(1)) <= 2100:
        raise invalid("month: YYYY-MM between 2000-01 and 2100-12")
    return date(int(m.group(1)), int(m.group(2)), 1)


def month_days(first: date) -> list[date]:
    n = calendar.monthrange(first.year, first.month)[1]
    return [first + timedelta(days=i) for i in range(n)]


def shift_month(first: date, delta: int) -> str:
    y, m = divmod(first.year * 12 + first.month - 1 + delta, 12)
    return f"{y:04d}-{m + 1:02d}"


def register(console: Console) -> None:
    svc = console.services

    def employees(request: Request) -> Response:
        p = console.principal(request)
        scope.require(p.role != "employee", "list employees")
        q = request.query_params.get("q", "").strip()[:100]
        opd = request.query_params.get("opd", "").strip()[:32]
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            raise invalid("page: a whole number >= 1") from None
        if not scope.sees_all(p):
            opd = p.opd_code or ""
        conditions = []
        if opd:
            conditions.append(Employee.opd_code == opd)
        if q:
            like = f"%{q.replace('%', '').replace('_', '')}%"
            conditions.append(or_(Employee.name.ilike(like), Employee.nip.like(like)))
        with svc.db.read() as conn:
            total = conn.execute(
                select(func.count()).select_from(Employee).where(*conditions)
            ).scalar_one()
            rows = conn.execute(
                select(Employee.__table__)
                .where(*conditions)
                .order_by(Employee.opd_code, Employee.name, Employee.nip)
                .limit(PAGE_SIZE)
                .offset((page - 1) * PAGE_SIZE)
            ).all()
            opds = [
                r[0]
                for r in conn.execute(
                    select(Employee.opd_code).distinct().order_by(Employee.opd_code)
                )
            ]
        data = {
            "employees": [employee_document(r) for r in rows],
            "total": int(total),
            "page": page,
            "pages": max(1, -(-int(total) // PAGE_SIZE)),
            "q": q,
            "opd": opd,
            "opds": opds if scope.sees_all(p) else [p.opd_code],
        }
        return console.render(request, p, "employees.html", data)

    def employee(request: Request, nip: str) -> Response:
        p = console.principal(request)
        emp = console.find_employee(nip)
        # The same answer for "not yours" and "does not exist" would hide
        # existence, but an operator legitimately needs to know; 404 only for
        # those who could see it.
        if emp is None:
            scope.require(scope.sees_all(p) or p.role in scope.OPD_ROLES, f"see employee {nip}")
            raise not_found(f"no employee with NIP {nip}")
        scope.require(scope.can_see_employee(p, nip, emp["opd_code"]), f"see employee {nip}")
        today = console.now().astimezone(console.zone).date()
        first = parse_month(request.query_params.get("month"), today)
        days = month_days(first)
        punches = svc.reports.list_punches(
            date_from=days[0],
            date_to=days[-1],
            nip=nip,
            device_id=None,
            source=None,
            limit=2000,
            offset=0,
        )["punches"]
        for punch in punches:
            punch["local"] = _local_text(punch["utc"], console)
        ledger = console.ledger_days(nip, days[0], days[-1]) if console.ledger_days else None
        punched = {punch["local"][:10] for punch in punches}
        cells = []
        for d in days:
            key = d.isoformat()
            if ledger is not None and key in ledger:
                status, label = ledger[key]
            elif d > today or (d == today and key not in punched):
                status, label = "future", ""
            elif key in punched:
                status, label = "present", ""
            elif d.weekday() >= 5:
                status, label = "weekend", ""
            else:
                status, label = "none", ""
            cells.append({"date": key, "day": d.day, "status": status, "label": label})
        data = {
            "employee": emp,
            "month": first.strftime("%Y-%m"),
            "today": today.isoformat(),
            "prev_month": shift_month(first, -1),
            "next_month": shift_month(first, 1),
            "lead_blanks": days[0].weekday(),
            "days": cells,
            "punches": punches,
            "snapshots_allowed": scope.can_see_snapshots(p, emp["opd_code"]),
            "from_ledger": ledger is not None,
            "recap": console.ledger_recap_row(emp["opd_code"], first.strftime("%Y-%m"), nip)
            if console.ledger_recap_row
            else None,
        }
        return console.render(request, p, "employee.html", data)

    def me(request: Request) -> Response:
        p = console.principal(request)
        if p.nip is None:
            return RedirectResponse("/", 303)
        return RedirectResponse(f"/employee/{p.nip}", 303)

    console.page("/employees", employees)
    console.page("/employee/{nip}", employee)
    console.router.add_api_route("/me", me, methods=["GET"])


def _local_text(utc_text: str, console: Console) -> str:
    at = datetime.fromisoformat(utc_text.replace("Z", "+00:00"))
    return at.astimezone(console.zone).strftime("%Y-%m-%d %H:%M:%S")
