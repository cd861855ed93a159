"""SQLAlchemy 2.0 models of the central server's database.

The schema is created and evolved only by the Alembic revisions in
``server/migrations/versions`` (applied at start by :mod:`server.db`);
``tests/test_server_db.py`` checks that these models and the migrated schema
agree. Times are naive UTC (the same on SQLite and PostgreSQL). Each index
names the query it serves.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Device(Base):
    """A registered kiosk: its signing key and the hash of its bearer token."""

    __tablename__ = "devices"
    __table_args__ = (
        # Authentication: every device request looks its token up by hash.
        Index("ix_devices_token_hash", "token_hash", unique=True),
    )

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    opd_code: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[str] = mapped_column(String(64))  # hex, raw Ed25519
    token_hash: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of the token
    status: Mapped[str] = mapped_column(String(16))  # active | revoked
    registered_utc: Mapped[datetime] = mapped_column(DateTime())
    revoked_utc: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    last_seen_utc: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    health: Mapped[str | None] = mapped_column(Text(), nullable=True)  # JSON of the heartbeat


class EnrollmentCode(Base):
    """A one-time code an admin hands to the kiosk installer (only its hash is kept)."""

    __tablename__ = "enrollment_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    opd_code: Mapped[str] = mapped_column(String(32))
    created_utc: Mapped[datetime] = mapped_column(DateTime())
    expires_utc: Mapped[datetime] = mapped_column(DateTime())
    used_utc: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    used_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Punch(Base):
    """A punch from a kiosk (signed, chained) or from an ADMS machine (unsigned)."""

    __tablename__ = "punches"
    __table_args__ = (
        # Chain checks (predecessor/successor by seq) and the gap list per device.
        Index("ix_punches_device_seq", "device_id", "seq"),
        # Admin list filtered by NIP (and date).
        Index("ix_punches_nip_utc", "nip", "utc"),
        # Admin list by date range.
        Index("ix_punches_utc", "utc"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(8))  # native | adms
    seq: Mapped[int | None] = mapped_column(BigInteger(), nullable=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    record_hash: Mapped[str] = mapped_column(String(64))
    nip: Mapped[str] = mapped_column(String(18))
    utc: Mapped[datetime] = mapped_column(DateTime())
    local_offset_minutes: Mapped[int] = mapped_column(Integer())
    clock_state: Mapped[str] = mapped_column(String(16))
    verify_mode: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))
    flags: Mapped[str] = mapped_column(String(128), default="")  # comma separated
    signature: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Native: the canonical signed bytes (integrity.canonical_bytes); ADMS: the parsed line.
    record: Mapped[str] = mapped_column(Text())
    received_utc: Mapped[datetime] = mapped_column(DateTime())


class Employee(Base):
    """The roster, imported by the admin and published to the kiosks."""

    __tablename__ = "employees"
    __table_args__ = (
        # ADMS ingest: PIN -> NIP.
        Index("ix_employees_adms_pin", "adms_pin"),
    )

    nip: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    opd_code: Mapped[str] = mapped_column(String(32))
    employee_type: Mapped[str] = mapped_column(String(20))
    schedule_group: Mapped[str] = mapped_column(String(64))
    adms_pin: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean())
    updated_utc: Mapped[datetime] = mapped_column(DateTime())


class Template(Base):
    """A face template (float32 little-endian) enrolled at some kiosk."""

    __tablename__ = "templates"
    __table_args__ = (
        # Erasure: all templates of one person.
        Index("ix_templates_nip", "nip"),
    )

    template_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    nip: Mapped[str] = mapped_column(String(18))
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(32))
    # AES-256-GCM sealed (nonce || ciphertext || tag, the template id as associated data)
    # with the server's template key; ``sealed_with`` names that key (its fingerprint).
    # NULL: a plaintext row from before encryption, sealed at the next start.
    vector: Mapped[bytes] = mapped_column(LargeBinary())
    sealed_with: Mapped[str | None] = mapped_column(String(16), nullable=True)
    source_device: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_utc: Mapped[datetime] = mapped_column(DateTime())
    received_utc: Mapped[datetime] = mapped_column(DateTime())


class Change(Base):
    """The change feed: the latest change per (kind, key), ordered by ``seq``.

    ``seq`` never repeats (AUTOINCREMENT on SQLite, a sequence on PostgreSQL),
    so deleting a superseded change and inserting its successor keeps cursors
    monotonic.
    """

    __tablename__ = "changes"
    __table_args__ = (
        # Compaction: find the previous change of the same document.
        UniqueConstraint("kind", "key", name="uq_changes_kind_key"),
        # The feed of one kiosk: changes of the people in its scope.
        Index("ix_changes_nip", "nip"),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(128))
    op: Mapped[str] = mapped_column(String(8))  # upsert | delete
    data: Mapped[str | None] = mapped_column(Text(), nullable=True)  # JSON
    created_utc: Mapped[datetime] = mapped_column(DateTime())
    # The person the change is about (employee, template, scope exit); NULL = every kiosk.
    nip: Mapped[str | None] = mapped_column(String(18), nullable=True)
    # Only for kiosks of this OPD (a ``scope_exit``); NULL = decided by ``nip``.
    audience: Mapped[str | None] = mapped_column(String(32), nullable=True)


class AdmsUser(Base):
    """A user line (``USER PIN=..``) reported by an ADMS machine."""

    __tablename__ = "adms_users"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    pin: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    privilege: Mapped[str] = mapped_column(String(16))
    updated_utc: Mapped[datetime] = mapped_column(DateTime())
    # Biometrics the machine holds for the user ("fp:6,face:0"); never the templates.
    biometrics: Mapped[str] = mapped_column(String(128), default="", server_default="")


class AdmsUnmatched(Base):
    """An ATTLOG line whose PIN maps to no employee: kept for the admin, not lost."""

    __tablename__ = "adms_unmatched"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid5 like a punch
    serial: Mapped[str] = mapped_column(String(64))
    pin: Mapped[str] = mapped_column(String(32))
    local_time: Mapped[str] = mapped_column(String(19))
    line: Mapped[str] = mapped_column(String(512))
    received_utc: Mapped[datetime] = mapped_column(DateTime())


class AdmsCommand(Base):
    """A command queued for an ADMS machine, delivered on its next getrequest."""

    __tablename__ = "adms_commands"
    __table_args__ = (
        # getrequest: the queued commands of one serial.
        Index("ix_adms_commands_serial_status", "serial", "status"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(64))
    command: Mapped[str] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16))  # queued | sent | done
    return_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_utc: Mapped[datetime] = mapped_column(DateTime())
    sent_utc: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class AdmsDevice(Base):
    """An ADMS machine as the server knows it: trust status, source address, zone, info.

    A serial seen for the first time is ``pending``: what it sends is stored but
    held (not counted) until an admin approves it. ``allowed_network`` (an
    address or CIDR network) restricts where an approved serial may connect from.
    """

    __tablename__ = "adms_devices"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | blocked
    first_seen_utc: Mapped[datetime] = mapped_column(DateTime())
    last_seen_utc: Mapped[datetime] = mapped_column(DateTime())
    last_address: Mapped[str] = mapped_column(String(64))
    allowed_network: Mapped[str | None] = mapped_column(String(64), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)  # IANA name
    push_version: Mapped[str | None] = mapped_column(String(16), nullable=True)
    info: Mapped[str | None] = mapped_column(Text(), nullable=True)  # JSON of INFO / registry
    approved_utc: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    refused_address: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AdmsBatch(Base):
    """One upload (ATTLOG / user table) of an ADMS machine or one TCP pull: the unit of review."""

    __tablename__ = "adms_batches"
    __table_args__ = (
        # Volume check: lines of one serial in the last hour; the review list per serial.
        Index("ix_adms_batches_serial_received", "serial", "received_utc"),
        # Review list: held batches.
        Index("ix_adms_batches_status", "status"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(8))  # adms | zk
    table_name: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(64))
    received_utc: Mapped[datetime] = mapped_column(DateTime())
    lines: Mapped[int] = mapped_column(Integer())
    punches: Mapped[int] = mapped_column(Integer())  # newly stored punch rows
    unmatched: Mapped[int] = mapped_column(Integer())
    unparsed: Mapped[int] = mapped_column(Integer())
    status: Mapped[str] = mapped_column(String(16))  # counted | held | released | discarded
    reason: Mapped[str] = mapped_column(String(200), default="")


class AdmsHeld(Base):
    """A punch row of a held batch: it is in ``punches`` flagged ``held`` and does not count."""

    __tablename__ = "adms_held"
    __table_args__ = (
        # Release / discard of one batch.
        Index("ix_adms_held_batch", "batch_id"),
    )

    punch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[int] = mapped_column(BigInteger())


class AdmsReview(Base):
    """A line the server could not read (or could not place): kept raw for an admin."""

    __tablename__ = "adms_review"
    __table_args__ = (
        # Review list per serial.
        Index("ix_adms_review_serial", "serial", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[int | None] = mapped_column(BigInteger(), nullable=True)
    table_name: Mapped[str] = mapped_column(String(32))
    line: Mapped[str] = mapped_column(Text())
    reason: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(64))
    received_utc: Mapped[datetime] = mapped_column(DateTime())


class KioskAssignment(Base):
    """An employee who also punches at the kiosks of another OPD (an admin's assignment)."""

    __tablename__ = "kiosk_assignments"
    __table_args__ = (
        # Feed scope: the people assigned to one OPD's kiosks.
        Index("ix_kiosk_assignments_opd", "opd_code"),
    )

    nip: Mapped[str] = mapped_column(String(18), primary_key=True)
    opd_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_utc: Mapped[datetime] = mapped_column(DateTime())


class AuditEntry(Base):
    """Who did what to biometric data or trust settings on the server, and why."""

    __tablename__ = "audit_log"
    __table_args__ = (
        # Admin listing, newest first, optionally by subject.
        Index("ix_audit_log_at", "at_utc"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at_utc: Mapped[datetime] = mapped_column(DateTime())
    actor: Mapped[str] = mapped_column(String(80))  # device:<id> | admin | cli
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(80))  # a NIP, device id or template id
    detail: Mapped[str] = mapped_column(Text())  # JSON: why, counts, ids


# -- the web console (server/console) -------------------------------------------


class ConsoleUser(Base):
    """A named console account: role, scope (OPD or NIP), argon2 hash, lockout, TOTP."""

    __tablename__ = "console_users"
    __table_args__ = (
        # Login: look the account up by its name.
        Index("ix_console_users_username", "username", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    full_name: Mapped[str] = mapped_column(String(200))
    # superadmin | operator | head | auditor | employee
    role: Mapped[str] = mapped_column(String(16))
    opd_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    nip: Mapped[str | None] = mapped_column(String(18), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    failed_logins: Mapped[int] = mapped_column(Integer(), default=0)
    locked_until_utc: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean())
    created_utc: Mapped[datetime] = mapped_column(DateTime())


class ConsoleSession(Base):
    """A signed-in browser: only the SHA-256 of the cookie is kept, with its CSRF token."""

    __tablename__ = "console_sessions"
    __table_args__ = (
        # Sign-out everywhere / account deactivation: the sessions of one user.
        Index("ix_console_sessions_user", "user_id"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger())
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_utc: Mapped[datetime] = mapped_column(DateTime())
    last_seen_utc: Mapped[datetime] = mapped_column(DateTime())
    expires_utc: Mapped[datetime] = mapped_column(DateTime())


class ConsoleAudit(Base):
    """Every change made through the console (and sign-ins, and snapshot views)."""

    __tablename__ = "console_audit"
    __table_args__ = (
        # The audit page: newest first.
        Index("ix_console_audit_utc", "utc"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    utc: Mapped[datetime] = mapped_column(DateTime())
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text())  # JSON
    ip: Mapped[str] = mapped_column(String(64))


# The ledger's tables share this metadata (one migration chain).
import server.ledger_models  # noqa: E402

# The console's dashboard counts today's ledger rows of every OPD at once.
Index(
    "ix_ledger_days_work_date",
    server.ledger_models.LedgerDay.__table__.c.work_date,
)
