"""attendance.clockfix: the server's time fixes punches of an untrusted clock, once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from attendance.clockfix import UTC_ESTIMATE_FIELD, flag_untrusted_punches
from attendance.ids import parse_utc
from attendance.models import Correction
from sync.simkiosk import SimKiosk


def test_estimates_use_the_monotonic_clock_and_the_injected_now(tmp_path: Path) -> None:
    kiosk = SimKiosk.create(tmp_path / "k", "kiosk-fix", people=3)
    try:
        kiosk.clock.synchronized = False
        untrusted = kiosk.record(3, step_seconds=60)
        kiosk.clock.advance(1)
        assert kiosk.trust is not None
        reading = kiosk.trust.read()  # taken with the server's time below
        kiosk.clock.reboot("boot-2")
        other_boot = kiosk.record(1)  # untrusted too, but its monotonic clock is another
        server_unix = datetime(2027, 1, 4, 1, 0, tzinfo=UTC).timestamp()
        now = datetime(2027, 1, 4, 1, 0, 5, tzinfo=UTC)  # the caller's clock, not the host's
        flagged = flag_untrusted_punches(
            kiosk.store, reading.boot_id, reading.monotonic_ns, server_unix, 3600.0, now
        )
        assert flagged == 3
        with kiosk.store.db.read() as conn:
            rows = conn.execute(
                select(
                    Correction.punch_id,
                    Correction.field,
                    Correction.new_value,
                    Correction.created_at,
                    Correction.reason,
                )
            ).all()
        by_id = {r[0]: r for r in rows}
        assert set(by_id) == set(untrusted) and other_boot[0] not in by_id
        assert {r[1] for r in rows} == {UTC_ESTIMATE_FIELD}
        assert {parse_utc(r[3]) for r in rows} == {now}
        # The reading came 1 s after the last punch, 61 s after the second...
        estimates = [parse_utc(by_id[pid][2]).timestamp() for pid in untrusted]
        assert [round(server_unix - e) for e in estimates] == [121, 61, 1]
        assert "offset +3600.000 s" in by_id[untrusted[0]][4]
        # Idempotent: a second server contact adds nothing.
        again = flag_untrusted_punches(
            kiosk.store, reading.boot_id, reading.monotonic_ns, server_unix, 3600.0, now
        )
        assert again == 0
    finally:
        kiosk.close()
