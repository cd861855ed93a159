"""Opening the kiosk database: refuse what is not ours, set the pragmas, migrate.

Every connection gets WAL, ``synchronous=FULL`` (a commit is on disk when it
returns, also across a power cut), foreign keys and a busy timeout. Write
transactions start with ``BEGIN IMMEDIATE`` (:meth:`Database.write`) so the
recorder and the sync thread never deadlock on a read-to-write upgrade; reads
(:meth:`Database.read`) start a deferred transaction and see one snapshot.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError

from attendance.models import APPLICATION_ID

log = logging.getLogger(__name__)

DB_FILENAME = "hadir.db"
SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 5000


class StoreError(Exception):
    """The store cannot be used as it is; the message says what to do."""


class DatabaseRefusedError(StoreError):
    """The database file is corrupt, foreign or from a newer Hadir."""


class NoStoreError(StoreError):
    """There is no kiosk database in the folder and the caller may not create one."""


class StorageFullError(StoreError):
    """The disk (or the file size limit) is full; nothing was recorded."""


def configure_sqlite(dbapi_conn: Any, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    """WAL, synchronous=FULL, foreign keys and a busy timeout on a new connection.

    Shared with the central server. SQLAlchemy's "begin" event emits BEGIN
    itself (pysqlite's implicit transactions are unreliable); see
    :func:`begin_sqlite` for IMMEDIATE.
    """
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
    finally:
        cur.close()


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    configure_sqlite(dbapi_conn)


def begin_sqlite(conn: Connection) -> None:
    """``BEGIN``, or ``BEGIN IMMEDIATE`` when the ``hadir_immediate`` option is set."""
    immediate = conn.get_execution_options().get("hadir_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_SQLITE_FULL = 13
_SQLITE_IOERR_WRITE = 778  # a failed write(2): ENOSPC is reported as FULL, EFBIG/EDQUOT as this


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` means the data could not be written: no space, quota or size limit."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        return code in (_SQLITE_FULL, _SQLITE_IOERR_WRITE) or "disk is full" in str(orig)
    if isinstance(orig, OSError):
        return orig.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
    return False


def check_file_is_ours(path: Path) -> None:
    """Refuse a file that is not a SQLite database before SQLite touches it."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb") as fh:
        header = fh.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise DatabaseRefusedError(
            f"{path} is not a Hadir database (not even SQLite: the file is corrupt or "
            "something else). Move it aside and restore the kiosk's backup; do not delete it, "
            "it may hold punches not yet delivered."
        )


class Database:
    """The engine of one kiosk database file with Hadir's pragmas and transactions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.engine: Engine = create_engine(
            f"sqlite:///{path}",
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(self.engine, "connect", _on_connect)
        event.listen(self.engine, "begin", begin_sqlite)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A ``BEGIN IMMEDIATE`` transaction, committed (durably) when the block ends.

        A full disk (or file size limit) becomes :class:`StorageFullError`; the
        transaction is rolled back and the database stays intact.
        """
        try:
            with self.engine.connect() as conn:
                conn.execution_options(hadir_immediate=True)
                with conn.begin():
                    yield conn
        except (DBAPIError, sqlite3.Error) as exc:  # sqlite3: a raw cursor inside the block
            if is_disk_full(exc):
                raise StorageFullError(
                    f"the disk holding {self.path} is full (or cannot be written); nothing of "
                    "this change was stored. Free space in the data directory."
                ) from exc
            raise

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A deferred (read) transaction: one consistent snapshot, rolled back at the end."""
        with self.engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


#: The newest migration (a test keeps it equal to Alembic's head). A database
#: already there opens without importing Alembic, which would add about 12 MB
#: to the kiosk's memory and a part of its start-up time.
SCHEMA_HEAD = "0003"


def _stored_revision(conn: Connection) -> str | None:
    """``alembic_version`` read with plain SQL (None before the first migration)."""
    has_table = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).first()
    if has_table is None:
        return None
    rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    if len(rows) > 1:  # branches: let Alembic judge
        return current_revision(conn)
    return str(rows[0][0]) if rows else None


def _migration_config(conn: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    # A package resource, so it works from an installed wheel as from a checkout.
    cfg.set_main_option("script_location", "attendance:migrations")
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    cfg = _migration_config(None)  # type: ignore[arg-type]
    head = ScriptDirectory.from_config(cfg).get_current_head()
    if head is None:
        raise StoreError("attendance migrations have no head revision")
    return head


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (the schema only ever moves forward)."""
    from alembic import command

    with db.engine.connect() as conn:
        command.upgrade(_migration_config(conn), revision)
        conn.commit()


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def missing_store_message(data_dir: Path) -> str:
    what = "does not exist" if not data_dir.exists() else f"has no {DB_FILENAME}"
    return (
        f"no kiosk database: {data_dir} {what}. Check --data-dir (or [device] data_dir "
        "in the config); nothing was created. A kiosk's database is made when the kiosk "
        "is set up (hadir setup, hadir kiosk, hadir set-admin-pin, hadir sync register) "
        "or restored (hadir restore)."
    )


def open_database(
    data_dir: Path, *, migrate_to: str = "head", quick_check: bool = False, create: bool = True
) -> Database:
    """Open (creating if needed) ``<data_dir>/hadir.db`` and bring its schema up to date.

    ``create=False`` (read-only and audit commands) raises :class:`NoStoreError`
    instead of creating a database (and, in the store, new keys) in a wrong folder.

    Raises :class:`DatabaseRefusedError` for a corrupt file, a SQLite file of another
    application, or a schema newer than this program knows. ``quick_check`` also reads
    every page (``PRAGMA quick_check``, seconds on a large store): the kiosk does it
    once at start-up so damage deep in the file is found before a punch needs it.
    """
    path = data_dir / DB_FILENAME
    if not create and not path.is_file():
        raise NoStoreError(missing_store_message(data_dir))
    if not data_dir.exists():
        data_dir.mkdir(parents=True, mode=0o700)  # personal data: owner only
    if not path.exists():
        # Created owner-only; SQLite gives the -wal and -shm files the same mode.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    check_file_is_ours(path)
    with _quiet_alembic():
        db = _open_checked(path, migrate_to)
    if quick_check:
        try:
            with db.read() as conn:
                rows = [r[0] for r in conn.exec_driver_sql("PRAGMA quick_check")]
        except DBAPIError as exc:
            rows = [str(exc.orig)]
        if rows != ["ok"]:
            db.dispose()
            raise DatabaseRefusedError(
                f"{path} is damaged ({'; '.join(rows[:3])}). Move it aside (keep it: "
                "undelivered punches may be recoverable with sqlite3 .recover) and restore "
                "the kiosk's backup, or start with an empty data directory and re-sync."
            )
    return db


def _open_checked(path: Path, migrate_to: str) -> Database:
    db = Database(path)
    try:
        with db.engine.connect() as conn:
            app_id = conn.exec_driver_sql("PRAGMA application_id").scalar()
            tables = conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            ).scalar()
            if app_id == 0 and tables == 0:
                conn.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")
            elif app_id != APPLICATION_ID:
                raise DatabaseRefusedError(
                    f"{path} is not a Hadir database (a SQLite file of another application, "
                    f"application_id {app_id}). Point --data-dir at a kiosk data directory, or "
                    "move this file aside."
                )
            rev = _stored_revision(conn)
            conn.commit()
        if rev == SCHEMA_HEAD and migrate_to in ("head", SCHEMA_HEAD):
            return db  # up to date: no Alembic needed
        known = _known_revisions()
        target = head_revision() if migrate_to == "head" else migrate_to
        if rev is not None and rev not in known:
            raise DatabaseRefusedError(
                f"{path} has schema revision {rev}, which this Hadir does not know (a newer "
                "version wrote it). Install the newer Hadir; do not downgrade the kiosk."
            )
        if rev != target:
            log.info("migrating %s from %s to %s", path, rev or "empty", target)
            if rev is None:
                upgrade(db, target)
            else:
                _upgrade_or_roll_back(db, path, rev, target)
    except DatabaseRefusedError:
        db.dispose()
        raise
    except DBAPIError as exc:
        db.dispose()
        if is_disk_full(exc):
            raise StorageFullError(f"no space left to open {path}: free disk space") from exc
        raise DatabaseRefusedError(
            f"{path} cannot be used: {exc.orig}. The file is corrupt. Move it aside (keep it: "
            "undelivered punches may be recoverable) and restore the kiosk's backup, or start "
            "with an empty data directory and re-sync the roster."
        ) from exc
    return db


def pre_migration_copy_path(path: Path, target: str) -> Path:
    return path.with_name(f"{path.name}.before-{target}")


def _upgrade_or_roll_back(db: Database, path: Path, rev: str, target: str) -> None:
    """Migrate an existing store; on any failure put the copy taken before back.

    SQLite DDL in Alembic is not one transaction, so a migration that fails half
    way would leave a half-migrated file. The copy (SQLite's online backup API,
    owner-only) stays beside the database after a successful upgrade as well:
    ``hadir.db.before-<revision>``, the way back to the previous Hadir.
    """
    copy = pre_migration_copy_path(path, target)
    copy.unlink(missing_ok=True)
    os.close(os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    source = sqlite3.connect(path)
    try:
        target_db = sqlite3.connect(copy)
        try:
            source.backup(target_db)
        finally:
            target_db.close()
    finally:
        source.close()
    try:
        upgrade(db, target)
    except BaseException as exc:
        db.dispose()
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        shutil.copyfile(copy, path)
        log.error("migrating %s to %s failed (%s); rolled back to %s", path, target, exc, rev)
        raise DatabaseRefusedError(
            f"migrating {path} from schema {rev} to {target} failed ({exc}); the database "
            f"was put back as it was (schema {rev}, copy in {copy}). Run the previous Hadir "
            "version, and report the error."
        ) from exc
    log.info("migrated %s to %s; the copy from before is %s", path, target, copy)


@contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Alembic logs every plugin and step at INFO; the kiosk logs one line instead."""
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        alembic_log.setLevel(level)


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_migration_config(None))  # type: ignore[arg-type]
    return {rev.revision for rev in script.walk_revisions()}
