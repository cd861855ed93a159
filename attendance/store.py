"""The kiosk's local store: one object that owns the database, the keys and the parts.

``Store.open`` refuses a corrupt or foreign database, migrates it, loads the
keys (creating them only for a store with nothing to protect) and checks the
keys belong to this database. Everything else (recorder, outbox, templates,
snapshots, employees, audit log, device state) hangs off the returned object
and shares its :class:`~attendance.db.Database`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from attendance.admin import AdminState, PinHashError, hash_pin, verify_pin
from attendance.batches import chunked
from attendance.db import Database, StoreError, open_database
from attendance.fingerprints import STATE_KEY as FINGERPRINT_SLOTS_KEY
from attendance.fingerprints import decode_slots, encode_slots, without_person
from attendance.ids import format_utc, validate_nip
from attendance.keys import DeviceKeys, KeyFileError, load_keys
from attendance.models import (
    EMPLOYEE_TYPES,
    AuditEntry,
    Correction,
    DeviceState,
    Employee,
    EmployeeOffice,
    FaceTemplate,
    Punch,
)
from attendance.outbox import Outbox
from attendance.snapshots import PurgeResult, SnapshotStore
from attendance.templates import TemplateStore

if TYPE_CHECKING:
    from attendance.config import AttendanceConfig, StoreSection

log = logging.getLogger(__name__)

SNAPSHOT_DIR = "snapshots"
_SIGNING_FP = "key.signing_fingerprint"
_TEMPLATE_FP = "key.template_fingerprint"


# --------------------------------------------------------------------------- parts


@dataclass(frozen=True)
class EmployeeRecord:
    nip: str
    name: str
    opd_code: str
    employee_type: str
    schedule_group: str = "default"
    unit: str = ""
    active: bool = True
    extra_opds: tuple[str, ...] = ()
    has_pin: bool = False


class DeviceStateStore:
    """Key/value facts of this kiosk (sync cursor, chain heads, key fingerprints, ...)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: str) -> str | None:
        with self._db.read() as conn:
            return get_state(conn, key)

    def set(self, key: str, value: str) -> None:
        with self._db.write() as conn:
            set_state(conn, key, value)


def get_state(conn: Connection, key: str) -> str | None:
    return conn.execute(select(DeviceState.value).where(DeviceState.key == key)).scalar()


def set_state(conn: Connection, key: str, value: str) -> None:
    stmt = sqlite_insert(DeviceState).values(key=key, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


class AuditLog:
    """Append-only log of admin actions. Never put PINs or biometric data in ``detail``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self, actor: str, action: str, target: str | None = None, detail: str | None = None
    ) -> None:
        with self._db.write() as conn:
            append_audit(conn, actor, action, target, detail)

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            ).mappings()
            return [dict(r) for r in rows]


def append_audit(
    conn: Connection, actor: str, action: str, target: str | None, detail: str | None
) -> None:
    conn.execute(
        insert(AuditEntry).values(
            at=format_utc(datetime.now(UTC)),
            actor=actor,
            action=action,
            target=target,
            detail=detail,
        )
    )


class EmployeeStore:
    """The roster on this kiosk."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def upsert(self, emp: EmployeeRecord) -> None:
        self.upsert_many([emp])

    def upsert_many(self, employees: Sequence[EmployeeRecord]) -> None:
        """Create or replace employees (and their extra OPDs) in one transaction."""
        for emp in employees:
            validate_nip(emp.nip)
            if emp.employee_type not in EMPLOYEE_TYPES:
                raise ValueError(
                    f"employee type must be one of {', '.join(EMPLOYEE_TYPES)}, "
                    f"got {emp.employee_type!r}"
                )
            if not emp.name.strip():
                raise ValueError(f"employee {emp.nip} needs a name")
        if not employees:
            return
        now = format_utc(datetime.now(UTC))
        rows = [
            {
                "nip": emp.nip,
                "name": emp.name,
                "opd_code": emp.opd_code,
                "unit": emp.unit,
                "employee_type": emp.employee_type,
                "schedule_group": emp.schedule_group,
                "active": emp.active,
                "updated_at": now,
            }
            for emp in employees
        ]
        stmt = sqlite_insert(Employee)
        stmt = stmt.on_conflict_do_update(
            index_elements=["nip"],
            set_={c: stmt.excluded[c] for c in rows[0] if c != "nip"},
        )
        offices = [
            {"nip": emp.nip, "opd_code": opd}
            for emp in employees
            for opd in sorted(set(emp.extra_opds) - {emp.opd_code})
        ]
        nips = [emp.nip for emp in employees]
        with self._db.write() as conn:
            conn.execute(stmt, rows)
            for chunk in chunked(nips):
                conn.execute(delete(EmployeeOffice).where(EmployeeOffice.nip.in_(chunk)))
            if offices:
                conn.execute(insert(EmployeeOffice), offices)

    def remove(self, nip: str) -> bool:
        """Drop a person from the roster with their templates (punches stay)."""
        with self._db.write() as conn:
            return bool(conn.execute(delete(Employee).where(Employee.nip == nip)).rowcount)

    def get(self, nip: str) -> EmployeeRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(Employee).where(Employee.nip == nip)).mappings().first()
            if row is None:
                return None
            extra = conn.execute(
                select(EmployeeOffice.opd_code).where(EmployeeOffice.nip == nip)
            ).scalars()
            return _employee(row, tuple(extra))

    def search(self, query: str, limit: int = 50) -> list[EmployeeRecord]:
        """By NIP prefix or a part of the name (case-insensitive)."""
        q = query.strip()
        like = f"%{q.replace('%', '').replace('_', '')}%"
        with self._db.read() as conn:
            rows = conn.execute(
                select(Employee)
                .where(or_(Employee.nip.startswith(q), Employee.name.ilike(like)))
                .order_by(Employee.name)
                .limit(limit)
            ).mappings()
            return [_employee(r, ()) for r in rows]

    def count(self) -> int:
        with self._db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(Employee)).scalar_one())

    def set_pin(self, nip: str, pin: str) -> None:
        digest = hash_pin(pin)
        with self._db.write() as conn:
            res = conn.execute(update(Employee).where(Employee.nip == nip).values(pin_hash=digest))
            if res.rowcount == 0:
                raise StoreError(f"no employee with NIP {nip}")

    def verify_pin(self, nip: str, pin: str) -> bool:
        """False for an unknown or inactive NIP, a person without PIN, or a wrong PIN."""
        with self._db.read() as conn:
            row = conn.execute(
                select(Employee.pin_hash, Employee.active).where(Employee.nip == nip)
            ).first()
        if row is None or not row[1] or not row[0]:
            return False
        try:
            return verify_pin(pin, row[0])
        except PinHashError:
            log.error("stored PIN hash of one employee is malformed; PIN refused")
            return False


def _employee(row: Any, extra: tuple[str, ...]) -> EmployeeRecord:
    return EmployeeRecord(
        nip=row["nip"],
        name=row["name"],
        opd_code=row["opd_code"],
        employee_type=row["employee_type"],
        schedule_group=row["schedule_group"],
        unit=row["unit"],
        active=bool(row["active"]),
        extra_opds=extra,
        has_pin=row["pin_hash"] is not None,
    )


class SqliteAdminStateStore:
    """:class:`attendance.admin.AdminStateStore` in ``device_state`` (survives restarts)."""

    KEY = "admin_state"

    def __init__(self, db: Database) -> None:
        self._db = db

    def load(self) -> AdminState:
        with self._db.read() as conn:
            raw = get_state(conn, self.KEY)
        if raw is None:
            return AdminState()
        data = json.loads(raw)
        until = data.get("locked_until")
        return AdminState(
            failures=int(data.get("failures", 0)),
            locked_until=datetime.fromisoformat(until) if until else None,
            pin_hash=data.get("pin_hash"),
        )

    def save(self, state: AdminState) -> None:
        raw = json.dumps(
            {
                "failures": state.failures,
                "locked_until": state.locked_until.isoformat() if state.locked_until else None,
                "pin_hash": state.pin_hash,
            }
        )
        with self._db.write() as conn:
            set_state(conn, self.KEY, raw)


class EmployeePinAttempts:
    """:class:`attendance.admin.AdminStateStore` for one NIP's PIN punches.

    The PIN hash comes from the roster (None for an unknown or inactive NIP or
    one without a PIN); wrong attempts and the lockout live in ``device_state``
    (one JSON map, ``pin_attempts``), so a restart does not reset them.
    """

    KEY = "pin_attempts"

    def __init__(self, db: Database, nip: str) -> None:
        self._db = db
        self.nip = nip

    def load(self) -> AdminState:
        with self._db.read() as conn:
            row = conn.execute(
                select(Employee.pin_hash, Employee.active).where(Employee.nip == self.nip)
            ).first()
            raw = get_state(conn, self.KEY)
        entry = json.loads(raw).get(self.nip, {}) if raw else {}
        until = entry.get("locked_until")
        return AdminState(
            failures=int(entry.get("failures", 0)),
            locked_until=datetime.fromisoformat(until) if until else None,
            pin_hash=row[0] if row is not None and row[1] and row[0] else None,
        )

    def save(self, state: AdminState) -> None:
        with self._db.write() as conn:
            raw = get_state(conn, self.KEY)
            data = json.loads(raw) if raw else {}
            if state.failures == 0 and state.locked_until is None:
                data.pop(self.nip, None)
            else:
                data[self.nip] = {
                    "failures": state.failures,
                    "locked_until": state.locked_until.isoformat() if state.locked_until else None,
                }
            set_state(conn, self.KEY, json.dumps(data, sort_keys=True))


@dataclass(frozen=True)
class EraseResult:
    nip: str
    templates_deleted: int
    snapshots_deleted: int
    # Slots of the fingerprint module that held this person's fingers: their
    # mapping is gone; the templates on the module must be deleted there too.
    fingerprint_slots: tuple[int, ...] = ()


# --------------------------------------------------------------------------- the store


class Store:
    """The open local store of one kiosk. Thread-safe: every call opens its own transaction."""

    def __init__(
        self,
        db: Database,
        keys: DeviceKeys,
        device_id: str,
        data_dir: Path,
        snapshots: SnapshotStore,
    ) -> None:
        self.db = db
        self.keys = keys
        self.device_id = device_id
        self.data_dir = data_dir
        self.snapshots = snapshots
        self.outbox = Outbox(db)
        self.templates = TemplateStore(db, keys.template_key)
        self.employees = EmployeeStore(db)
        self.audit = AuditLog(db)
        self.state = DeviceStateStore(db)
        self.admin_state = SqliteAdminStateStore(db)

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        device_id: str,
        key_dir: Path | None = None,
        snapshot_retention_days: int = 60,
        snapshot_max_mb: int = 500,
        quick_check: bool = False,
        create: bool = True,
    ) -> Store:
        """Open (or create) the store in ``data_dir``; see the module docstring for refusals.

        ``quick_check``: read every page first (the kiosk at start-up; see ``open_database``).
        ``create=False``: a folder without a database raises ``NoStoreError`` (read-only
        and audit commands must not create a database and new keys in a mistyped folder).
        """
        db = open_database(data_dir, quick_check=quick_check, create=create)
        try:
            keys = _load_checked_keys(db, key_dir or data_dir / "keys")
        except BaseException:
            db.dispose()
            raise
        snapshots = SnapshotStore(
            data_dir / SNAPSHOT_DIR, snapshot_retention_days, snapshot_max_mb * 1024 * 1024
        )
        return cls(db, keys, device_id, data_dir, snapshots)

    @classmethod
    def from_config(
        cls, cfg: AttendanceConfig, *, quick_check: bool = False, create: bool = True
    ) -> Store:
        return cls.open(
            cfg.data_dir,
            device_id=cfg.device.id,
            key_dir=key_dir_for(cfg.data_dir, cfg.store),
            snapshot_retention_days=cfg.store.snapshot_retention_days,
            snapshot_max_mb=cfg.store.snapshot_max_mb,
            quick_check=quick_check,
            create=create,
        )

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def pin_attempts(self, nip: str) -> EmployeePinAttempts:
        """Wrong-PIN count and lockout of one NIP (see :class:`EmployeePinAttempts`)."""
        return EmployeePinAttempts(self.db, nip)

    def punch_count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.max(Punch.pk))).scalar() or 0)

    def punch_times(self, nip: str, start: datetime, end: datetime) -> list[datetime]:
        """UTC times of ``nip``'s punches with ``start <= utc < end`` (for the rules)."""
        with self.db.read() as conn:
            return punch_times(conn, nip, start, end)

    def add_correction(
        self,
        punch_id: str,
        field: str,
        old_value: str | None,
        new_value: str | None,
        reason: str,
        actor: str,
        at: datetime | None = None,
    ) -> None:
        """Record a correction beside a punch (e.g. a server clock offset); never rewrites it."""
        if not reason:
            raise ValueError("a correction needs a reason")
        with self.db.write() as conn:
            if conn.execute(select(Punch.pk).where(Punch.id == punch_id)).first() is None:
                raise StoreError(f"no punch with id {punch_id}")
            conn.execute(
                insert(Correction).values(
                    punch_id=punch_id,
                    field=field,
                    old_value=old_value,
                    new_value=new_value,
                    reason=reason,
                    actor=actor,
                    created_at=format_utc(at or datetime.now(UTC)),
                )
            )

    def corrections(self, punch_id: str) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(Correction).where(Correction.punch_id == punch_id).order_by(Correction.id)
            ).mappings()
            return [dict(r) for r in rows]

    def purge_snapshots(self, now: datetime | None = None) -> PurgeResult:
        """Apply the snapshot retention and disk cap (run daily and at start-up)."""
        return self.snapshots.purge(self.db, now or datetime.now(UTC))

    def erase_person(self, nip: str, actor: str) -> EraseResult:
        """Delete the face templates and punch snapshots of one person; punches stay.

        The erasure is audit logged (who, whom, how many), never what was erased.
        """
        validate_nip(nip)
        with self.db.write() as conn:
            templates = conn.execute(delete(FaceTemplate).where(FaceTemplate.nip == nip)).rowcount
            rels = list(
                conn.execute(
                    select(Punch.snapshot).where(Punch.nip == nip, Punch.snapshot.is_not(None))
                ).scalars()
            )
            conn.execute(update(Punch).where(Punch.nip == nip).values(snapshot=None))
            kept, fingers = without_person(
                decode_slots(get_state(conn, FINGERPRINT_SLOTS_KEY)), nip
            )
            if fingers:
                set_state(conn, FINGERPRINT_SLOTS_KEY, encode_slots(kept))
            append_audit(
                conn,
                actor,
                "erase_person",
                nip,
                f"templates={templates} snapshots={len(rels)} fingerprint_slots={len(fingers)}",
            )
        removed = 0
        for rel in rels:
            if rel is not None:
                self.snapshots.remove(rel)
                removed += 1
        log.info("erased biometrics of one person: %d templates, %d snapshots", templates, removed)
        return EraseResult(
            nip=nip,
            templates_deleted=int(templates),
            snapshots_deleted=removed,
            fingerprint_slots=fingers,
        )


def punch_times(conn: Connection, nip: str, start: datetime, end: datetime) -> list[datetime]:
    from attendance.ids import parse_utc

    rows = conn.execute(
        select(Punch.utc).where(
            Punch.nip == nip, Punch.utc >= format_utc(start), Punch.utc < format_utc(end)
        )
    ).scalars()
    return [parse_utc(u) for u in rows]


def key_dir_for(data_dir: Path, section: StoreSection) -> Path:
    return Path(section.key_dir) if section.key_dir else data_dir / "keys"


def _load_checked_keys(db: Database, key_dir: Path) -> DeviceKeys:
    with db.read() as conn:
        has_data = bool(
            conn.execute(select(Punch.pk).limit(1)).first()
            or conn.execute(select(FaceTemplate.id).limit(1)).first()
        )
        signing_fp = get_state(conn, _SIGNING_FP)
        template_fp = get_state(conn, _TEMPLATE_FP)
    may_create = not has_data and signing_fp is None and template_fp is None
    keys = load_keys(key_dir, may_create=may_create)
    for name, want, got in (
        ("signing", signing_fp, keys.signing_fingerprint),
        ("template", template_fp, keys.template_fingerprint),
    ):
        if want is not None and want != got:
            raise KeyFileError(
                f"the {name} key in {key_dir} does not belong to this database (fingerprint "
                f"{got}, the database expects {want}). Restore this kiosk's own key files; "
                "keys of another kiosk cannot read its templates or continue its chain."
            )
    if signing_fp is None or template_fp is None:
        with db.write() as conn:
            set_state(conn, _SIGNING_FP, keys.signing_fingerprint)
            set_state(conn, _TEMPLATE_FP, keys.template_fingerprint)
    return keys
