"""``hadir loadtest``: N simulated kiosks push M punches concurrently; check exactly once.

Each kiosk is a real store in its own temporary data directory that
registers itself with an enrollment code from the admin API, records its
share of the punches through the real recorder, then drains its outbox
through the real :class:`~sync.worker.SyncWorker` in its own thread, all at
once. Afterwards the admin API is asked for every punch id (found / missing)
and each device's stored count (duplicates). The naive figure is one request
per punch (the same sync code with a batch of 1) on a sample in the same run.
The server started here has its per-device rate limit off: this measures
throughput, and the one-request-per-punch baseline would be throttled by
design (a server given with ``--server`` keeps its own settings).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.serverproc import AdminApi, ServerProcess
from sync.simkiosk import SimKiosk

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadtestOptions:
    kiosks: int
    punches: int
    server_url: str | None = None
    admin_token: str | None = None
    batch_size: int = 1000
    naive_sample: int = 300
    people_per_kiosk: int = 50
    database_url: str = ""
    server_workers: int = 1


def run_loadtest(opts: LoadtestOptions, workdir: Path | None = None) -> dict[str, Any]:
    if opts.kiosks < 1 or opts.punches < opts.kiosks:
        raise ValueError("need at least 1 kiosk and at least one punch per kiosk")
    with tempfile.TemporaryDirectory(prefix="hadir-loadtest-") as tmp:
        root = workdir or Path(tmp)
        server: ServerProcess | None = None
        try:
            if opts.server_url is None:
                server = ServerProcess(
                    root / "server",
                    database_url=opts.database_url,
                    workers=opts.server_workers,
                    extra_server="rate_limit_per_second = 0",
                ).start()
                url, token = server.url, server.admin_token()
            else:
                if not opts.admin_token:
                    raise ValueError("--server needs --admin-token")
                url, token = opts.server_url, opts.admin_token
            return _run(opts, root, url, AdminApi(url, token))
        finally:
            if server is not None:
                server.stop()


def _run(opts: LoadtestOptions, root: Path, url: str, admin: AdminApi) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    shares = [
        opts.punches // opts.kiosks + (1 if i < opts.punches % opts.kiosks else 0)
        for i in range(opts.kiosks)
    ]
    t_setup = time.perf_counter()
    kiosks = [
        SimKiosk.create(root / f"kiosk-{i}", f"load-{run_id}-{i}", people=opts.people_per_kiosk)
        for i in range(opts.kiosks)
    ]
    try:
        for k in kiosks:
            k.register(url, admin.enrollment_code())
        # Recording is SQLite-bound per kiosk; threads overlap the fsyncs.
        with ThreadPoolExecutor(max_workers=min(8, opts.kiosks)) as pool:
            list(pool.map(lambda ks: ks[0].record(ks[1]), zip(kiosks, shares, strict=True)))
        log.info(
            "recorded %d punches on %d kiosks in %.1f s",
            opts.punches,
            opts.kiosks,
            time.perf_counter() - t_setup,
        )

        workers = [k.worker(batch_size=opts.batch_size, heartbeat=False) for k in kiosks]
        errors: list[str] = []
        barrier = threading.Barrier(len(workers) + 1)

        def drain(i: int) -> None:
            barrier.wait()
            for _ in range(50):
                try:
                    workers[i].run_once()
                    if kiosks[i].store.outbox.pending_count() == 0:
                        return
                except Exception as exc:  # retried; reported if it never drains
                    errors.append(f"{kiosks[i].device_id}: {exc}")
                    time.sleep(0.2)

        threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(workers))]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0

        naive = _naive(opts, root, run_id, url, admin)

        all_ids = [pid for k in kiosks for pid in k.punch_ids]
        found, missing = admin.lookup(all_ids)
        ours = {k.device_id for k in kiosks}
        stored = sum(
            int(d.get("punches") or 0) for d in admin.devices() if d.get("device_id") in ours
        )
        quarantined = sum(k.store.outbox.stats().quarantined for k in kiosks)
        pending = sum(k.store.outbox.pending_count() for k in kiosks)
    finally:
        for k in kiosks:
            k.close()
    return {
        "kiosks": opts.kiosks,
        "punches": opts.punches,
        "delivered": found,
        "duplicates": max(0, stored - found),
        "missing": len(missing),
        "quarantined": quarantined,
        "pending": pending,
        "seconds": round(seconds, 3),
        "punches_per_s": round(opts.punches / seconds, 1) if seconds > 0 else None,
        "naive_punches_per_s": naive["rate"],
        "naive_sample": naive["sample"],
        "speedup": round(opts.punches / seconds / naive["rate"], 1)
        if seconds > 0 and naive["rate"]
        else None,
        "batch_size": opts.batch_size,
        "errors": errors[:10],
        "exactly_once": found == opts.punches and not missing and stored == found,
    }


def _naive(
    opts: LoadtestOptions, root: Path, run_id: str, url: str, admin: AdminApi
) -> dict[str, Any]:
    """One request per punch: the same sync code with a batch of 1, on a sample."""
    sample = min(opts.naive_sample, opts.punches)
    kiosk = SimKiosk.create(root / "naive", f"load-{run_id}-naive", people=opts.people_per_kiosk)
    try:
        kiosk.register(url, admin.enrollment_code())
        kiosk.record(sample)
        worker = kiosk.worker(batch_size=1, heartbeat=False)
        t0 = time.perf_counter()
        worker.run_once()
        seconds = time.perf_counter() - t0
        found, missing = admin.lookup(kiosk.punch_ids)
        if found != sample or missing:
            raise RuntimeError(f"naive run lost punches: {len(missing)} missing")
    finally:
        kiosk.close()
    return {"rate": round(sample / seconds, 1), "sample": sample}
