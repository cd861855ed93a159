"""Organisation: OPDs / units and the dated assignment of employees to them.

Public API (used by the admin API, the CLI and the web console):

- :class:`Organisation` ``(db, clock)``:
  ``put_opd(code, name, parent_code=None, head_nip=None, head_name=None)``,
  ``list_opds() -> [{"code", "name", "parent_code", "head_nip", "head_name"}]``,
  ``get_opd(code)``, ``assign(nip, valid_from, opd_code, schedule_group,
  employment_type)`` (a transfer, mutasi: closes the open assignment the day
  before and queues the ledger days from ``valid_from`` on),
  ``assignments(nip) -> [{"valid_from", "valid_to", "opd_code",
  "schedule_group", "employment_type"}]``.
- :func:`load_assignments` ``(conn, nips)``: what the ledger uses.

An employee with no assignment row is in the OPD, group and type of their
``employees`` row on every date (the roster import keeps working as before).
Employment types are ``PNS``, ``PPPK`` and ``PPPK_PARUH_WAKTU``; the rules are
the same for all three.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from server.db import Database
from server.errors import ApiError, invalid, not_found
from server.ingest import NIP_RE, one_of
from server.ledger_models import EmployeeAssignment, LedgerDay, Opd
from server.ledger_queue import enqueue
from server.models import Employee
from server.roster import EMPLOYEE_TYPES, GROUP_RE, OPD_RE
from server.timeutil import to_db

EMPLOYMENT_TYPES = ("PNS", "PPPK", "PPPK_PARUH_WAKTU")
EARLIEST = date(1900, 1, 1)


@dataclass(frozen=True)
class Assignment:
    """OPD, schedule group and employment type over inclusive dates (``valid_to`` None = open)."""

    valid_from: date
    valid_to: date | None
    opd_code: str
    schedule_group: str
    employment_type: str

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def as_json(self) -> dict[str, Any]:
        return {
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "opd_code": self.opd_code,
            "schedule_group": self.schedule_group,
            "employment_type": self.employment_type,
        }


def load_assignments(conn: Connection, nips: Sequence[str]) -> dict[str, list[Assignment]]:
    """Every assignment of ``nips`` (the employees row when there is none), by valid_from."""
    found: dict[str, list[Assignment]] = {}
    if not nips:
        return found
    rows = conn.execute(
        select(
            EmployeeAssignment.nip,
            EmployeeAssignment.valid_from,
            EmployeeAssignment.valid_to,
            EmployeeAssignment.opd_code,
            EmployeeAssignment.schedule_group,
            EmployeeAssignment.employment_type,
        )
        .where(one_of(conn, EmployeeAssignment.nip, list(nips)))
        .order_by(EmployeeAssignment.nip, EmployeeAssignment.valid_from)
    )
    for nip, start, end, opd, group, kind in rows:
        found.setdefault(nip, []).append(Assignment(start, end, opd, group, kind))
    missing = [n for n in nips if n not in found]
    if missing:
        for nip, opd, group, kind, active in conn.execute(
            select(
                Employee.nip,
                Employee.opd_code,
                Employee.schedule_group,
                Employee.employee_type,
                Employee.active,
            ).where(one_of(conn, Employee.nip, missing))
        ):
            if active:
                found[nip] = [Assignment(EARLIEST, None, opd, group, kind)]
    return found


def assignment_on(assignments: Sequence[Assignment], day: date) -> Assignment | None:
    for a in assignments:
        if a.covers(day):
            return a
    return None


def _opd_json(row: Any) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "parent_code": row.parent_code,
        "head_nip": row.head_nip,
        "head_name": row.head_name,
    }


class Organisation:
    """OPDs and assignments; every write is one transaction."""

    def __init__(self, db: Database, clock: Callable[[], datetime], today: Callable[[], date]):
        self.db = db
        self.clock = clock
        self.today = today

    def put_opd(
        self,
        code: str,
        name: str,
        parent_code: str | None = None,
        head_nip: str | None = None,
        head_name: str | None = None,
    ) -> dict[str, Any]:
        """Create or update an OPD / unit; refuses an unknown parent or a cycle."""
        if not OPD_RE.fullmatch(code):
            raise invalid(f"code: letters, digits, . _ - (1-32 characters), got {code!r}")
        if not name.strip() or len(name) > 200:
            raise invalid("name: 1-200 characters")
        if head_nip is not None and not NIP_RE.fullmatch(head_nip):
            raise invalid(f"head_nip: must be 18 digits, got {head_nip!r}")
        with self.db.write() as conn:
            if parent_code is not None:
                seen = {code}
                cursor: str | None = parent_code
                while cursor is not None:
                    if cursor in seen:
                        raise invalid(f"parent_code: {parent_code!r} would make a cycle")
                    seen.add(cursor)
                    parent = conn.execute(select(Opd.parent_code).where(Opd.code == cursor)).first()
                    if parent is None:
                        raise invalid(f"parent_code: unknown OPD {cursor!r}")
                    cursor = parent[0]
            values = {
                "name": name.strip(),
                "parent_code": parent_code,
                "head_nip": head_nip,
                "head_name": head_name,
                "updated_utc": to_db(self.clock()),
            }
            exists = conn.execute(select(Opd.code).where(Opd.code == code)).first()
            if exists:
                conn.execute(update(Opd).where(Opd.code == code).values(**values))
            else:
                conn.execute(insert(Opd).values(code=code, **values))
        return {"code": code, **{k: v for k, v in values.items() if k != "updated_utc"}}

    def list_opds(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [_opd_json(r) for r in conn.execute(select(Opd).order_by(Opd.code))]

    def get_opd(self, code: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(select(Opd).where(Opd.code == code)).first()
        if row is None:
            raise not_found(f"opd: unknown OPD {code!r}")
        return _opd_json(row)

    def assignments(self, nip: str) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            _known_employee(conn, nip)
            return [a.as_json() for a in load_assignments(conn, [nip]).get(nip, [])]

    def assign(
        self,
        nip: str,
        valid_from: date,
        opd_code: str,
        schedule_group: str,
        employment_type: str,
    ) -> list[dict[str, Any]]:
        """From ``valid_from`` on, ``nip`` works in ``opd_code`` (a transfer splits a month).

        Assignments that started on or after ``valid_from`` are replaced. The
        ledger days from ``valid_from`` to today are queued for recomputation.
        """
        kind = EMPLOYEE_TYPES.get(employment_type.strip().upper())
        if kind is None:
            raise invalid(
                f"employment_type: one of {', '.join(EMPLOYMENT_TYPES)}, got {employment_type!r}"
            )
        if not GROUP_RE.fullmatch(schedule_group):
            raise invalid(f"schedule_group: 1-64 letters/digits, got {schedule_group!r}")
        if not date(2000, 1, 1) <= valid_from <= self.today() + timedelta(days=366):
            raise invalid(f"valid_from: {valid_from} is not a plausible date")
        now = self.clock()
        with self.db.write() as conn:
            employee = _known_employee(conn, nip)
            if conn.execute(select(Opd.code).where(Opd.code == opd_code)).first() is None:
                raise invalid(f"opd_code: unknown OPD {opd_code!r} (create it first)")
            has_rows = conn.execute(
                select(EmployeeAssignment.id).where(EmployeeAssignment.nip == nip).limit(1)
            ).first()
            if not has_rows:
                # The roster row held until now becomes the first assignment.
                conn.execute(
                    insert(EmployeeAssignment).values(
                        nip=nip,
                        valid_from=EARLIEST,
                        valid_to=None,
                        opd_code=employee.opd_code,
                        schedule_group=employee.schedule_group,
                        employment_type=employee.employee_type,
                        created_utc=to_db(now),
                    )
                )
            conn.execute(
                delete(EmployeeAssignment).where(
                    EmployeeAssignment.nip == nip, EmployeeAssignment.valid_from >= valid_from
                )
            )
            conn.execute(
                update(EmployeeAssignment)
                .where(
                    EmployeeAssignment.nip == nip,
                    (EmployeeAssignment.valid_to.is_(None))
                    | (EmployeeAssignment.valid_to >= valid_from),
                )
                .values(valid_to=valid_from - timedelta(days=1))
            )
            conn.execute(
                insert(EmployeeAssignment).values(
                    nip=nip,
                    valid_from=valid_from,
                    valid_to=None,
                    opd_code=opd_code,
                    schedule_group=schedule_group,
                    employment_type=kind,
                    created_utc=to_db(now),
                )
            )
            first = conn.execute(
                select(LedgerDay.work_date)
                .where(LedgerDay.nip == nip)
                .order_by(LedgerDay.work_date)
                .limit(1)
            ).scalar()
            start = max(valid_from, first) if first is not None else valid_from
            last = self.today()
            days = (last - start).days
            enqueue(conn, ((nip, start + timedelta(days=i)) for i in range(days + 1)), now)
            return [a.as_json() for a in load_assignments(conn, [nip]).get(nip, [])]


def _known_employee(conn: Connection, nip: str) -> Any:
    if not NIP_RE.fullmatch(nip):
        raise invalid(f"nip: must be 18 digits, got {nip!r}")
    row = conn.execute(select(Employee).where(Employee.nip == nip)).first()
    if row is None:
        raise ApiError(404, "not_found", f"nip: unknown employee {nip}")
    return row
