"""PunchRecorder: rules, chain, signature, outbox row, all in one commit."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from attendance import integrity
from attendance.clock import ClockTrust, FakeClock
from attendance.db import DB_FILENAME
from attendance.ids import parse_utc
from attendance.models import Punch
from attendance.recorder import (
    _PUNCH_COLUMNS,
    PunchRecorder,
    UnknownEmployeeError,
    chain_head_key,
)
from attendance.store import EmployeeRecord, Store
from hadir.config import HadirConfig

NIP = "198703152010011002"
NIP2 = "199001012015022001"
MONDAY_0740_WIB = datetime(2026, 11, 30, 0, 40, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path, device_id="kiosk-07")
    s.employees.upsert_many(
        [
            EmployeeRecord(NIP, "Siti Aminah", "DISKOMINFO", "PNS"),
            EmployeeRecord(NIP2, "Budi Santoso", "DISKOMINFO", "PPPK"),
        ]
    )
    return s


def _records(path: Path) -> list[dict[str, object]]:
    with sqlite3.connect(path / DB_FILENAME) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM punches ORDER BY seq").fetchall()
    from attendance.records import punch_record

    return [punch_record(dict(r)) for r in rows]


def test_sql_columns_exist_in_the_model() -> None:
    assert set(_PUNCH_COLUMNS) <= set(Punch.__table__.c.keys())
    assert set(integrity.SIGNED_FIELDS) <= set(_PUNCH_COLUMNS)


def test_recorded_punch_is_signed_chained_and_in_the_outbox(store: Store, tmp_path: Path) -> None:
    clock = FakeClock(MONDAY_0740_WIB)
    recorder = PunchRecorder.from_config(store, HadirConfig(), clock)
    first = recorder.record(NIP, "face", 0.31, 0.12, "passed:blink:0.93")
    clock.advance(120)
    second = recorder.record(NIP2, "pin")
    assert first.kind == "recorded" and second.kind == "recorded"
    assert (first.seq, second.seq) == (1, 2)
    assert first.direction == "masuk"
    assert (first.late_minutes, first.category) == (10, "TL1")  # 07:40 vs 07:30
    assert first.clock_state == "synced"

    pub = integrity.load_public_key(store.keys.public_key)
    records = _records(tmp_path)
    for rec in records:
        integrity.verify(rec, pub)  # the row reproduces exactly what was signed
    assert records[0]["prev_hash"] == integrity.GENESIS_HASH
    assert records[1]["prev_hash"] == integrity.record_hash(records[0])
    assert records[0]["id"] == first.punch_id
    assert records[0]["utc"] == "2026-11-30T00:40:00.000000Z"
    assert records[0]["local_offset_minutes"] == 420
    assert records[0]["distance"] == 0.31 and records[1]["distance"] is None
    assert records[0]["boot_id"] == "fake-boot-1"
    assert store.state.get(chain_head_key("kiosk-07")) == (f"2:{integrity.record_hash(records[1])}")
    claimed = store.outbox.claim(10, MONDAY_0740_WIB)
    assert [c.record for c in claimed] == records


def test_uuid7_ids_sort_by_time(store: Store) -> None:
    clock = FakeClock(MONDAY_0740_WIB)
    recorder = PunchRecorder.from_config(store, HadirConfig(), clock)
    ids: list[str] = []
    for nip in (NIP, NIP2):
        res = recorder.record(nip, "face", 0.3, 0.1)
        assert res.punch_id is not None
        ids.append(res.punch_id)
        clock.advance(1)
    assert ids == sorted(ids)
    assert all(i is not None and i[14] == "7" for i in ids)


def test_duplicate_is_not_stored_and_names_the_first(store: Store) -> None:
    clock = FakeClock(MONDAY_0740_WIB)
    recorder = PunchRecorder.from_config(store, HadirConfig(), clock)
    first = recorder.record(NIP, "face", 0.3, 0.1, None, b"\xff\xd8\xff\xe0" + bytes(100))
    clock.advance(180)
    dup = recorder.record(NIP, "face", 0.3, 0.1, None, b"\xff\xd8\xff\xe0" + bytes(100))
    assert dup.kind == "duplicate"
    assert dup.duplicate_of == first.at_utc
    assert dup.punch_id is None
    assert store.punch_count() == 1
    assert len(list((store.data_dir / "snapshots").rglob("*.jpg"))) == 1
    clock.advance(9 * 3600)
    out = recorder.record(NIP, "face", 0.3, 0.1)
    assert (out.kind, out.direction, out.seq) == ("recorded", "pulang", 2)


def test_unknown_or_inactive_employee_is_refused(store: Store) -> None:
    recorder = PunchRecorder.from_config(store, HadirConfig(), FakeClock(MONDAY_0740_WIB))
    with pytest.raises(UnknownEmployeeError):
        recorder.record("197001011990031001", "face", 0.3, 0.1)
    store.employees.upsert(EmployeeRecord(NIP, "Siti Aminah", "DISKOMINFO", "PNS", active=False))
    with pytest.raises(UnknownEmployeeError):
        recorder.record(NIP, "face", 0.3, 0.1)
    assert store.punch_count() == 0
    assert store.outbox.pending_count() == 0


@pytest.mark.parametrize(
    ("nip", "mode", "distance"),
    [("12345", "face", 0.3), (NIP, "iris", 0.3), (NIP, "face", float("nan"))],
)
def test_bad_arguments(store: Store, nip: str, mode: str, distance: float) -> None:
    recorder = PunchRecorder.from_config(store, HadirConfig(), FakeClock(MONDAY_0740_WIB))
    with pytest.raises(ValueError):
        recorder.record(nip, mode, distance, 0.1)


def test_clock_jump_marks_punches_suspect_and_records_corrections(store: Store) -> None:
    clock = FakeClock(MONDAY_0740_WIB)
    watcher = ClockTrust(clock)  # the kiosk's periodic observer
    recorder = PunchRecorder.from_config(store, HadirConfig(), clock, watcher)
    watcher.observe()
    clock.advance(30)
    # A punch stamped by another reader (e.g. before a restart) after the last trusted reading.
    before = PunchRecorder.from_config(store, HadirConfig(), clock).record(NIP, "face", 0.3, 0.1)
    assert before.clock_state == "synced"
    clock.advance(30)
    clock.jump_wall(3600)  # NTP steps the clock an hour forward
    jump = watcher.observe()
    assert jump is not None
    after = recorder.record(NIP2, "face", 0.3, 0.1)
    assert after.clock_state == "suspect"
    assert recorder.flag_clock_jump(jump) == 1
    assert recorder.flag_clock_jump(jump) == 0  # idempotent
    with store.db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT punch_id, field, old_value, new_value FROM corrections"
        ).all()
        signed_state = conn.exec_driver_sql(
            "SELECT clock_state FROM punches WHERE id = ?", (before.punch_id,)
        ).scalar()
    assert [tuple(r) for r in rows] == [(before.punch_id, "clock_state", "synced", "suspect")]
    assert signed_state == "synced"  # the signed punch is never rewritten


def test_punch_times_for_rules(store: Store) -> None:
    clock = FakeClock(MONDAY_0740_WIB)
    recorder = PunchRecorder.from_config(store, HadirConfig(), clock)
    recorder.record(NIP, "face", 0.3, 0.1)
    times = store.punch_times(
        NIP, MONDAY_0740_WIB - timedelta(hours=1), MONDAY_0740_WIB + timedelta(hours=1)
    )
    assert times == [parse_utc("2026-11-30T00:40:00.000000Z")]
