"""The attendance commands through the real ``hadir`` dispatcher."""

from __future__ import annotations

import csv
import io
import json
import stat
from pathlib import Path

import numpy as np
import pytest

from attendance.keys import SIGNING_KEY_FILE
from attendance.store import Store
from hadir.cli import main


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_demo_verify_export_erase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "kiosk"
    assert main(["demo-punches", "--data-dir", str(data), "--count", "30", "--json"]) == 0
    demo = _json(capsys)
    assert demo["recorded"] == 30 and demo["last_seq"] == 30 and demo["pending"] == 30
    assert main(["demo-punches", "--data-dir", str(data), "--count", "10", "--json"]) == 0
    assert _json(capsys)["last_seq"] == 40  # the chain continues on a second run

    assert main(["verify-log", "--data-dir", str(data), "--json"]) == 0
    assert _json(capsys)["punches"] == 40

    out = tmp_path / "punches.csv"
    argv = ["export", "--data-dir", str(data), "--from", "2000-01-01", "--to", "2100-12-31"]
    assert main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 40
    assert {r["direction"] for r in rows} <= {"masuk", "pulang"}
    assert all(len(r["nip"]) == 18 and r["delivery"] == "ready" for r in rows)

    nip = rows[0]["nip"]
    with Store.open(data, device_id="kiosk-01") as store:
        store.templates.add(nip, np.ones(128, np.float32))
    assert main(["erase-person", "--data-dir", str(data), nip, "--json"]) == 0
    erased = _json(capsys)
    assert erased == {
        "nip": nip,
        "templates_deleted": 1,
        "snapshots_deleted": 0,
        "fingerprint_slots": [],
    }
    with Store.open(data, device_id="kiosk-01") as store:
        actions = [a["action"] for a in store.audit.recent(10)]
    assert "erase_person" in actions and "export" in actions


def test_export_bad_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["export", "--data-dir", str(tmp_path), "--from", "2026-12-01", "--to", "2026-11-01"]
    assert main([*argv, "--out", str(tmp_path / "x.csv")]) == 2
    assert "before --from" in capsys.readouterr().err


def test_erase_person_bad_or_unknown_nip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["erase-person", "--data-dir", str(tmp_path), "12345"]) == 2
    assert "18 digits" in capsys.readouterr().err
    Store.open(tmp_path, device_id="kiosk-01").close()  # a kiosk without that person
    assert main(["erase-person", "--data-dir", str(tmp_path), "197001011990031001"]) == 2
    assert "no person" in capsys.readouterr().err


def test_set_admin_pin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("12\n"))
    assert main(["set-admin-pin", "--data-dir", str(tmp_path), "--pin-stdin"]) == 2
    assert "4 to 12 digits" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("246810\n"))
    assert main(["set-admin-pin", "--data-dir", str(tmp_path), "--pin-stdin"]) == 0
    with Store.open(tmp_path, device_id="kiosk-01") as store:
        state = store.admin_state.load()
        assert state.pin_hash is not None and "246810" not in state.pin_hash
        assert store.audit.recent(1)[0]["action"] == "set_admin_pin"


def test_refusals_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hadir.db").write_bytes(b"\x00garbage" * 1000)
    assert main(["verify-log", "--data-dir", str(tmp_path)]) == 2
    assert "not a Hadir database" in capsys.readouterr().err

    data = tmp_path / "kiosk"
    assert main(["demo-punches", "--data-dir", str(data), "--count", "2"]) == 0
    key = data / "keys" / SIGNING_KEY_FILE
    key.chmod(0o644)
    assert main(["verify-log", "--data-dir", str(data)]) == 2
    assert "chmod 600" in capsys.readouterr().err
    key.unlink()
    assert main(["verify-log", "--data-dir", str(data)]) == 2
    assert "missing" in capsys.readouterr().err
    assert not key.exists()
    assert stat.S_IMODE((data / "keys").stat().st_mode) == 0o700


@pytest.mark.slow
def test_bench_store_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench-store", "--records", "20", "--punches", "2000", "--json"]
    assert main([*argv, "--workdir", str(tmp_path)]) == 0
    res = _json(capsys)
    for key in ("record_p50_ms", "record_p99_ms", "query_ms_at_1m", "bytes_per_punch"):
        value = res[key]
        assert isinstance(value, float) and value > 0
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_purge_snapshots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    data = tmp_path / "kiosk"
    with Store.open(data, device_id="kiosk-01") as store:
        store.snapshots.save(
            "01a229e4-f300-7000-8000-000000000000",
            datetime(2020, 1, 1, tzinfo=UTC),
            b"\xff\xd8\xff\xe0" + bytes(500),
        )
    assert main(["purge-snapshots", "--data-dir", str(data), "--json"]) == 0
    out = _json(capsys)
    assert out["files_deleted"] == 1  # a 2020 snapshot is past the 60-day retention
    assert list((data / "snapshots").rglob("*.jpg")) == []
