"""ADMS client mode: push punches to an existing ZKTeco ADMS ("iclock") server.

See ``DOMAIN.md``. The kiosk plays a ZKTeco device with serial ``SN``:

* handshake ``GET /iclock/cdata?SN=..&options=all`` (option lines);
* ``POST /iclock/cdata?SN=..&table=ATTLOG&Stamp=..`` one line per punch:
  ``PIN \\t YYYY-MM-DD HH:MM:SS \\t status \\t verify \\t workcode \\t 0 \\t 0`` in
  device-local wall time; status 0 = check-in (masuk), 1 = check-out (pulang);
  verify 15 = face, 1 = fingerprint, 0 = password/PIN. The server answers
  ``OK`` or ``OK: <n>``; only then are the punches marked delivered. ADMS has
  no per-record answer, so the whole batch is acknowledged or retried (ADMS
  servers de-duplicate re-sent lines by PIN and time);
* ``GET /iclock/getrequest?SN=..`` for commands ``C:<id>:<command>``;
  ``DATA UPDATE USERINFO PIN=..\\tName=..`` and ``DATA DELETE USERINFO PIN=..``
  are applied to the local roster (a deleted person is deactivated, never
  erased: their punches stay), results go back with ``POST
  /iclock/devicecmd?SN=..`` (``ID=..&Return=..&CMD=..``).

Real servers differ, so the client also:

* sends a device PIN instead of the NIP when a PIN map is configured
  (:class:`PinMap`, ``[sync] adms_pin_file``; most servers allow 9 digits);
* takes ``OK: n`` with n below the lines sent as "the first n were stored":
  those are acknowledged, the rest go again; ``OK: 0`` is a transient error
  (backoff), and after :data:`ZERO_ACK_ATTEMPTS` of them for the same first
  line that line is parked in quarantine (never deleted; ``requeue``) so one
  line a server refuses never blocks the outbox; an empty 200 body is ``OK``;
* answers ``DATA QUERY ATTLOG`` (re-sends a period), ``SET OPTION``, ``INFO``
  (device information lines), ``CHECK`` (handshake again), ``REBOOT``
  (acknowledged; the round ends and the next one starts with a handshake)
  and ``LOG``, replying with the full command name (``CMD=DATA QUERY ATTLOG``);
* keeps the ``Stamp`` counter in ``device_state`` across restarts.

There is no authentication in ADMS: the serial is the identity. Use TLS.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

from attendance.adms import parse_key_values
from attendance.ids import parse_utc
from attendance.models import Punch
from attendance.store import EmployeeRecord, Store
from sync.client import unreachable
from sync.retry import TransientError, classify_status

log = logging.getLogger(__name__)

STATUS_CODES = {"masuk": 0, "pulang": 1}
VERIFY_CODES = {"face": 15, "fingerprint": 1, "pin": 0}
_OK = re.compile(r"^OK(?::\s*(\d+))?\s*$")
_COMMAND = re.compile(r"^C:([A-Za-z0-9_.-]+):(.*)$")
_NAME = re.compile(r"[A-Z_]+")
STAMP_KEY = "adms_attlog_stamp"
OPTIONS_KEY = "adms_options"
PIN_MAP_KEY = "adms_pin_map"
MAX_PIN_DIGITS = 9
# "OK: 0" for the same first line this many times (with backoff between) parks it.
ZERO_ACK_ATTEMPTS = 3


class AdmsReplyError(TransientError):
    """The ADMS server's answer is not what the protocol promises."""


@dataclass(frozen=True)
class AdmsCommand:
    id: str
    text: str

    @property
    def kind(self) -> str:
        """``DATA`` / ``CHECK`` / ``INFO`` / ``REBOOT`` ... (the first word)."""
        return self.text.split(" ", 1)[0] if self.text else ""

    @property
    def name(self) -> str:
        """The full command name: ``DATA QUERY ATTLOG``, ``SET OPTION``, ``INFO``."""
        words = []
        for word in self.text.split():
            if not _NAME.fullmatch(word):
                break  # PIN=.., StartTime=.., a value
            words.append(word)
        return " ".join(words) or self.kind or "UNKNOWN"


class PinMap:
    """NIP <-> device PIN (1-9 digits), read from a roster CSV with ``nip`` and ``adms_pin``."""

    def __init__(self, pins: Mapping[str, str]) -> None:
        self.by_nip = dict(pins)
        self.by_pin = {pin: nip for nip, pin in pins.items()}

    @classmethod
    def parse_csv(cls, text: str, source: str = "adms_pin_file") -> PinMap:
        rows = csv.DictReader(io.StringIO(text))
        fields = {f.strip().lower(): f for f in rows.fieldnames or []}
        pin_col = fields.get("adms_pin") or fields.get("pin")
        if "nip" not in fields or pin_col is None:
            raise ValueError(f"{source}: needs the columns nip and adms_pin")
        pins: dict[str, str] = {}
        seen: dict[str, int] = {}
        for lineno, row in enumerate(rows, start=2):
            nip = (row.get(fields["nip"]) or "").strip()
            pin = (row.get(pin_col) or "").strip()
            if not nip and not pin:
                continue
            if not (pin.isascii() and pin.isdigit() and 1 <= len(pin) <= MAX_PIN_DIGITS):
                raise ValueError(
                    f"{source}:{lineno}: adms_pin must be 1-{MAX_PIN_DIGITS} digits, got {pin!r}"
                )
            if pin in seen:
                raise ValueError(
                    f"{source}:{lineno}: adms_pin {pin} already used on line {seen[pin]}"
                )
            seen[pin] = lineno
            pins[nip] = pin
        return cls(pins)

    @classmethod
    def load(cls, store: Store, path: str) -> PinMap | None:
        """From ``path`` (kept in device_state), or the last copy kept; None without a map."""
        if path:
            try:
                text = Path(path).read_text(encoding="utf-8-sig")
            except OSError as exc:
                log.warning("ADMS PIN map %s unreadable (%s); using the last copy", path, exc)
            else:
                found = cls.parse_csv(text, path)
                store.state.set(PIN_MAP_KEY, json.dumps(found.by_nip, sort_keys=True))
                return found
        kept = store.state.get(PIN_MAP_KEY)
        return cls(json.loads(kept)) if kept else None


def local_wall_time(record: Mapping[str, Any]) -> str:
    """The punch's device-local wall time ``YYYY-MM-DD HH:MM:SS`` (UTC + signed local offset)."""
    utc = parse_utc(str(record["utc"]))
    offset = int(record["local_offset_minutes"])
    return (utc + timedelta(minutes=offset)).strftime("%Y-%m-%d %H:%M:%S")


def attlog_line(record: Mapping[str, Any], pin: str | None = None) -> str:
    """One ATTLOG line for a signed punch record; ``pin`` defaults to the NIP."""
    direction = str(record["direction"])
    mode = str(record["verify_mode"])
    if direction not in STATUS_CODES:
        raise ValueError(f"punch direction must be masuk or pulang, got {direction!r}")
    if mode not in VERIFY_CODES:
        raise ValueError(f"verify mode must be face, fingerprint or pin, got {mode!r}")
    fields = [
        pin or str(record["nip"]),
        local_wall_time(record),
        str(STATUS_CODES[direction]),
        str(VERIFY_CODES[mode]),
        "0",
        "0",
        "0",
    ]
    return "\t".join(fields)


def punches_between(store: Store, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The recorded punches with ``start <= utc <= end`` (for ``DATA QUERY ATTLOG``)."""
    lo = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    hi = end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.999999Z")
    with store.db.read() as conn:
        rows = conn.execute(
            select(
                Punch.nip, Punch.utc, Punch.local_offset_minutes, Punch.direction, Punch.verify_mode
            )
            .where(Punch.utc >= lo, Punch.utc <= hi)
            .order_by(Punch.utc)
        ).all()
    return [dict(r._mapping) for r in rows]


def parse_commands(body: str) -> list[AdmsCommand]:
    """``OK`` (nothing to do) or ``C:<id>:<command>`` lines; anything else is malformed."""
    text = body.strip()
    if text in ("", "OK"):
        return []
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        m = _COMMAND.match(line)
        if not m:
            raise AdmsReplyError(f"malformed ADMS command line: {line[:60]!r}")
        out.append(AdmsCommand(m.group(1), m.group(2)))
    return out


def apply_command(cmd: AdmsCommand, store: Store, opd_code: str, pins: PinMap | None = None) -> int:
    """Apply one roster command; the ADMS return code (0 ok, negative = error).

    With a PIN map the command's PIN is translated to the NIP it stands for."""
    text = cmd.text

    def nip_of(pin: str) -> str:
        return pins.by_pin.get(pin, pin) if pins is not None else pin

    if text.startswith("DATA UPDATE USERINFO "):
        fields = parse_key_values(text[len("DATA UPDATE USERINFO ") :])
        pin, name = fields.get("PIN", ""), fields.get("Name", "")
        nip = nip_of(pin)
        existing = store.employees.get(nip) if nip else None
        try:
            if existing is not None:
                store.employees.upsert(replace(existing, name=name or existing.name, active=True))
            else:
                store.employees.upsert(
                    EmployeeRecord(nip=nip, name=name, opd_code=opd_code, employee_type="PNS")
                )
        except ValueError as exc:  # PIN not an 18-digit NIP, empty name, ...
            log.warning("ADMS command %s refused: %s", cmd.id, exc)
            return -1
        return 0
    if text.startswith("DATA DELETE USERINFO "):
        nip = nip_of(parse_key_values(text[len("DATA DELETE USERINFO ") :]).get("PIN", ""))
        existing = store.employees.get(nip) if nip else None
        if existing is None:
            return -1
        store.employees.upsert(replace(existing, active=False))
        return 0
    if cmd.kind in ("CHECK", "INFO", "LOG"):
        return 0
    log.info("ADMS command %s (%s) not supported", cmd.id, cmd.name)
    return -1


class AdmsClient:
    """HTTP side of the ADMS device protocol, with a timeout on every call."""

    def __init__(
        self,
        base_url: str,
        serial: str,
        *,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"[sync] server_url must start with http:// or https://, got {base_url!r}"
            )
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", serial):
            raise ValueError(f"[sync] adms_serial must be 1-64 letters/digits/._-, got {serial!r}")
        self.base_url = base_url.rstrip("/")
        self.serial = serial
        self.timeout = timeout
        self.session = session or requests.Session()
        self.stamp = 0

    def _call(self, method: str, path: str, params: dict[str, str], body: str | None = None) -> str:
        try:
            resp = self.session.request(
                method,
                self.base_url + path,
                params={"SN": self.serial, **params},
                data=body.encode("utf-8") if body is not None else None,
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=self.timeout,
            )
        except requests.Timeout:
            raise TransientError(f"ADMS {path}: no answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise TransientError(f"ADMS {path}: {unreachable(exc, self.base_url)}") from None
        if resp.status_code != 200:
            raise classify_status(resp.status_code, resp.text[:200].strip() or resp.reason or "")
        return resp.text

    def handshake(self) -> dict[str, str]:
        text = self._call("GET", "/iclock/cdata", {"options": "all", "pushver": "2.4.1"})
        options: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                options[key.strip()] = value.strip()
        if not text.startswith("GET OPTION FROM") and not options:
            raise AdmsReplyError(f"ADMS handshake reply is not an option list: {text[:60]!r}")
        server_stamp = options.get("ATTLOGStamp", "")
        if server_stamp.isdigit():
            self.stamp = max(self.stamp, int(server_stamp))
        return options

    def upload_attlog(self, lines: Sequence[str]) -> int:
        """POST the lines; the number of leading lines the server took.

        ``OK`` and an empty 200 body take all; ``OK: n`` takes the first n
        (at most all); anything else raises :class:`AdmsReplyError`.
        """
        self.stamp += 1
        text = self._call(
            "POST",
            "/iclock/cdata",
            {"table": "ATTLOG", "Stamp": str(self.stamp)},
            "\n".join(lines) + "\n",
        )
        if not text.strip():
            return len(lines)
        m = _OK.match(text.strip())
        if not m:
            raise AdmsReplyError(f"ADMS ATTLOG reply is not OK: {text[:60]!r}")
        if m.group(1) is None:
            return len(lines)
        return min(int(m.group(1)), len(lines))

    def poll(self) -> list[AdmsCommand]:
        return parse_commands(self._call("GET", "/iclock/getrequest", {}))

    def report(self, cmd: AdmsCommand, code: int, info: Sequence[str] = ()) -> None:
        body = f"ID={cmd.id}&Return={code}&CMD={cmd.name}"
        if info:
            body += "\n" + "\n".join(info)
        text = self._call("POST", "/iclock/devicecmd", {}, body + "\n")
        if text.strip() not in ("OK", ""):
            raise AdmsReplyError(f"ADMS devicecmd reply is not OK: {text[:60]!r}")


@dataclass(frozen=True)
class AdmsRound:
    delivered: int
    commands: int
    roster_changed: bool = False


class AdmsSync:
    """One kiosk store pushing to an ADMS server: :meth:`run_once` per round.

    Raises :mod:`sync.retry` errors like the native worker; on any failure the
    claimed punches are released (nothing is marked delivered).
    """

    def __init__(
        self,
        store: Store,
        client: AdmsClient,
        *,
        opd_code: str,
        batch_size: int = 200,
        pin_file: str = "",
    ) -> None:
        self.store = store
        self.client = client
        self.opd_code = opd_code
        self.batch_size = batch_size
        self.pin_file = pin_file
        self._handshaken = False
        saved = store.state.get(STAMP_KEY)
        if saved and saved.isdigit():
            client.stamp = max(client.stamp, int(saved))

    def _upload(self, lines: list[str]) -> int:
        try:
            return self.client.upload_attlog(lines)
        finally:
            self.store.state.set(STAMP_KEY, str(self.client.stamp))

    def _line(self, record: Mapping[str, Any], pins: PinMap | None) -> str:
        if pins is None:
            return attlog_line(record)
        pin = pins.by_nip.get(str(record["nip"]))
        if pin is None:
            raise ValueError(f"no ADMS PIN for NIP {record['nip']} in the PIN map")
        return attlog_line(record, pin)

    def run_once(self, now: datetime | None = None) -> AdmsRound:
        pins = PinMap.load(self.store, self.pin_file)
        if not self._handshaken:
            self.client.handshake()
            self._handshaken = True
        outbox = self.store.outbox
        delivered = 0
        while True:
            items = outbox.claim(self.batch_size, now or datetime.now(UTC))
            if not items:
                break
            try:
                good, bad = [], []
                for item in items:
                    try:
                        good.append((item, self._line(item.record, pins)))
                    except (ValueError, KeyError) as exc:
                        bad.append((item, str(exc)))
                taken = self._upload([line for _, line in good]) if good else 0
            except BaseException:
                outbox.release([i.punch_id for i in items])
                raise
            for item, reason in bad:
                outbox.quarantine(item.punch_id, f"not expressible in ADMS: {reason}")
            outbox.ack([i.punch_id for i, _ in good[:taken]])
            rest = [i.punch_id for i, _ in good[taken:]]
            refused = bool(good) and taken == 0
            if refused and good[0][0].attempts < ZERO_ACK_ATTEMPTS:
                outbox.release(rest)
                raise AdmsReplyError(f"ADMS server took 0 of {len(good)} lines")  # back off
            if refused:
                # Refused again and again: park the first line so it cannot block the rest.
                outbox.quarantine(
                    rest.pop(0),
                    f"ADMS server took 0 lines {ZERO_ACK_ATTEMPTS} times; the first was refused",
                )
            outbox.release(rest)
            delivered += taken
            if rest or refused:
                break  # partial answer: the rest goes in the next round
        commands = self.client.poll()
        changed = False
        for cmd in commands:
            code, info = self._command(cmd, pins)
            changed = changed or (code == 0 and "USERINFO" in cmd.text)
            self.client.report(cmd, code, info)
            if cmd.name == "REBOOT":
                self._handshaken = False  # the loop starts over: handshake on the next round
        return AdmsRound(delivered, len(commands), changed)

    def _command(self, cmd: AdmsCommand, pins: PinMap | None) -> tuple[int, list[str]]:
        name = cmd.name
        if name == "DATA QUERY ATTLOG":
            return self._resend(cmd, pins), []
        if name == "SET OPTION":
            options = json.loads(self.store.state.get(OPTIONS_KEY) or "{}")
            for part in re.split(r"[\t,]", cmd.text[len("SET OPTION") :]):
                key, sep, value = part.strip().partition("=")
                if sep and key:
                    options[key] = value
            self.store.state.set(OPTIONS_KEY, json.dumps(options, sort_keys=True))
            return 0, []
        if name == "CHECK":
            self.client.handshake()
            return 0, []
        if name == "INFO":
            return 0, [
                "~DeviceName=Hadir",
                f"~SerialNumber={self.client.serial}",
                "FWVersion=hadir",
                "PushVersion=2.4.1",
                f"UserCount={self.store.employees.count()}",
                f"TransactionCount={self.store.punch_count()}",
            ]
        if name in ("REBOOT", "LOG"):
            return 0, []
        return apply_command(cmd, self.store, self.opd_code, pins), []

    def _resend(self, cmd: AdmsCommand, pins: PinMap | None) -> int:
        """``DATA QUERY ATTLOG StartTime=..\tEndTime=..`` (device-local wall times)."""
        fields = parse_key_values(cmd.text[len("DATA QUERY ATTLOG") :].strip())
        try:
            start = datetime.strptime(fields["StartTime"], "%Y-%m-%d %H:%M:%S")
            end = datetime.strptime(fields["EndTime"], "%Y-%m-%d %H:%M:%S")
        except (KeyError, ValueError):
            log.warning("ADMS command %s: StartTime/EndTime missing or malformed", cmd.id)
            return -1
        # Wall times: widen by a day each side, then keep the lines whose wall time fits.
        rows = punches_between(
            self.store,
            start.replace(tzinfo=UTC) - timedelta(days=1),
            end.replace(tzinfo=UTC) + timedelta(days=1),
        )
        lines = []
        for row in rows:
            wall = local_wall_time(row)
            if start.strftime("%Y-%m-%d %H:%M:%S") <= wall <= end.strftime("%Y-%m-%d %H:%M:%S"):
                try:
                    lines.append(self._line(row, pins))
                except ValueError:
                    continue
        for i in range(0, len(lines), self.batch_size):
            self._upload(lines[i : i + self.batch_size])
        return len(lines)
