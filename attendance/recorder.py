"""Recording a punch: rules, chain, signature, punch + outbox row, one durable commit.

:meth:`PunchRecorder.record` returns only after the transaction committed with
``synchronous=FULL``: when the kiosk says "tercatat", the punch survives a power
cut. Inside one ``BEGIN IMMEDIATE`` transaction it loads the person's earlier
punches of the work period, asks :class:`~attendance.rules.PunchRules`, and for
a new punch takes the next sequence number and the previous hash from the chain
head, signs the record, inserts the punch and its outbox row and moves the head.
A duplicate (inside the window) is not stored; the result says when the first
one was recorded.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError

from attendance import integrity
from attendance.clock import Clock, ClockJump, ClockTrust
from attendance.db import StorageFullError, StoreError, is_disk_full
from attendance.ids import format_utc, parse_utc, uuid7_for, validate_nip
from attendance.models import VERIFY_MODES, Correction, Punch
from attendance.rules import PunchRules, RuleDecision
from attendance.store import Store, append_audit

if TYPE_CHECKING:
    from attendance.central import CentralDocuments
    from attendance.config import AttendanceConfig

log = logging.getLogger(__name__)


class UnknownEmployeeError(StoreError):
    """The NIP is not in this kiosk's roster, or the person is inactive."""


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str  # hex

    def encode(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def decode(cls, value: str | None) -> ChainHead:
        if value is None:
            return cls(0, integrity.GENESIS_HASH)
        seq, _, digest = value.partition(":")
        return cls(int(seq), digest)


# The hot path runs fixed SQL (no statement building per punch); the columns are
# those of attendance.models, which tests/test_recorder.py checks against.
_SQL_EMPLOYEE = "SELECT name, schedule_group, active FROM employees WHERE nip = ?"
# Served by ix_punches_nip_utc.
_SQL_EARLIER = "SELECT utc FROM punches WHERE nip = ? AND utc >= ? AND utc < ?"
_SQL_HEAD = "SELECT value FROM device_state WHERE key = ?"
_PUNCH_COLUMNS = (
    *integrity.SIGNED_FIELDS,
    "record_hash",
    "signature",
    "work_date",
    "late_minutes",
    "early_minutes",
    "category",
    "snapshot",
)
_SQL_INSERT_PUNCH = (
    "INSERT INTO punches ("  # noqa: S608 - fixed column names; every value is bound
    + ", ".join(_PUNCH_COLUMNS)
    + ") VALUES ("
    + ", ".join(":" + c for c in _PUNCH_COLUMNS)
    + ")"
)
_SQL_INSERT_OUTBOX = "INSERT INTO outbox (punch_pk, state, attempts) VALUES (?, 'ready', 0)"
_SQL_SET_HEAD = (
    "INSERT INTO device_state (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def chain_head_key(device_id: str) -> str:
    return f"chain_head:{device_id}"


@dataclass(frozen=True)
class RecordResult:
    """What the kiosk shows: a new punch, or when the same person already punched."""

    kind: Literal["recorded", "duplicate"]
    nip: str
    name: str
    at_utc: datetime  # this punch, or the first one for a duplicate
    decision: RuleDecision
    punch_id: str | None = None  # None for a duplicate
    seq: int | None = None
    clock_state: str | None = None

    @property
    def duplicate_of(self) -> datetime | None:
        return self.decision.duplicate_of

    @property
    def direction(self) -> str:
        return self.decision.direction

    @property
    def late_minutes(self) -> int:
        return self.decision.late_minutes

    @property
    def early_minutes(self) -> int:
        return self.decision.early_minutes

    @property
    def category(self) -> str | None:
        return self.decision.category


def _opt_float(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    out = float(value)
    if out != out or out in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return out


class PunchRecorder:
    """Records punches for one device. Safe to share between threads (calls serialise)."""

    def __init__(self, store: Store, rules: PunchRules, trust: ClockTrust) -> None:
        self._store = store
        self._rules = rules
        self._trust = trust
        self._lock = threading.Lock()
        self._head_key = chain_head_key(store.device_id)

    @property
    def rules(self) -> PunchRules:
        with self._lock:
            return self._rules

    def set_rules(self, rules: PunchRules) -> None:
        """Use ``rules`` from the next punch on (central schedule or calendar changed)."""
        with self._lock:
            self._rules = rules

    @classmethod
    def from_config(
        cls, store: Store, cfg: AttendanceConfig, clock: Clock, trust: ClockTrust | None = None
    ) -> PunchRecorder:
        """The recorder with ``[rules]`` of ``cfg``; ``trust`` defaults to a new ClockTrust."""
        return cls(store, rules_from_config(cfg), trust or ClockTrust(clock))

    def record(
        self,
        nip: str,
        verify_mode: str,
        distance: float | None = None,
        margin: float | None = None,
        liveness: str | None = None,
        snapshot_jpeg: bytes | None = None,
    ) -> RecordResult:
        """Record a punch durably, or report the duplicate; see the module docstring.

        Raises :class:`UnknownEmployeeError`, :class:`~attendance.db.StorageFullError` (nothing was
        recorded, the store is intact) or ``ValueError`` for bad arguments.
        """
        validate_nip(nip)
        if verify_mode not in VERIFY_MODES:
            raise ValueError(f"verify_mode must be one of {VERIFY_MODES}, got {verify_mode!r}")
        dist = _opt_float(distance, "distance")
        marg = _opt_float(margin, "margin")
        store = self._store
        with self._lock:
            stamp = self._trust.stamp()
            snapshot_rel: str | None = None
            try:
                with store.db.write() as conn:
                    # The DB-API cursor of this transaction: the hot path skips SQLAlchemy's
                    # per-statement overhead; the transaction itself stays SQLAlchemy's.
                    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                    emp = cur.execute(_SQL_EMPLOYEE, (nip,)).fetchone()
                    if emp is None or not emp[2]:
                        raise UnknownEmployeeError(
                            f"NIP {nip} is not an active employee on this kiosk"
                        )
                    name, group = emp[0], emp[1]
                    start, end = self._rules.query_range(group, stamp.utc)
                    earlier = [
                        parse_utc(u)
                        for (u,) in cur.execute(
                            _SQL_EARLIER, (nip, format_utc(start), format_utc(end))
                        )
                    ]
                    decision = self._rules.decide(group, stamp.utc, earlier)
                    if decision.duplicate_of is not None:
                        conn.rollback()
                        return RecordResult("duplicate", nip, name, decision.duplicate_of, decision)
                    head = ChainHead.decode(
                        (cur.execute(_SQL_HEAD, (self._head_key,)).fetchone() or (None,))[0]
                    )
                    punch_id = uuid7_for(stamp.utc)
                    record: dict[str, Any] = {
                        "id": punch_id,
                        "device_id": store.device_id,
                        "seq": head.seq + 1,
                        "prev_hash": head.hash,
                        "nip": nip,
                        "utc": format_utc(stamp.utc),
                        "local_offset_minutes": decision.local_offset_minutes,
                        "clock_state": stamp.state,
                        "boot_id": stamp.boot_id,
                        "monotonic_ns": stamp.monotonic_ns,
                        "verify_mode": verify_mode,
                        "direction": decision.direction,
                        "distance": dist,
                        "margin": marg,
                        "liveness": liveness,
                    }
                    body = integrity.canonical_bytes(record)
                    digest = hashlib.sha256(body).hexdigest()
                    signature = store.keys.signing_key.sign(body)
                    if snapshot_jpeg is not None:
                        snapshot_rel = store.snapshots.save(punch_id, stamp.utc, snapshot_jpeg)
                    row = {
                        **record,
                        "prev_hash": bytes.fromhex(head.hash),
                        "record_hash": bytes.fromhex(digest),
                        "signature": signature,
                        "work_date": decision.work_date.isoformat(),
                        "late_minutes": decision.late_minutes
                        if decision.direction == "masuk"
                        else None,
                        "early_minutes": (
                            decision.early_minutes if decision.direction == "pulang" else None
                        ),
                        "category": decision.category,
                        "snapshot": snapshot_rel,
                    }
                    pk = cur.execute(_SQL_INSERT_PUNCH, row).lastrowid
                    cur.execute(_SQL_INSERT_OUTBOX, (pk,))
                    cur.execute(
                        _SQL_SET_HEAD, (self._head_key, ChainHead(head.seq + 1, digest).encode())
                    )
            except BaseException as exc:
                if snapshot_rel is not None:
                    store.snapshots.remove(snapshot_rel)
                if isinstance(exc, StorageFullError) or (
                    isinstance(exc, DBAPIError | sqlite3.Error | OSError) and is_disk_full(exc)
                ):
                    log.error("punch not recorded: the disk cannot be written (%s)", exc)
                    raise StorageFullError(
                        "the disk is full (or cannot be written): the punch was NOT recorded; "
                        "earlier punches are safe. Free space in the data directory (old "
                        "snapshots, logs); recording resumes by itself."
                    ) from exc
                raise
        return RecordResult(
            "recorded",
            nip,
            name,
            stamp.utc,
            decision,
            punch_id=punch_id,
            seq=head.seq + 1,
            clock_state=stamp.state,
        )

    def flag_clock_jump(self, jump: ClockJump, actor: str = "clock") -> int:
        """Record a ``clock_state -> suspect`` correction beside each punch of the same boot
        taken between the last trusted reading and the reading that revealed the jump.

        The punches themselves are not touched (they are signed). Idempotent; returns how
        many punches were newly flagged.
        """
        lo, hi = jump.after.monotonic_ns, jump.seen.monotonic_ns
        now = format_utc(jump.seen.wall_utc)
        with self._store.db.write() as conn:
            rows = conn.execute(
                select(Punch.id, Punch.clock_state).where(
                    Punch.boot_id == jump.after.boot_id,
                    Punch.monotonic_ns > lo,
                    Punch.monotonic_ns <= hi,
                    Punch.clock_state != "suspect",
                    Punch.id.not_in(
                        select(Correction.punch_id).where(
                            Correction.field == "clock_state", Correction.new_value == "suspect"
                        )
                    ),
                )
            ).all()
            for punch_id, state in rows:
                conn.execute(
                    insert(Correction).values(
                        punch_id=punch_id,
                        field="clock_state",
                        old_value=state,
                        new_value="suspect",
                        reason=f"wall clock stepped {jump.step_seconds:+.3f} s",
                        actor=actor,
                        created_at=now,
                    )
                )
            if rows:
                append_audit(conn, actor, "flag_clock_jump", None, f"punches={len(rows)}")
        return len(rows)


def rules_from_config(cfg: AttendanceConfig, central: CentralDocuments | None = None) -> PunchRules:
    """The kiosk's :class:`PunchRules` from ``[rules]`` and ``[device] timezone``,
    with the schedule groups and calendars of ``central`` laid over the files."""
    from zoneinfo import ZoneInfo

    from attendance.schedule import holiday_calendar_from_config, schedule_book_from_config

    book = schedule_book_from_config(cfg.rules)
    calendar = holiday_calendar_from_config(cfg.rules)
    if central is not None:
        book, calendar = central.apply(book, calendar)
    return PunchRules(cfg.rules, book, calendar, ZoneInfo(cfg.device.timezone))
