"""A populated console for screenshots and the page benchmark.

The regency comes from ``hadir server seed-demo`` (:func:`server.seed.seed_demo`,
issue #10: OPDs, three employment types, schedules, the holiday calendar, a
month of kiosk and ADMS punches, approved leave, an outage delivered late).
On top, through the real services: this morning's arrivals
(``import_punches_csv``), leave and a correction waiting for the head of the
first OPD (the ledger services), kiosks registered with an enrollment code
and reporting their health. ``random.Random(seed)`` makes it repeatable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from attendance.integrity import public_key_bytes
from server.imports import import_punches_csv
from server.models import Employee

DEMO_PASSWORD = "demo-hadir-2026"  # noqa: S105 - the demo's published password


@dataclass(frozen=True)
class DemoWorld:
    employees: list[dict[str, str]]
    opds: list[str]
    punches: int
    ledger_keys: int


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
    months: int = 1,
) -> DemoWorld:
    """``hadir server seed-demo`` (issue #10) up to yesterday, then this morning's arrivals,
    leave and a correction waiting for a decision, and kiosks reporting their health."""
    from server.seed import seed_demo as seed_regency

    rng = random.Random(seed)
    zone = ZoneInfo(services.settings.timezone)
    today = now.astimezone(zone).date()
    summary = seed_regency(services.db, services.settings, employees, months, opds, seed)
    with services.db.read() as conn:
        rows = conn.execute(
            select(Employee.nip, Employee.name, Employee.opd_code).order_by(Employee.nip)
        ).all()
    people = [{"nip": r.nip, "name": r.name, "opd": r.opd_code} for r in rows]
    codes = sorted({p["opd"] for p in people}, key=lambda c: (c != "DISKOMINFO", c))
    by_opd = {c: [p for p in people if p["opd"] == c] for c in codes}
    people = [p for c in codes for p in by_opd[c]]  # the first OPD's staff first
    punch_lines = ["nip,local_time,source"]
    if today.weekday() < 5:
        for person in people:
            if rng.random() < 0.1:
                continue  # not here yet
            arrive = datetime.combine(today, time(7, 30)) + timedelta(
                minutes=rng.gauss(-12, 16) if rng.random() < 0.85 else rng.uniform(1, 100)
            )
            if arrive.replace(tzinfo=zone) < now:
                punch_lines.append(f"{person['nip']},{arrive:%Y-%m-%d %H:%M:%S},kiosk")
    result = import_punches_csv(services.db, ("\n".join(punch_lines) + "\n").encode(), zone, now)
    first = today.replace(day=1)
    days = working_days(first, today)
    _leave_and_corrections(services, people, days, today, rng)
    _kiosks(services, [(c, c) for c in codes], now, rng)
    keys = services.ledger.ledger.catch_up(now)
    return DemoWorld(
        people,
        codes,
        int(summary["punches"]) + int(result["created"]),
        int(summary["ledger_days"]) + keys,
    )


def _leave_and_corrections(
    services: Any, people: list[dict[str, str]], days: list[date], today: date, rng: random.Random
) -> None:
    if len(days) < 3 or len(people) < 6:
        return
    absences = services.ledger.absences
    # Waiting for the head of the first OPD: a leave with its letter, a correction.
    colleagues = [p for p in people if p["opd"] == people[0]["opd"]][1:3]
    pending_day = days[-2]
    if len(colleagues) < 2:
        return
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    later = today + timedelta(days=3)
    absences.create(
        colleagues[0]["nip"], "cuti_tahunan", later, later, "pegawai-demo", "acara keluarga", pdf
    )
    absences.create(people[0]["nip"], "izin", later, later, "pegawai", "urusan bank", pdf)
    at = datetime.combine(pending_day, time(7, 25))
    services.ledger.corrections.create(
        colleagues[1]["nip"], at, "mesin_rusak", "kiosk mati listrik pagi itu", "operator-demo"
    )


def _kiosks(services: Any, opds: list[tuple[str, str]], now: datetime, rng: random.Random) -> None:
    devices = services.devices
    for n, (code, _name) in enumerate(opds[:4]):
        enrollment, _ = devices.create_enrollment_code(code, now)
        key = public_key_bytes(Ed25519PrivateKey.generate().public_key()).hex()
        device_id = f"kiosk-{code}"[:64]  # the device id seed-demo gave its punches
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
