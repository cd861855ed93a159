"""ZKTeco ADMS ("PUSH", iclock) ingest for the fingerprint machines already in the offices.

The protocol has no authentication: the serial number is the identity, so
only serials in ``[server] adms_serials`` are served. ATTLOG lines carry
device-local wall time, converted to UTC with the office time zone. Each line
becomes a punch with ``source = "adms"`` (unsigned) whose id is a uuid5 of
serial, PIN and time, so a machine re-sending its log yields duplicates.
Lines whose PIN maps to no employee are kept in ``adms_unmatched`` for the
admin rather than dropped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from attendance.adms import parse_key_values
from server.db import Database
from server.errors import ApiError
from server.ingest import IngestLimits, insert_ignoring_duplicates, one_of
from server.models import AdmsCommand, AdmsUnmatched, AdmsUser, Employee
from server.timeutil import to_db

log = logging.getLogger(__name__)

# Namespace of ADMS punch ids: uuid5(ADMS_NAMESPACE, "SERIAL|PIN|YYYY-MM-DD HH:MM:SS").
ADMS_NAMESPACE = uuid.UUID("6f0d3b52-8c1e-5d6a-9a41-2f3e4b5c6d7e")
SERIAL_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
PIN_RE = re.compile(r"[A-Za-z0-9]{1,32}")
TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
VERIFY_MODES = {"0": "pin", "1": "fingerprint", "4": "card", "15": "face"}
DIRECTIONS = {
    "0": "masuk",
    "1": "pulang",
    "2": "break_out",
    "3": "break_in",
    "4": "overtime_in",
    "5": "overtime_out",
}
MAX_COMMANDS_PER_POLL = 20


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ord(ch) >= 32 and ord(ch) != 127)


def adms_punch_id(serial: str, pin: str, local_time: str) -> str:
    return str(uuid.uuid5(ADMS_NAMESPACE, f"{serial}|{pin}|{local_time}"))


@dataclass(frozen=True)
class AttlogLine:
    pin: str
    local_time: str
    status: str
    verify: str
    workcode: str
    raw: str


def parse_attlog_line(line: str) -> AttlogLine:
    """``PIN\\tYYYY-MM-DD HH:MM:SS\\tstatus\\tverify\\tworkcode\\t...``; ValueError if not."""
    fields = [f.strip() for f in line.split("\t")]
    if len(fields) < 2:
        raise ValueError("fewer than 2 fields")
    pin, local_time = fields[0], fields[1]
    if not PIN_RE.fullmatch(pin):
        raise ValueError("PIN is not 1-32 letters/digits")
    if not TIME_RE.fullmatch(local_time):
        raise ValueError("time is not YYYY-MM-DD HH:MM:SS")
    datetime.strptime(local_time, "%Y-%m-%d %H:%M:%S")  # raises ValueError on 2026-13-45
    status = fields[2] if len(fields) > 2 and fields[2] else "0"
    verify = fields[3] if len(fields) > 3 and fields[3] else "1"
    workcode = fields[4] if len(fields) > 4 else ""
    for name, value in (("status", status), ("verify", verify)):
        if not value.isdigit() or len(value) > 4:
            raise ValueError(f"{name} is not a number")
    raw = "".join(ch for ch in line[:512] if ch == "\t" or (ord(ch) >= 32 and ord(ch) != 127))
    return AttlogLine(pin, local_time, status, verify, _printable(workcode)[:32], raw)


class AdmsService:
    def __init__(
        self, db: Database, serials: tuple[str, ...], timezone: str, limits: IngestLimits
    ) -> None:
        self._db = db
        self._serials = frozenset(serials)
        self._zone = ZoneInfo(timezone)
        self._limits = limits

    def check_serial(self, serial: str | None) -> str:
        if not serial or not SERIAL_RE.fullmatch(serial) or serial not in self._serials:
            log.warning(
                "adms request from a serial not allowed", extra={"serial": (serial or "")[:64]}
            )
            raise ApiError(403, "unknown_device", "unknown device")
        return serial

    def options(self, serial: str, now: datetime) -> str:
        offset = self._zone.utcoffset(now.replace(tzinfo=None))
        hours = offset.total_seconds() / 3600 if offset is not None else 0.0
        tz = str(int(hours)) if hours == int(hours) else f"{hours:g}"
        lines = [
            f"GET OPTION FROM: {serial}",
            "ATTLOGStamp=None",
            "OPERLOGStamp=9999",
            "ATTPHOTOStamp=None",
            "ErrorDelay=30",
            "Delay=10",
            "TransTimes=00:00;14:05",
            "TransInterval=1",
            "TransFlag=TransData AttLog\tOpLog\tEnrollUser",
            f"TimeZone={tz}",
            "Realtime=1",
            "Encrypt=None",
        ]
        return "\n".join(lines) + "\n"

    # -- ATTLOG ---------------------------------------------------------------
    def attlog(self, serial: str, body: str, now: datetime) -> int:
        """Store the punches of an ATTLOG upload; returns the number of lines taken."""
        parsed: list[AttlogLine] = []
        bad = 0
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                parsed.append(parse_attlog_line(line))
            except ValueError:
                bad += 1
        stored = unmatched = 0
        if parsed:
            with self._db.write() as conn:
                pins = self._pin_map(conn, {p.pin for p in parsed})
                rows: list[dict[str, Any]] = []
                strays: list[dict[str, Any]] = []
                for p in parsed:
                    nip = pins.get(p.pin)
                    pid = adms_punch_id(serial, p.pin, p.local_time)
                    if nip is None:
                        strays.append(
                            {
                                "id": pid,
                                "serial": serial,
                                "pin": p.pin,
                                "local_time": p.local_time,
                                "line": p.raw,
                                "received_utc": to_db(now),
                            }
                        )
                        continue
                    try:
                        rows.append(self._punch_row(serial, nip, p, pid, now))
                    except OverflowError:  # year 1 or 9999 in another time zone
                        bad += 1
                stored = len(insert_ignoring_duplicates(conn, rows))
                if strays:
                    module: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
                    conn.execute(
                        module.insert(AdmsUnmatched).on_conflict_do_nothing(index_elements=["id"]),
                        strays,
                    )
                unmatched = len(strays)
        log.info(
            "adms attlog",
            extra={
                "serial": serial,
                "lines": len(parsed) + bad,
                "stored": stored,
                "duplicates": len(parsed) - unmatched - stored,
                "unmatched": unmatched,
                "malformed": bad,
            },
        )
        return len(parsed)

    def _punch_row(
        self, serial: str, nip: str, p: AttlogLine, pid: str, now: datetime
    ) -> dict[str, Any]:
        local = datetime.strptime(p.local_time, "%Y-%m-%d %H:%M:%S").replace(tzinfo=self._zone)
        offset = local.utcoffset() or timedelta(0)
        flags = []
        if local > now + self._limits.max_future or local < now - self._limits.max_age:
            flags.append("timestamp_suspect")
        record = {
            "serial": serial,
            "pin": p.pin,
            "time": p.local_time,
            "status": p.status,
            "verify": p.verify,
            "workcode": p.workcode,
        }
        return {
            "id": pid,
            "device_id": serial,
            "source": "adms",
            "seq": None,
            "prev_hash": None,
            "record_hash": hashlib.sha256(p.raw.encode()).hexdigest(),
            "nip": nip,
            "utc": to_db(local),
            "local_offset_minutes": int(offset.total_seconds() // 60),
            "clock_state": "unknown",
            "verify_mode": VERIFY_MODES.get(p.verify, f"other:{p.verify}"),
            "direction": DIRECTIONS.get(p.status, f"status:{p.status}"),
            "flags": ",".join(flags),
            "signature": None,
            "record": json.dumps(record, separators=(",", ":")),
            "received_utc": to_db(now),
        }

    @staticmethod
    def _pin_map(conn: Connection, pins: set[str]) -> dict[str, str]:
        """PIN -> NIP for PINs held by exactly one employee."""
        found: dict[str, list[str]] = {}
        plist = sorted(pins)
        for i in range(0, len(plist), 900):
            for pin, nip in conn.execute(
                select(Employee.adms_pin, Employee.nip).where(
                    one_of(conn, Employee.adms_pin, plist[i : i + 900])
                )
            ):
                found.setdefault(pin, []).append(nip)
        return {pin: nips[0] for pin, nips in found.items() if len(nips) == 1}

    # -- OPERLOG ----------------------------------------------------------------
    def operlog(self, serial: str, body: str, now: datetime) -> int:
        users: dict[str, dict[str, Any]] = {}
        lines = 0
        for line in body.splitlines():
            if not line.strip():
                continue
            lines += 1
            kind, _, rest = line.strip().partition(" ")
            if kind != "USER":
                continue  # FP templates, OPLOG entries: not used by this server
            kv = parse_key_values(rest)
            pin = kv.get("PIN", "")
            if not PIN_RE.fullmatch(pin):
                continue
            users[pin] = {
                "serial": serial,
                "pin": pin,
                "name": _printable(kv.get("Name", ""))[:200],
                "privilege": _printable(kv.get("Pri", "0"))[:16],
                "updated_utc": to_db(now),
            }
        if users:
            with self._db.write() as conn:
                module: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
                stmt = module.insert(AdmsUser)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["serial", "pin"],
                    set_={
                        "name": stmt.excluded.name,
                        "privilege": stmt.excluded.privilege,
                        "updated_utc": stmt.excluded.updated_utc,
                    },
                )
                conn.execute(stmt, list(users.values()))
        log.info("adms operlog", extra={"serial": serial, "lines": lines, "users": len(users)})
        return lines

    def device_users(self, serial: str) -> list[dict[str, str]]:
        with self._db.read() as conn:
            return [
                {"pin": u.pin, "name": u.name, "privilege": u.privilege}
                for u in conn.execute(
                    select(AdmsUser.__table__)
                    .where(AdmsUser.serial == serial)
                    .order_by(AdmsUser.pin)
                )
            ]

    # -- commands -----------------------------------------------------------------
    def queue_command(self, serial: str, command: str, now: datetime) -> int:
        if not SERIAL_RE.fullmatch(serial) or serial not in self._serials:
            raise ApiError(404, "not_found", f"serial {serial[:64]!r} is not in adms_serials")
        if (
            not command
            or len(command) > 1000
            or any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in command)
        ):
            raise ApiError(422, "invalid_request", "command: one line of 1-1000 characters")
        with self._db.write() as conn:
            cid = conn.execute(
                insert(AdmsCommand)
                .values(serial=serial, command=command, status="queued", created_utc=to_db(now))
                .returning(AdmsCommand.id)
            ).scalar_one()
        return int(cid)

    def poll(self, serial: str, now: datetime) -> str:
        with self._db.write() as conn:
            rows = conn.execute(
                select(AdmsCommand.id, AdmsCommand.command)
                .where(AdmsCommand.serial == serial, AdmsCommand.status == "queued")
                .order_by(AdmsCommand.id)
                .limit(MAX_COMMANDS_PER_POLL)
            ).all()
            if rows:
                conn.execute(
                    update(AdmsCommand)
                    .where(AdmsCommand.id.in_([r.id for r in rows]))
                    .values(status="sent", sent_utc=to_db(now))
                )
        if not rows:
            return "OK"
        return "\n".join(f"C:{r.id}:{r.command}" for r in rows) + "\n"

    def command_results(self, serial: str, body: str) -> int:
        done = 0
        with self._db.write() as conn:
            for line in body.splitlines():
                fields = parse_qs(line.strip(), keep_blank_values=True)
                cid = (fields.get("ID") or [""])[0]
                ret = _printable((fields.get("Return") or [""])[0])[:32]
                if not cid.isdigit() or len(cid) > 18:
                    continue
                result = conn.execute(
                    update(AdmsCommand)
                    .where(AdmsCommand.id == int(cid), AdmsCommand.serial == serial)
                    .values(status="done", return_code=ret)
                )
                done += result.rowcount
        return done

    def command_list(self, serial: str) -> list[dict[str, Any]]:
        with self._db.read() as conn:
            return [
                {"id": c.id, "command": c.command, "status": c.status, "return_code": c.return_code}
                for c in conn.execute(
                    select(AdmsCommand.__table__)
                    .where(AdmsCommand.serial == serial)
                    .order_by(AdmsCommand.id)
                )
            ]
