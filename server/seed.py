"""Demo data (``hadir server seed-demo``) and the ledger benchmark (``bench-ledger``).

:func:`seed_demo` ``(db, settings, employees, months, opds=None, seed=1)``
makes a plausible regency in an empty (or demo) database: OPDs with heads
(Sekretariat Daerah, dinas, badan, a hospital with a night shift, kecamatan),
employees of the three types, schedule groups and the 2026 holiday calendar
published as central documents, punches with a realistic lateness spread
from kiosks (``native``) and ADMS machines, approved leave, a few TK days
and single punches, and an outage: one OPD's kiosk delivers its last three
days late, after the ledger was built, so its days are corrected
incrementally. It returns counts.

:func:`bench_ledger` seeds a fresh database and measures what issue #10
sets targets for (``recap_opd_ms``, ``recap_all_ms``, ``xlsx_opd_ms``,
``late_punch_update_p99_ms``, ``rebuild_year_s``) plus ``employees``,
``punches``, ``seed_s`` and the database dialect.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from server.db import Database
from server.ledger_api import build_ledger_services
from server.ledger_models import Absence, LedgerDay
from server.models import Employee, Punch
from server.roster import Roster
from server.settings import ServerSettings
from server.timeutil import to_db

SEED_NAMESPACE = uuid.UUID("2b0c4d8e-7f3a-4e55-8f0e-5b1d2a9c3e77")
OPD_NAMES = (
    ("SETDA", "Sekretariat Daerah"),
    ("DISDIK", "Dinas Pendidikan dan Kebudayaan"),
    ("DINKES", "Dinas Kesehatan"),
    ("RSUD", "RSUD Kayuagung"),
    ("BKPSDM", "Badan Kepegawaian dan Pengembangan SDM"),
    ("BAPPEDA", "Badan Perencanaan Pembangunan Daerah"),
    ("BPKAD", "Badan Pengelolaan Keuangan dan Aset Daerah"),
    ("DISKOMINFO", "Dinas Komunikasi dan Informatika"),
    ("DPUPR", "Dinas Pekerjaan Umum dan Penataan Ruang"),
    ("DINSOS", "Dinas Sosial"),
    ("DUKCAPIL", "Dinas Kependudukan dan Pencatatan Sipil"),
    ("DPMPTSP", "Dinas Penanaman Modal dan PTSP"),
    ("DISHUB", "Dinas Perhubungan"),
    ("SATPOLPP", "Satuan Polisi Pamong Praja"),
    ("DLH", "Dinas Lingkungan Hidup"),
    ("DINPERTAN", "Dinas Pertanian"),
    ("KESBANGPOL", "Badan Kesatuan Bangsa dan Politik"),
    ("INSPEKTORAT", "Inspektorat Daerah"),
)
KECAMATAN = (
    "Kayuagung",
    "Lempuing",
    "Lempuing Jaya",
    "Mesuji",
    "Mesuji Makmur",
    "Mesuji Raya",
    "Tulung Selapan",
    "Cengal",
    "Pedamaran",
    "Pedamaran Timur",
    "Tanjung Lubuk",
    "Teluk Gelam",
    "Kota Kayuagung",
    "Sirah Pulau Padang",
    "Jejawi",
    "Pampangan",
    "Air Sugihan",
    "Pangkalan Lampam",
)
FIRST_NAMES = [
    "Ahmad",
    "Siti",
    "Muhammad",
    "Nur",
    "Dewi",
    "Budi",
    "Rina",
    "Agus",
    "Sri",
    "Hendra",
    "Fitri",
    "Andi",
    "Yulia",
    "Rudi",
    "Wati",
    "Dedi",
    "Lestari",
    "Eko",
    "Ratna",
    "Fajar",
    "Indah",
    "Joko",
    "Maya",
    "Rahmat",
    "Putri",
    "Hadi",
    "Sari",
    "Iwan",
    "Ani",
    "Bambang",
]
LAST_NAMES = [
    "Saputra",
    "Lestari",
    "Wijaya",
    "Hidayat",
    "Pratama",
    "Rahayu",
    "Kurniawan",
    "Susanti",
    "Santoso",
    "Handayani",
    "Setiawan",
    "Permata",
    "Gunawan",
    "Wulandari",
    "Nugroho",
    "Anggraini",
    "Siregar",
    "Harahap",
    "Syahputra",
    "Marlina",
]
NIGHT_GROUP = {
    "mon": "22:00-06:00",
    "tue": "22:00-06:00",
    "wed": "22:00-06:00",
    "thu": "22:00-06:00",
    "fri": "22:00-06:00",
    "sat": "22:00-06:00",
    "sun": "off",
    "day_start": "12:00",
    "checkin": ["20:00", "23:59"],
    "checkout": ["05:00", "09:00"],
    "observe_holidays": False,
}
PELAYANAN_GROUP = {
    "mon": "07:30-14:30",
    "tue": "07:30-14:30",
    "wed": "07:30-14:30",
    "thu": "07:30-14:30",
    "fri": "07:30-14:30",
    "sat": "07:30-14:00",
    "sun": "off",
    "observe_holidays": False,
}
CALENDAR_FILE = Path(__file__).resolve().parent.parent / "assets" / "calendar-2026.example.csv"
CHUNK = 5000


def _opds(n: int) -> list[tuple[str, str]]:
    found = list(OPD_NAMES[:n])
    for name in KECAMATAN:
        if len(found) >= n:
            break
        found.append((f"KEC-{name.upper().replace(' ', '')}"[:32], f"Kecamatan {name}"))
    while len(found) < n:
        found.append((f"UPTD-{len(found):03d}", f"UPTD {len(found):03d}"))
    return found


def _nip(rng: random.Random, index: int) -> str:
    born = date(1965, 1, 1) + timedelta(days=rng.randrange(0, 365 * 35))
    appointed = max(born.year + 22, 1990) + rng.randrange(0, 10)
    gender = rng.choice("12")
    return f"{born:%Y%m%d}{appointed:04d}{rng.randrange(1, 13):02d}{gender}{index % 1000:03d}"


def _month_start(day: date, back: int) -> date:
    y, m = day.year, day.month - back
    while m <= 0:
        y, m = y - 1, m + 12
    return date(y, m, 1)


def seed_demo(
    db: Database,
    settings: ServerSettings,
    employees: int,
    months: int,
    opds: int | None = None,
    seed: int = 1,
    progress: bool = False,
) -> dict[str, Any]:
    """Fill ``db`` with a demo regency; returns what was made. See the module docstring."""
    if not 1 <= employees <= 200_000:
        raise ValueError(f"--employees must be 1-200000, got {employees}")
    if not 1 <= months <= 36:
        raise ValueError(f"--months must be 1-36, got {months}")
    n_opds = opds or max(3, min(60, employees // 160))
    if not 1 <= n_opds <= 500:
        raise ValueError(f"--opds must be 1-500, got {n_opds}")
    started = time.perf_counter()
    rng = random.Random(seed)
    svc = build_ledger_services(db, settings)
    ledger = svc.ledger
    now = settings.clock()
    today = ledger.today(now)
    first = _month_start(today, months - 1)
    last = today - timedelta(days=1)
    roster = Roster(db)
    # Documents: the schedule groups and the holiday calendar, as the console would publish them.
    roster.put_document("schedule_group", "shift-malam", NIGHT_GROUP, now)
    roster.put_document("schedule_group", "pelayanan", PELAYANAN_GROUP, now)
    calendar_days = []
    if CALENDAR_FILE.is_file():
        from attendance.schedule import load_holiday_calendar

        for h in load_holiday_calendar(CALENDAR_FILE).days.values():
            calendar_days.append({"date": h.day.isoformat(), "name": h.name, "kind": h.kind})
    roster.put_document("calendar", "2026", {"days": calendar_days}, now)
    # OPDs and heads.
    units = _opds(n_opds)
    per_opd = [employees // n_opds + (1 if i < employees % n_opds else 0) for i in range(n_opds)]
    lines = ["nip,name,opd,type,schedule_group,adms_pin"]
    people: list[tuple[str, str, str, str]] = []  # nip, opd, group, profile
    used: set[str] = set()
    index = 0
    for (code, _name), count in zip(units, per_opd, strict=True):
        for i in range(count):
            index += 1
            nip = _nip(rng, index)
            while nip in used:
                nip = _nip(rng, index + rng.randrange(1000))
            used.add(nip)
            kind = rng.choices(("PNS", "PPPK", "PPPK_PARUH_WAKTU"), (65, 25, 10))[0]
            group = "default"
            if code in ("RSUD", "SATPOLPP") and i % 3 == 0:
                group = "shift-malam"
            elif code in ("DUKCAPIL", "DPMPTSP") or (code.startswith("KEC-") and i % 4 == 0):
                group = "pelayanan"
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            profile = rng.choices(("tepat", "kadang", "sering"), (70, 22, 8))[0]
            lines.append(f"{nip},{name},{code},{kind},{group},{index}")
            people.append((nip, code, group, profile))
    result = roster.import_csv(("\n".join(lines) + "\n").encode(), now)
    if result["errors"]:
        raise ValueError(f"demo roster refused: {result['errors'][:3]}")
    heads = {}
    for code, name in units:
        head = next(p for p in people if p[1] == code)
        heads[code] = head[0]
        svc.org.put_opd(code, name, None, head[0], None)
    # Kiosk or ADMS per OPD; one kiosk was offline for the last three days.
    adms_opds = {code for i, (code, _) in enumerate(units) if i % 3 == 2}
    outage_opd = units[1][0] if len(units) > 1 else units[0][0]
    outage_from = max(first, last - timedelta(days=2))
    with db.read() as conn:
        rules = ledger.rules(conn)
    tz = ledger.tz
    late: list[dict[str, Any]] = []
    punches = 0
    absences: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    from server.ingest import _insert_punch_rows

    def flush() -> None:
        nonlocal batch
        if batch:
            with db.write() as conn:
                _insert_punch_rows(conn, batch)
            batch = []

    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    for n, (nip, code, group, profile) in enumerate(people):
        source = "adms" if code in adms_opds else "native"
        device = f"{'ADMS' if source == 'adms' else 'kiosk'}-{code}"[:64]
        leave_until = date.min
        for day in days:
            plan = rules.book.plan(group, day, tz)
            if plan.shift is None or plan.scheduled_start is None or plan.scheduled_end is None:
                continue
            if rules.book.group(group).observe_holidays and rules.calendar.get(day):
                continue
            if day <= leave_until:
                continue
            roll = rng.random()
            if roll < 0.012:  # a leave block
                length = rng.choice((1, 1, 2, 3))
                kind = rng.choices(
                    ("cuti_tahunan", "sakit", "izin", "dl", "wfh", "cuti_alasan_penting"),
                    (40, 25, 10, 15, 7, 3),
                )[0]
                leave_until = min(day + timedelta(days=length - 1), last)
                absences.append(
                    {
                        "id": str(uuid.uuid5(SEED_NAMESPACE, f"absence|{nip}|{day}")),
                        "nip": nip,
                        "kind": kind,
                        "date_from": day,
                        "date_to": leave_until,
                        "state": "disetujui",
                        "reason": "data demo",
                        "entered_by": "seed-demo",
                        "entered_utc": to_db(now),
                        "decided_by": f"kepala {code}",
                        "decided_utc": to_db(now),
                        "source": "import",
                    }
                )
                continue
            if roll < 0.022:  # TK: no punch at all
                continue
            start, end = plan.scheduled_start, plan.scheduled_end
            if profile == "tepat":
                arrive = rng.gauss(-18, 8)
            elif profile == "kadang":
                arrive = rng.expovariate(1 / 20) if rng.random() < 0.2 else rng.gauss(-12, 8)
            else:
                arrive = rng.uniform(1, 120) if rng.random() < 0.45 else rng.gauss(-5, 8)
            leave = rng.gauss(12, 10) if rng.random() > 0.06 else -rng.expovariate(1 / 30)
            times = [start + timedelta(minutes=arrive, seconds=rng.randrange(60))]
            if rng.random() > 0.006:  # a forgotten check-out now and then
                times.append(end + timedelta(minutes=leave, seconds=rng.randrange(60)))
            if rng.random() < 0.03:  # a double tap on another machine
                times.append(times[0] + timedelta(minutes=rng.randrange(1, 4)))
            for at in times:
                utc = at.astimezone(UTC)
                if utc >= now:
                    continue
                local = at.astimezone(tz)
                record = f"{nip}\t{local:%Y-%m-%d %H:%M:%S}\t0\t1"
                row = {
                    "id": str(uuid.uuid5(SEED_NAMESPACE, f"{nip}|{utc.isoformat()}")),
                    "device_id": device,
                    "source": source,
                    "seq": None,
                    "prev_hash": None,
                    "record_hash": hashlib.sha256(record.encode()).hexdigest(),
                    "nip": nip,
                    "utc": to_db(utc),
                    "local_offset_minutes": int((local.utcoffset() or timedelta()).total_seconds())
                    // 60,
                    "clock_state": "synced",
                    "verify_mode": "fingerprint" if source == "adms" else "face",
                    "direction": "masuk" if at == times[0] else "pulang",
                    "flags": "demo",
                    "signature": None,
                    "record": record,
                    "received_utc": to_db(min(now, utc + timedelta(seconds=30))),
                }
                punches += 1
                if code == outage_opd and day >= outage_from:
                    row["received_utc"] = to_db(now)
                    late.append(row)
                else:
                    batch.append(row)
                    if len(batch) >= CHUNK:
                        flush()
        if progress and n % 500 == 0:
            print(f"seed: {n}/{len(people)} employees, {punches} punches", file=sys.stderr)
    flush()
    with db.write() as conn:
        for i in range(0, len(absences), 1000):
            conn.execute(insert(Absence), absences[i : i + 1000])
    seeded = time.perf_counter()
    ledger.catch_up(now)  # start the horizon (today)
    computed = ledger.rebuild(first, today, progress=_printer("rebuild") if progress else None)
    rebuilt = time.perf_counter()
    # The outage ends: the kiosk delivers three days late, through the ingest path.
    from server.ingest import insert_ignoring_duplicates

    for i in range(0, len(late), CHUNK):
        with db.write() as conn:
            insert_ignoring_duplicates(conn, late[i : i + CHUNK])
    late_keys = ledger.catch_up(now)
    return {
        "employees": len(people),
        "opds": len(units),
        "months": months,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "punches": punches,
        "absences": len(absences),
        "adms_opds": sorted(adms_opds),
        "outage_opd": outage_opd,
        "late_punches": len(late),
        "late_days_recomputed": late_keys,
        "ledger_days": computed,
        "seed_s": round(seeded - started, 1),
        "rebuild_s": round(rebuilt - seeded, 1),
    }


def _printer(what: str) -> Any:
    last = [time.perf_counter()]

    def show(n: int) -> None:
        if time.perf_counter() - last[0] > 10:
            last[0] = time.perf_counter()
            print(f"{what}: {n}", file=sys.stderr)

    return show


def _timed(fn: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def bench_ledger(
    db: Database,
    settings: ServerSettings,
    employees: int,
    opds: int,
    months: int,
    seed: int = 1,
    progress: bool = False,
) -> dict[str, Any]:
    """Seed a fresh database and time the reports; see the module docstring."""
    with db.read() as conn:
        existing = conn.execute(select(func.count()).select_from(Employee)).scalar() or 0
    if existing:
        raise ValueError(
            "bench-ledger needs an empty database: pass --database-url of a new one "
            "(e.g. sqlite:////tmp/bench-ledger.db)"
        )
    summary = seed_demo(db, settings, employees, months, opds, seed, progress=progress)
    svc = build_ledger_services(db, settings)
    ledger, recaps = svc.ledger, svc.recaps
    today = ledger.today()
    month = _month_start(today, 1).strftime("%Y-%m") if months > 1 else today.strftime("%Y-%m")
    with db.read() as conn:
        biggest = conn.execute(
            select(Employee.opd_code, func.count())
            .group_by(Employee.opd_code)
            .order_by(func.count().desc())
            .limit(1)
        ).first()
        punches = conn.execute(select(func.count()).select_from(Punch)).scalar() or 0
        ledger_days = conn.execute(select(func.count()).select_from(LedgerDay)).scalar() or 0
        nips = list(conn.execute(select(Employee.nip)).scalars())
    assert biggest is not None
    opd = str(biggest[0])
    from server.exports import recap_xlsx

    recap_opd = _timed(lambda: recaps.monthly(opd, month), 7)
    recap_all = _timed(lambda: recaps.monthly_all(month), 3)
    xlsx = _timed(lambda: recap_xlsx(recaps.monthly(opd, month)), 3)
    # A late punch: one more punch of someone's past day, ingested, then the ledger updated.
    from server.ingest import insert_ignoring_duplicates

    rng = random.Random(seed + 1)
    updates = []
    first_day = date.fromisoformat(summary["from"])
    span = (today - first_day).days
    for i in range(200):
        nip = rng.choice(nips)
        day = first_day + timedelta(days=rng.randrange(max(1, span)))
        at = datetime(day.year, day.month, day.day, 9, 0, i % 60, tzinfo=ledger.tz).astimezone(UTC)
        row = {
            "id": str(uuid.uuid5(SEED_NAMESPACE, f"bench|{nip}|{day}|{i}")),
            "device_id": "bench",
            "source": "native",
            "seq": None,
            "prev_hash": None,
            "record_hash": "0" * 64,
            "nip": nip,
            "utc": to_db(at),
            "local_offset_minutes": 420,
            "clock_state": "synced",
            "verify_mode": "face",
            "direction": "masuk",
            "flags": "bench",
            "signature": None,
            "record": "bench",
            "received_utc": to_db(settings.clock()),
        }
        start = time.perf_counter()
        with db.write() as conn:
            insert_ignoring_duplicates(conn, [row])
        ledger.drain()
        updates.append((time.perf_counter() - start) * 1000)
    updates.sort()
    # A full rebuild of the seeded period (a year when --months 12).
    start = time.perf_counter()
    ledger.rebuild(first_day, today)
    rebuild_s = time.perf_counter() - start
    return {
        "database": db.dialect,
        "employees": summary["employees"],
        "opds": summary["opds"],
        "months": months,
        "punches": int(punches),
        "ledger_days": int(ledger_days),
        "seed_s": summary["seed_s"],
        "recap_opd": opd,
        "recap_opd_employees": int(biggest[1]),
        "recap_month": month,
        "recap_opd_ms": round(statistics.median(recap_opd), 1),
        "recap_all_ms": round(statistics.median(recap_all), 1),
        "xlsx_opd_ms": round(statistics.median(xlsx), 1),
        "late_punch_update_p50_ms": round(updates[len(updates) // 2], 2),
        "late_punch_update_p99_ms": round(updates[int(len(updates) * 0.99) - 1], 2),
        "rebuild_days": (today - first_day).days + 1,
        "rebuild_year_s": round(rebuild_s, 1),
        "rebuild_during_seed_s": summary["rebuild_s"],
    }
