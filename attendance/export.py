"""CSV export of punches for the manual fallback and for audits."""

from __future__ import annotations

import csv
import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from attendance.db import Database
from attendance.ids import format_utc, parse_utc
from attendance.models import Correction, Employee, OutboxEntry, Punch

COLUMNS = (
    "punch_id",
    "device_id",
    "seq",
    "nip",
    "name",
    "local_time",
    "utc",
    "work_date",
    "direction",
    "verify_mode",
    "clock_state",
    "late_minutes",
    "early_minutes",
    "category",
    "distance",
    "margin",
    "liveness",
    "delivery",
    "corrections",
)


def export_csv(db: Database, out: Path, first: date, last: date, tz: ZoneInfo) -> int:
    """Write punches whose local date is in ``[first, last]`` to ``out``; returns the count.

    The file is written to a temporary name and renamed, so a half-written export
    never looks complete.
    """
    if last < first:
        raise ValueError(f"--to ({last}) is before --from ({first})")
    start = datetime.combine(first, time(0), tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
    query = (
        select(
            Punch.id,
            Punch.device_id,
            Punch.seq,
            Punch.nip,
            Employee.name,
            Punch.utc,
            Punch.work_date,
            Punch.direction,
            Punch.verify_mode,
            Punch.clock_state,
            Punch.late_minutes,
            Punch.early_minutes,
            Punch.category,
            Punch.distance,
            Punch.margin,
            Punch.liveness,
            OutboxEntry.state,
        )
        .outerjoin(Employee, Employee.nip == Punch.nip)
        .outerjoin(OutboxEntry, OutboxEntry.punch_pk == Punch.pk)
        .where(Punch.utc >= format_utc(start), Punch.utc < format_utc(end))
        .order_by(Punch.utc, Punch.seq)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    count = 0
    with db.read() as conn:
        corrections: dict[str, list[str]] = {}
        for pid, fld, old, new in conn.execute(
            select(
                Correction.punch_id, Correction.field, Correction.old_value, Correction.new_value
            )
            .join(Punch, Punch.id == Correction.punch_id)
            .where(Punch.utc >= format_utc(start), Punch.utc < format_utc(end))
            .order_by(Correction.id)
        ):
            corrections.setdefault(pid, []).append(f"{fld}:{old}->{new}")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            for r in conn.execute(query):
                local = parse_utc(r.utc).astimezone(tz)
                writer.writerow(
                    (
                        r.id,
                        r.device_id,
                        r.seq,
                        r.nip,
                        r.name or "",
                        local.strftime("%Y-%m-%d %H:%M:%S"),
                        r.utc,
                        r.work_date or "",
                        r.direction,
                        r.verify_mode,
                        r.clock_state,
                        "" if r.late_minutes is None else r.late_minutes,
                        "" if r.early_minutes is None else r.early_minutes,
                        r.category or "",
                        "" if r.distance is None else f"{r.distance:.4f}",
                        "" if r.margin is None else f"{r.margin:.4f}",
                        r.liveness or "",
                        r.state or "",
                        "; ".join(corrections.get(r.id, [])),
                    )
                )
                count += 1
            fh.flush()
            os.fsync(fh.fileno())
    tmp.replace(out)
    return count
