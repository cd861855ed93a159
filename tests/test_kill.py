"""SIGKILL at random points while punches are recorded: nothing acknowledged is ever lost.

A forked child (a separate process with its own database connection) opens the
store and records punches in a loop, writing each acknowledged punch id to a
pipe only after ``record()`` returned. The parent kills it with SIGKILL after
a random delay, hundreds of times. Afterwards every acknowledged punch is
there, the chain verifies and SQLite's integrity check is ok.
"""

from __future__ import annotations

import os
import random
import select
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from attendance.clock import FakeClock
from attendance.integrity import load_public_key
from attendance.recorder import PunchRecorder
from attendance.store import EmployeeRecord, Store
from attendance.verify import verify_log
from hadir.config import HadirConfig

NIPS = ["198703152010011002", "199001012015022001", "198512122010121003"]
T0 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
KILLS = 200


def _child(data: Path, wfd: int, with_snapshots: bool) -> None:
    """Runs in the forked process; never returns."""
    try:
        store = Store.open(data, device_id="kiosk-kill")
        # Each punch 10 minutes after the previous one: never a duplicate.
        clock = FakeClock(T0 + timedelta(minutes=10 * store.punch_count()))
        recorder = PunchRecorder.from_config(store, HadirConfig(), clock)
        os.write(wfd, b"R\n")
        i = 0
        while True:
            jpeg = b"\xff\xd8\xff\xe0" + os.urandom(3000) if with_snapshots and i % 2 else None
            res = recorder.record(NIPS[i % 3], "face", 0.3, 0.1, "passed", jpeg)
            os.write(wfd, f"A {res.punch_id}\n".encode())
            clock.advance(600)
            i += 1
    except BaseException as exc:  # report anything to the parent
        os.write(wfd, f"E {type(exc).__name__}: {exc}\n".encode())
    finally:
        os._exit(1)


def _run_once(data: Path, rng: random.Random, with_snapshots: bool) -> tuple[list[str], str]:
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(rfd)
        _child(data, wfd, with_snapshots)
    os.close(wfd)
    buf = b""
    # Kill at a random point: sometimes during start-up, mostly while recording.
    if rng.random() < 0.25:
        time.sleep(rng.uniform(0, 0.05))
    else:
        deadline = time.monotonic() + 20
        while b"R\n" not in buf and time.monotonic() < deadline:
            ready, _, _ = select.select([rfd], [], [], 0.5)
            if ready:
                chunk = os.read(rfd, 65536)
                if not chunk:
                    break
                buf += chunk
        time.sleep(rng.uniform(0, 0.06))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    while chunk := os.read(rfd, 65536):
        buf += chunk
    os.close(rfd)
    acked, errors = [], ""
    for line in buf.decode().splitlines():
        if line.startswith("A "):
            acked.append(line[2:])
        elif line.startswith("E "):
            errors += line
    return acked, errors


def _check(data: Path, acked: list[str]) -> None:
    with Store.open(data, device_id="kiosk-kill") as store:
        with store.db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            present = set(conn.exec_driver_sql("SELECT id FROM punches").scalars())
            outbox = conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar()
        missing = [a for a in acked if a not in present]
        assert missing == [], f"{len(missing)} acknowledged punch(es) lost"
        assert outbox == len(present)  # every punch has its outbox row
        report = verify_log(store.db, load_public_key(store.keys.public_key))
        assert report.ok, [p.message for p in report.problems]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_never_loses_an_acknowledged_punch(tmp_path: Path) -> None:
    with Store.open(tmp_path, device_id="kiosk-kill") as store:
        store.employees.upsert_many(
            [EmployeeRecord(n, f"Pegawai {i}", "DISKOMINFO", "PNS") for i, n in enumerate(NIPS)]
        )
    rng = random.Random(20261128)
    acked: list[str] = []
    started = time.monotonic()
    for i in range(KILLS):
        got, errors = _run_once(tmp_path, rng, with_snapshots=i % 2 == 0)
        assert errors == "", errors
        acked.extend(got)
        if i % 50 == 49:
            _check(tmp_path, acked)
        if time.monotonic() - started > 240:
            break
    _check(tmp_path, acked)
    assert i + 1 >= 100, "too few kills in the time budget"
    assert len(acked) > KILLS // 2  # the kills really happened while recording
    # A snapshot file may be left by a kill before commit; a committed punch never misses one.
    with Store.open(tmp_path, device_id="kiosk-kill") as store, store.db.read() as conn:
        refs = conn.exec_driver_sql(
            "SELECT snapshot FROM punches WHERE snapshot IS NOT NULL"
        ).scalars()
        for rel in refs:
            assert (tmp_path / "snapshots" / rel).is_file()
        on_disk = set((tmp_path / "snapshots").rglob("*.jpg"))
        assert store.snapshots.remove_orphans(store.db, datetime.now(UTC)) == 0  # too young
        later = datetime.now(UTC) + timedelta(hours=2)
        orphans = store.snapshots.remove_orphans(store.db, later)
        assert len(set((tmp_path / "snapshots").rglob("*.jpg"))) == len(on_disk) - orphans
