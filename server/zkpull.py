"""Pulling the attendance log of ZKTeco machines that only speak the binary protocol (TCP 4370).

pyzk opens the session and reads the raw log buffer; the records are decoded
here, one at a time, so a corrupt record (an impossible date, a user id that
is not a PIN) goes to ``adms_review`` with its bytes in hex instead of
failing the whole pull. Records take the ADMS path from there
(:meth:`server.adms.AdmsService.store_punches`, origin ``zk``): the same
punch ids as if the machine had pushed them over ADMS (so pushing and pulling
one machine never doubles a punch), the serial's time zone, quarantine of
implausible batches, unmatched PINs kept aside.

The machine's log is cleared only when asked (``clear=True``), only after
the records are committed, and only if the machine holds exactly the records
that were read (a punch made during the pull keeps the log as it is).
"""

from __future__ import annotations

import contextlib
import logging
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from server.adms import AdmsService
from server.adms_parse import AttlogLine, LineError, normalise_time, printable

log = logging.getLogger(__name__)

CMD_ATTLOG_RRQ = 13
DEFAULT_PORT = 4370


class ZkPullError(Exception):
    """The machine cannot be reached or does not answer like a ZKTeco machine."""


@dataclass(frozen=True)
class PullResult:
    host: str
    port: int
    serial: str
    records: int
    stored: int
    duplicates: int
    unmatched: int
    for_review: int
    held: str
    cleared: bool
    clock_drift_seconds: float | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _decode_time(raw: int) -> str:
    second = raw % 60
    raw //= 60
    minute = raw % 60
    raw //= 60
    hour = raw % 24
    raw //= 24
    day = raw % 31 + 1
    raw //= 31
    month = raw % 12 + 1
    year = raw // 12 + 2000
    return normalise_time(f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}")


def decode_attlog(
    buffer: bytes, count: int, uid_to_user: dict[int, str]
) -> tuple[list[AttlogLine], list[tuple[str, str]]]:
    """The records of an ATTLOG buffer (``u32 size`` + records); bad ones as (hex, reason)."""
    if len(buffer) < 4:
        return [], []
    total = struct.unpack("<I", buffer[:4])[0]
    body = buffer[4 : 4 + total]
    if count <= 0 or total % count or total // count not in (8, 16, 40):
        return [], [(body[:2000].hex(), f"{total} bytes for {count} records: unknown layout")]
    size = total // count
    good: list[AttlogLine] = []
    bad: list[tuple[str, str]] = []
    for i in range(0, len(body) - size + 1, size):
        rec = body[i : i + size]
        try:
            if size == 8:
                uid, verify, stamp, punch = struct.unpack("<HBIB", rec)
                user = uid_to_user.get(uid, str(uid))
            elif size == 16:
                number, stamp, verify, punch, _r, workcode = struct.unpack("<IIBB2sI", rec)
                user = str(number)
            else:
                _uid, raw_user, verify, stamp, punch, _pad = struct.unpack("<H24sBIB8s", rec)
                user = raw_user.split(b"\x00")[0].decode("utf-8", errors="replace")
            pin = printable(user).strip()
            if not pin or not pin.isascii() or not pin.isalnum() or len(pin) > 32:
                raise LineError(f"user id {user[:40]!r} is not 1-32 letters/digits")
            good.append(
                AttlogLine(
                    pin=pin,
                    local_time=_decode_time(stamp),
                    status=str(punch),
                    verify=str(verify),
                    workcode=str(workcode) if size == 16 and workcode else "",
                    layout=f"zk{size}",
                )
            )
        except (LineError, struct.error) as exc:
            bad.append((rec.hex(), f"record {i // size + 1}: {exc}"))
    return good, bad


def _connect(host: str, port: int, timeout: float, password: int) -> Any:
    from zk import ZK  # pyzk: imported here (a light server start)
    from zk.exception import ZKError

    machine = ZK(host, port=port, timeout=max(1, int(timeout)), password=password, ommit_ping=True)
    try:
        return machine.connect()
    except (ZKError, OSError) as exc:
        raise ZkPullError(f"{host}:{port}: cannot connect ({exc})") from None


def pull_machine(
    adms: AdmsService,
    host: str,
    port: int = DEFAULT_PORT,
    *,
    now: datetime,
    timeout: float = 10.0,
    password: int = 0,
    clear: bool = False,
) -> PullResult:
    """Read one machine's log into the punches table; see the module docstring."""
    from zk.exception import ZKError

    conn = _connect(host, port, timeout, password)
    cleared = False
    try:
        try:
            serial = str(conn.get_serialnumber()).strip()
            conn.disable_device()  # no punches on the machine while its log is read
            try:
                conn.read_sizes()
                count = int(conn.records)
                users = {int(u.uid): str(u.user_id) for u in conn.get_users()}
                buffer, _size = conn.read_with_buffer(CMD_ATTLOG_RRQ) if count else (b"", 0)
                drift = _drift(conn, adms, serial, now)
            finally:
                conn.enable_device()
        except (ZKError, OSError, struct.error, ValueError) as exc:
            raise ZkPullError(f"{host}:{port}: {exc}") from None
        if not serial or len(serial) > 64:
            raise ZkPullError(f"{host}:{port}: the machine reports no usable serial number")
        good, bad = decode_attlog(buffer, count, users)
        device = adms.pulled_device(serial, host, now)
        result = adms.store_punches(device, "zk", good, bad, now, host, "ZKPULL")
        if clear and count:
            # The records are committed; clear only if nothing arrived since the read.
            try:
                conn.read_sizes()
                if int(conn.records) == count and not bad:
                    conn.clear_attendance()
                    cleared = True
                else:
                    log.warning(
                        "zk pull: log not cleared",
                        extra={"serial": serial, "read": count, "now": int(conn.records)},
                    )
            except (ZKError, OSError) as exc:
                log.warning("zk pull: clearing failed", extra={"serial": serial, "error": str(exc)})
    finally:
        with contextlib.suppress(ZKError, OSError):
            conn.disconnect()
    pulled = PullResult(
        host=host,
        port=port,
        serial=serial,
        records=count,
        stored=result.stored,
        duplicates=result.duplicates,
        unmatched=result.unmatched,
        for_review=result.unparsed,
        held=result.held,
        cleared=cleared,
        clock_drift_seconds=drift,
    )
    log.info("zk pull", extra=pulled.as_json())
    return pulled


def _drift(conn: Any, adms: AdmsService, serial: str, now: datetime) -> float | None:
    """Machine clock minus server clock (seconds), in the serial's zone; None if unknown."""
    try:
        machine = conn.get_time()
    except Exception:
        return None
    zone = adms.zone_for_serial(serial)
    drift: float = (machine.replace(tzinfo=zone) - now).total_seconds()
    return round(drift, 1)


def parse_machine(text: str) -> tuple[str, int]:
    """``HOST`` or ``HOST:PORT`` (config ``zk_machines``); ValueError naming the entry."""
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        host, port = text.strip(), str(DEFAULT_PORT)
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"[server] zk_machines: {text!r} is not HOST or HOST:PORT")
    return host, int(port)


def pull_all(
    adms: AdmsService,
    machines: Sequence[str],
    now: datetime,
    *,
    timeout: float = 10.0,
    clear: bool = False,
) -> list[dict[str, Any]]:
    """One pass over the configured machines; a failing machine never stops the others."""
    out: list[dict[str, Any]] = []
    for entry in machines:
        host, port = parse_machine(entry)
        try:
            out.append(
                pull_machine(adms, host, port, now=now, timeout=timeout, clear=clear).as_json()
            )
        except ZkPullError as exc:
            log.warning("zk pull failed", extra={"machine": entry, "error": str(exc)})
            out.append({"host": host, "port": port, "error": str(exc)})
    return out


def run_schedule(
    adms: AdmsService,
    machines: Sequence[str],
    minutes: int,
    clock: Callable[[], datetime],
    *,
    rounds: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clear: bool = False,
) -> int:
    """Pull every ``minutes`` (forever, or ``rounds`` times); returns the rounds run."""
    for entry in machines:
        parse_machine(entry)  # a typo fails at start, not at the first round
    done = 0
    while rounds is None or done < rounds:
        started = time.monotonic()
        pull_all(adms, machines, clock(), clear=clear)
        done += 1
        if rounds is not None and done >= rounds:
            break
        sleep(max(0.0, minutes * 60 - (time.monotonic() - started)))
    return done
