"""The kiosk's periodic jobs on a real store: clock watch and snapshot purge."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from attendance.clock import ClockTrust, FakeClock
from attendance.housekeeping import Housekeeping
from attendance.recorder import PunchRecorder
from attendance.store import EmployeeRecord, Store
from hadir.config import HadirConfig

NIP = "198703152010011002"
MONDAY_0740_WIB = datetime(2026, 11, 30, 0, 40, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 600 + b"\xff\xd9"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path, device_id="kiosk-07", snapshot_retention_days=1)
    s.employees.upsert_many([EmployeeRecord(NIP, "Siti Aminah", "DISKOMINFO", "PNS")])
    return s


def test_a_wall_clock_jump_between_punches_flags_them(store: Store) -> None:
    clock = FakeClock(MONDAY_0740_WIB)
    trust = ClockTrust(clock)
    recorder = PunchRecorder.from_config(store, HadirConfig(), clock, trust)
    now = [0.0]
    jobs = Housekeeping(
        trust, recorder.flag_clock_jump, store.purge_snapshots, monotonic=lambda: now[0]
    )
    jobs.run_once()
    clock.advance(20)
    # Stamped by a reader that did not see the jump (as after a restart).
    PunchRecorder.from_config(store, HadirConfig(), clock).record(NIP, "face", 0.3, 0.1)
    clock.advance(20)
    clock.jump_wall(-7200)  # the clock is set back two hours
    jobs.run_once()
    assert jobs.stats.jumps == 1 and jobs.stats.punches_flagged == 1
    with store.db.read() as conn:
        rows = conn.exec_driver_sql("SELECT field, new_value FROM corrections").all()
    assert [tuple(r) for r in rows] == [("clock_state", "suspect")]


def test_snapshots_are_purged_at_start_and_when_due(store: Store, tmp_path: Path) -> None:
    clock = FakeClock(MONDAY_0740_WIB)
    trust = ClockTrust(clock)
    recorder = PunchRecorder.from_config(store, HadirConfig(), clock, trust)
    recorder.record(NIP, "face", 0.3, 0.1, snapshot_jpeg=JPEG)
    snaps = [p for p in (tmp_path / "snapshots").rglob("*") if p.is_file()]
    assert len(snaps) == 1
    later = [datetime(2026, 12, 5, tzinfo=UTC)]  # past the 1-day retention
    now = [0.0]
    jobs = Housekeeping(
        trust,
        recorder.flag_clock_jump,
        lambda: store.purge_snapshots(later[0]),
        purge_seconds=3600,
        monotonic=lambda: now[0],
    )
    jobs.run_once()
    assert jobs.stats.purges == 1 and jobs.stats.snapshots_purged == 1
    assert not snaps[0].exists()
    jobs.run_once()
    assert jobs.stats.purges == 1  # not due yet
    now[0] = 3601
    jobs.run_once()
    assert jobs.stats.purges == 2


def test_a_failing_job_is_reported_and_the_thread_keeps_going(store: Store) -> None:
    clock = FakeClock(MONDAY_0740_WIB)
    trust = ClockTrust(clock)
    calls = []

    def broken_purge() -> object:
        calls.append(1)
        raise OSError(28, "No space left on device")

    jobs = Housekeeping(trust, lambda jump: 0, broken_purge, observe_seconds=0.01, purge_seconds=0)
    jobs.start()
    try:
        for _ in range(200):
            if len(calls) >= 3:
                break
            time.sleep(0.01)
    finally:
        jobs.stop()
    assert len(calls) >= 3
    assert jobs.stats.failures >= 3 and "No space left" in (jobs.stats.last_error or "")
    assert jobs.stats.observations >= 3
