"""A populated console for screenshots and the page benchmark.

Everything goes through the real services: the roster through
``Roster.import_csv``, punches through ``import_punches_csv`` (the migration
path of issue #10), leave and corrections through the ledger services,
kiosks through registration and heartbeats; then the ledger is rebuilt for
the month. ``random.Random(seed)`` makes it repeatable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attendance.integrity import public_key_bytes
from server.imports import import_punches_csv

DEMO_PASSWORD = "demo-hadir-2026"  # noqa: S105 - the demo's published password
OPDS = [
    ("DISKOMINFO", "Dinas Komunikasi dan Informatika"),
    ("BKPSDM", "Badan Kepegawaian dan Pengembangan SDM"),
    ("BAPPEDA", "Badan Perencanaan Pembangunan Daerah"),
    ("DINKES", "Dinas Kesehatan"),
    ("DISDIK", "Dinas Pendidikan"),
    ("BPKAD", "Badan Pengelolaan Keuangan dan Aset Daerah"),
    ("DISHUB", "Dinas Perhubungan"),
    ("SATPOLPP", "Satuan Polisi Pamong Praja"),
    ("DPMPTSP", "Dinas Penanaman Modal dan PTSP"),
    ("DINSOS", "Dinas Sosial"),
]
FIRST = [
    "Siti",
    "Budi",
    "Dewi",
    "Agus",
    "Rina",
    "Hendra",
    "Nur",
    "Ahmad",
    "Yuni",
    "Rudi",
    "Sri",
    "Joko",
    "Lina",
    "Fajar",
    "Maya",
    "Eko",
    "Ratna",
    "Dedi",
    "Wati",
    "Andi",
]
LAST = [
    "Aminah",
    "Santoso",
    "Lestari",
    "Saputra",
    "Wulandari",
    "Gunawan",
    "Hidayat",
    "Rahmawati",
    "Pratama",
    "Kusuma",
    "Siregar",
    "Nasution",
    "Putri",
    "Harahap",
    "Utami",
]
TYPES = ["PNS"] * 6 + ["PPPK"] * 3 + ["PPPK_PW"]


@dataclass(frozen=True)
class DemoWorld:
    employees: list[dict[str, str]]
    opds: list[str]
    punches: int
    ledger_keys: int


def nip_for(i: int, rng: random.Random) -> str:
    born = date(1965, 1, 1) + timedelta(days=rng.randrange(0, 365 * 35))
    appointed = 1990 + rng.randrange(0, 35)
    return (
        f"{born:%Y%m%d}{appointed:04d}{rng.randrange(1, 13):02d}{rng.randrange(1, 3)}{i % 1000:03d}"
    )


def working_days(first: date, last: date) -> list[date]:
    return [
        first + timedelta(days=i)
        for i in range((last - first).days + 1)
        if (first + timedelta(days=i)).weekday() < 5
    ]


def seed_demo(
    services: Any,
    now: datetime,
    employees: int = 300,
    opds: int = 8,
    seed: int = 7,
    rebuild: bool = True,
) -> DemoWorld:
    """Fill the server of ``services`` with a plausible month up to ``now``."""
    rng = random.Random(seed)
    zone = ZoneInfo(services.settings.timezone)
    today = now.astimezone(zone).date()
    chosen = (
        OPDS[: max(1, min(opds, len(OPDS)))]
        if opds <= len(OPDS)
        else [(f"OPD{i:02d}", f"Perangkat Daerah {i}") for i in range(1, opds + 1)]
    )
    for code, name in chosen:
        services.ledger.org.put_opd(code, name, head_name=f"Kepala {code}")
    people: list[dict[str, str]] = []
    seen: set[str] = set()
    lines = ["nip,name,opd,type,schedule_group"]
    i = 0
    while len(people) < employees:
        i += 1
        nip = nip_for(i, rng)
        if nip in seen:
            continue
        seen.add(nip)
        opd = chosen[len(people) % len(chosen)][0]
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        people.append({"nip": nip, "name": name, "opd": opd})
        lines.append(f"{nip},{name},{opd},{rng.choice(TYPES)},default")
    services.roster.import_csv(("\n".join(lines) + "\n").encode(), now)

    first = today.replace(day=1)
    days = working_days(first, today)
    punch_lines = ["nip,local_time,source"]
    for person in people:
        habit = rng.gauss(0, 12)  # some people are habitually late
        for day in days:
            if rng.random() < 0.04:
                continue  # absent
            arrive = datetime.combine(day, time(7, 20)) + timedelta(minutes=rng.gauss(habit, 14))
            if day == today and arrive.replace(tzinfo=zone) > now:
                continue
            punch_lines.append(f"{person['nip']},{arrive:%Y-%m-%d %H:%M:%S},kiosk")
            leave = datetime.combine(day, time(16, 5)) + timedelta(minutes=rng.gauss(10, 15))
            if day < today:
                punch_lines.append(f"{person['nip']},{leave:%Y-%m-%d %H:%M:%S},kiosk")
    result = import_punches_csv(services.db, ("\n".join(punch_lines) + "\n").encode(), zone, now)
    _leave_and_corrections(services, people, days, today, rng)
    _kiosks(services, chosen, now, rng)
    keys = 0
    if rebuild and days:
        keys = services.ledger.ledger.rebuild(first, today, now=now)
    return DemoWorld(people, [c for c, _ in chosen], int(result["created"]), keys)


def _leave_and_corrections(
    services: Any, people: list[dict[str, str]], days: list[date], today: date, rng: random.Random
) -> None:
    if len(days) < 3 or len(people) < 6:
        return
    absences = services.ledger.absences
    for person, kind in zip(people[:4], ("cuti_tahunan", "sakit", "dl", "izin"), strict=False):
        day = rng.choice(days[:-1])
        absences.create(person["nip"], kind, day, day, "operator-demo", state="disetujui")
    # Waiting for the head of the first OPD: a leave with its letter, a correction.
    colleagues = [p for p in people if p["opd"] == people[0]["opd"]][1:3]
    if len(colleagues) < 2:
        return
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    later = today + timedelta(days=3)
    absences.create(
        colleagues[0]["nip"], "cuti_tahunan", later, later, "pegawai-demo", "acara keluarga", pdf
    )
    at = datetime.combine(days[-2], time(7, 25))
    services.ledger.corrections.create(
        colleagues[1]["nip"], at, "mesin_rusak", "kiosk mati listrik pagi itu", "operator-demo"
    )


def _kiosks(services: Any, opds: list[tuple[str, str]], now: datetime, rng: random.Random) -> None:
    devices = services.devices
    for n, (code, _name) in enumerate(opds[:4]):
        enrollment, _ = devices.create_enrollment_code(code, now)
        key = public_key_bytes(Ed25519PrivateKey.generate().public_key()).hex()
        device_id = f"kiosk-{code.lower()}-1"
        devices.register(enrollment, device_id, key, now)
        if n == 3:
            continue  # never reported: shows as silent
        seen = now - timedelta(minutes=2 + 90 * (n == 2))
        devices.heartbeat(
            device_id,
            {
                "queue_length": rng.randrange(0, 40) if n else 0,
                "clock_state": "synced" if n != 1 else "suspect",
                "clock_offset_seconds": 0.4 if n != 1 else 74.0,
                "version": "0.1.0",
            },
            seen,
        )


def create_demo_accounts(accounts: Any, world: DemoWorld, now: datetime) -> dict[str, str]:
    """One account per role over the demo's first OPD; returns username -> role."""
    opd = world.opds[0]
    first_employee = next(p for p in world.employees if p["opd"] == opd)
    wanted = {
        "bkpsdm": ("superadmin", None, None),
        "auditor": ("auditor", None, None),
        "operator": ("operator", opd, None),
        "kepala": ("head", opd, None),
        "pegawai": ("employee", opd, first_employee["nip"]),
    }
    for username, (role, code, nip) in wanted.items():
        accounts.create_user(
            username=username,
            full_name=first_employee["name"] if role == "employee" else f"Demo {role}",
            role=role,
            password=DEMO_PASSWORD,
            now=now,
            opd_code=code,
            nip=nip,
        )
    return {u: r for u, (r, _, _) in wanted.items()}
