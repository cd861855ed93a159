"""Admin read side of the punches: filtered lists and id look-ups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from server.db import Database
from server.errors import ApiError
from server.ingest import one_of
from server.models import Punch
from server.timeutil import format_utc, to_db


def _local_midnight_utc(day: date, zone: ZoneInfo) -> datetime | None:
    """UTC start of a local day; None at the ends of the calendar (no bound)."""
    try:
        return to_db(datetime.combine(day, time(0), tzinfo=zone))
    except OverflowError:
        return None


class PunchReports:
    def __init__(self, db: Database, timezone: str) -> None:
        self._db = db
        self._zone = ZoneInfo(timezone)

    def list_punches(
        self,
        *,
        date_from: date | None,
        date_to: date | None,
        nip: str | None,
        device_id: str | None,
        source: str | None,
        limit: int,
        offset: int,
    ) -> dict[str, Any]:
        if date_from and date_to and date_to < date_from:
            raise ApiError(422, "invalid_request", "date_to is before date_from")
        conditions = []
        lower = _local_midnight_utc(date_from, self._zone) if date_from is not None else None
        upper = None
        if date_to is not None and date_to < date.max:
            upper = _local_midnight_utc(date_to + timedelta(days=1), self._zone)
        if lower is not None:
            conditions.append(Punch.utc >= lower)
        if upper is not None:
            conditions.append(Punch.utc < upper)
        if nip:
            conditions.append(Punch.nip == nip)
        if device_id:
            conditions.append(Punch.device_id == device_id)
        if source:
            conditions.append(Punch.source == source)
        with self._db.read() as conn:
            total = conn.execute(
                select(func.count()).select_from(Punch).where(*conditions)
            ).scalar_one()
            rows = conn.execute(
                select(Punch.__table__)
                .where(*conditions)
                .order_by(Punch.utc, Punch.id)
                .limit(limit)
                .offset(offset)
            ).all()
            punches = [
                {
                    "id": p.id,
                    "device_id": p.device_id,
                    "source": p.source,
                    "seq": p.seq,
                    "nip": p.nip,
                    "utc": format_utc(p.utc),
                    "local_offset_minutes": p.local_offset_minutes,
                    "clock_state": p.clock_state,
                    "verify_mode": p.verify_mode,
                    "direction": p.direction,
                    "flags": [f for f in p.flags.split(",") if f],
                    "received_utc": format_utc(p.received_utc),
                }
                for p in rows
            ]
        return {"punches": punches, "total": int(total)}

    def lookup(self, ids: Sequence[str]) -> dict[str, Any]:
        wanted = list(dict.fromkeys(ids))
        found: set[str] = set()
        with self._db.read() as conn:
            for i in range(0, len(wanted), 900):
                chunk = wanted[i : i + 900]
                found.update(
                    conn.execute(select(Punch.id).where(one_of(conn, Punch.id, chunk))).scalars()
                )
        return {"found": len(found), "missing": [i for i in wanted if i not in found]}
