"""Imports from the previous attendance system: punches and absences as CSV.

Public API: :func:`import_punches_csv` ``(db, body, tz, now)`` and
:func:`import_absences_csv` ``(absences, body)``; both return
``{"created": n, "unchanged": n, "errors": [{"line": n, "error": "field: why"}]}``.

- Punches: header ``nip,local_time,source``; ``local_time`` is
  ``YYYY-MM-DD HH:MM:SS`` in the server's time zone. Each punch gets a
  deterministic id (UUID5 of NIP and time), so re-running an import adds
  nothing; it lands in the punch table with ``source = "import"`` (the
  original source name in ``device_id``) and queues its ledger day like any
  kiosk punch.
- Absences: header ``nip,kind,from,to`` (inclusive dates, kinds as in
  :data:`server.absences.ABSENCE_KINDS`), imported ``disetujui``. A line equal
  to a stored record is unchanged; an overlap with another record is an
  error naming it.

One bad line never stops the others; the caller exits 1 when any line was
refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from server.absences import Absences, absence_kind
from server.db import Database
from server.errors import ApiError
from server.ingest import NIP_RE, insert_ignoring_duplicates, one_of
from server.ledger_models import Absence
from server.models import Employee
from server.timeutil import to_db

IMPORT_NAMESPACE = uuid.UUID("6f1b7d0e-3c55-4c1e-9a51-0d7a1f0b2c11")
SOURCE_MAX = 56
CHUNK = 1000


def _rows(body: bytes, columns: tuple[str, ...]) -> tuple[list[tuple[int, dict[str, str]]], str]:
    """(line number, row) pairs, or an error for the whole file."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], f"file: not UTF-8 text ({exc.reason} at byte {exc.start})"
    if "\x00" in text:
        return [], "file: contains NUL characters (not a CSV text file)"
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], f"file: empty (expected a header {','.join(columns)})"
    except csv.Error as exc:
        return [], f"file: not CSV ({exc})"
    names = [h.strip().lower() for h in header]
    if tuple(names) != columns:
        return [], f"header: must be {','.join(columns)}, got {','.join(names)}"
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for cells in reader:
            _add_row(rows, cells, reader.line_num, columns)
    except csv.Error as exc:
        rows.append((reader.line_num, {"__error__": f"line: not CSV ({exc})"}))
    return rows, ""


def _add_row(
    rows: list[tuple[int, dict[str, str]]],
    cells: list[str],
    line: int,
    columns: tuple[str, ...],
) -> None:
    if not any(c.strip() for c in cells):
        return
    if len(cells) != len(columns):
        rows.append((line, {"__error__": f"line: {len(cells)} columns, expected {len(columns)}"}))
        return
    rows.append((line, dict(zip(columns, (c.strip() for c in cells), strict=True))))


def import_punches_csv(db: Database, body: bytes, tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    """Import ``nip,local_time,source`` lines as punches (idempotent)."""
    rows, problem = _rows(body, ("nip", "local_time", "source"))
    result: dict[str, Any] = {"created": 0, "unchanged": 0, "errors": []}
    if problem:
        result["errors"].append({"line": 1, "error": problem})
        return result
    good: list[tuple[int, dict[str, Any]]] = []
    nips = sorted({r["nip"] for _, r in rows if NIP_RE.fullmatch(r.get("nip", ""))})
    with db.read() as conn:
        known: set[str] = set()
        for i in range(0, len(nips), 900):
            known.update(
                conn.execute(
                    select(Employee.nip).where(one_of(conn, Employee.nip, nips[i : i + 900]))
                ).scalars()
            )
    for line, r in rows:
        if "__error__" in r:
            result["errors"].append({"line": line, "error": r["__error__"]})
            continue
        nip = r["nip"]
        if not NIP_RE.fullmatch(nip):
            result["errors"].append({"line": line, "error": f"nip: must be 18 digits, got {nip!r}"})
            continue
        if nip not in known:
            result["errors"].append({"line": line, "error": f"nip: unknown employee {nip}"})
            continue
        try:
            local = datetime.strptime(r["local_time"], "%Y-%m-%d %H:%M:%S")
        except ValueError:
            result["errors"].append(
                {
                    "line": line,
                    "error": f"local_time: must be YYYY-MM-DD HH:MM:SS, got {r['local_time']!r}",
                }
            )
            continue
        aware = local.replace(tzinfo=tz)
        if aware > now + timedelta(minutes=5):
            result["errors"].append(
                {"line": line, "error": f"local_time: {r['local_time']} is in the future"}
            )
            continue
        if local.year < 2000:
            result["errors"].append(
                {"line": line, "error": f"local_time: {r['local_time']} is before 2000"}
            )
            continue
        source = r["source"]
        if not source or len(source) > SOURCE_MAX or not source.isprintable():
            result["errors"].append(
                {"line": line, "error": f"source: 1-{SOURCE_MAX} printable characters"}
            )
            continue
        record = f"{nip},{local:%Y-%m-%d %H:%M:%S},{source}"
        offset = aware.utcoffset() or timedelta(0)
        good.append(
            (
                line,
                {
                    "id": str(uuid.uuid5(IMPORT_NAMESPACE, f"{nip}|{local:%Y-%m-%d %H:%M:%S}")),
                    "device_id": f"import:{source}"[:64],
                    "source": "import",
                    "seq": None,
                    "prev_hash": None,
                    "record_hash": hashlib.sha256(record.encode()).hexdigest(),
                    "nip": nip,
                    "utc": to_db(aware),
                    "local_offset_minutes": int(offset.total_seconds() // 60),
                    "clock_state": "synced",
                    "verify_mode": "import",
                    "direction": "import",
                    "flags": "import",
                    "signature": None,
                    "record": record,
                    "received_utc": to_db(now),
                },
            )
        )
    seen: set[str] = set()
    unique = []
    for _line, row in good:
        if row["id"] in seen:
            result["unchanged"] += 1
            continue
        seen.add(row["id"])
        unique.append(row)
    for i in range(0, len(unique), CHUNK):
        chunk = unique[i : i + CHUNK]
        with db.write() as conn:
            inserted = insert_ignoring_duplicates(conn, chunk)
        result["created"] += len(inserted)
        result["unchanged"] += len(chunk) - len(inserted)
    return result


def import_absences_csv(absences: Absences, body: bytes) -> dict[str, Any]:
    """Import ``nip,kind,from,to`` lines as approved absences (idempotent)."""
    rows, problem = _rows(body, ("nip", "kind", "from", "to"))
    result: dict[str, Any] = {"created": 0, "unchanged": 0, "errors": []}
    if problem:
        result["errors"].append({"line": 1, "error": problem})
        return result
    for line, r in rows:
        if "__error__" in r:
            result["errors"].append({"line": line, "error": r["__error__"]})
            continue
        try:
            start = _date(r["from"], "from")
            end = _date(r["to"], "to")
            kind = absence_kind(r["kind"])
            with absences.db.write() as conn:
                same = conn.execute(
                    select(Absence.id).where(
                        Absence.nip == r["nip"],
                        Absence.kind == kind,
                        Absence.date_from == start,
                        Absence.date_to == end,
                        Absence.state == "disetujui",
                    )
                ).first()
                if same is not None:
                    result["unchanged"] += 1
                    continue
                absences.create(
                    r["nip"],
                    kind,
                    start,
                    end,
                    entered_by="import",
                    state="disetujui",
                    source="import",
                    conn=conn,
                )
            result["created"] += 1
        except ApiError as exc:
            detail = exc.detail.replace("date_from:", "from:").replace("date_to:", "to:")
            result["errors"].append({"line": line, "error": detail})
    return result


def _date(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(
            422, "invalid_request", f"{field}: must be YYYY-MM-DD, got {text!r}"
        ) from None
