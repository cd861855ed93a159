"""A full disk: a clear error, nothing corrupted, recording resumes when space returns.

The "disk" is a file size limit (``RLIMIT_FSIZE``, with SIGXFSZ ignored so a
too-large write fails with EFBIG instead of killing the process), set in a
forked child so the test process itself is never limited.
"""

from __future__ import annotations

import json
import os
import resource
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from attendance.clock import FakeClock
from attendance.db import DB_FILENAME, StorageFullError
from attendance.integrity import load_public_key
from attendance.recorder import PunchRecorder
from attendance.store import EmployeeRecord, Store
from attendance.verify import verify_log
from hadir.config import HadirConfig

NIPS = ["198703152010011002", "199001012015022001", "198512122010121003"]
T0 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)


def _scenario(data: Path, snapshots: bool) -> dict[str, object]:
    """In the child: fill the 'disk', hit the limit, lift it, record again."""
    out: dict[str, object] = {"acked": [], "errors": []}
    store = Store.open(data, device_id="kiosk-full")
    clock = FakeClock(T0 + timedelta(minutes=10 * store.punch_count()))
    recorder = PunchRecorder.from_config(store, HadirConfig(), clock)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    sizes = [p.stat().st_size for p in data.glob(DB_FILENAME + "*")]
    limit = max(sizes) + 40_000
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    acked: list[str] = []
    errors: list[str] = []
    for i in range(400):
        jpeg = b"\xff\xd8\xff\xe0" + os.urandom(60_000) if snapshots else None
        try:
            res = recorder.record(NIPS[i % 3], "face", 0.3, 0.1, "passed", jpeg)
        except StorageFullError as exc:
            errors.append(str(exc))
            if len(errors) >= 3:
                break
        else:
            acked.append(str(res.punch_id))
        clock.advance(600)
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space returns
    for i in range(5):
        res = recorder.record(NIPS[i % 3], "face", 0.3, 0.1, "passed", None)
        acked.append(str(res.punch_id))
        clock.advance(600)
    store.close()
    out["acked"] = acked
    out["errors"] = errors
    return out


def _in_child(data: Path, snapshots: bool) -> dict[str, object]:
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(rfd)
        try:
            payload = json.dumps(_scenario(data, snapshots))
        except BaseException as exc:
            payload = json.dumps({"crash": f"{type(exc).__name__}: {exc}"})
        os.write(wfd, payload.encode())
        os._exit(0)
    os.close(wfd)
    buf = b""
    while chunk := os.read(rfd, 65536):
        buf += chunk
    os.close(rfd)
    os.waitpid(pid, 0)
    result: dict[str, object] = json.loads(buf)
    return result


@pytest.mark.parametrize("snapshots", [False, True], ids=["db", "snapshots"])
def test_full_disk_refuses_clearly_and_resumes(tmp_path: Path, snapshots: bool) -> None:
    with Store.open(tmp_path, device_id="kiosk-full") as store:
        store.employees.upsert_many(
            [EmployeeRecord(n, f"Pegawai {i}", "DISKOMINFO", "PNS") for i, n in enumerate(NIPS)]
        )
    result = _in_child(tmp_path, snapshots)
    assert "crash" not in result, result
    errors = result["errors"]
    acked = result["acked"]
    assert isinstance(errors, list) and isinstance(acked, list)
    assert errors, "the size limit was never reached"
    assert all("disk is full" in e and "NOT recorded" in e for e in errors)
    assert len(acked) >= 5
    with Store.open(tmp_path, device_id="kiosk-full") as store:
        with store.db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            present = set(conn.exec_driver_sql("SELECT id FROM punches").scalars())
        assert set(acked) == present  # every acknowledged punch, and nothing else
        report = verify_log(store.db, load_public_key(store.keys.public_key))
        assert report.ok, [p.message for p in report.problems]
        assert store.outbox.pending_count() == len(present)
