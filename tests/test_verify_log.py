"""verify-log names every kind of tampering: altered fields, gaps, reordering, truncation."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from attendance.clock import FakeClock
from attendance.db import DB_FILENAME
from attendance.integrity import load_public_key
from attendance.recorder import PunchRecorder
from attendance.store import EmployeeRecord, Store
from attendance.verify import VerifyReport, verify_log
from hadir.cli import main
from hadir.config import HadirConfig

NIPS = ["198703152010011002", "199001012015022001", "198512122010121003"]
T0 = datetime(2026, 11, 30, 0, 10, tzinfo=UTC)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    with Store.open(tmp_path, device_id="kiosk-01") as store:
        store.employees.upsert_many(
            [EmployeeRecord(n, f"Pegawai {i}", "DISKOMINFO", "PNS") for i, n in enumerate(NIPS)]
        )
        clock = FakeClock(T0)
        recorder = PunchRecorder.from_config(store, HadirConfig(), clock)
        for i in range(6):
            recorder.record(NIPS[i % 3], "face", 0.3, 0.1, "passed:blink")
            clock.advance(3 * 3600 if i % 3 == 2 else 30)
    return tmp_path


def _verify(path: Path) -> VerifyReport:
    with Store.open(path, device_id="kiosk-01") as store:
        return verify_log(store.db, load_public_key(store.keys.public_key))


def _sql(path: Path, sql: str, *args: object) -> None:
    with sqlite3.connect(path / DB_FILENAME) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute(sql, args)


def _kinds(report: VerifyReport) -> list[tuple[str, int | None]]:
    return [(p.kind, p.seq) for p in report.problems]


def test_untouched_log_verifies(data: Path) -> None:
    report = _verify(data)
    assert report.ok
    assert report.punches == 6


def test_altered_direction_is_named(data: Path) -> None:
    _sql(data, "UPDATE punches SET direction = 'pulang' WHERE seq = 1")
    report = _verify(data)
    assert _kinds(report) == [("altered_field", 1)]
    assert "'direction'" in report.problems[0].message
    assert "stored 'pulang', signed 'masuk'" in report.problems[0].message


def test_altered_clock_state_is_named(data: Path) -> None:
    _sql(data, "UPDATE punches SET clock_state = 'synced' WHERE seq = 4")
    _sql(data, "UPDATE punches SET clock_state = 'suspect' WHERE seq = 3")
    report = _verify(data)
    assert _kinds(report) == [("altered_field", 3)]
    assert "'clock_state'" in report.problems[0].message


def test_altered_nip_or_time_is_a_signature_mismatch(data: Path) -> None:
    _sql(data, "UPDATE punches SET nip = ? WHERE seq = 2", NIPS[0])
    _sql(data, "UPDATE punches SET utc = '2026-11-30T00:00:00.000000Z' WHERE seq = 5")
    report = _verify(data)
    assert _kinds(report) == [("bad_signature", 2), ("bad_signature", 5)]
    assert report.problems[0].message.startswith("punch ")
    assert "seq 2: signature mismatch" in report.problems[0].message


def test_altered_signature(data: Path) -> None:
    _sql(data, "UPDATE punches SET signature = zeroblob(64) WHERE seq = 2")
    report = _verify(data)
    assert _kinds(report) == [("bad_signature", 2)]
    assert "signature itself" in report.problems[0].message


def test_removed_punch_is_a_gap(data: Path) -> None:
    _sql(data, "DELETE FROM outbox WHERE punch_pk = (SELECT pk FROM punches WHERE seq = 3)")
    _sql(data, "DELETE FROM punches WHERE seq = 3")
    report = _verify(data)
    assert _kinds(report) == [("gap", 4)]
    assert "seq 3..3 missing" in report.problems[0].message


def test_removed_last_punches_are_truncation(data: Path) -> None:
    _sql(data, "DELETE FROM outbox WHERE punch_pk IN (SELECT pk FROM punches WHERE seq >= 5)")
    _sql(data, "DELETE FROM punches WHERE seq >= 5")
    report = _verify(data)
    assert _kinds(report) == [("truncated", 5)]
    assert "punches 5..6 were removed" in report.problems[0].message


def test_removed_first_punch(data: Path) -> None:
    _sql(data, "DELETE FROM outbox WHERE punch_pk = (SELECT pk FROM punches WHERE seq = 1)")
    _sql(data, "DELETE FROM punches WHERE seq = 1")
    assert _kinds(_verify(data)) == [("bad_start", 2)]


def test_swapped_sequence_numbers_are_reordering(data: Path) -> None:
    # Swap seq of punches 3 and 4 (through a free value): each is now out of its place.
    _sql(data, "UPDATE punches SET seq = 99 WHERE seq = 3")
    _sql(data, "UPDATE punches SET seq = 3 WHERE seq = 4")
    _sql(data, "UPDATE punches SET seq = 4 WHERE seq = 99")
    report = _verify(data)
    kinds = {k for k, _ in _kinds(report)}
    assert "reordered" in kinds
    assert "bad_signature" in kinds  # seq is signed


def test_cli_exit_code_and_json(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify-log", "--data-dir", str(data), "--json", "--sqlite-check"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["punches"] == 6 and out["sqlite_integrity"] == "ok"
    _sql(data, "UPDATE punches SET direction = 'masuk' WHERE seq = 4")
    assert main(["verify-log", "--data-dir", str(data)]) == 1
    text = capsys.readouterr().out
    assert "seq 4" in text and "'direction' was altered" in text


def test_altered_prev_hash_is_named(data: Path) -> None:
    _sql(data, "UPDATE punches SET prev_hash = zeroblob(32) WHERE seq = 3")
    report = _verify(data)
    assert _kinds(report) == [("altered_field", 3)]
    assert "'prev_hash' was altered" in report.problems[0].message
