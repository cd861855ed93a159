"""Estimating the true time of punches stamped while the clock was not trusted.

A kiosk that booted without network or RTC stamps punches with a wall clock
it cannot vouch for (``clock_state`` unsynced or suspect). When the server's
time is reached, the monotonic clock of the same boot tells how long ago each
such punch was taken, so its true time is the server's time minus that span.
The estimate is written as a ``utc_estimate`` correction beside the punch;
the punch itself is signed and never rewritten.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import and_, exists, insert, select

from attendance.ids import format_utc
from attendance.models import Correction, Punch
from attendance.store import Store

UTC_ESTIMATE_FIELD = "utc_estimate"


def flag_untrusted_punches(
    store: Store,
    boot_id: str,
    monotonic_ns: int,
    server_unix: float,
    offset: float,
    now: datetime,
    limit: int = 5000,
) -> int:
    """Record a ``utc_estimate`` correction beside each not-yet-flagged punch of ``boot_id``
    whose clock state was not ``synced``; returns how many punches were looked at.

    ``monotonic_ns`` is this boot's monotonic reading taken with ``server_unix``
    (the server's time, seconds since the epoch); ``offset`` (server minus local,
    seconds) goes into the reason; ``now`` (the caller's injected clock) stamps
    the corrections.
    """
    done = exists().where(
        and_(Correction.punch_id == Punch.id, Correction.field == UTC_ESTIMATE_FIELD)
    )
    created_at = format_utc(now)
    with store.db.write() as conn:
        rows = conn.execute(
            select(Punch.id, Punch.utc, Punch.monotonic_ns, Punch.clock_state)
            .where(Punch.boot_id == boot_id, Punch.clock_state != "synced", ~done)
            .limit(limit)
        ).all()
        for punch_id, utc, mono, state in rows:
            if mono > monotonic_ns:
                continue
            estimate = server_unix - (monotonic_ns - mono) / 1e9
            conn.execute(
                insert(Correction).values(
                    punch_id=punch_id,
                    field=UTC_ESTIMATE_FIELD,
                    old_value=utc,
                    new_value=format_utc(datetime.fromtimestamp(estimate, UTC)),
                    reason=f"clock was {state}; server time offset {offset:+.3f} s",
                    actor="sync",
                    created_at=created_at,
                )
            )
    return len(rows)
