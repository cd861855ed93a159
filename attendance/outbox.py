"""The transactional outbox the sync worker drains.

Every punch gets an outbox row in the same transaction (see
:mod:`attendance.recorder`). States: ``ready`` -> ``claimed`` (by one sync
round, with a timestamp) -> ``delivered`` once the server acknowledged it, or
``quarantined`` with the server's reason. A claim left by a crashed or hung
round goes back to ``ready`` through :meth:`Outbox.release_stale`. Claims are
atomic (``BEGIN IMMEDIATE``), so two workers never send the same row in the
same round. Nothing is ever deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update

from attendance.batches import chunked
from attendance.db import Database
from attendance.models import OutboxEntry, Punch
from attendance.records import punch_record, record_columns

_CHUNK = 500  # SQLite bound-parameter batches


@dataclass(frozen=True)
class OutboxItem:
    punch_id: str
    record: dict[str, Any]  # the signed wire record (SIGNED_FIELDS + "signature")
    attempts: int  # including this claim
    snapshot: str | None  # relative path under <data_dir>/snapshots, if kept


@dataclass(frozen=True)
class OutboxStats:
    ready: int
    claimed: int
    delivered: int
    quarantined: int
    oldest_pending_utc: str | None  # signed utc of the oldest ready/claimed punch

    @property
    def pending(self) -> int:
        return self.ready + self.claimed


class Outbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    def claim(self, batch: int, now: datetime) -> list[OutboxItem]:
        """Atomically move up to ``batch`` ready rows (oldest punch first) to ``claimed``."""
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        with self._db.write() as conn:
            rows = (
                conn.execute(
                    select(
                        *record_columns(),
                        Punch.pk,
                        Punch.snapshot,
                        OutboxEntry.attempts,
                    )
                    .join(OutboxEntry, OutboxEntry.punch_pk == Punch.pk)
                    .where(OutboxEntry.state == "ready")
                    .order_by(OutboxEntry.punch_pk)
                    .limit(batch)
                )
                .mappings()
                .all()
            )
            if not rows:
                return []
            conn.execute(
                update(OutboxEntry)
                .where(OutboxEntry.punch_pk == bindparam("b_pk"))
                .values(
                    state="claimed",
                    claimed_at=now.timestamp(),
                    attempts=OutboxEntry.attempts + 1,
                ),
                [{"b_pk": r["pk"]} for r in rows],
            )
        return [
            OutboxItem(
                punch_id=r["id"],
                record=punch_record(dict(r)),
                attempts=r["attempts"] + 1,
                snapshot=r["snapshot"],
            )
            for r in rows
        ]

    def _set_state(
        self, punch_ids: Sequence[str], state: str, from_states: tuple[str, ...], reason: str | None
    ) -> int:
        changed = 0
        with self._db.write() as conn:
            for chunk in chunked(list(punch_ids), _CHUNK):
                pks = select(Punch.pk).where(Punch.id.in_(chunk)).scalar_subquery()
                res = conn.execute(
                    update(OutboxEntry)
                    .where(OutboxEntry.punch_pk.in_(pks), OutboxEntry.state.in_(from_states))
                    .values(state=state, claimed_at=None, reason=reason)
                )
                changed += res.rowcount
        return changed

    def ack(self, punch_ids: Iterable[str]) -> int:
        """Mark punches delivered (accepted or duplicate at the server); returns rows changed."""
        return self._set_state(
            list(punch_ids), "delivered", ("ready", "claimed", "quarantined"), None
        )

    def release(self, punch_ids: Iterable[str]) -> int:
        """Give claimed rows back (the round failed before an answer); they go again."""
        return self._set_state(list(punch_ids), "ready", ("claimed",), None)

    def quarantine(self, punch_id: str, reason: str) -> None:
        """Park a punch the server rejected; it never blocks the rest and is never deleted."""
        if not reason:
            raise ValueError("a quarantine needs the reason the server gave")
        self._set_state([punch_id], "quarantined", ("ready", "claimed"), reason)

    def requeue_quarantined(self, punch_ids: Iterable[str]) -> int:
        """An operator decided to retry quarantined punches (e.g. after a server fix)."""
        return self._set_state(list(punch_ids), "ready", ("quarantined",), None)

    def release_stale(self, older_than: datetime) -> int:
        """Return claims made before ``older_than`` to ``ready`` (crash recovery at start)."""
        with self._db.write() as conn:
            res = conn.execute(
                update(OutboxEntry)
                .where(
                    OutboxEntry.state == "claimed",
                    OutboxEntry.claimed_at < older_than.timestamp(),
                )
                .values(state="ready", claimed_at=None)
            )
            return res.rowcount

    def stats(self) -> OutboxStats:
        with self._db.read() as conn:
            counts: dict[str, int] = {
                state: int(n)
                for state, n in conn.execute(
                    select(OutboxEntry.state, func.count()).group_by(OutboxEntry.state)
                ).all()
            }
            oldest = conn.execute(
                select(Punch.utc)
                .join(OutboxEntry, OutboxEntry.punch_pk == Punch.pk)
                .where(OutboxEntry.state.in_(("ready", "claimed")))
                .order_by(OutboxEntry.punch_pk)
                .limit(1)
            ).scalar()
        return OutboxStats(
            ready=counts.get("ready", 0),
            claimed=counts.get("claimed", 0),
            delivered=counts.get("delivered", 0),
            quarantined=counts.get("quarantined", 0),
            oldest_pending_utc=oldest,
        )

    def pending_count(self) -> int:
        with self._db.read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(OutboxEntry)
                    .where(OutboxEntry.state.in_(("ready", "claimed")))
                ).scalar_one()
            )

    def quarantined(self) -> list[tuple[str, str]]:
        """(punch id, reason) of every quarantined punch, oldest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(Punch.id, OutboxEntry.reason)
                .join(OutboxEntry, OutboxEntry.punch_pk == Punch.pk)
                .where(OutboxEntry.state == "quarantined")
                .order_by(OutboxEntry.punch_pk)
            ).all()
        return [(r[0], r[1] or "") for r in rows]
