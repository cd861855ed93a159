"""SQLAlchemy 2.0 models of the kiosk's local store (``<data_dir>/hadir.db``).

The schema is created and evolved only by the Alembic revisions in
``attendance/migrations/versions``; ``tests/test_migrations.py`` checks that
these models and the migrated schema agree. Each index says which query it
serves. Times are UTC; punch times are kept as the exact signed string so the
signed record can be rebuilt byte for byte from the row.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

EMPLOYEE_TYPES = ("PNS", "PPPK", "PPPK_PW")
TEMPLATE_SOURCES = ("kiosk", "server")
CLOCK_STATES = ("synced", "unsynced", "suspect")
VERIFY_MODES = ("face", "fingerprint", "pin")
DIRECTIONS = ("masuk", "pulang")
OUTBOX_STATES = ("ready", "claimed", "delivered", "quarantined")

# PRAGMA application_id of a Hadir kiosk database ("HADR"): tells ours from any SQLite file.
APPLICATION_ID = 0x48414452


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    pass


class Employee(Base):
    """An ASN from the roster (server or local admin)."""

    __tablename__ = "employees"
    __table_args__ = (
        CheckConstraint("length(nip) = 18 AND nip NOT GLOB '*[^0-9]*'", name="ck_employees_nip"),
        CheckConstraint(_in("employee_type", EMPLOYEE_TYPES), name="ck_employees_type"),
        # Gallery scope "opd": the active staff of one OPD.
        Index("ix_employees_opd_code", "opd_code"),
    )

    nip: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    opd_code: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(200), server_default="")
    employee_type: Mapped[str] = mapped_column(String(20))
    schedule_group: Mapped[str] = mapped_column(String(64), server_default="default")
    active: Mapped[bool] = mapped_column(server_default=text("1"))
    # scrypt hash of the fallback PIN ("scrypt$n$r$p$salt$hash"), never the PIN.
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[str] = mapped_column(String(32))


class EmployeeOffice(Base):
    """An extra OPD of a person who works in several offices (matched there too)."""

    __tablename__ = "employee_offices"
    __table_args__ = (
        # Gallery scope "opd": people assigned to this OPD besides its own staff.
        Index("ix_employee_offices_opd_code", "opd_code"),
    )

    nip: Mapped[str] = mapped_column(
        ForeignKey("employees.nip", ondelete="CASCADE"), primary_key=True
    )
    opd_code: Mapped[str] = mapped_column(String(32), primary_key=True)


class FaceTemplate(Base):
    """One enrolled face sample: AES-GCM(nonce || ciphertext+tag) of 128 float32 LE.

    The template id is the associated data, so a ciphertext copied onto another
    row does not decrypt.
    """

    __tablename__ = "face_templates"
    __table_args__ = (
        CheckConstraint(_in("source", TEMPLATE_SOURCES), name="ck_face_templates_source"),
        # Gallery load and erase-person: all templates of one person.
        Index("ix_face_templates_nip", "nip"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    nip: Mapped[str] = mapped_column(ForeignKey("employees.nip", ondelete="CASCADE"))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    model: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(20))
    quality: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[str] = mapped_column(String(32))
    # When the central server accepted this kiosk-enrolled sample; NULL = not yet
    # (sync uploads those). Server templates arrive with it set (revision 0002).
    uploaded_at: Mapped[str | None] = mapped_column(String(32))


class Punch(Base):
    """A signed, chained punch. Signed columns are never updated (see ``corrections``).

    Hashes and the signature are raw bytes (hex on the wire) to keep a punch
    well under 1 KB; ``integrity.canonical_bytes`` of :func:`attendance.store
    .punch_record` over a row equals what was signed.
    """

    __tablename__ = "punches"
    __table_args__ = (
        CheckConstraint(_in("clock_state", CLOCK_STATES), name="ck_punches_clock_state"),
        CheckConstraint(_in("verify_mode", VERIFY_MODES), name="ck_punches_verify_mode"),
        CheckConstraint(_in("direction", DIRECTIONS), name="ck_punches_direction"),
        # Idempotency key towards the server; lookups of one punch by id.
        Index("ux_punches_id", "id", unique=True),
        # verify-log walks each device's chain in order; a repeated seq is impossible.
        Index("ux_punches_device_seq", "device_id", "seq", unique=True),
        # Rules at every punch: this person's earlier punches in the work period.
        Index("ix_punches_nip_utc", "nip", "utc"),
        # export --from/--to and the snapshot purge: punches in a time range.
        Index("ix_punches_utc", "utc"),
        # Clock corrections: punches of one boot in a monotonic range (flag_clock_jump)
        # or not yet corrected after a server time offset (sync). Revision 0003.
        Index("ix_punches_boot_mono", "boot_id", "monotonic_ns"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36))
    device_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    nip: Mapped[str] = mapped_column(String(18))
    utc: Mapped[str] = mapped_column(String(27))
    local_offset_minutes: Mapped[int] = mapped_column(Integer)
    clock_state: Mapped[str] = mapped_column(String(10))
    boot_id: Mapped[str] = mapped_column(String(64))
    monotonic_ns: Mapped[int] = mapped_column(BigInteger)
    verify_mode: Mapped[str] = mapped_column(String(12))
    direction: Mapped[str] = mapped_column(String(8))
    distance: Mapped[float | None] = mapped_column(Float)
    margin: Mapped[float | None] = mapped_column(Float)
    liveness: Mapped[str | None] = mapped_column(String(100))
    record_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    # Not signed: what the rules said at recording time (kiosk display, export).
    work_date: Mapped[str | None] = mapped_column(String(10))
    late_minutes: Mapped[int | None] = mapped_column(Integer)
    early_minutes: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(16))
    # Relative path under <data_dir>/snapshots; NULL when none or purged (revision 0002).
    snapshot: Mapped[str | None] = mapped_column(String(120))


class OutboxEntry(Base):
    """Delivery state of one punch, written in the punch's transaction.

    The row stays after delivery (state ``delivered``): it is the punch's
    delivery record, and nothing is deleted before the server acknowledged.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("state", OUTBOX_STATES), name="ck_outbox_state"),
        # Outbox.claim / pending_count / release_stale: the undelivered rows in punch order.
        # Partial, so delivered rows (the vast majority) cost nothing in it.
        Index(
            "ix_outbox_pending",
            "state",
            "punch_pk",
            sqlite_where=text("state IN ('ready', 'claimed')"),
        ),
    )

    punch_pk: Mapped[int] = mapped_column(
        ForeignKey("punches.pk", ondelete="RESTRICT"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(12), server_default="ready")
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Unix seconds of the claim; a claim older than the sync timeout is stale.
    claimed_at: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)


class Correction(Base):
    """A correction beside an original punch; the punch itself is never rewritten."""

    __tablename__ = "corrections"
    __table_args__ = (
        # All corrections of one punch (export, review).
        Index("ix_corrections_punch_id", "punch_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    punch_id: Mapped[str] = mapped_column(ForeignKey("punches.id", ondelete="RESTRICT"))
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[str] = mapped_column(String(32))


class AuditEntry(Base):
    """An admin action (who, what, on whom); append-only."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str | None] = mapped_column(Text)


class DeviceState(Base):
    """Small key/value facts of this kiosk: chain heads, key fingerprints, admin lockout."""

    __tablename__ = "device_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
