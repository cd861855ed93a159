"""Reports over the ledger: monthly recap with TPP deduction, roll call, yearly
discipline, OPD comparison, and closing a month.

Public API (what the admin API, the CLI, the exports and the web console use):

- :class:`Recaps` ``(db, ledger, settings)``:

  - ``monthly(opd_code, month) -> dict`` in the stable shape
    ``{"opd", "opd_name", "head_nip", "head_name", "month", "closed",
    "employees": [{"nip", "name", "employment_type", "working_days",
    "present_days", "tl": {"TL1": n, ...}, "tl_minutes", "psw": {"PSW1": n,
    ...}, "psw_minutes", "tk_days", "absences": {kind: days},
    "single_punch_days", "tpp_deduction_percent", "tpp_adjustment_percent",
    "adjustments": [...]}]}``.
    A closed month returns exactly what was reported when it was closed.
    In the earliest open month, each employee's ``adjustments`` lists the
    days of closed months whose verdict changed since (``{"work_date",
    "before", "after", "tpp_delta_percent"}``); their sum is
    ``tpp_adjustment_percent`` and is included in ``tpp_deduction_percent``
    (which stays within 0-100).
  - ``monthly_all(month) -> [recap per OPD]``,
  - ``roll_call(opd_code, day=None) -> {"opd", "date", "counts",
    "present", "late", "not_yet", "on_leave"}``,
  - ``discipline(year, opd_code=None) -> {"year", "hours_per_day",
    "employees": [...], "warnings": [...]}`` (PP 94/2021 levels),
  - ``comparison(month) -> {"month", "opds": [{"opd", "attendance_rate",
    "punctuality_rate", ...}]}``,
  - ``close_month(month, closed_by) -> dict``, ``closed_months()``,
  - ``tpp_tables()``, ``put_tpp_table(valid_from, valid_to, rates)``.

Counting (working days only): ``present_days`` = days with a punch;
``tk_days`` = no punch and no approved absence; ``absences`` = days per
kind; TL/PSW counted per band (a single punch counts the missing one in the
last band, TL4/PSW4 by default, with no minutes). The TPP deduction is the
sum over working days of the band percentages (and the TK percentage per
TK day) from the table valid on each day, capped at 100.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, delete, func, insert, select, tuple_, update

from server.db import Database
from server.errors import ApiError, invalid, not_found
from server.ledger import DayResult, Ledger, month_of, result_from_row
from server.ledger_models import (
    EmployeeAssignment,
    LedgerBooked,
    LedgerDay,
    MonthClosure,
    Opd,
    RecapSnapshot,
    TppTable,
)
from server.models import Employee
from server.org import assignment_on, load_assignments
from server.settings import ServerSettings
from server.timeutil import format_utc, to_db

MONTH_RE = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
DEFAULT_TPP: dict[str, float] = {
    "TL1": 0.5,
    "TL2": 1.0,
    "TL3": 1.5,
    "TL4": 2.0,
    "PSW1": 0.5,
    "PSW2": 1.0,
    "PSW3": 1.5,
    "PSW4": 2.0,
    "TK": 4.0,
}
BANDS = 4
# PP 94/2021 with Peraturan BKN 6/2022: unexcused absent days per year.
DISCIPLINE_LEVELS: tuple[tuple[int, str, str], ...] = (
    (3, "teguran_lisan", "Teguran lisan"),
    (4, "teguran_tertulis", "Teguran tertulis"),
    (7, "pernyataan_tidak_puas", "Pernyataan tidak puas secara tertulis"),
    (11, "pemotongan_tukin_25", "Pemotongan tunjangan kinerja 25%"),
    (21, "penurunan_jabatan", "Penurunan jabatan / pembebasan dari jabatan"),
    (28, "pemberhentian", "Pemberhentian"),
)
CONSECUTIVE_DISMISSAL = 10
WARN_MARGIN_DAYS = 1.0
WARN_STREAK = 7


def parse_month(text: str) -> tuple[date, date]:
    """First and last day of ``YYYY-MM``; ApiError naming ``month`` otherwise."""
    m = MONTH_RE.fullmatch(text)
    if not m or not 2000 <= int(m[1]) <= 2100:
        raise invalid(f"month: must be YYYY-MM (2000-2100), got {text!r}")
    first = date(int(m[1]), int(m[2]), 1)
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


@dataclass
class _Tally:
    working: int = 0
    present: int = 0
    tk: int = 0
    single: int = 0
    tl_minutes: int = 0
    psw_minutes: int = 0
    tpp: float = 0.0

    def __post_init__(self) -> None:
        self.tl: dict[str, int] = {f"TL{i}": 0 for i in range(1, BANDS + 1)}
        self.psw: dict[str, int] = {f"PSW{i}": 0 for i in range(1, BANDS + 1)}
        self.absences: dict[str, int] = {}

    def add(self, r: Any, n: int, rates: dict[str, float], sign: int = 1) -> None:
        """Add ``n`` days of one kind of row (status, tl, psw, absence_kind...)."""
        if not r.working:
            return
        k = n * sign
        self.working += k
        if r.status == "hadir":
            self.present += k
            if r.single_punch:
                self.single += k
        elif r.status == "tk":
            self.tk += k
            self.tpp += k * rates.get("TK", 0.0)
        elif r.status == "absence" and r.absence_kind:
            self.absences[r.absence_kind] = self.absences.get(r.absence_kind, 0) + k
        if r.tl:
            self.tl[r.tl] = self.tl.get(r.tl, 0) + k
            self.tpp += k * rates.get(r.tl, 0.0)
        if r.psw:
            self.psw[r.psw] = self.psw.get(r.psw, 0) + k
            self.tpp += k * rates.get(r.psw, 0.0)


def _day_summary(r: DayResult) -> dict[str, Any]:
    return {
        "status": r.status,
        "working": r.working,
        "tl": r.tl,
        "psw": r.psw,
        "absence_kind": r.absence_kind,
        "opd_code": r.opd_code,
    }


class Recaps:
    """Reports and month closing over one ledger."""

    def __init__(self, db: Database, ledger: Ledger, settings: ServerSettings) -> None:
        self.db = db
        self.ledger = ledger
        self.settings = settings

    # ------------------------------------------------------------------ TPP tables

    def tpp_tables(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return self._tpp_tables(conn)

    @staticmethod
    def _tpp_tables(conn: Connection) -> list[dict[str, Any]]:
        return [
            {
                "valid_from": r.valid_from.isoformat(),
                "valid_to": r.valid_to.isoformat() if r.valid_to else None,
                "rates": json.loads(r.data),
            }
            for r in conn.execute(select(TppTable).order_by(TppTable.valid_from))
        ]

    def put_tpp_table(
        self, valid_from: date, valid_to: date | None, rates: dict[str, float]
    ) -> dict[str, Any]:
        """Store a deduction table; refuses unknown bands, bad percents, overlaps, closed months."""
        unknown = sorted(set(rates) - set(DEFAULT_TPP))
        if unknown:
            raise invalid(f"rates: unknown key {unknown[0]!r} (known: {', '.join(DEFAULT_TPP)})")
        for key, value in rates.items():
            if not isinstance(value, int | float) or not 0 <= value <= 100:
                raise invalid(f"rates.{key}: a percent 0-100, got {value!r}")
        if valid_to is not None and valid_to < valid_from:
            raise invalid(f"valid_to: {valid_to} is before valid_from {valid_from}")
        full = {**DEFAULT_TPP, **{k: float(v) for k, v in rates.items()}}
        with self.db.write() as conn:
            for t in self._tpp_tables(conn):
                start = date.fromisoformat(t["valid_from"])
                end = date.fromisoformat(t["valid_to"]) if t["valid_to"] else date.max
                if start <= (valid_to or date.max) and valid_from <= end and start != valid_from:
                    raise ApiError(
                        409,
                        "overlap",
                        f"valid_from: overlaps the table valid from {t['valid_from']}",
                    )
            closed = self._closed(conn)
            if any(m >= month_of(valid_from) for m in closed):
                raise ApiError(
                    409, "month_closed", f"valid_from: {month_of(valid_from)} or later is closed"
                )
            conn.execute(delete(TppTable).where(TppTable.valid_from == valid_from))
            conn.execute(
                insert(TppTable).values(
                    valid_from=valid_from, valid_to=valid_to, data=json.dumps(full)
                )
            )
        return {
            "valid_from": valid_from.isoformat(),
            "valid_to": valid_to.isoformat() if valid_to else None,
            "rates": full,
        }

    @staticmethod
    def _rate_periods(
        conn: Connection, first: date, last: date
    ) -> list[tuple[date, date, dict[str, float]]]:
        """``[(from, to, rates)]`` covering ``first..last`` (defaults where no table)."""
        tables = [
            (r.valid_from, r.valid_to or date.max, {**DEFAULT_TPP, **json.loads(r.data)})
            for r in conn.execute(select(TppTable).order_by(TppTable.valid_from))
        ]
        periods: list[tuple[date, date, dict[str, float]]] = []
        day = first
        while day <= last:
            current = next(((s, e, r) for s, e, r in tables if s <= day <= e), None)
            if current is not None:
                end = min(current[1], last)
                periods.append((day, end, current[2]))
            else:
                nxt = min((s for s, _, _ in tables if s > day), default=last + timedelta(1))
                end = min(nxt - timedelta(days=1), last)
                periods.append((day, end, dict(DEFAULT_TPP)))
            day = end + timedelta(days=1)
        return periods

    def _rates_on(self, conn: Connection, day: date) -> dict[str, float]:
        return self._rate_periods(conn, day, day)[0][2]

    # ------------------------------------------------------------------ months

    @staticmethod
    def _closed(conn: Connection) -> set[str]:
        return set(conn.execute(select(MonthClosure.month)).scalars())

    def closed_months(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [
                {"month": r.month, "closed_by": r.closed_by, "closed_utc": format_utc(r.closed_utc)}
                for r in conn.execute(select(MonthClosure).order_by(MonthClosure.month))
            ]

    def _opd(self, conn: Connection, code: str) -> dict[str, Any]:
        row = conn.execute(select(Opd).where(Opd.code == code)).first()
        if row is not None:
            return {
                "opd": code,
                "opd_name": row.name,
                "head_nip": row.head_nip,
                "head_name": row.head_name,
            }
        known = (
            conn.execute(
                select(LedgerDay.opd_code).where(LedgerDay.opd_code == code).limit(1)
            ).first()
            or conn.execute(
                select(Employee.opd_code).where(Employee.opd_code == code).limit(1)
            ).first()
        )
        if known is None:
            raise not_found(f"opd: unknown OPD {code!r}")
        return {"opd": code, "opd_name": code, "head_nip": None, "head_name": None}

    def monthly(self, opd_code: str, month: str, catch_up: bool = True) -> dict[str, Any]:
        """The recap of one OPD and month (see the module docstring for the shape)."""
        first, last = parse_month(month)
        if catch_up:
            self.ledger.catch_up()
        with self.db.read() as conn:
            head = self._opd(conn, opd_code)
            snap = conn.execute(
                select(RecapSnapshot.data).where(
                    RecapSnapshot.month == month, RecapSnapshot.opd_code == opd_code
                )
            ).first()
            if snap is not None:
                data: dict[str, Any] = json.loads(snap[0])
                return data
            closed = self._closed(conn)
            if month in closed:
                return {**head, "month": month, "closed": True, "employees": []}
            return self._compute(conn, head, opd_code, month, first, last, closed)

    def monthly_all(self, month: str) -> list[dict[str, Any]]:
        """Every OPD's recap of ``month`` (one aggregation over the regency)."""
        first, last = parse_month(month)
        self.ledger.catch_up()
        with self.db.read() as conn:
            snaps = {
                code: json.loads(data)
                for code, data in conn.execute(
                    select(RecapSnapshot.opd_code, RecapSnapshot.data).where(
                        RecapSnapshot.month == month
                    )
                )
            }
            closed = self._closed(conn)
            if month in closed:
                return [snaps[c] for c in sorted(snaps)]
            grouped, types = self._tallies(conn, first, last, None)
            names = self._names(conn, sorted(types))
            out = []
            for code in sorted(grouped):
                head = self._opd(conn, code)
                out.append(
                    self._render(conn, head, code, month, closed, grouped[code], types, names)
                )
            return out

    def _compute(
        self,
        conn: Connection,
        head: dict[str, Any],
        opd_code: str,
        month: str,
        first: date,
        last: date,
        closed: set[str],
    ) -> dict[str, Any]:
        grouped, types = self._tallies(conn, first, last, opd_code)
        tallies = grouped.get(opd_code, {})
        return self._render(conn, head, opd_code, month, closed, tallies, types)

    def _tallies(
        self, conn: Connection, first: date, last: date, opd_code: str | None
    ) -> tuple[dict[str, dict[str, _Tally]], dict[str, tuple[date, str]]]:
        """``{opd: {nip: tally}}`` of ``first..last`` (one OPD, or all when None)."""
        grouped: dict[str, dict[str, _Tally]] = {}
        types: dict[str, tuple[date, str]] = {}
        for start, end, rates in self._rate_periods(conn, first, last):
            cond: list[ColumnElement[bool]] = [LedgerDay.work_date.between(start, end)]
            if opd_code is not None:
                cond.append(LedgerDay.opd_code == opd_code)
            rows = conn.execute(
                select(
                    LedgerDay.opd_code,
                    LedgerDay.nip,
                    LedgerDay.status,
                    LedgerDay.working,
                    LedgerDay.tl,
                    LedgerDay.psw,
                    LedgerDay.absence_kind,
                    LedgerDay.single_punch,
                    func.count().label("n"),
                    func.sum(LedgerDay.tl_minutes).label("tl_minutes"),
                    func.sum(LedgerDay.psw_minutes).label("psw_minutes"),
                    func.max(LedgerDay.work_date).label("last_day"),
                    func.max(LedgerDay.employment_type).label("employment_type"),
                )
                .where(*cond)
                .group_by(
                    LedgerDay.opd_code,
                    LedgerDay.nip,
                    LedgerDay.status,
                    LedgerDay.working,
                    LedgerDay.tl,
                    LedgerDay.psw,
                    LedgerDay.absence_kind,
                    LedgerDay.single_punch,
                )
            )
            for r in rows:
                opd = grouped.get(r.opd_code)
                if opd is None:
                    opd = grouped[r.opd_code] = {}
                t = opd.get(r.nip)
                if t is None:
                    t = opd[r.nip] = _Tally()
                t.add(r, int(r.n), rates)
                if r.working:
                    t.tl_minutes += int(r.tl_minutes or 0)
                    t.psw_minutes += int(r.psw_minutes or 0)
                seen = types.get(r.nip)
                if seen is None or r.last_day > seen[0]:
                    types[r.nip] = (r.last_day, r.employment_type)
        return grouped, types

    def _render(
        self,
        conn: Connection,
        head: dict[str, Any],
        opd_code: str,
        month: str,
        closed: set[str],
        tallies: dict[str, _Tally],
        types: dict[str, tuple[date, str]],
        names: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        adjustments: dict[str, list[dict[str, Any]]] = {}
        if self._earliest_open(conn, closed) == month:
            adjustments = self._adjustments(conn, opd_code, tallies)
        missing = [n for n in tallies if names is None or n not in names]
        names = {**(names or {}), **self._names(conn, missing)} if missing else (names or {})
        employees = []
        for nip, t in tallies.items():
            employees.append(
                {
                    "nip": nip,
                    "name": names.get(nip, ""),
                    "employment_type": types[nip][1] if nip in types else "",
                    "working_days": t.working,
                    "present_days": t.present,
                    "tl": dict(t.tl),
                    "tl_minutes": t.tl_minutes,
                    "psw": dict(t.psw),
                    "psw_minutes": t.psw_minutes,
                    "tk_days": t.tk,
                    "absences": dict(sorted(t.absences.items())),
                    "single_punch_days": t.single,
                    "tpp_deduction_percent": round(min(100.0, max(0.0, t.tpp)), 2),
                    "tpp_adjustment_percent": round(
                        sum(a["tpp_delta_percent"] for a in adjustments.get(nip, [])), 2
                    ),
                    "adjustments": adjustments.get(nip, []),
                }
            )
        employees.sort(key=lambda e: (e["name"], e["nip"]))
        return {**head, "month": month, "closed": False, "employees": employees}

    def _earliest_open(self, conn: Connection, closed: set[str]) -> str | None:
        if not closed:
            return None
        latest = max(closed)
        _, last = parse_month(latest)
        return month_of(last + timedelta(days=1))

    def _adjustments(
        self, conn: Connection, opd_code: str, tallies: dict[str, _Tally]
    ) -> dict[str, list[dict[str, Any]]]:
        """Changed days of closed months, booked to their OPD of the time."""
        found: dict[str, list[dict[str, Any]]] = {}
        pending = conn.execute(select(LedgerDay).where(LedgerDay.pending_adjustment.is_(True)))
        for row in pending:
            now_result = result_from_row(row)
            before_row = conn.execute(
                select(LedgerBooked).where(
                    LedgerBooked.nip == row.nip, LedgerBooked.work_date == row.work_date
                )
            ).first()
            before = result_from_row(before_row) if before_row is not None else None
            owner = before.opd_code if before is not None else now_result.opd_code
            if owner != opd_code:
                continue
            rates = self._rates_on(conn, row.work_date)
            t = tallies.setdefault(row.nip, _Tally())
            tpp_before = t.tpp
            if before is not None:
                t.add(before, 1, rates, sign=-1)
            t.add(now_result, 1, rates)
            found.setdefault(row.nip, []).append(
                {
                    "work_date": row.work_date.isoformat(),
                    "month": month_of(row.work_date),
                    "before": _day_summary(before) if before is not None else None,
                    "after": _day_summary(now_result),
                    "tpp_delta_percent": round(t.tpp - tpp_before, 2),
                }
            )
        return found

    @staticmethod
    def _names(conn: Connection, nips: Sequence[str]) -> dict[str, str]:
        names: dict[str, str] = {}
        for i in range(0, len(nips), 900):
            part = list(nips[i : i + 900])
            names.update(
                {
                    n: name
                    for n, name in conn.execute(
                        select(Employee.nip, Employee.name).where(Employee.nip.in_(part))
                    )
                }
            )
        return names

    def close_month(self, month: str, closed_by: str, force_early: bool = False) -> dict[str, Any]:
        """Tutup buku: freeze the recaps of ``month`` and book pending adjustments."""
        first, last = parse_month(month)
        closed_by = closed_by.strip()
        if not closed_by or len(closed_by) > 100:
            raise invalid("closed_by: who closes the month (1-100 characters) is required")
        today = self.ledger.today()
        allowed = last + timedelta(days=self.settings.close_month_after_day)
        if today < allowed and not force_early:
            raise ApiError(
                409,
                "too_early",
                f"month: {month} can be closed from {allowed} "
                f"([server] close_month_after_day = {self.settings.close_month_after_day})",
            )
        self.ledger.catch_up()
        with self.db.write() as conn:
            closed = self._closed(conn)
            if month in closed:
                raise ApiError(409, "month_closed", f"month: {month} is already closed")
            earlier = conn.execute(
                select(func.min(LedgerDay.work_date)).where(LedgerDay.work_date < first)
            ).scalar()
            if earlier is not None:
                day = earlier
                while day < first:
                    m = month_of(day)
                    if m not in closed:
                        raise ApiError(
                            409, "earlier_month_open", f"month: close {m} before {month}"
                        )
                    day = parse_month(m)[1] + timedelta(days=1)
            if closed and max(closed) > month:
                raise ApiError(409, "month_closed", f"month: a later month {max(closed)} is closed")
            codes = sorted(
                set(
                    conn.execute(
                        select(LedgerDay.opd_code)
                        .where(LedgerDay.work_date.between(first, last))
                        .distinct()
                    ).scalars()
                )
            )
            if closed:
                pending_owners = set()
                for row in conn.execute(
                    select(LedgerDay.opd_code).where(LedgerDay.pending_adjustment.is_(True))
                ).scalars():
                    pending_owners.add(row)
                for row in conn.execute(
                    select(LedgerBooked.opd_code).where(
                        LedgerBooked.nip.in_(
                            select(LedgerDay.nip).where(LedgerDay.pending_adjustment.is_(True))
                        )
                    )
                ).scalars():
                    pending_owners.add(row)
                codes = sorted(set(codes) | pending_owners)
            total = 0
            for code in codes:
                recap = self._compute(conn, self._opd(conn, code), code, month, first, last, closed)
                recap["closed"] = True
                total += len(recap["employees"])
                conn.execute(
                    insert(RecapSnapshot).values(
                        month=month, opd_code=code, data=json.dumps(recap, ensure_ascii=False)
                    )
                )
            # Book this month's rows, and the adjustments it reported.
            columns = [c.name for c in LedgerBooked.__table__.columns]
            pending_keys = select(LedgerDay.nip, LedgerDay.work_date).where(
                LedgerDay.pending_adjustment.is_(True)
            )
            conn.execute(
                delete(LedgerBooked).where(
                    _tuple_in(LedgerBooked.nip, LedgerBooked.work_date, pending_keys)
                )
            )
            source = select(*[getattr(LedgerDay, c) for c in columns]).where(
                LedgerDay.work_date.between(first, last) | LedgerDay.pending_adjustment.is_(True)
            )
            conn.execute(insert(LedgerBooked).from_select(columns, source))
            conn.execute(
                update(LedgerDay)
                .where(LedgerDay.pending_adjustment.is_(True))
                .values(pending_adjustment=False)
            )
            now = self.settings.clock()
            conn.execute(
                insert(MonthClosure).values(month=month, closed_by=closed_by, closed_utc=to_db(now))
            )
        return {
            "month": month,
            "closed": True,
            "closed_by": closed_by,
            "opds": len(codes),
            "employees": total,
        }

    # ------------------------------------------------------------------ roll call

    def roll_call(self, opd_code: str, day: date | None = None) -> dict[str, Any]:
        """Who is present, late, not yet arrived or on leave in one OPD on ``day`` (today)."""
        self.ledger.catch_up()
        day = day or self.ledger.today()
        with self.db.read() as conn:
            head = self._opd(conn, opd_code)
            nips = set(
                conn.execute(select(Employee.nip).where(Employee.opd_code == opd_code)).scalars()
            )
            nips.update(
                conn.execute(
                    select(EmployeeAssignment.nip).where(EmployeeAssignment.opd_code == opd_code)
                ).scalars()
            )
            rows = {
                r.nip: r
                for r in conn.execute(
                    select(LedgerDay).where(LedgerDay.work_date == day, LedgerDay.nip.in_(nips))
                )
            }
            assigned = load_assignments(conn, sorted(nips))
            rules = self.ledger.rules(conn)
            names = self._names(conn, sorted(nips))
        present: list[dict[str, Any]] = []
        late: list[dict[str, Any]] = []
        not_yet: list[dict[str, Any]] = []
        on_leave: list[dict[str, Any]] = []
        for nip in sorted(nips, key=lambda n: (names.get(n, ""), n)):
            a = assignment_on(assigned.get(nip, []), day)
            if a is None or a.opd_code != opd_code:
                continue
            item: dict[str, Any] = {"nip": nip, "name": names.get(nip, "")}
            row = rows.get(nip)
            if row is None:
                summary = rules.summarize(a.schedule_group, day, [])
                if summary.is_workday:
                    not_yet.append(item)
                continue
            if row.masuk_utc is not None:
                local = row.masuk_utc.replace(tzinfo=UTC)
                item["masuk_local"] = local.astimezone(self.ledger.tz).strftime("%H:%M")
            if row.status == "absence":
                on_leave.append({**item, "absence_kind": row.absence_kind})
            elif row.status in ("hadir", "libur") and row.masuk_utc is not None:
                if row.tl:
                    late.append({**item, "tl": row.tl, "late_minutes": row.tl_minutes})
                else:
                    present.append(item)
            elif row.working:
                not_yet.append(item)
        return {
            **head,
            "date": day.isoformat(),
            "counts": {
                "present": len(present),
                "late": len(late),
                "not_yet": len(not_yet),
                "on_leave": len(on_leave),
            },
            "present": present,
            "late": late,
            "not_yet": not_yet,
            "on_leave": on_leave,
        }

    # ------------------------------------------------------------------ discipline

    def discipline(self, year: int, opd_code: str | None = None) -> dict[str, Any]:
        """Unexcused absence per employee in ``year`` with PP 94/2021 levels and warnings."""
        if not 2000 <= year <= 2100:
            raise invalid(f"year: 2000-2100, got {year}")
        self.ledger.catch_up()
        hours = self.settings.discipline_hours_per_day
        first, last = date(year, 1, 1), date(year, 12, 31)
        with self.db.read() as conn:
            cond = [LedgerDay.work_date.between(first, last), LedgerDay.working.is_(True)]
            if opd_code:
                self._opd(conn, opd_code)
                cond.append(
                    LedgerDay.nip.in_(
                        select(LedgerDay.nip)
                        .where(LedgerDay.opd_code == opd_code, *cond)
                        .distinct()
                    )
                )
            agg = conn.execute(
                select(
                    LedgerDay.nip,
                    func.sum(_case(LedgerDay.status == "tk")).label("tk"),
                    func.sum(LedgerDay.tl_minutes).label("tl"),
                    func.sum(LedgerDay.psw_minutes).label("psw"),
                    func.max(LedgerDay.opd_code).label("opd"),
                )
                .where(*cond)
                .group_by(LedgerDay.nip)
            ).all()
            streak_nips = [r.nip for r in agg if int(r.tk or 0) >= WARN_STREAK]
            streaks = self._streaks(conn, streak_nips, first, last)
            names = self._names(conn, [r.nip for r in agg])
        employees = []
        warnings = []
        for r in agg:
            tk = int(r.tk or 0)
            minutes = int(r.tl or 0) + int(r.psw or 0)
            equivalent = round(tk + minutes / (hours * 60), 2)
            streak = streaks.get(r.nip, 0)
            level = _level(equivalent, streak)
            entry = {
                "nip": r.nip,
                "name": names.get(r.nip, ""),
                "opd": r.opd,
                "tk_days": tk,
                "tl_psw_minutes": minutes,
                "equivalent_days": equivalent,
                "longest_tk_streak": streak,
                "level": level[0] if level else None,
                "level_label": level[1] if level else None,
            }
            nxt = next((t for t, _, _ in DISCIPLINE_LEVELS if t > equivalent), None)
            reasons = []
            if nxt is not None and nxt - equivalent <= WARN_MARGIN_DAYS:
                reasons.append(f"{nxt - equivalent:.2f} hari lagi menuju tingkat berikutnya")
            if WARN_STREAK <= streak < CONSECUTIVE_DISMISSAL:
                reasons.append(
                    f"{streak} hari kerja berturut-turut tanpa keterangan "
                    f"(batas {CONSECUTIVE_DISMISSAL})"
                )
            if reasons:
                warnings.append({**entry, "reasons": reasons})
            if level or reasons or tk or minutes:
                employees.append(entry)
        employees.sort(key=lambda e: (-e["equivalent_days"], e["nip"]))
        warnings.sort(key=lambda e: (-e["equivalent_days"], e["nip"]))
        return {
            "year": year,
            "opd": opd_code,
            "hours_per_day": hours,
            "employees": employees,
            "warnings": warnings,
        }

    @staticmethod
    def _streaks(conn: Connection, nips: Sequence[str], first: date, last: date) -> dict[str, int]:
        streaks: dict[str, int] = {}
        for i in range(0, len(nips), 200):
            part = list(nips[i : i + 200])
            current: dict[str, int] = {}
            for nip, status in conn.execute(
                select(LedgerDay.nip, LedgerDay.status)
                .where(
                    LedgerDay.nip.in_(part),
                    LedgerDay.work_date.between(first, last),
                    LedgerDay.working.is_(True),
                )
                .order_by(LedgerDay.nip, LedgerDay.work_date)
            ):
                run = current.get(nip, 0) + 1 if status == "tk" else 0
                current[nip] = run
                streaks[nip] = max(streaks.get(nip, 0), run)
        return streaks

    # ------------------------------------------------------------------ comparison

    def comparison(self, month: str) -> dict[str, Any]:
        """Attendance and punctuality rates of every OPD in ``month``."""
        first, last = parse_month(month)
        self.ledger.catch_up()
        with self.db.read() as conn:
            rows = conn.execute(
                select(
                    LedgerDay.opd_code,
                    func.count(func.distinct(LedgerDay.nip)).label("employees"),
                    func.sum(_case(LedgerDay.working.is_(True))).label("working"),
                    func.sum(_case(LedgerDay.status == "hadir")).label("present"),
                    func.sum(_case(LedgerDay.status == "tk")).label("tk"),
                    func.sum(_case(LedgerDay.status == "absence")).label("absence"),
                    func.sum(_case((LedgerDay.status == "hadir") & LedgerDay.tl.is_(None))).label(
                        "on_time"
                    ),
                )
                .where(LedgerDay.work_date.between(first, last), LedgerDay.working.is_(True))
                .group_by(LedgerDay.opd_code)
            ).all()
            names = {c: n for c, n in conn.execute(select(Opd.code, Opd.name))}
        opds = []
        for r in rows:
            expected = int(r.working or 0) - int(r.absence or 0)
            present = int(r.present or 0)
            opds.append(
                {
                    "opd": r.opd_code,
                    "opd_name": names.get(r.opd_code, r.opd_code),
                    "employees": int(r.employees),
                    "working_days": int(r.working or 0),
                    "present_days": present,
                    "tk_days": int(r.tk or 0),
                    "absence_days": int(r.absence or 0),
                    "attendance_rate": round(present / expected, 4) if expected else None,
                    "punctuality_rate": round(int(r.on_time or 0) / present, 4)
                    if present
                    else None,
                }
            )
        opds.sort(key=lambda o: (-(o["attendance_rate"] or 0), o["opd"]))
        return {"month": month, "opds": opds}


def _case(cond: Any) -> Any:
    return case((cond, 1), else_=0)


def _tuple_in(a: Any, b: Any, subquery: Any) -> Any:
    return tuple_(a, b).in_(subquery)


def _level(equivalent: float, streak: int) -> tuple[str, str] | None:
    found: tuple[str, str] | None = None
    for threshold, code, label in DISCIPLINE_LEVELS:
        if equivalent >= threshold:
            found = (code, label)
    if streak >= CONSECUTIVE_DISMISSAL:
        found = ("pemberhentian", "Pemberhentian (10 hari kerja berturut-turut)")
    return found
