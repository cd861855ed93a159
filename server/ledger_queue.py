"""The ledger's job queue: which (employee, date) must be recomputed.

Every input of the ledger (a punch from a kiosk, an ADMS machine or an
import, a decided absence, an approved correction, a transfer, a schedule or
calendar document, the end of a day) *enqueues* the keys it affects in the
same transaction that stores it, so nothing is lost between the write and
the recomputation. :class:`server.ledger.Ledger` drains the queue.

A key is ``(nip, local date)``. For a punch the date is the punch's local
calendar date; the worker also recomputes the day before when the
employee's group starts its work date later than midnight (a night shift's
06:00 punch belongs to the work date before).

States, after ``attendance/outbox.py`` but with the database doing the
bookkeeping: *queued* (a row exists), *claimed* (a worker holds the row lock
in its transaction: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the single
``BEGIN IMMEDIATE`` writer on SQLite), *done* (the row is deleted in the
transaction that wrote the ledger rows). A crashed worker's transaction
rolls back, which releases its claim: no stale-claim sweep is needed. A key
queued again while claimed bumps ``generation`` once the claim is released
(the enqueuing transaction waits on the row lock), so the newer input is
computed by the next drain, never lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from server.ledger_models import LedgerJob

# Keys per executemany.
ENQUEUE_CHUNK = 20000


def enqueue(conn: Connection, keys: Iterable[tuple[str, date]], now: datetime) -> int:
    """Queue ``(nip, date)`` keys (deduplicated, in a fixed order so that
    concurrent enqueuers lock rows in the same order and cannot deadlock)."""
    unique = sorted(set(keys))
    if not unique:
        return 0
    queued = now.replace(tzinfo=None) if now.tzinfo is not None else now
    module: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    table = LedgerJob.__table__
    stmt = module.insert(table)
    # One statement, compiled once, run as an executemany (no multi-VALUES text).
    stmt = stmt.on_conflict_do_update(
        index_elements=["nip", "work_date"],
        set_={"generation": table.c.generation + 1, "queued_utc": stmt.excluded.queued_utc},
    )
    for i in range(0, len(unique), ENQUEUE_CHUNK):
        chunk = unique[i : i + ENQUEUE_CHUNK]
        conn.execute(
            stmt,
            [
                {"nip": nip, "work_date": day, "generation": 1, "queued_utc": queued}
                for nip, day in chunk
            ],
        )
    return len(unique)


def punch_keys(rows: Sequence[Mapping[str, Any]]) -> set[tuple[str, date]]:
    """The keys of stored punch rows (``nip``, naive UTC ``utc``, ``local_offset_minutes``)."""
    keys: set[tuple[str, date]] = set()
    for row in rows:
        local = row["utc"] + timedelta(minutes=int(row["local_offset_minutes"]))
        keys.add((str(row["nip"]), local.date()))
    return keys


def enqueue_punches(conn: Connection, rows: Sequence[Mapping[str, Any]], now: datetime) -> None:
    """Called by punch ingest (native, ADMS, import) for the rows it inserted."""
    enqueue(conn, punch_keys(rows), now)
