"""Punches waiting for an admin's review: stored (never lost), but not trusted as they are.

A kiosk may punch for a NIP the roster does not know (a typo at import, a
person added at the kiosk only, or a stolen kiosk inventing people), or for a
person its OPD does not serve. Such punches are flagged ``unknown_nip`` or
``out_of_scope`` at ingest and listed here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from server.db import Database
from server.models import Punch
from server.timeutil import format_utc

REVIEW_FLAGS = ("unknown_nip", "out_of_scope")


def review_punches(db: Database, *, limit: int = 1000, offset: int = 0) -> dict[str, Any]:
    flagged = or_(*(Punch.flags.like(f"%{flag}%") for flag in REVIEW_FLAGS))
    with db.read() as conn:
        total = conn.execute(select(func.count()).select_from(Punch).where(flagged)).scalar_one()
        rows = conn.execute(
            select(
                Punch.id,
                Punch.device_id,
                Punch.nip,
                Punch.utc,
                Punch.direction,
                Punch.verify_mode,
                Punch.flags,
                Punch.received_utc,
            )
            .where(flagged)
            .order_by(Punch.utc, Punch.id)
            .limit(limit)
            .offset(offset)
        ).all()
    return {
        "punches": [
            {
                "id": r.id,
                "device_id": r.device_id,
                "nip": r.nip,
                "utc": format_utc(r.utc),
                "direction": r.direction,
                "verify_mode": r.verify_mode,
                "flags": [f for f in r.flags.split(",") if f],
                "received_utc": format_utc(r.received_utc),
            }
            for r in rows
        ],
        "total": int(total),
    }
