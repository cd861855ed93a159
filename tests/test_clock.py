from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from attendance.clock import ClockReading, ClockTrust, FakeClock, SystemClock


def trust_for(clock: FakeClock, **kwargs: Any) -> ClockTrust:
    return ClockTrust(clock, os_check_interval_s=0.0, **kwargs)


def test_state_follows_the_os_when_nothing_jumped() -> None:
    clock = FakeClock(synchronized=True)
    trust = trust_for(clock)
    assert trust.state_for_punch() == "synced"
    clock.synchronized = False
    clock.advance(5)
    assert trust.state_for_punch() == "unsynced"
    clock.synchronized = None
    clock.advance(5)
    assert trust.state_for_punch() == "unsynced"


def test_stamp_reads_both_clocks_once() -> None:
    clock = FakeClock(datetime(2026, 11, 30, 0, 30, tzinfo=UTC), monotonic_ns=42, boot_id="b1")
    stamp = ClockTrust(clock).stamp()
    assert stamp.utc == datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
    assert (stamp.monotonic_ns, stamp.boot_id, stamp.state) == (42, "b1", "synced")


def test_wall_jump_marks_punches_suspect_for_a_window() -> None:
    clock = FakeClock(synchronized=True)
    trust = trust_for(clock, suspect_window_s=600.0)
    assert trust.observe() is None
    clock.advance(10)
    assert trust.observe() is None
    before = trust.last_reading()
    clock.advance(1)
    clock.jump_wall(3600)  # NTP corrects a clock that was an hour behind
    stamp = trust.stamp()
    assert stamp.state == "suspect" and stamp.jump is not None
    (jump,) = trust.jumps()
    assert stamp.jump == jump
    assert jump.after == before
    assert jump.step_seconds == pytest.approx(3600)
    assert jump.seen.boot_id == "fake-boot-1"
    clock.advance(599)
    later = trust.stamp()
    assert later.state == "suspect" and later.jump is None
    clock.advance(2)
    assert trust.state_for_punch() == "synced"
    assert len(trust.jumps()) == 1  # the window's end is not another jump


def test_backward_jump_is_seen_too() -> None:
    clock = FakeClock(synchronized=False)
    trust = trust_for(clock)
    trust.observe()
    clock.advance(30)
    clock.jump_wall(-7200)
    jump = trust.observe()
    assert jump is not None and jump.step_seconds == pytest.approx(-7200)
    assert trust.state_for_punch() == "suspect"


def test_small_steps_and_slew_are_tolerated() -> None:
    clock = FakeClock()
    trust = trust_for(clock, jump_tolerance_s=2.0)
    trust.observe()
    clock.advance(1)
    clock.jump_wall(1.5)
    assert trust.observe() is None
    # An hour without readings allows 500 ppm of slew (1.8 s) on top of the tolerance.
    clock.advance(3600)
    clock.jump_wall(3.0)
    assert trust.observe() is None
    clock.advance(1)
    clock.jump_wall(2.5)
    assert trust.observe() is not None


def test_reboot_starts_a_new_timeline_without_a_false_jump() -> None:
    clock = FakeClock()
    trust = trust_for(clock)
    trust.observe()
    clock.reboot("fake-boot-2", monotonic_ns=5_000_000_000)
    clock.jump_wall(-86400)  # an RTC-less board boots with yesterday's time
    assert trust.observe() is None
    assert trust.state_for_punch() == "synced"


def test_baseline_from_the_same_boot_detects_a_jump_across_a_restart() -> None:
    clock = FakeClock()
    first = trust_for(clock)
    first.observe()
    saved = first.last_reading()
    assert isinstance(saved, ClockReading)
    clock.advance(20)
    clock.jump_wall(-600)
    restarted = trust_for(clock, baseline=saved)
    assert restarted.state_for_punch() == "suspect"
    # A baseline of another boot is ignored.
    clock.reboot("fake-boot-9")
    other = trust_for(clock, baseline=saved)
    assert other.state_for_punch() == "synced"


def test_server_offset_is_recorded_and_counts_as_synced_while_recent() -> None:
    clock = FakeClock(synchronized=False)
    trust = trust_for(clock, server_offset_max_age_s=3600.0)
    assert trust.state_for_punch() == "unsynced"
    first = trust.apply_server_offset(0.4)
    assert first.offset_seconds == 0.4 and first.at_utc == clock.now_utc()
    assert trust.state_for_punch() == "synced"
    clock.advance(3601)
    assert trust.state_for_punch() == "unsynced"
    # A large offset means our wall clock is wrong: recorded, but not "synced".
    at = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    second = trust.apply_server_offset(-125.0, at)
    assert trust.state_for_punch() == "unsynced"
    assert trust.server_offset() == second and second.at_utc == at
    assert trust.server_offsets() == (first, second)  # never rewritten
    with pytest.raises(ValueError, match="aware"):
        trust.apply_server_offset(0.1, datetime(2026, 11, 30, 1, 0))


def test_os_state_is_cached_between_checks() -> None:
    clock = FakeClock(synchronized=True)
    trust = ClockTrust(clock, os_check_interval_s=60.0)
    assert trust.state_for_punch() == "synced"
    clock.synchronized = False
    clock.advance(30)
    trust.observe()
    assert trust.state_for_punch() == "synced"
    clock.advance(31)  # the timer's observe() re-asks after one interval
    trust.observe()
    assert trust.state_for_punch() == "unsynced"
    clock.synchronized = True
    clock.advance(61)  # without observe() a punch re-asks only after two intervals
    assert trust.state_for_punch() == "unsynced"
    clock.advance(60)
    assert trust.state_for_punch() == "synced"


def test_fake_clock_refuses_naive_times_and_negative_advance() -> None:
    with pytest.raises(ValueError):
        FakeClock(datetime(2026, 1, 1))
    clock = FakeClock()
    with pytest.raises(ValueError):
        clock.advance(-1)
    clock.set_wall(datetime(2030, 1, 1, tzinfo=UTC))
    assert clock.now_utc().year == 2030


def test_system_clock_reads_the_machine(tmp_path: Path) -> None:
    clock = SystemClock()
    now = clock.now_utc()
    assert now.tzinfo is not None and now.utcoffset() is not None
    assert abs((now - datetime.now(UTC)).total_seconds()) < 5
    a = clock.monotonic_ns()
    b = clock.monotonic_ns()
    assert b >= a > 0
    assert clock.boot_id() and clock.boot_id() == clock.boot_id()
    assert clock.os_synchronized() in (True, False, None)
    assert clock.os_synchronized() in (True, False, None)  # the second read takes the cached path
    missing = SystemClock(boot_id_path=tmp_path / "no-boot-id")
    assert missing.boot_id().startswith("process-")
    fixed = tmp_path / "boot_id"
    fixed.write_text("abc-123\n", encoding="ascii")
    assert SystemClock(boot_id_path=fixed).boot_id() == "abc-123"
