"""The daily ledger: one verdict per employee and working day, kept up to date.

Public API:

- :class:`Ledger` ``(db, settings)``:
  ``catch_up()`` (close ended days, apply changed schedule/calendar
  documents, drain the job queue; called by the server's background worker
  and before every report), ``drain()``, ``rebuild(date_from, date_to,
  nips=None)``, ``rules(conn)`` (the :class:`attendance.rules.PunchRules` the
  server applies), ``today()``, ``day_rows(nip, date_from, date_to)``.
- :class:`DayResult`: what a ledger row says.

The verdict of a day is a pure function of the stored inputs, computed by the
kiosk's own rules engine (:meth:`attendance.rules.PunchRules.summarize`:
schedule for the date, dated variants such as Ramadan, night shifts,
holidays and cuti bersama, TL/PSW bands) from:

- the employee's assignment valid on that date (OPD, schedule group, type:
  :mod:`server.org`),
- every punch in the work period (native kiosk, ADMS, import) plus approved
  corrections (:mod:`server.absences`); originals are never edited,
- an approved absence covering the date (it wins over punches),
- ``today``: a day that has not ended yet is provisional (no TK, no band for
  a missing check-out); when it ends, it is queued again.

Statuses: ``hadir`` (punched; ``tl``/``psw`` hold TL1-TL4 / PSW1-PSW4, both
may apply; a single punch counts the missing one as the last band, the
"no punch" band of the rules), ``tk`` (working day, no punch, no absence),
``absence`` (``absence_kind``), ``libur`` (a day off or holiday with punches;
plain days off without events have no row).

Why a job queue (:mod:`server.ledger_queue`) rather than recomputing inside
the ingest transaction: ingest must keep its throughput (a batch of 1,000
punches would otherwise load rules, assignments and a day of punches per
key while holding the SQLite writer), and several inputs (end of day,
document changes) touch thousands of keys at once. The queue row is written
in the same transaction as the input, so no change is lost; the recompute
of a key runs in the same transaction that deletes its job, under the job's
row lock, so two server processes never compute one key at once and a key
queued again during a computation is computed again afterwards.
``rebuild`` queues every key of the range and drains them through the same
code, so a rebuild gives exactly the incremental result
(``tests/test_ledger.py`` checks this over random arrival orders).

Closed months (:mod:`server.recap`): their rows are still recomputed (the
truth may change), but ``ledger_booked`` keeps what was reported and
``pending_adjustment`` flags a difference, which the next open month's
recap reports as an adjustment.
"""

from __future__ import annotations

import bisect
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from attendance.batches import chunked
from attendance.central import apply_documents
from attendance.config import RulesSection
from attendance.rules import PunchRules
from attendance.schedule import (
    DayPlan,
    HolidayCalendar,
    ScheduleBook,
    holiday_calendar_from_config,
    schedule_book_from_config,
)
from server.db import Database
from server.ingest import one_of
from server.ledger_models import (
    Absence,
    EmployeeAssignment,
    LedgerBooked,
    LedgerDay,
    LedgerJob,
    LedgerState,
    MonthClosure,
    PunchCorrection,
)
from server.ledger_queue import enqueue
from server.models import Change, Employee, Punch
from server.org import EARLIEST, Assignment, assignment_on, load_assignments
from server.settings import ServerSettings

log = logging.getLogger(__name__)

DOCUMENT_KINDS = ("schedule_group", "calendar")
DRAIN_BATCH = 400
REBUILD_CHUNK = 40  # employees per rebuild transaction
STATE_HORIZON = "horizon"
STATE_DOCUMENTS = "documents"
STATE_ROSTER = "roster_seen"


@dataclass(frozen=True)
class DayResult:
    """The verdict of one (employee, date); the columns of ``ledger_days`` and
    ``ledger_booked``."""

    nip: str
    work_date: date
    opd_code: str
    employment_type: str
    schedule_group: str
    status: str  # hadir | tk | absence | libur | void
    working: bool
    tl: str | None
    tl_minutes: int
    psw: str | None
    psw_minutes: int
    single_punch: bool
    absence_kind: str | None
    holiday_name: str | None
    masuk_utc: datetime | None  # naive UTC
    pulang_utc: datetime | None

    def canonical(self) -> str:
        """Stable JSON of the verdict (what ``booked`` stores at month closing)."""
        data = asdict(self)
        for key in ("work_date", "masuk_utc", "pulang_utc"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return json.dumps(data, sort_keys=True)

    @staticmethod
    def from_canonical(text: str) -> DayResult:
        data = json.loads(text)
        data["work_date"] = date.fromisoformat(data["work_date"])
        for key in ("masuk_utc", "pulang_utc"):
            if data[key] is not None:
                data[key] = datetime.fromisoformat(data[key])
        return DayResult(**data)


RESULT_COLUMNS = tuple(f for f in DayResult.__dataclass_fields__)
UPDATED_COLUMNS = (*RESULT_COLUMNS[2:], "pending_adjustment")


def result_from_row(row: Any) -> DayResult:
    return DayResult(**{c: getattr(row, c) for c in RESULT_COLUMNS})


def void_result(nip: str, day: date, booked: DayResult) -> DayResult:
    """A closed month's booked row whose day no longer has a verdict (kept, flagged)."""
    return DayResult(
        nip=nip,
        work_date=day,
        opd_code=booked.opd_code,
        employment_type=booked.employment_type,
        schedule_group=booked.schedule_group,
        status="void",
        working=False,
        tl=None,
        tl_minutes=0,
        psw=None,
        psw_minutes=0,
        single_punch=False,
        absence_kind=None,
        holiday_name=None,
        masuk_utc=None,
        pulang_utc=None,
    )


def compute_day(
    rules: PunchRules,
    nip: str,
    day: date,
    assignment: Assignment | None,
    punches: Sequence[datetime],
    absence_kind: str | None,
    today: date,
    single_punch: tuple[str, str] = ("", ""),
    plans: dict[tuple[str, date], DayPlan] | None = None,
) -> DayResult | None:
    """The verdict of one day; ``punches`` are the person's sorted naive UTC instants
    (any range: only the work period's are used); ``plans`` caches the day plans
    of a batch. None = no row."""
    if assignment is None or day > today:
        return None
    group = assignment.schedule_group
    # Every work period of ``day`` lies within [day 00:00, day+2 00:00) local;
    # summarize() keeps the period's own punches. ``punches`` are naive UTC here.
    start = datetime.combine(day, time(0), tzinfo=rules.tz).astimezone(UTC).replace(tzinfo=None)
    end = start + timedelta(days=2, hours=2)  # a DST-free zone; slack for others
    near = punches[bisect.bisect_left(punches, start) : bisect.bisect_left(punches, end)]
    name = rules.book.group(group).name
    plan = plans.get((name, day)) if plans is not None else None
    if plan is None:
        plan = rules.book.plan(name, day, rules.tz)
        if plans is not None:
            plans[(name, day)] = plan
    summary = rules.summarize(group, day, [p.replace(tzinfo=UTC) for p in near], plan)
    inside = [p for p in (summary.masuk, summary.pulang) if p is not None]
    ended = day < today
    base = DayResult(
        nip=nip,
        work_date=day,
        opd_code=assignment.opd_code,
        employment_type=assignment.employment_type,
        schedule_group=summary_group(rules, group),
        status="libur",
        working=False,
        tl=None,
        tl_minutes=0,
        psw=None,
        psw_minutes=0,
        single_punch=False,
        absence_kind=None,
        holiday_name=summary.holiday_name,
        masuk_utc=_naive(summary.masuk),
        pulang_utc=_naive(summary.pulang),
    )
    if not summary.is_workday:
        return base if inside else None
    if absence_kind is not None:
        return replace(base, status="absence", working=True, absence_kind=absence_kind)
    if not inside:
        return replace(base, status="tk", working=True) if ended else None
    tl, psw = summary.tl, summary.psw
    single = summary.masuk is None or summary.pulang is None
    # The missing punch's band: configured, or the rules' own (the last band).
    if summary.masuk is None and single_punch[0] and tl is not None:
        tl = single_punch[0]
    if summary.pulang is None and single_punch[1] and psw is not None:
        psw = single_punch[1]
    if not ended:
        # The day is still running: a missing check-out is not yet a PSW.
        if summary.pulang is None:
            psw = None
        single = False
    return replace(
        base,
        status="hadir",
        working=True,
        tl=tl,
        tl_minutes=summary.late_minutes or 0,
        psw=psw,
        psw_minutes=summary.early_minutes or 0,
        single_punch=single,
    )


def summary_group(rules: PunchRules, group: str) -> str:
    return group if group in rules.book.groups else rules.book.group(group).name


def _naive(at: datetime | None) -> datetime | None:
    return None if at is None else at.astimezone(UTC).replace(tzinfo=None)


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


class Ledger:
    """The ledger of one server database (every server process has its own instance)."""

    def __init__(self, db: Database, settings: ServerSettings) -> None:
        self.db = db
        self.settings = settings
        self.tz = ZoneInfo(settings.timezone)
        self.rules_section = RulesSection(**settings.rules) if settings.rules else RulesSection()
        self.clock: Callable[[], datetime] = settings.clock
        self._base: tuple[ScheduleBook, HolidayCalendar] | None = None
        self._cached: tuple[str, PunchRules] | None = None

    # ------------------------------------------------------------------ rules

    def today(self, now: datetime | None = None) -> date:
        return (now or self.clock()).astimezone(self.tz).date()

    def _documents(self, conn: Connection) -> dict[str, dict[str, Any]]:
        docs: dict[str, dict[str, Any]] = {k: {} for k in DOCUMENT_KINDS}
        for kind, key, data in conn.execute(
            select(Change.kind, Change.key, Change.data).where(
                Change.kind.in_(DOCUMENT_KINDS), Change.op == "upsert"
            )
        ):
            if data is not None:
                docs[kind][key] = json.loads(data)
        return docs

    def rules(self, conn: Connection) -> PunchRules:
        """The schedules and calendar of config.toml with the central documents laid over."""
        return self._rules_for(self._documents(conn))

    def _rules_for(self, docs: Mapping[str, Mapping[str, Any]]) -> PunchRules:
        key = json.dumps(docs, sort_keys=True)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        if self._base is None:
            self._base = (
                schedule_book_from_config(self.rules_section),
                holiday_calendar_from_config(self.rules_section),
            )
        book, calendar = apply_documents(self._base[0], self._base[1], docs, self.rules_section)
        rules = PunchRules(self.rules_section, book, calendar, self.tz)
        self._cached = (key, rules)
        return rules

    # ------------------------------------------------------------------ catching up

    def catch_up(self, now: datetime | None = None) -> int:
        """Queue ended days and changed documents, then drain; returns keys computed."""
        now = now or self.clock()
        self.sync_roster(now)
        self.queue_ended_days(now)
        self.queue_document_changes(now)
        return self.drain(now)

    def sync_roster(self, now: datetime) -> int:
        """Turn roster changes (``hadir server import-employees``) into dated assignments.

        An employee first seen gets an assignment from the beginning with the
        roster's OPD, group and type; a later roster change of those is a
        transfer from today (unless an assignment entered after the roster
        row is newer: the newer of the two wins); an inactive employee's
        assignment ends yesterday. Returns the employees changed.
        """
        today = self.today(now)
        yesterday = today - timedelta(days=1)
        with self.db.write() as conn:
            raw = _state(conn, STATE_ROSTER)
            stmt = select(
                Employee.nip,
                Employee.opd_code,
                Employee.schedule_group,
                Employee.employee_type,
                Employee.active,
                Employee.updated_utc,
            )
            if raw is not None:
                # Rows written after the last sync. (A roster import stamped before
                # that sync but committed after it would be missed: imports are
                # serialised writers that stamp and commit within one request.)
                stmt = stmt.where(Employee.updated_utc > datetime.fromisoformat(raw))
            rows = conn.execute(stmt).all()
            if not rows:
                return 0
            existing: dict[str, list[Any]] = {}
            nips = [r.nip for r in rows]
            for chunk in chunked(nips, 900):
                for a in conn.execute(
                    select(EmployeeAssignment)
                    .where(one_of(conn, EmployeeAssignment.nip, chunk))
                    .order_by(EmployeeAssignment.valid_from)
                ):
                    existing.setdefault(a.nip, []).append(a)
            inserts: list[dict[str, Any]] = []
            keys: list[tuple[str, date]] = []
            stamp = now.astimezone(UTC).replace(tzinfo=None)
            for r in rows:
                items = existing.get(r.nip, [])
                wanted = (r.opd_code, r.schedule_group, r.employee_type)
                if not items:
                    if r.active:
                        inserts.append(_assignment(r.nip, EARLIEST, wanted, stamp))
                    continue
                current = next((a for a in items if a.valid_to is None), None)
                if current is not None:
                    if current.created_utc > r.updated_utc:
                        continue  # a transfer entered after this roster row
                    held = (current.opd_code, current.schedule_group, current.employment_type)
                    if r.active and held == wanted:
                        continue
                    if current.valid_from <= yesterday:
                        conn.execute(
                            update(EmployeeAssignment)
                            .where(EmployeeAssignment.id == current.id)
                            .values(valid_to=yesterday)
                        )
                    else:
                        conn.execute(
                            delete(EmployeeAssignment).where(EmployeeAssignment.id == current.id)
                        )
                elif not r.active:
                    continue
                if r.active:
                    inserts.append(_assignment(r.nip, today, wanted, stamp))
                keys.append((r.nip, today))
            if inserts:
                conn.execute(insert(EmployeeAssignment), inserts)
            enqueue(conn, keys, now)
            newest = max(r.updated_utc for r in rows)
            _set_state(conn, STATE_ROSTER, newest.isoformat())
            return len(inserts)

    def queue_ended_days(self, now: datetime) -> int:
        """Queue every employee for the day that ended and the day that began.

        A day is computed when it begins (an approved leave shows in the roll
        call) and again when it has ended (no punch becomes TK, a missing
        check-out becomes PSW). ``horizon`` is the last day begun.
        """
        today = self.today(now)
        with self.db.write() as conn:
            raw = _state(conn, STATE_HORIZON)
            start = today if raw is None else date.fromisoformat(raw)
            if raw is not None and start >= today:
                return 0
            nips = self._all_nips(conn)
            days = [start + timedelta(days=i) for i in range((today - start).days + 1)]
            n = enqueue(conn, ((nip, d) for nip in nips for d in days), now)
            _set_state(conn, STATE_HORIZON, today.isoformat())
            return n

    @staticmethod
    def _all_nips(conn: Connection) -> list[str]:
        nips = set(conn.execute(select(Employee.nip)).scalars())
        nips.update(conn.execute(select(EmployeeAssignment.nip).distinct()).scalars())
        return sorted(nips)

    def queue_document_changes(self, now: datetime) -> int:
        """Queue the days a changed schedule group or calendar affects."""
        with self.db.write() as conn:
            docs = self._documents(conn)
            raw = _state(conn, STATE_DOCUMENTS)
            text = json.dumps(docs, sort_keys=True)
            if raw == text:
                return 0
            _set_state(conn, STATE_DOCUMENTS, text)
            if raw is None:
                return 0
            old = json.loads(raw)
            groups = {
                k
                for k in set(old.get("schedule_group", {})) | set(docs["schedule_group"])
                if old.get("schedule_group", {}).get(k) != docs["schedule_group"].get(k)
            }
            old_days = _calendar_days(self._rules_for(old).calendar)
            new_days = _calendar_days(self._rules_for(docs).calendar)
            changed_dates = {d for d in old_days | new_days if old_days.get(d) != new_days.get(d)}
            first = conn.execute(select(LedgerDay.work_date).order_by(LedgerDay.work_date).limit(1))
            first_day = first.scalar()
            today = self.today(now)
            keys: set[tuple[str, date]] = set()
            nips = self._all_nips(conn)
            for d in changed_dates:
                if first_day is not None and first_day <= d <= today:
                    keys.update((nip, d) for nip in nips)
            queued = enqueue(conn, keys, now)
            if groups and first_day is not None:
                # Employee by employee (in NIP order, so lock order stays sorted):
                # a group everyone is in spans millions of keys.
                assigned = load_assignments(conn, nips)
                span = (today - first_day).days + 1
                for nip in sorted(assigned):
                    mine = {
                        (nip, first_day + timedelta(days=i))
                        for a in assigned[nip]
                        if a.schedule_group in groups
                        for i in range(span)
                        if a.covers(first_day + timedelta(days=i))
                    }
                    queued += enqueue(conn, mine, now)
            return queued

    # ------------------------------------------------------------------ draining

    def drain(self, now: datetime | None = None, batch: int = DRAIN_BATCH) -> int:
        """Compute queued keys until the queue is empty (or held by other workers)."""
        now = now or self.clock()
        total = 0
        with self.db.read() as conn:  # nothing queued: no write transaction at all
            if conn.execute(select(LedgerJob.nip).limit(1)).first() is None:
                return 0
        while True:
            with self.db.write() as conn:
                stmt = (
                    select(LedgerJob.nip, LedgerJob.work_date)
                    .order_by(LedgerJob.nip, LedgerJob.work_date)
                    .limit(batch)
                )
                if conn.dialect.name == "postgresql":
                    stmt = stmt.with_for_update(skip_locked=True)
                claimed = [(n, d) for n, d in conn.execute(stmt)]
                if not claimed:
                    return total
                self._process(conn, claimed, now)
                _delete_jobs(conn, claimed)
            total += len(claimed)
            if len(claimed) < batch:
                return total  # the queue was empty (or held by other workers)

    def rebuild(
        self,
        date_from: date,
        date_to: date,
        nips: Sequence[str] | None = None,
        now: datetime | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Recompute every (employee, date) of the range from scratch; returns keys computed.

        Each chunk of employees is computed in one transaction through the
        same code as :meth:`drain`. Queued jobs of those keys are held
        (PostgreSQL: row locks, so a worker computing one of them finishes
        first) and deleted with the transaction; a key queued meanwhile by
        new input is computed again afterwards.
        """
        now = now or self.clock()
        if date_to < date_from:
            raise ValueError(f"--to ({date_to}) is before --from ({date_from})")
        self.sync_roster(now)
        with self.db.read() as conn:
            if nips is None:
                found = set(self._all_nips(conn))
                found.update(
                    conn.execute(
                        select(LedgerDay.nip)
                        .where(LedgerDay.work_date.between(date_from, date_to))
                        .distinct()
                    ).scalars()
                )
                nips = sorted(found)
        days = [date_from + timedelta(days=i) for i in range((date_to - date_from).days + 1)]
        total = 0
        for part in chunked(nips, REBUILD_CHUNK):
            chunk = list(part)
            keys = [(nip, d) for nip in chunk for d in days]
            with self.db.write() as conn:
                held = select(LedgerJob.nip, LedgerJob.work_date).where(
                    one_of(conn, LedgerJob.nip, chunk),
                    LedgerJob.work_date.between(date_from, date_to),
                )
                if conn.dialect.name == "postgresql":
                    # Wait for workers computing these keys, and hold their jobs.
                    held = held.with_for_update()
                queued = [(n, d) for n, d in conn.execute(held)]
                self._process(conn, keys, now, expand=False)
                _delete_jobs(conn, queued)
            claimed = keys
            total += len(claimed)
            if progress is not None:
                progress(total)
        return total

    def _process(
        self,
        conn: Connection,
        keys: Sequence[tuple[str, date]],
        now: datetime,
        expand: bool = True,
    ) -> None:
        """Compute and write the rows of ``keys`` (the caller holds their jobs)."""
        rules = self.rules(conn)
        today = self.today(now)
        nips = sorted({n for n, _ in keys})
        assigned = load_assignments(conn, nips)
        wanted: dict[str, set[date]] = {}
        for nip, d in keys:
            days = wanted.setdefault(nip, set())
            days.add(d)
            if expand:
                # A punch after midnight may belong to the previous work date.
                a = assignment_on(assigned.get(nip, []), d - timedelta(days=1))
                if a is not None and rules.book.group(a.schedule_group).day_start != time(0):
                    days.add(d - timedelta(days=1))
        punches = self._punches(conn, wanted)
        absences = self._absences(conn, wanted)
        closed = set(conn.execute(select(MonthClosure.month)).scalars())
        single_punch = (self.settings.single_punch_tl, self.settings.single_punch_psw)
        plans: dict[tuple[str, date], DayPlan] = {}
        results: list[tuple[str, date, DayResult | None]] = []
        for nip, days in wanted.items():
            times = punches.get(nip, [])
            for d in sorted(days):
                a = assignment_on(assigned.get(nip, []), d)
                kind = _absence_on(absences.get(nip, []), d)
                results.append(
                    (
                        nip,
                        d,
                        compute_day(rules, nip, d, a, times, kind, today, single_punch, plans),
                    )
                )
        self._write(conn, results, closed)

    def _spans(self, wanted: Mapping[str, set[date]]) -> dict[tuple[date, date], list[str]]:
        spans: dict[tuple[date, date], list[str]] = {}
        for nip, days in wanted.items():
            spans.setdefault((min(days), max(days)), []).append(nip)
        return spans

    def _punches(
        self, conn: Connection, wanted: Mapping[str, set[date]]
    ) -> dict[str, list[datetime]]:
        found: dict[str, list[datetime]] = {}
        for (lo, hi), nips in self._spans(wanted).items():
            start = datetime.combine(lo - timedelta(days=1), time(0))
            end = datetime.combine(hi + timedelta(days=3), time(0))
            for nip, at in conn.execute(
                select(Punch.nip, Punch.utc).where(
                    one_of(conn, Punch.nip, nips),
                    Punch.utc >= start,
                    Punch.utc < end,
                    # Held ADMS punches (pending machine, quarantined batch) do
                    # not count until released (server.adms.HELD_FLAG).
                    Punch.flags.not_like("%held%"),
                )
            ):
                found.setdefault(nip, []).append(at)
            for nip, at in conn.execute(
                select(PunchCorrection.nip, PunchCorrection.at_utc).where(
                    one_of(conn, PunchCorrection.nip, nips),
                    PunchCorrection.state == "disetujui",
                    PunchCorrection.at_utc >= start,
                    PunchCorrection.at_utc < end,
                )
            ):
                found.setdefault(nip, []).append(at)
        for times in found.values():
            times.sort()
        return found

    def _absences(
        self, conn: Connection, wanted: Mapping[str, set[date]]
    ) -> dict[str, list[tuple[date, date, str]]]:
        found: dict[str, list[tuple[date, date, str]]] = {}
        for (lo, hi), nips in self._spans(wanted).items():
            for nip, start, end, kind in conn.execute(
                select(Absence.nip, Absence.date_from, Absence.date_to, Absence.kind).where(
                    one_of(conn, Absence.nip, nips),
                    Absence.state == "disetujui",
                    Absence.date_from <= hi,
                    Absence.date_to >= lo,
                )
            ):
                found.setdefault(nip, []).append((start, end, kind))
        return found

    def _write(
        self,
        conn: Connection,
        results: Sequence[tuple[str, date, DayResult | None]],
        closed: set[str],
    ) -> None:
        booked: dict[tuple[str, date], DayResult] = {}
        in_closed = [(n, d) for n, d, _ in results if month_of(d) in closed]
        for part in chunked(in_closed, 400):
            for row in conn.execute(
                select(LedgerBooked).where(
                    tuple_(LedgerBooked.nip, LedgerBooked.work_date).in_(part)
                )
            ):
                booked[(row.nip, row.work_date)] = result_from_row(row)
        upserts: list[dict[str, Any]] = []
        removals: list[tuple[str, date]] = []
        for nip, d, result in results:
            key = (nip, d)
            if month_of(d) in closed:
                was = booked.get(key)
                if result is None and was is not None:
                    result = void_result(nip, d, was)
                    pending = was.status != "void"
                elif result is None:
                    removals.append(key)
                    continue
                else:
                    pending = result != was
                upserts.append({**_columns(result), "pending_adjustment": pending})
            elif result is None:
                removals.append(key)
            else:
                upserts.append({**_columns(result), "pending_adjustment": False})
        for part in chunked(removals, 400):
            conn.execute(
                delete(LedgerDay).where(tuple_(LedgerDay.nip, LedgerDay.work_date).in_(part))
            )
        if upserts:
            module: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
            table = LedgerDay.__table__
            stmt = module.insert(table)
            stmt = stmt.on_conflict_do_update(
                index_elements=["nip", "work_date"],
                set_={c: getattr(stmt.excluded, c) for c in UPDATED_COLUMNS},
            )
            conn.execute(stmt, upserts)

    # ------------------------------------------------------------------ reading

    def day_rows(self, nip: str, date_from: date, date_to: date) -> list[dict[str, Any]]:
        """The ledger rows of one employee (after catching up), as JSON objects."""
        self.catch_up()
        with self.db.read() as conn:
            rows = conn.execute(
                select(LedgerDay)
                .where(LedgerDay.nip == nip, LedgerDay.work_date.between(date_from, date_to))
                .order_by(LedgerDay.work_date)
            ).all()
        return [day_json(result_from_row(r), r.pending_adjustment) for r in rows]

    def pending_jobs(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(LedgerJob)).scalar() or 0)


def _columns(result: DayResult) -> dict[str, Any]:
    return {c: getattr(result, c) for c in RESULT_COLUMNS}


def day_json(result: DayResult, pending: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.canonical())
    for key in ("masuk_utc", "pulang_utc"):
        if data[key] is not None:
            data[key] = data[key] + "Z"
    data["pending_adjustment"] = pending
    return data


def _assignment(
    nip: str, start: date, values: tuple[str, str, str], stamp: datetime
) -> dict[str, Any]:
    return {
        "nip": nip,
        "valid_from": start,
        "valid_to": None,
        "opd_code": values[0],
        "schedule_group": values[1],
        "employment_type": values[2],
        "created_utc": stamp,
    }


def _absence_on(items: Iterable[tuple[date, date, str]], day: date) -> str | None:
    for start, end, kind in items:
        if start <= day <= end:
            return kind
    return None


def _calendar_days(calendar: HolidayCalendar) -> dict[date, str]:
    return {d: f"{h.kind}:{h.name}" for d, h in calendar.days.items()}


def _delete_jobs(conn: Connection, keys: Sequence[tuple[str, date]]) -> None:
    for part in chunked(keys, 400):
        conn.execute(delete(LedgerJob).where(tuple_(LedgerJob.nip, LedgerJob.work_date).in_(part)))


def _state(conn: Connection, key: str) -> str | None:
    row = conn.execute(select(LedgerState.value).where(LedgerState.key == key)).first()
    return None if row is None else str(row[0])


def _set_state(conn: Connection, key: str, value: str) -> None:
    module: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = module.insert(LedgerState).values(key=key, value=value)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value})
    )
