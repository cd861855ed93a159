"""Sample data, ``hadir demo-punches`` and the store benchmark ``hadir bench-store``.

The benchmark measures what the issue targets: recording a punch through the
real path (rules, signature, punch + outbox row, commit with
``synchronous=FULL``), the per-punch queries and the bytes per punch on a
database holding a million punches. The large database is built in a
temporary directory with bulk inserts of realistic signed, chained rows and
deleted afterwards; nothing is cached in the repository.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from attendance import integrity
from attendance.clock import ClockTrust, FakeClock, SystemClock
from attendance.config import AttendanceConfig
from attendance.ids import format_utc, uuid7
from attendance.recorder import PunchRecorder, RecordResult, chain_head_key, rules_from_config
from attendance.store import EmployeeRecord, Store

_FIRST = ("Siti", "Ahmad", "Dewi", "Budi", "Rina", "Agus", "Sri", "Hendra", "Nur", "Joko", "Ayu")
_LAST = ("Aminah", "Saputra", "Lestari", "Santoso", "Wati", "Pratama", "Rahayu", "Hidayat")
_TYPES = ("PNS", "PNS", "PNS", "PPPK", "PPPK_PW")


def sample_nip(i: int) -> str:
    """A well-formed 18-digit NIP: birth date, TMT (year+month), gender, serial."""
    rng = random.Random(i)
    birth = date(1965, 1, 1) + timedelta(days=rng.randrange(0, 12000))
    tmt = f"{rng.randrange(1990, 2024)}{rng.randrange(1, 13):02d}"
    return f"{birth:%Y%m%d}{tmt}{1 + i % 2}{i % 1000:03d}"


def sample_employees(count: int, opd_code: str) -> list[EmployeeRecord]:
    out: list[EmployeeRecord] = []
    seen: set[str] = set()
    i = 0
    while len(out) < count:
        nip = sample_nip(i)
        i += 1
        if nip in seen:
            continue
        seen.add(nip)
        name = f"{_FIRST[i % len(_FIRST)]} {_LAST[(i // len(_FIRST)) % len(_LAST)]}"
        out.append(EmployeeRecord(nip, name, opd_code, _TYPES[i % len(_TYPES)]))
    return out


def ensure_sample_employees(store: Store, count: int, opd_code: str) -> list[EmployeeRecord]:
    emps = sample_employees(count, opd_code)
    missing = [e for e in emps if store.employees.get(e.nip) is None]
    store.employees.upsert_many(missing)
    return emps


# --------------------------------------------------------------------------- demo


def demo_punches(
    store: Store, cfg: AttendanceConfig, count: int, employees: int = 20, seed: int = 1
) -> list[RecordResult]:
    """Record ``count`` punches of sample employees over past working days.

    A :class:`FakeClock` walks through the days (masuk around 07:00-08:15, pulang
    around 15:45-17:00), after the last punch already stored, and every punch
    goes through :class:`PunchRecorder` (rules, signature, chain, outbox).
    """
    if count < 1:
        raise ValueError("count must be >= 1")
    tz = ZoneInfo(cfg.device.timezone)
    emps = ensure_sample_employees(store, employees, cfg.device.opd_code)
    days_needed = -(-count // (2 * len(emps))) + 2
    today = datetime.now(tz).date()
    start = today - timedelta(days=int(days_needed * 7 / 5) + 2)
    last = store.state.get("demo.last_day")
    if last is not None:
        start = max(start, date.fromisoformat(last) + timedelta(days=1))
    clock = FakeClock(datetime.combine(start, dtime(6, 0), tz), boot_id=f"demo-{os.getpid()}")
    recorder = PunchRecorder(store, rules_from_config(cfg), ClockTrust(clock))
    rng = random.Random(seed)
    results: list[RecordResult] = []
    day = start
    while len(results) < count:
        if day.weekday() < 5:
            for lo, hi in (((7, 0), 75), ((15, 45), 75)):  # masuk, pulang
                slots = sorted(
                    (
                        datetime.combine(day, dtime(*lo), tz)
                        + timedelta(minutes=rng.randrange(hi), seconds=rng.randrange(60)),
                        e.nip,
                    )
                    for e in emps
                )
                for at, nip in slots:
                    if len(results) >= count:
                        break
                    if at.astimezone(UTC) > clock.now_utc():
                        clock.advance((at.astimezone(UTC) - clock.now_utc()).total_seconds())
                    mode = "face" if rng.random() < 0.9 else "pin"
                    results.append(
                        recorder.record(
                            nip,
                            mode,
                            distance=round(rng.uniform(0.2, 0.4), 4) if mode == "face" else None,
                            margin=round(rng.uniform(0.08, 0.3), 4) if mode == "face" else None,
                            liveness="passed:passive" if mode == "face" else None,
                        )
                    )
        store.state.set("demo.last_day", day.isoformat())
        day += timedelta(days=1)
        next_morning = datetime.combine(day, dtime(6, 0), tz).astimezone(UTC)
        if next_morning > clock.now_utc():
            clock.advance((next_morning - clock.now_utc()).total_seconds())
    return results


# --------------------------------------------------------------------------- bench


@dataclass(frozen=True)
class BenchResult:
    record_p50_ms: float
    record_p99_ms: float
    record_with_snapshot_p99_ms: float
    query_ms_at_1m: float  # p99 of the reads one punch makes (employee, period, chain head)
    query_p50_ms_at_1m: float
    record_p99_ms_at_1m: float
    bytes_per_punch: float
    punches: int
    build_seconds: float
    loadavg_1m: float  # of the machine during the run: the figures are wall-clock times
    fsync_p50_ms: float  # the floor: one 4 KB append + fsync on the same filesystem
    fsync_p99_ms: float

    def as_json(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in vars(self).items()}


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _time_records(recorder: PunchRecorder, nips: list[str], jpeg: bytes | None) -> list[float]:
    out: list[float] = []
    for nip in nips:
        t0 = time.perf_counter()
        res = recorder.record(nip, "face", 0.31, 0.12, "passed:passive", jpeg)
        out.append((time.perf_counter() - t0) * 1000)
        if res.kind != "recorded":
            raise RuntimeError("benchmark punch unexpectedly a duplicate")
    return out


def _fsync_times(folder: Path, count: int = 300) -> list[float]:
    """Raw append+fsync latency: a committed punch cannot be faster than one of these."""
    path = folder / "fsync-probe"
    out: list[float] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        block = os.urandom(4096)
        for _ in range(count):
            t0 = time.perf_counter()
            os.write(fd, block)
            os.fsync(fd)
            out.append((time.perf_counter() - t0) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    return out


def _store_for(cfg: AttendanceConfig, data_dir: Path) -> Store:
    return Store.open(data_dir, device_id=cfg.device.id, key_dir=data_dir / "keys")


def _signed_rows(
    key: Any, device_id: str, nips: list[str], count: int, start: datetime, sign_every: int
) -> Iterator[tuple[Any, ...]]:
    """Realistic chained punch rows: two a working day for every person.

    Every row has the real record hash and chain; one in ``sign_every`` carries a
    real Ed25519 signature and the others 64 random bytes (the same size):
    signing a million rows would dominate the build on a small machine.
    """
    prev = integrity.GENESIS_HASH
    rng = random.Random(7)
    seq = 0
    day = start
    while True:
        if day.weekday() < 5:
            for hour, direction in ((0, "masuk"), (9, "pulang")):
                base = day + timedelta(hours=hour)
                for i, nip in enumerate(nips):
                    if seq >= count:
                        return
                    seq += 1
                    at = base + timedelta(seconds=i * 2 + rng.randrange(2))
                    record = {
                        "id": uuid7(int(at.timestamp() * 1000), rng.randbytes(10)),
                        "device_id": device_id,
                        "seq": seq,
                        "prev_hash": prev,
                        "nip": nip,
                        "utc": format_utc(at),
                        "local_offset_minutes": 420,
                        "clock_state": "synced",
                        "boot_id": "6c1b8c7e-2f4e-4d5e-9a43-3f1f0a2b7d11",
                        "monotonic_ns": 10**12 + seq * 10**9,
                        "verify_mode": "face",
                        "direction": direction,
                        "distance": round(rng.uniform(0.2, 0.4), 4),
                        "margin": round(rng.uniform(0.08, 0.3), 4),
                        "liveness": "passed:passive",
                    }
                    body = integrity.canonical_bytes(record)
                    digest = hashlib.sha256(body)
                    yield (
                        record["id"],
                        device_id,
                        seq,
                        bytes.fromhex(prev),
                        nip,
                        record["utc"],
                        420,
                        "synced",
                        record["boot_id"],
                        record["monotonic_ns"],
                        "face",
                        direction,
                        record["distance"],
                        record["margin"],
                        record["liveness"],
                        digest.digest(),
                        key.sign(body) if seq % sign_every == 1 else rng.randbytes(64),
                        f"{at.astimezone(ZoneInfo('Asia/Jakarta')).date()}",
                        rng.choice((0, 0, 0, 5, 12)) if direction == "masuk" else None,
                        rng.choice((0, 0, 0, 7)) if direction == "pulang" else None,
                        None,
                    )
                    prev = digest.hexdigest()
        day += timedelta(days=1)


def build_large_store(
    cfg: AttendanceConfig,
    data_dir: Path,
    punches: int,
    progress: Callable[[int], None] | None = None,
    sign_every: int = 100,
) -> tuple[Store, float]:
    """A store with ``punches`` realistic punches (2,000 people), built by bulk insert."""
    t0 = time.perf_counter()
    store = _store_for(cfg, data_dir)
    emps = ensure_sample_employees(store, 2000, cfg.device.opd_code)
    nips = [e.nip for e in emps]
    start = datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    conn = sqlite3.connect(store.db.path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")  # bulk build only; the kiosk path stays FULL
    rows = _signed_rows(store.keys.signing_key, store.device_id, nips, punches, start, sign_every)
    cols = (
        "id, device_id, seq, prev_hash, nip, utc, local_offset_minutes, clock_state, boot_id, "
        "monotonic_ns, verify_mode, direction, distance, margin, liveness, record_hash, "
        "signature, work_date, late_minutes, early_minutes, category"
    )
    done = 0
    last: tuple[Any, ...] | None = None
    while done < punches:
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) >= 20000:
                break
        if not batch:
            break
        conn.execute("BEGIN")
        first_pk = (conn.execute("SELECT coalesce(max(pk), 0) FROM punches").fetchone()[0]) + 1
        conn.executemany(
            f"INSERT INTO punches ({cols}) VALUES ({', '.join('?' * 21)})",  # noqa: S608
            batch,
        )
        conn.executemany(
            "INSERT INTO outbox (punch_pk, state, attempts) VALUES (?, 'delivered', 1)",
            [(first_pk + i,) for i in range(len(batch))],
        )
        last = batch[-1]
        done += len(batch)
        conn.execute("COMMIT")
        if progress:
            progress(done)
    if last is not None:
        conn.execute(
            "INSERT OR REPLACE INTO device_state (key, value) VALUES (?, ?)",
            (chain_head_key(store.device_id), f"{last[2]}:{last[15].hex()}"),
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()
    return store, time.perf_counter() - t0


def _query_times(store: Store, cfg: AttendanceConfig, nips: list[str], at: datetime) -> list[float]:
    """The reads of one punch (employee, earlier punches of the period, chain head)."""
    rules = rules_from_config(cfg)
    head_key = chain_head_key(store.device_id)
    out: list[float] = []
    with store.db.read() as conn:
        for nip in nips:
            t0 = time.perf_counter()
            emp = conn.exec_driver_sql(
                "SELECT name, schedule_group, active FROM employees WHERE nip = ?", (nip,)
            ).first()
            assert emp is not None
            lo, hi = rules.query_range(emp[1], at)
            conn.exec_driver_sql(
                "SELECT utc FROM punches WHERE nip = ? AND utc >= ? AND utc < ?",
                (nip, format_utc(lo), format_utc(hi)),
            ).all()
            conn.exec_driver_sql("SELECT value FROM device_state WHERE key = ?", (head_key,)).all()
            out.append((time.perf_counter() - t0) * 1000)
    return out


def db_bytes(store: Store) -> int:
    with store.db.read() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        free = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
    return int(page * (pages - free))


def bench_store(
    cfg: AttendanceConfig,
    *,
    records: int = 1000,
    punches: int = 1_000_000,
    workdir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    say = progress or (lambda _msg: None)
    with tempfile.TemporaryDirectory(prefix="hadir-bench-", dir=workdir) as tmp:
        root = Path(tmp)
        # 1. Recording on a fresh store: a morning rush, one punch per person, real clock.
        store = _store_for(cfg, root / "fresh")
        emps = ensure_sample_employees(store, records * 2, cfg.device.opd_code)
        recorder = PunchRecorder(store, rules_from_config(cfg), ClockTrust(SystemClock()))
        say(f"recording {records} punches ...")
        plain = _time_records(recorder, [e.nip for e in emps[:records]], None)
        jpeg = b"\xff\xd8\xff\xe0" + os.urandom(6000)
        with_snap = _time_records(recorder, [e.nip for e in emps[records:]], jpeg)
        store.close()
        fsyncs = _fsync_times(root)
        # 2. A million punches.
        say(f"building a store with {punches} punches ...")
        big, build_s = build_large_store(
            cfg,
            root / "large",
            punches,
            lambda n: say(f"  {n} punches") if n % 200000 == 0 else None,
        )
        nips = [e.nip for e in sample_employees(2000, cfg.device.opd_code)]
        bytes_per = db_bytes(big) / max(1, punches)
        latest = big.punch_times(
            nips[0], datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
        )
        at = max(latest) + timedelta(hours=1) if latest else datetime.now(UTC)
        say("timing per-punch queries ...")
        queries = _query_times(big, cfg, random.Random(3).choices(nips, k=2000), at)
        clock = FakeClock(at + timedelta(days=1))
        rec_big = PunchRecorder(big, rules_from_config(cfg), ClockTrust(clock))
        big_times: list[float] = []
        for nip in random.Random(4).sample(nips, 300):
            t0 = time.perf_counter()
            rec_big.record(nip, "face", 0.3, 0.1, None, None)
            big_times.append((time.perf_counter() - t0) * 1000)
            clock.advance(1)
        big.close()
    return BenchResult(
        record_p50_ms=statistics.median(plain),
        record_p99_ms=_pct(plain, 0.99),
        record_with_snapshot_p99_ms=_pct(with_snap, 0.99),
        query_ms_at_1m=_pct(queries, 0.99),
        query_p50_ms_at_1m=statistics.median(queries),
        record_p99_ms_at_1m=_pct(big_times, 0.99),
        bytes_per_punch=bytes_per,
        punches=punches,
        build_seconds=build_s,
        loadavg_1m=os.getloadavg()[0],
        fsync_p50_ms=statistics.median(fsyncs),
        fsync_p99_ms=_pct(fsyncs, 0.99),
    )
