"""Tables of the central attendance ledger (organisation, absences, corrections, ledger).

Imported by :mod:`server.models` so they share its ``Base`` (one metadata,
one migration chain; ``server/migrations/versions/0002_ledger.py`` creates
them). Dates are local calendar dates of the office time zone; times are
naive UTC like the rest of the server schema. Each index names the query it
serves.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.models import Base, BigIntPK

ABSENCE_STATES = ("diajukan", "disetujui", "ditolak")


class Opd(Base):
    """An OPD or a unit inside one (``parent_code``), with its head for signatures."""

    __tablename__ = "opds"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    head_nip: Mapped[str | None] = mapped_column(String(18), nullable=True)
    head_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_utc: Mapped[datetime] = mapped_column(DateTime())


class EmployeeAssignment(Base):
    """OPD, schedule group and employment type of one employee from ``valid_from``.

    ``valid_to`` is inclusive; None = open. A transfer (mutasi) closes the
    open row on the day before and opens a new one, so a month splits.
    Without any row, the employee's ``employees`` row applies on every date.
    """

    __tablename__ = "employee_assignments"
    __table_args__ = (
        # The assignments of a set of employees (every ledger computation).
        Index("ix_employee_assignments_nip", "nip", "valid_from"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="ck_assignment_dates"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    nip: Mapped[str] = mapped_column(String(18))
    valid_from: Mapped[date] = mapped_column(Date())
    valid_to: Mapped[date | None] = mapped_column(Date(), nullable=True)
    opd_code: Mapped[str] = mapped_column(String(32))
    schedule_group: Mapped[str] = mapped_column(String(64))
    employment_type: Mapped[str] = mapped_column(String(20))
    created_utc: Mapped[datetime] = mapped_column(DateTime())


class Absence(Base):
    """A keterangan (leave, sick, DL, WFH ...) over inclusive dates, with its decision."""

    __tablename__ = "absences"
    __table_args__ = (
        # Overlap checks and the ledger: the absences of an employee by date.
        Index("ix_absences_nip_from", "nip", "date_from"),
        CheckConstraint("date_to >= date_from", name="ck_absence_dates"),
        CheckConstraint("state IN ('diajukan', 'disetujui', 'ditolak')", name="ck_absence_state"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    nip: Mapped[str] = mapped_column(String(18))
    kind: Mapped[str] = mapped_column(String(32))
    date_from: Mapped[date] = mapped_column(Date())
    date_to: Mapped[date] = mapped_column(Date())
    state: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(Text(), default="")
    attachment_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attachment_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attachment_bytes: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    entered_by: Mapped[str] = mapped_column(String(100))
    entered_utc: Mapped[datetime] = mapped_column(DateTime())
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_utc: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    source: Mapped[str] = mapped_column(String(16))  # manual | import


class PunchCorrection(Base):
    """A manual punch (mesin rusak, lupa absen) beside the original punches.

    Counts in the ledger only once ``disetujui`` by someone other than the
    requester; the punch table itself is never edited.
    """

    __tablename__ = "punch_corrections"
    __table_args__ = (
        # The ledger: approved corrections of an employee in a work period.
        Index("ix_punch_corrections_nip_utc", "nip", "at_utc"),
        CheckConstraint(
            "state IN ('diajukan', 'disetujui', 'ditolak')", name="ck_correction_state"
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    nip: Mapped[str] = mapped_column(String(18))
    at_utc: Mapped[datetime] = mapped_column(DateTime())
    kind: Mapped[str] = mapped_column(String(16))  # mesin_rusak | lupa_absen
    reason: Mapped[str] = mapped_column(Text())
    attachment_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attachment_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attachment_bytes: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    state: Mapped[str] = mapped_column(String(12))
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_utc: Mapped[datetime] = mapped_column(DateTime())
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_utc: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class LedgerDay(Base):
    """One employee on one date: the rules' verdict (see :mod:`server.ledger`).

    Every working day has a row (TK included); a day off has one only when
    something happened on it. In a closed month ``pending_adjustment`` is set
    when a later recomputation differs from the row as reported
    (:class:`LedgerBooked`).
    """

    __tablename__ = "ledger_days"
    __table_args__ = (
        # Monthly recap and roll call of one OPD: its rows of a date range.
        Index("ix_ledger_days_opd_date", "opd_code", "work_date"),
        # Adjustments of closed months shown in the next open month.
        Index("ix_ledger_days_pending", "pending_adjustment"),
    )

    nip: Mapped[str] = mapped_column(String(18), primary_key=True)
    work_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    opd_code: Mapped[str] = mapped_column(String(32))
    employment_type: Mapped[str] = mapped_column(String(20))
    schedule_group: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))  # hadir | tk | absence | libur
    working: Mapped[bool] = mapped_column(Boolean())
    tl: Mapped[str | None] = mapped_column(String(8), nullable=True)
    tl_minutes: Mapped[int] = mapped_column(Integer())
    psw: Mapped[str | None] = mapped_column(String(8), nullable=True)
    psw_minutes: Mapped[int] = mapped_column(Integer())
    single_punch: Mapped[bool] = mapped_column(Boolean())
    absence_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    holiday_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    masuk_utc: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    pulang_utc: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    pending_adjustment: Mapped[bool] = mapped_column(Boolean(), default=False)


class LedgerBooked(Base):
    """A ledger row as reported in its closed month (copied at closing, set-based).

    Recomputed rows are compared with it; differences are adjustments of the
    next open month, and closing that month books them here.
    """

    __tablename__ = "ledger_booked"

    nip: Mapped[str] = mapped_column(String(18), primary_key=True)
    work_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    opd_code: Mapped[str] = mapped_column(String(32))
    employment_type: Mapped[str] = mapped_column(String(20))
    schedule_group: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))  # hadir | tk | absence | libur
    working: Mapped[bool] = mapped_column(Boolean())
    tl: Mapped[str | None] = mapped_column(String(8), nullable=True)
    tl_minutes: Mapped[int] = mapped_column(Integer())
    psw: Mapped[str | None] = mapped_column(String(8), nullable=True)
    psw_minutes: Mapped[int] = mapped_column(Integer())
    single_punch: Mapped[bool] = mapped_column(Boolean())
    absence_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    holiday_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    masuk_utc: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    pulang_utc: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class LedgerJob(Base):
    """A queued recomputation of one (employee, date); see :mod:`server.ledger`.

    ``generation`` grows each time the key is queued again, so a worker that
    computed from older data does not delete the newer request.
    """

    __tablename__ = "ledger_jobs"

    nip: Mapped[str] = mapped_column(String(18), primary_key=True)
    work_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger())
    queued_utc: Mapped[datetime] = mapped_column(DateTime())


class LedgerState(Base):
    """Small named values of the ledger (horizon, applied document versions)."""

    __tablename__ = "ledger_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text())


class MonthClosure(Base):
    """A closed month (tutup buku): its recap is frozen in ``recap_snapshots``."""

    __tablename__ = "month_closures"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    closed_by: Mapped[str] = mapped_column(String(100))
    closed_utc: Mapped[datetime] = mapped_column(DateTime())


class RecapSnapshot(Base):
    """The monthly recap of one OPD as reported when the month was closed (JSON)."""

    __tablename__ = "recap_snapshots"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    opd_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[str] = mapped_column(Text())


class TppTable(Base):
    """TPP deduction percentages valid over a date range (JSON: band -> percent)."""

    __tablename__ = "tpp_tables"
    __table_args__ = (
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="ck_tpp_dates"),
    )

    valid_from: Mapped[date] = mapped_column(Date(), primary_key=True)
    valid_to: Mapped[date | None] = mapped_column(Date(), nullable=True)
    data: Mapped[str] = mapped_column(Text())
