"""Absence records (keterangan) and punch corrections, with their attachments.

Public API (admin API, CLI, web console):

- :class:`Absences` ``(db, clock, today, attachments)``:
  ``create(nip, kind, date_from, date_to, entered_by, reason="",
  attachment=None, state="diajukan", source="manual") -> dict``,
  ``decide(absence_id, decision, decided_by) -> dict``,
  ``list(nip=None, opd_code=None, state=None, date_from=None, date_to=None)``,
  ``get(absence_id)``, ``attachment(absence_id) -> (bytes, media_type)``.
- :class:`Corrections` ``(db, clock, today, attachments, tz)``:
  ``create(nip, at_local, kind, reason, requested_by, attachment=None)``,
  ``decide(correction_id, decision, decided_by)`` (a second person),
  ``list(nip=None, state=None)``, ``get(correction_id)``.
- :data:`ABSENCE_KINDS` (code -> Indonesian label), :func:`absence_kind`
  (normalises "Cuti Tahunan", "DL", "cltn" ...).

Every refusal is an :class:`server.errors.ApiError` whose detail starts with
the field at fault (``nip: unknown employee ...``, ``date_to: ...``,
``attachment: ...``) and nothing is written. Overlapping absences (not
rejected) of one employee are refused naming the other record. Dates in a
closed month cannot be entered or decided (409): a closed month is changed
only by late inputs (punches, documents), and those become adjustments.

Attachments (PDF, JPEG, PNG, recognised by their first bytes, at most
``[server] max_attachment_bytes``) are stored outside the database under
``<data_dir>/attachments/<sha256[:2]>/<sha256>`` (content addressed, written
before the row so a row never points at a missing file); the row keeps the
SHA-256, media type and size. They are served only through the admin API.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, select, update

from server.db import Database
from server.errors import ApiError, invalid, not_found
from server.ingest import NIP_RE
from server.ledger import month_of
from server.ledger_models import Absence, MonthClosure, PunchCorrection
from server.ledger_queue import enqueue
from server.models import Employee
from server.timeutil import format_optional, format_utc, to_db

ABSENCE_KINDS: dict[str, str] = {
    "cuti_tahunan": "Cuti tahunan",
    "cuti_besar": "Cuti besar",
    "cuti_sakit": "Cuti sakit",
    "cuti_melahirkan": "Cuti melahirkan",
    "cuti_alasan_penting": "Cuti karena alasan penting",
    "cltn": "Cuti di luar tanggungan negara (CLTN)",
    "sakit": "Sakit",
    "izin": "Izin",
    "dl": "Dinas luar (DL)",
    "tugas_belajar": "Tugas belajar",
    "wfa": "Bekerja dari mana saja (WFA)",
    "wfh": "Bekerja dari rumah (WFH)",
}
_KIND_ALIASES = {
    "dinas_luar": "dl",
    "cuti_karena_alasan_penting": "cuti_alasan_penting",
    "cuti_di_luar_tanggungan_negara": "cltn",
}
CORRECTION_KINDS: dict[str, str] = {"mesin_rusak": "Mesin rusak", "lupa_absen": "Lupa absen"}
DECISIONS = ("disetujui", "ditolak")
MEDIA_TYPES = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
EARLIEST_DATE = date(2000, 1, 1)
MAX_SPAN_DAYS = 3 * 366 + 1  # CLTN and tugas belajar run for years
MAX_CORRECTION_AGE_DAYS = 400
MAX_BY = 100


def absence_kind(text: str) -> str:
    """The code of an absence kind given as code, label or common spelling."""
    key = text.strip().lower().replace(" ", "_").replace("-", "_")
    key = _KIND_ALIASES.get(key, key)
    if key not in ABSENCE_KINDS:
        raise invalid(f"kind: one of {', '.join(ABSENCE_KINDS)}, got {text!r}")
    return key


def correction_kind(text: str) -> str:
    key = text.strip().lower().replace(" ", "_").replace("-", "_")
    if key not in CORRECTION_KINDS:
        raise invalid(f"kind: one of {', '.join(CORRECTION_KINDS)}, got {text!r}")
    return key


def _by(value: str, field: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_BY:
        raise invalid(f"{field}: who did it (1-{MAX_BY} characters) is required")
    return value


def _known_employee(conn: Connection, nip: str) -> None:
    if not NIP_RE.fullmatch(nip):
        raise invalid(f"nip: must be 18 digits, got {nip!r}")
    if conn.execute(select(Employee.nip).where(Employee.nip == nip)).first() is None:
        raise ApiError(404, "not_found", f"nip: unknown employee {nip}")


def _refuse_closed(conn: Connection, days: list[date], field: str) -> None:
    months = sorted({month_of(d) for d in days})
    closed = set(
        conn.execute(select(MonthClosure.month).where(MonthClosure.month.in_(months))).scalars()
    )
    if closed:
        raise ApiError(
            409,
            "month_closed",
            f"{field}: month {min(closed)} is closed (tutup buku); enter the change in an "
            "open month or as a late input",
        )


class AttachmentStore:
    """Content-addressed files outside the database."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def check(self, data: bytes) -> str:
        """The media type of ``data``; ApiError naming ``attachment`` otherwise."""
        if len(data) == 0:
            raise invalid("attachment: the file is empty")
        if len(data) > self.max_bytes:
            raise ApiError(
                413,
                "attachment_too_large",
                f"attachment: {len(data)} bytes; at most {self.max_bytes}",
            )
        for magic, media in MEDIA_TYPES:
            if data.startswith(magic):
                return media
        raise ApiError(
            415, "unsupported_media_type", "attachment: not a PDF, JPEG or PNG file (by content)"
        )

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def save(self, data: bytes) -> tuple[str, str]:
        """Store ``data``; returns (sha256 hex, media type)."""
        media = self.check(data)
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                Path(tmp).replace(target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return digest, media

    def load(self, digest: str) -> bytes:
        try:
            data = self.path(digest).read_bytes()
        except FileNotFoundError:
            raise not_found(f"attachment: file {digest} is missing from the store") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise ApiError(500, "attachment_corrupt", f"attachment: file {digest} is corrupt")
        return data


def _absence_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "nip": row.nip,
        "kind": row.kind,
        "kind_label": ABSENCE_KINDS.get(row.kind, row.kind),
        "date_from": row.date_from.isoformat(),
        "date_to": row.date_to.isoformat(),
        "state": row.state,
        "reason": row.reason,
        "attachment": (
            {
                "sha256": row.attachment_sha256,
                "media_type": row.attachment_type,
                "bytes": row.attachment_bytes,
            }
            if row.attachment_sha256
            else None
        ),
        "entered_by": row.entered_by,
        "entered_utc": format_utc(row.entered_utc),
        "decided_by": row.decided_by,
        "decided_utc": format_optional(row.decided_utc),
        "source": row.source,
    }


class Absences:
    """Absence records; approval queues the covered ledger days."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        today: Callable[[], date],
        attachments: AttachmentStore,
    ) -> None:
        self.db = db
        self.clock = clock
        self.today = today
        self.attachments = attachments

    def check_dates(self, date_from: date, date_to: date) -> None:
        if date_from < EARLIEST_DATE:
            raise invalid(f"date_from: {date_from} is before {EARLIEST_DATE}")
        if date_to < date_from:
            raise invalid(f"date_to: {date_to} is before date_from {date_from}")
        if date_to > self.today() + timedelta(days=366):
            raise invalid(f"date_to: {date_to} is more than a year ahead")
        if (date_to - date_from).days + 1 > MAX_SPAN_DAYS:
            raise invalid(f"date_to: a record spans at most {MAX_SPAN_DAYS} days")

    def create(
        self,
        nip: str,
        kind: str,
        date_from: date,
        date_to: date,
        entered_by: str,
        reason: str = "",
        attachment: bytes | None = None,
        state: str = "diajukan",
        source: str = "manual",
        conn: Connection | None = None,
    ) -> dict[str, Any]:
        """Enter a record (``diajukan``; imports enter it ``disetujui``)."""
        code = absence_kind(kind)
        entered_by = _by(entered_by, "entered_by")
        if len(reason) > 2000:
            raise invalid("reason: at most 2000 characters")
        self.check_dates(date_from, date_to)
        if state not in ("diajukan", "disetujui"):
            raise invalid(f"state: a new record is diajukan or disetujui, got {state!r}")
        digest = media = None
        if attachment is not None:
            self.attachments.check(attachment)
        now = self.clock()
        with _transaction(self.db, conn) as c:
            _known_employee(c, nip)
            _refuse_closed(c, [date_from, date_to], "date_from")
            other = c.execute(
                select(Absence)
                .where(
                    Absence.nip == nip,
                    Absence.state != "ditolak",
                    Absence.date_from <= date_to,
                    Absence.date_to >= date_from,
                )
                .limit(1)
            ).first()
            if other is not None:
                raise ApiError(
                    409,
                    "overlap",
                    f"date_from: {date_from}..{date_to} overlaps absence {other.id} "
                    f"({other.kind} {other.date_from}..{other.date_to}, {other.state})",
                )
            if attachment is not None:
                digest, media = self.attachments.save(attachment)
            row = {
                "id": str(uuid.uuid4()),
                "nip": nip,
                "kind": code,
                "date_from": date_from,
                "date_to": date_to,
                "state": state,
                "reason": reason,
                "attachment_sha256": digest,
                "attachment_type": media,
                "attachment_bytes": len(attachment) if attachment is not None else None,
                "entered_by": entered_by,
                "entered_utc": to_db(now),
                "decided_by": entered_by if state == "disetujui" else None,
                "decided_utc": to_db(now) if state == "disetujui" else None,
                "source": source,
            }
            c.execute(insert(Absence).values(**row))
            if state == "disetujui":
                self._queue(c, nip, date_from, date_to, now)
            return _absence_json(_Row(row))

    def _queue(self, conn: Connection, nip: str, start: date, end: date, now: datetime) -> None:
        last = min(end, self.today())
        days = (last - start).days
        enqueue(conn, ((nip, start + timedelta(days=i)) for i in range(days + 1)), now)

    def decide(self, absence_id: str, decision: str, decided_by: str) -> dict[str, Any]:
        if decision not in DECISIONS:
            raise invalid(f"decision: one of {', '.join(DECISIONS)}, got {decision!r}")
        decided_by = _by(decided_by, "decided_by")
        now = self.clock()
        with self.db.write() as conn:
            row = conn.execute(select(Absence).where(Absence.id == absence_id)).first()
            if row is None:
                raise not_found(f"id: unknown absence {absence_id}")
            if row.state != "diajukan":
                raise ApiError(409, "already_decided", f"state: absence is already {row.state}")
            _refuse_closed(conn, [row.date_from, row.date_to], "date_from")
            conn.execute(
                update(Absence)
                .where(Absence.id == absence_id)
                .values(state=decision, decided_by=decided_by, decided_utc=to_db(now))
            )
            if decision == "disetujui":
                self._queue(conn, row.nip, row.date_from, row.date_to, now)
            fresh = conn.execute(select(Absence).where(Absence.id == absence_id)).one()
            return _absence_json(fresh)

    def get(self, absence_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(select(Absence).where(Absence.id == absence_id)).first()
        if row is None:
            raise not_found(f"id: unknown absence {absence_id}")
        return _absence_json(row)

    def list(
        self,
        nip: str | None = None,
        opd_code: str | None = None,
        state: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        stmt = select(Absence)
        if nip:
            stmt = stmt.where(Absence.nip == nip)
        if opd_code:
            stmt = stmt.where(
                Absence.nip.in_(select(Employee.nip).where(Employee.opd_code == opd_code))
            )
        if state:
            stmt = stmt.where(Absence.state == state)
        if date_from:
            stmt = stmt.where(Absence.date_to >= date_from)
        if date_to:
            stmt = stmt.where(Absence.date_from <= date_to)
        stmt = stmt.order_by(Absence.date_from, Absence.nip).limit(limit)
        with self.db.read() as conn:
            return [_absence_json(r) for r in conn.execute(stmt)]

    def attachment(self, absence_id: str) -> tuple[bytes, str]:
        with self.db.read() as conn:
            row = conn.execute(select(Absence).where(Absence.id == absence_id)).first()
        if row is None:
            raise not_found(f"id: unknown absence {absence_id}")
        if not row.attachment_sha256:
            raise not_found(f"attachment: absence {absence_id} has none")
        return self.attachments.load(row.attachment_sha256), str(row.attachment_type)


def _correction_json(row: Any, tz: ZoneInfo) -> dict[str, Any]:
    local = row.at_utc.replace(tzinfo=UTC).astimezone(tz)
    return {
        "id": row.id,
        "nip": row.nip,
        "at_utc": format_utc(row.at_utc),
        "at_local": local.strftime("%Y-%m-%d %H:%M:%S"),
        "kind": row.kind,
        "kind_label": CORRECTION_KINDS.get(row.kind, row.kind),
        "reason": row.reason,
        "attachment": (
            {
                "sha256": row.attachment_sha256,
                "media_type": row.attachment_type,
                "bytes": row.attachment_bytes,
            }
            if row.attachment_sha256
            else None
        ),
        "state": row.state,
        "requested_by": row.requested_by,
        "requested_utc": format_utc(row.requested_utc),
        "decided_by": row.decided_by,
        "decided_utc": format_optional(row.decided_utc),
    }


class Corrections:
    """Manual punches awaiting a second person's approval."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        attachments: AttachmentStore,
        tz: ZoneInfo,
    ) -> None:
        self.db = db
        self.clock = clock
        self.attachments = attachments
        self.tz = tz

    def create(
        self,
        nip: str,
        at_local: datetime,
        kind: str,
        reason: str,
        requested_by: str,
        attachment: bytes | None = None,
    ) -> dict[str, Any]:
        """Request a punch at local time ``at_local`` (naive, the server's zone)."""
        code = correction_kind(kind)
        requested_by = _by(requested_by, "requested_by")
        if not reason.strip() or len(reason) > 2000:
            raise invalid("reason: 1-2000 characters (why the punch is missing)")
        if at_local.tzinfo is not None:
            at_local = at_local.astimezone(self.tz).replace(tzinfo=None)
        if not 2000 <= at_local.year <= 2100:
            raise invalid(f"at: {at_local:%Y-%m-%d} is not a plausible date")
        aware = at_local.replace(tzinfo=self.tz)
        now = self.clock()
        if aware > now:
            raise invalid(f"at: {at_local:%Y-%m-%d %H:%M} is in the future")
        if aware < now - timedelta(days=MAX_CORRECTION_AGE_DAYS):
            raise invalid(
                f"at: {at_local:%Y-%m-%d} is more than {MAX_CORRECTION_AGE_DAYS} days ago"
            )
        if attachment is not None:
            self.attachments.check(attachment)
        with self.db.write() as conn:
            _known_employee(conn, nip)
            _refuse_closed(conn, [at_local.date()], "at")
            digest = media = None
            if attachment is not None:
                digest, media = self.attachments.save(attachment)
            row = {
                "id": str(uuid.uuid4()),
                "nip": nip,
                "at_utc": to_db(aware),
                "kind": code,
                "reason": reason.strip(),
                "attachment_sha256": digest,
                "attachment_type": media,
                "attachment_bytes": len(attachment) if attachment is not None else None,
                "state": "diajukan",
                "requested_by": requested_by,
                "requested_utc": to_db(now),
                "decided_by": None,
                "decided_utc": None,
            }
            conn.execute(insert(PunchCorrection).values(**row))
            return _correction_json(_Row(row), self.tz)

    def decide(self, correction_id: str, decision: str, decided_by: str) -> dict[str, Any]:
        if decision not in DECISIONS:
            raise invalid(f"decision: one of {', '.join(DECISIONS)}, got {decision!r}")
        decided_by = _by(decided_by, "decided_by")
        now = self.clock()
        with self.db.write() as conn:
            row = conn.execute(
                select(PunchCorrection).where(PunchCorrection.id == correction_id)
            ).first()
            if row is None:
                raise not_found(f"id: unknown correction {correction_id}")
            if row.state != "diajukan":
                raise ApiError(409, "already_decided", f"state: correction is already {row.state}")
            if decided_by.casefold() == row.requested_by.casefold():
                raise ApiError(
                    403,
                    "second_person_required",
                    "decided_by: a correction is decided by someone other than who requested it",
                )
            local = row.at_utc.replace(tzinfo=UTC).astimezone(self.tz)
            _refuse_closed(conn, [local.date()], "at")
            conn.execute(
                update(PunchCorrection)
                .where(PunchCorrection.id == correction_id)
                .values(state=decision, decided_by=decided_by, decided_utc=to_db(now))
            )
            if decision == "disetujui":
                enqueue(conn, [(row.nip, local.date())], now)
            fresh = conn.execute(
                select(PunchCorrection).where(PunchCorrection.id == correction_id)
            ).one()
            return _correction_json(fresh, self.tz)

    def get(self, correction_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(
                select(PunchCorrection).where(PunchCorrection.id == correction_id)
            ).first()
        if row is None:
            raise not_found(f"id: unknown correction {correction_id}")
        return _correction_json(row, self.tz)

    def list(self, nip: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        stmt = select(PunchCorrection)
        if nip:
            stmt = stmt.where(PunchCorrection.nip == nip)
        if state:
            stmt = stmt.where(PunchCorrection.state == state)
        with self.db.read() as conn:
            return [
                _correction_json(r, self.tz)
                for r in conn.execute(stmt.order_by(PunchCorrection.at_utc).limit(1000))
            ]


class _Row:
    """Attribute access over a dict, to render a row just inserted."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.__dict__.update(data)


def _transaction(db: Database, conn: Connection | None) -> AbstractContextManager[Connection]:
    """A new write transaction, or the caller's (imports write many lines in one)."""
    return db.write() if conn is None else nullcontext(conn)
