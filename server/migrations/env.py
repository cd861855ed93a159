"""Alembic environment of the server: runs on the connection handed over by ``server.db``.

Start-up calls ``alembic.command.upgrade`` with ``config.attributes["connection"]``
set, so migrations run on the same engine as the application (SQLite or
PostgreSQL). The version table has its own name so the server's schema can
share a PostgreSQL database with other applications.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from server.db import VERSION_TABLE
from server.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite alters tables by copy
        transaction_per_migration=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "server migrations run through server.db.open_database(), not the alembic command line"
    )
_run(connection)
