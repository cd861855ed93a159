"""The server's database: SQLite by default, PostgreSQL by URL; migrated at start.

SQLite gets WAL, ``synchronous=FULL`` (an acknowledged punch survives a power
cut), a busy timeout, and write transactions that start with ``BEGIN
IMMEDIATE`` under an in-process lock, so concurrent request threads queue for
the single writer instead of failing with "database is locked". Each punch
batch is one transaction, which is what makes thousands of punches per second
possible on SQLite.

PostgreSQL writers that append to the change feed take a transaction-level
advisory lock (:meth:`Database.lock_changes`), so change ``seq`` values become
visible in commit order and a cursor never skips a change committed late.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import StaticPool

from attendance.db import begin_sqlite, configure_sqlite

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
# Key of the PostgreSQL advisory lock that serialises change-feed writers.
CHANGES_LOCK_KEY = 0x48414452
# Alembic's version table, named so the schema can share a PostgreSQL database.
VERSION_TABLE = "hadir_server_alembic_version"


class DatabaseError(Exception):
    """The server database cannot be opened or migrated; the message says why."""


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    configure_sqlite(dbapi_conn, BUSY_TIMEOUT_MS)


class Database:
    """One engine with the server's transaction discipline."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise DatabaseError(f"[server] database_url is not a database URL: {exc}") from None
        self.url = parsed
        self.dialect = parsed.get_backend_name()
        self._write_lock: threading.Lock | None = None
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            kwargs["connect_args"] = {
                "check_same_thread": False,
                "timeout": BUSY_TIMEOUT_MS / 1000,
            }
            if parsed.database in (None, "", ":memory:"):
                kwargs["poolclass"] = StaticPool  # one shared in-memory database
            else:
                try:
                    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise DatabaseError(
                        f"cannot create the directory of {parsed.database}: {exc.strerror}"
                    ) from None
                kwargs["pool_size"] = 16
                kwargs["max_overflow"] = 48
            self._write_lock = threading.Lock()
        elif self.dialect == "postgresql":
            kwargs["pool_size"] = 16
            kwargs["max_overflow"] = 48
            kwargs["pool_pre_ping"] = True
        else:
            raise DatabaseError(
                f"[server] database_url: unsupported database {self.dialect!r}; "
                "use sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB"
            )
        try:
            self.engine: Engine = create_engine(parsed, **kwargs)
        except Exception as exc:  # a missing driver, bad options
            raise DatabaseError(f"[server] database_url cannot be used: {exc}") from None
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _on_sqlite_connect)
            event.listen(self.engine, "begin", begin_sqlite)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction, committed when the block ends (rolled back on error)."""
        lock = self._write_lock if self._write_lock is not None else nullcontext()
        with lock, self.engine.connect() as conn:
            conn.execution_options(hadir_immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (one snapshot), rolled back at the end."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def lock_changes(self, conn: Connection) -> None:
        """Serialise change-feed writers until this transaction ends (PostgreSQL only).

        SQLite writers are already serial (one writer at a time).
        """
        if self.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHANGES_LOCK_KEY})

    def dispose(self) -> None:
        self.engine.dispose()


def _migration_config(conn: Connection | None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "server:migrations")
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_migration_config(None)).get_current_head()
    if head is None:
        raise DatabaseError("server migrations have no head revision")
    return str(head)


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply the server migrations up to ``revision``."""
    from alembic import command

    with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            # Several server instances starting at once migrate one at a time.
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": CHANGES_LOCK_KEY + 1})
            conn.commit()
        try:
            command.upgrade(_migration_config(conn), revision)
            conn.commit()
        finally:
            if db.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": CHANGES_LOCK_KEY + 1})
                conn.commit()


def open_database(url: str) -> Database:
    """Open the database at ``url`` and bring its schema to the newest revision."""
    db = Database(url)
    try:
        upgrade(db)
    except DBAPIError as exc:
        db.dispose()
        raise DatabaseError(f"cannot open or migrate the server database: {exc.orig}") from exc
    return db
