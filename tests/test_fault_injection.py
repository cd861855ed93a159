"""Exactly once through a hostile network, a crashing server and a crashing kiosk.

A fault-injecting proxy (sync.faultproxy) sits between the kiosks and a REAL
`hadir server` subprocess: dropped connections before and after the server
committed, delays past the client timeout, 500 and 503 with Retry-After,
truncated and garbage answers. The server is SIGKILLed and restarted mid-run,
and a kiosk's `hadir sync now` process is SIGKILLed mid-sync and restarted.
Every punch must end up on the server exactly once, none lost.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sync.faultproxy import Fault, FaultProxy, RandomFaults
from sync.retry import SyncError
from sync.serverproc import AdminApi, ServerProcess
from sync.simkiosk import SimKiosk

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("server")) as srv:
        yield srv


def stored_counts(admin: AdminApi, device_ids: set[str]) -> dict[str, int]:
    return {
        str(d["device_id"]): int(d["punches"])
        for d in admin.devices()
        if d["device_id"] in device_ids
    }


def drain(kiosk: SimKiosk, worker_kw: dict[str, object], deadline: float) -> int:
    """Run rounds until the outbox is empty (errors are expected here); returns failures."""
    worker = kiosk.worker(**worker_kw)  # type: ignore[arg-type]
    failures = 0
    while kiosk.store.outbox.pending_count() and time.monotonic() < deadline:
        try:
            worker.run_once()
        except SyncError:
            failures += 1
            time.sleep(worker.policy.delay(min(failures, 4)))
    return failures


def test_hostile_network_and_server_restart_deliver_exactly_once(
    tmp_path: Path, server: ServerProcess
) -> None:
    admin = AdminApi(server.url, server.admin_token())
    kiosks = [SimKiosk.create(tmp_path / f"k{i}", f"kiosk-fault-{i}", people=40) for i in range(3)]
    try:
        for k in kiosks:
            k.register(server.url, admin.enrollment_code())
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda k: k.record(700), kiosks))
        total = sum(len(k.punch_ids) for k in kiosks)
        assert total == 2100

        rates = {
            Fault.DROP_BEFORE: 0.06,
            Fault.DROP_AFTER: 0.08,  # the server committed, the kiosk never heard
            Fault.DELAY: 0.03,
            Fault.ERROR_500: 0.05,
            Fault.ERROR_503: 0.05,
            Fault.TRUNCATE: 0.06,
            Fault.GARBAGE: 0.04,
        }
        chooser = RandomFaults(rates, rng=random.Random(20261128))
        with FaultProxy(server.port, chooser, delay_seconds=1.2, retry_after="0") as proxy:
            for k in kiosks:  # talk through the proxy from now on
                creds_path = k.key_dir / "server-token"
                creds_path.write_text(
                    creds_path.read_text().replace(server.url, proxy.url), encoding="utf-8"
                )
            kw: dict[str, object] = {"batch_size": 50, "timeout": 1.0}
            deadline = time.monotonic() + 60
            killer_done = threading.Event()

            def kill_and_restart() -> None:
                # Mid-run: SIGKILL the server (a power cut), then bring it back.
                while sum(k.store.outbox.stats().delivered for k in kiosks) < total // 3:
                    time.sleep(0.05)
                server.kill()
                time.sleep(1.0)
                server.start()
                killer_done.set()

            killer = threading.Thread(target=kill_and_restart, daemon=True)
            killer.start()
            with ThreadPoolExecutor(3) as pool:
                failures = list(pool.map(lambda k: drain(k, kw, deadline), kiosks))
            killer.join(30)
            assert killer_done.is_set(), "the server was never killed mid-run"
            counts = dict(proxy.counts)
        print(
            "faults injected:",
            {f.value: n for f, n in counts.items()},
            "failed rounds:",
            sum(failures),
        )

        # every fault kind really happened, and the kiosks kept failing and recovering
        for fault in rates:
            assert counts.get(fault, 0) > 0, f"{fault} never injected: {counts}"
        assert sum(failures) > 10
        for k in kiosks:
            stats = k.store.outbox.stats()
            assert stats.pending == 0 and stats.quarantined == 0, (k.device_id, stats)
        all_ids = [pid for k in kiosks for pid in k.punch_ids]
        found, missing = admin.lookup(all_ids)
        assert missing == [] and found == total
        counts_by_device = stored_counts(admin, {k.device_id for k in kiosks})
        assert counts_by_device == {k.device_id: 700 for k in kiosks}  # no duplicates
        for d in admin.devices():
            if d["device_id"] in counts_by_device:
                assert d["gaps"] == [], d
    finally:
        for k in kiosks:
            k.close()


def test_kiosk_killed_mid_sync_loses_and_doubles_nothing(
    tmp_path: Path, server: ServerProcess
) -> None:
    admin = AdminApi(server.url, server.admin_token())
    data_dir = tmp_path / "kiosk"
    device_id = "kiosk-killed"
    kiosk = SimKiosk.create(data_dir, device_id, people=30)
    try:
        kiosk.register(server.url, admin.enrollment_code())
        ids = kiosk.record(1000)
    finally:
        kiosk.close()
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[device]\nid = "{device_id}"\ndata_dir = "{data_dir}"\n'
        f'[sync]\nenabled = true\nserver_url = "{server.url}"\nbatch_size = 25\n'
        "timeout_seconds = 5.0\n",
        encoding="utf-8",
    )
    env = {**os.environ, "HADIR_CONFIG": str(config)}
    cmd = [
        sys.executable,
        "-m",
        "hadir.cli",
        "--log-level",
        "ERROR",
        "sync",
        "now",
        "--config",
        str(config),
    ]
    rng = random.Random(7)
    db_path = data_dir / "hadir.db"

    def delivered() -> int:
        with sqlite3.connect(db_path, timeout=10) as conn:
            return int(
                conn.execute("SELECT count(*) FROM outbox WHERE state = 'delivered'").fetchone()[0]
            )

    kills = 0
    progress = []
    for _ in range(5):
        before = delivered()
        target = before + rng.randint(1, 60)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 90
        # Kill only once it is really syncing: some batches acknowledged, more under way.
        while proc.poll() is None and delivered() < target and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(10)
        progress.append(delivered() - before)
    assert kills >= 4, f"the sync process finished before it could be killed ({progress})"
    assert 0 < delivered() < 1000, "kills did not land mid-sync"
    print(f"sync process SIGKILLed {kills} times mid-sync; delivered per life: {progress}")
    final = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr[-2000:]
    found, missing = admin.lookup(ids)
    assert missing == [] and found == 1000
    assert stored_counts(admin, {device_id}) == {device_id: 1000}
    status = subprocess.run(
        [sys.executable, "-m", "hadir.cli", "sync", "status", "--json", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert '"pending": 0' in status.stdout and '"delivered": 1000' in status.stdout
