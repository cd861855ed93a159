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

There is no authentication in ADMS: the serial is the identity. Use TLS.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from attendance.ids import parse_utc
from attendance.store import EmployeeRecord, Store
from sync.client import unreachable
from sync.retry import TransientError, classify_status

log = logging.getLogger(__name__)

STATUS_CODES = {"masuk": 0, "pulang": 1}
VERIFY_CODES = {"face": 15, "fingerprint": 1, "pin": 0}
_OK = re.compile(r"^OK(?::\s*(\d+))?\s*$")
_COMMAND = re.compile(r"^C:(\w+):(.*)$")


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


def _kv(text: str) -> dict[str, str]:
    """``PIN=..\\tName=..`` into a dict (TAB separated key=value pairs)."""
    out: dict[str, str] = {}
    for part in text.split("\t"):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def apply_command(cmd: AdmsCommand, store: Store, opd_code: str) -> int:
    """Apply one command to the local roster; the ADMS return code (0 ok, negative = error)."""
    text = cmd.text
    if text.startswith("DATA UPDATE USERINFO "):
        fields = _kv(text[len("DATA UPDATE USERINFO ") :])
        pin, name = fields.get("PIN", ""), fields.get("Name", "")
        existing = store.employees.get(pin) if pin else None
        try:
            if existing is not None:
                store.employees.upsert(replace(existing, name=name or existing.name, active=True))
            else:
                store.employees.upsert(
                    EmployeeRecord(nip=pin, name=name, opd_code=opd_code, employee_type="PNS")
                )
        except ValueError as exc:  # PIN not an 18-digit NIP, empty name, ...
            log.warning("ADMS command %s refused: %s", cmd.id, exc)
            return -1
        return 0
    if text.startswith("DATA DELETE USERINFO "):
        pin = _kv(text[len("DATA DELETE USERINFO ") :]).get("PIN", "")
        existing = store.employees.get(pin) if pin else None
        if existing is None:
            return -1
        store.employees.upsert(replace(existing, active=False))
        return 0
    if cmd.kind in ("CHECK", "INFO"):
        return 0
    log.info("ADMS command %s (%s) not supported", cmd.id, cmd.kind)
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
        return options

    def upload_attlog(self, lines: Sequence[str]) -> None:
        """POST the lines; returns only if the server answered ``OK`` (or ``OK: n``, n = lines)."""
        self.stamp += 1
        text = self._call(
            "POST",
            "/iclock/cdata",
            {"table": "ATTLOG", "Stamp": str(self.stamp)},
            "\n".join(lines) + "\n",
        )
        m = _OK.match(text.strip())
        if not m:
            raise AdmsReplyError(f"ADMS ATTLOG reply is not OK: {text[:60]!r}")
        if m.group(1) is not None and int(m.group(1)) != len(lines):
            raise AdmsReplyError(f"ADMS server took {m.group(1)} of {len(lines)} lines")

    def poll(self) -> list[AdmsCommand]:
        return parse_commands(self._call("GET", "/iclock/getrequest", {}))

    def report(self, cmd: AdmsCommand, code: int) -> None:
        body = f"ID={cmd.id}&Return={code}&CMD={cmd.kind or 'UNKNOWN'}"
        text = self._call("POST", "/iclock/devicecmd", {}, body)
        if text.strip() != "OK":
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
        self, store: Store, client: AdmsClient, *, opd_code: str, batch_size: int = 200
    ) -> None:
        self.store = store
        self.client = client
        self.opd_code = opd_code
        self.batch_size = batch_size
        self._handshaken = False

    def run_once(self, now: datetime | None = None) -> AdmsRound:
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
                        good.append((item, attlog_line(item.record)))
                    except (ValueError, KeyError) as exc:
                        bad.append((item, str(exc)))
                if good:
                    self.client.upload_attlog([line for _, line in good])
            except BaseException:
                outbox.release([i.punch_id for i in items])
                raise
            outbox.ack([i.punch_id for i, _ in good])
            for item, reason in bad:
                outbox.quarantine(item.punch_id, f"not expressible in ADMS: {reason}")
            delivered += len(good)
        commands = self.client.poll()
        changed = False
        for cmd in commands:
            code = apply_command(cmd, self.store, self.opd_code)
            changed = changed or (code == 0 and "USERINFO" in cmd.text)
            self.client.report(cmd, code)
        return AdmsRound(delivered, len(commands), changed)
