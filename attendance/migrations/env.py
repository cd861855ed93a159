"""Alembic environment: runs on the connection handed over by ``attendance.db``.

Start-up calls ``alembic.command.upgrade`` with ``config.attributes["connection"]``
set, so migrations run on the same engine (and pragmas) as the application.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from attendance.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite alters tables by copy
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "attendance migrations run through attendance.db.open_database(), "
        "not the alembic command line"
    )
_run(connection)
