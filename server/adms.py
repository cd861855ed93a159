"""ZKTeco ADMS ("PUSH", iclock) ingest for the fingerprint machines already in the offices.

The protocol has no authentication: the serial number is printed on the
machine and sent in clear. So a serial is never trusted blindly:

* a serial seen for the first time is recorded as ``pending`` with its source
  address (serials in ``[server] adms_serials`` start ``approved``); what a
  pending machine sends is stored but **held**: its punches carry the flags
  ``held,device_pending`` and do not count until an admin approves the machine
  and releases the batch;
* an approved serial may be tied to an address or network; a request from
  elsewhere is refused (403) and the address is shown to the admin;
* requests are rate limited per serial (429 + Retry-After), and an upload
  that is implausible (punch times far from the server clock, more punches
  of one PIN in a short window than a person makes, more lines per hour
  than the machine should have) is stored **quarantined**: flags
  ``held,quarantined``, not counted until released.

Punch rows land in the same ``punches`` table as the kiosks' with
``source = "adms"`` (or ``"zk"`` for TCP pulls) and ``flags``; the ledger
must skip every punch whose flags contain :data:`HELD_FLAG`. The id is a
UUIDv5 of serial, PIN and wall time (:func:`adms_punch_id`); native kiosk ids
are never version 5 (the native ingest refuses them), so a kiosk cannot
pre-claim an ADMS id, and an id already taken by a row of another origin is
kept for review instead of being answered as a duplicate.

Every non-blank line of an upload is stored somewhere (punch, duplicate,
unmatched PIN, or ``adms_review`` with the reason) and only then counted in
the ``OK: n`` reply.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from attendance.batches import chunked
from server.adms_parse import (
    AttlogLine,
    LineError,
    body_lines,
    escape_raw,
    parse_attlog_line,
    parse_user_line,
    printable,
)
from server.db import Database
from server.errors import ApiError
from server.ingest import IngestLimits, insert_ignoring_duplicates, one_of
from server.ledger_queue import enqueue_punches
from server.models import (
    AdmsBatch,
    AdmsCommand,
    AdmsDevice,
    AdmsHeld,
    AdmsReview,
    AdmsUnmatched,
    AdmsUser,
    Employee,
    Punch,
)
from server.ratelimit import RateLimiter
from server.timeutil import format_optional, format_utc, to_db

log = logging.getLogger(__name__)

# Namespace of ADMS punch ids: uuid5(ADMS_NAMESPACE, "SERIAL|PIN|YYYY-MM-DD HH:MM:SS").
ADMS_NAMESPACE = uuid.UUID("6f0d3b52-8c1e-5d6a-9a41-2f3e4b5c6d7e")
SERIAL_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
# A punch whose flags contain this does not count (pending machine or quarantined batch).
HELD_FLAG = "held"
MAX_COMMANDS_PER_POLL = 20
MAX_INFO_KEYS = 64


def adms_punch_id(serial: str, pin: str, local_time: str) -> str:
    return str(uuid.uuid5(ADMS_NAMESPACE, f"{serial}|{pin}|{local_time}"))


@dataclass(frozen=True)
class AdmsPolicy:
    """Trust settings (``[server] adms_*``)."""

    serials: tuple[str, ...] = ()
    max_pending: int = 20
    requests_per_second: float = 2.0
    request_burst: int = 30
    max_lines_per_hour: int = 20000
    pin_burst: int = 8
    pin_burst_minutes: int = 10


@dataclass(frozen=True)
class DeviceView:
    serial: str
    status: str
    timezone: str | None


@dataclass(frozen=True)
class UploadResult:
    lines: int
    stored: int
    duplicates: int
    unmatched: int
    unparsed: int
    held: str  # "" when the batch counts, else the reason
    batch_id: int

    @property
    def taken(self) -> int:
        """Lines now stored somewhere (the ``OK: n`` of the reply)."""
        return self.lines


def _address_ok(address: str, network: str | None) -> bool:
    if not network:
        return True
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def check_network(network: str) -> str:
    """A valid address or CIDR network (normalised); ApiError 422 naming the field if not."""
    try:
        return str(ipaddress.ip_network(network.strip(), strict=False))
    except ValueError:
        raise ApiError(
            422, "invalid_request", f"allowed_network: {network[:64]!r} is not an address or CIDR"
        ) from None


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(
            422, "invalid_request", f"timezone: {name[:64]!r} is not an IANA zone"
        ) from None
    return name


def _upsert(conn: Connection, table: Any) -> Any:
    module: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


class AdmsService:
    def __init__(
        self,
        db: Database,
        serials: tuple[str, ...],
        timezone: str,
        limits: IngestLimits,
        policy: AdmsPolicy | None = None,
    ) -> None:
        self._db = db
        self._policy = policy or AdmsPolicy(serials=serials)
        self._configured = frozenset(serials) | frozenset(self._policy.serials)
        self._zone_name = timezone
        self._zone = ZoneInfo(timezone)
        self._limits = limits
        self._limiter = RateLimiter(
            self._policy.requests_per_second, max(1, self._policy.request_burst)
        )

    # -- trust -------------------------------------------------------------------------
    def access(self, serial: str | None, address: str, now: datetime) -> DeviceView:
        """Admit a request of ``serial`` from ``address`` (first contact: pending)."""
        if not serial or not SERIAL_RE.fullmatch(serial):
            raise ApiError(403, "unknown_device", "SN: missing or not 1-64 letters/digits/._-")
        wait = self._limiter.acquire(serial)
        if wait > 0:
            seconds = max(1, int(wait + 0.999))
            raise ApiError(
                429,
                "rate_limited",
                f"too many requests from {serial}; retry after {seconds} s",
                {"Retry-After": str(seconds)},
            )
        address = address[:64]
        with self._db.write() as conn:
            row = conn.execute(
                select(AdmsDevice.__table__).where(AdmsDevice.serial == serial)
            ).first()
            if row is None:
                status = "approved" if serial in self._configured else "pending"
                if status == "pending":
                    pending = conn.execute(
                        select(func.count()).where(AdmsDevice.status == "pending")
                    ).scalar_one()
                    if pending >= self._policy.max_pending:
                        log.warning("adms: too many pending serials", extra={"serial": serial})
                        raise ApiError(403, "unknown_device", "unknown device")
                conn.execute(
                    insert(AdmsDevice).values(
                        serial=serial,
                        status=status,
                        first_seen_utc=to_db(now),
                        last_seen_utc=to_db(now),
                        last_address=address,
                        approved_utc=to_db(now) if status == "approved" else None,
                    )
                )
                if status == "pending":
                    log.warning(
                        "adms: new serial pending approval",
                        extra={"serial": serial, "address": address},
                    )
                return DeviceView(serial, status, None)
            if row.status == "blocked":
                raise ApiError(403, "unknown_device", "unknown device")
            if row.status == "approved" and not _address_ok(address, row.allowed_network):
                # Recorded for the admin (committed), then refused below.
                conn.execute(
                    update(AdmsDevice)
                    .where(AdmsDevice.serial == serial)
                    .values(refused_address=address)
                )
                refused = True
            else:
                refused = False
                conn.execute(
                    update(AdmsDevice)
                    .where(AdmsDevice.serial == serial)
                    .values(last_seen_utc=to_db(now), last_address=address)
                )
            view = DeviceView(serial, row.status, row.timezone)
        if refused:
            log.warning(
                "adms: request from an address not allowed for the serial",
                extra={"serial": serial, "address": address},
            )
            raise ApiError(403, "address_refused", "address not allowed for this device")
        return view

    def pulled_device(self, serial: str, address: str, now: datetime) -> DeviceView:
        """The machine a TCP pull just read (the admin named its host: approved if new)."""
        if not SERIAL_RE.fullmatch(serial):
            raise ApiError(422, "invalid_request", f"serial {serial[:64]!r} is not usable")
        with self._db.write() as conn:
            row = conn.execute(
                select(AdmsDevice.__table__).where(AdmsDevice.serial == serial)
            ).first()
            if row is None:
                conn.execute(
                    insert(AdmsDevice).values(
                        serial=serial,
                        status="approved",
                        first_seen_utc=to_db(now),
                        last_seen_utc=to_db(now),
                        last_address=address[:64],
                        approved_utc=to_db(now),
                    )
                )
                return DeviceView(serial, "approved", None)
            conn.execute(
                update(AdmsDevice)
                .where(AdmsDevice.serial == serial)
                .values(last_seen_utc=to_db(now), last_address=address[:64])
            )
            # A blocked serial is still read (nothing is lost) but held.
            status = "approved" if row.status == "approved" else "pending"
            return DeviceView(serial, status, row.timezone)

    def zone_for_serial(self, serial: str) -> ZoneInfo:
        with self._db.read() as conn:
            tz = conn.execute(
                select(AdmsDevice.timezone).where(AdmsDevice.serial == serial)
            ).scalar_one_or_none()
        return ZoneInfo(tz) if tz else self._zone

    def approve(
        self,
        serial: str,
        now: datetime,
        *,
        allowed_network: str | None = None,
        timezone: str | None = None,
        release_pending: bool = False,
    ) -> dict[str, Any]:
        values: dict[str, Any] = {"status": "approved", "approved_utc": to_db(now)}
        if allowed_network is not None:
            values["allowed_network"] = check_network(allowed_network) if allowed_network else None
        if timezone is not None:
            values["timezone"] = check_timezone(timezone) if timezone else None
        released = 0
        with self._db.write() as conn:
            done = conn.execute(
                update(AdmsDevice).where(AdmsDevice.serial == serial).values(**values)
            ).rowcount
            if not done:
                raise ApiError(404, "not_found", f"serial {serial[:64]!r} has never connected")
            if release_pending:
                for (bid,) in conn.execute(
                    select(AdmsBatch.id).where(
                        AdmsBatch.serial == serial,
                        AdmsBatch.status == "held",
                        AdmsBatch.reason == "device_pending",
                    )
                ).all():
                    released += self._release(conn, int(bid), now)
        log.info("adms: serial approved", extra={"serial": serial, "released": released})
        return {**self.device(serial), "released_punches": released}

    def block(self, serial: str) -> None:
        with self._db.write() as conn:
            if not conn.execute(
                update(AdmsDevice).where(AdmsDevice.serial == serial).values(status="blocked")
            ).rowcount:
                raise ApiError(404, "not_found", f"serial {serial[:64]!r} has never connected")

    def _known(self, conn: Connection, serial: str) -> bool:
        if serial in self._configured:
            return True
        return (
            conn.execute(select(AdmsDevice.serial).where(AdmsDevice.serial == serial)).first()
            is not None
        )

    def devices(self) -> list[dict[str, Any]]:
        with self._db.read() as conn:
            rows = conn.execute(select(AdmsDevice.__table__).order_by(AdmsDevice.serial)).all()
            held: dict[str, int] = {
                str(serial): int(n)
                for serial, n in conn.execute(
                    select(AdmsBatch.serial, func.count())
                    .where(AdmsBatch.status == "held")
                    .group_by(AdmsBatch.serial)
                )
            }
        return [self._device_json(r, held.get(r.serial, 0)) for r in rows]

    def device(self, serial: str) -> dict[str, Any]:
        with self._db.read() as conn:
            row = conn.execute(
                select(AdmsDevice.__table__).where(AdmsDevice.serial == serial)
            ).first()
            held = conn.execute(
                select(func.count()).where(AdmsBatch.serial == serial, AdmsBatch.status == "held")
            ).scalar_one()
        if row is None:
            if serial in self._configured:
                return {"serial": serial, "status": "approved", "held_batches": 0}
            raise ApiError(404, "not_found", f"serial {serial[:64]!r} has never connected")
        return self._device_json(row, int(held))

    @staticmethod
    def _device_json(r: Any, held: int) -> dict[str, Any]:
        return {
            "serial": r.serial,
            "status": r.status,
            "first_seen_utc": format_utc(r.first_seen_utc),
            "last_seen_utc": format_utc(r.last_seen_utc),
            "last_address": r.last_address,
            "allowed_network": r.allowed_network,
            "refused_address": r.refused_address,
            "timezone": r.timezone,
            "push_version": r.push_version,
            "approved_utc": format_optional(r.approved_utc),
            "info": json.loads(r.info) if r.info else {},
            "held_batches": held,
        }

    def note_info(self, serial: str, info: dict[str, str], push_version: str | None = None) -> None:
        """Merge key=value device information (handshake, registry, INFO replies)."""
        clean = {
            printable(k).lstrip("~")[:64]: printable(v)[:200]
            for k, v in list(info.items())[:MAX_INFO_KEYS]
            if printable(k).lstrip("~")
        }
        with self._db.write() as conn:
            row = conn.execute(select(AdmsDevice.info).where(AdmsDevice.serial == serial)).first()
            if row is None:
                return
            merged = json.loads(row.info) if row.info else {}
            merged.update(clean)
            merged = dict(list(merged.items())[:MAX_INFO_KEYS])
            values: dict[str, Any] = {"info": json.dumps(merged, sort_keys=True)}
            if push_version:
                values["push_version"] = printable(push_version)[:16]
            conn.execute(update(AdmsDevice).where(AdmsDevice.serial == serial).values(**values))

    # -- handshake ---------------------------------------------------------------------
    def zone_of(self, device: DeviceView) -> ZoneInfo:
        return ZoneInfo(device.timezone) if device.timezone else self._zone

    def timezone_option(self, device: DeviceView, now: datetime) -> str:
        """Whole hours as hours (``7``); half-hour zones in minutes (``330``)."""
        offset = self.zone_of(device).utcoffset(now.replace(tzinfo=None))
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        return str(minutes // 60) if minutes % 60 == 0 else str(minutes)

    def options(self, device: DeviceView, now: datetime) -> str:
        lines = [
            f"GET OPTION FROM: {device.serial}",
            "ATTLOGStamp=None",
            "OPERLOGStamp=9999",
            "ATTPHOTOStamp=None",
            "ErrorDelay=30",
            "Delay=10",
            "TransTimes=00:00;14:05",
            "TransInterval=1",
            "TransFlag=TransData AttLog\tOpLog\tEnrollUser",
            f"TimeZone={self.timezone_option(device, now)}",
            "Realtime=1",
            "Encrypt=None",
        ]
        return "\n".join(lines) + "\n"

    def push_options(self, device: DeviceView, now: datetime) -> str:
        """The push 3.x configuration (``/iclock/push``)."""
        lines = [
            "ServerVersion=3.1.2",
            "ServerName=Hadir",
            "PushVersion=3.1.2",
            "ErrorDelay=30",
            "RequestDelay=10",
            "TransTimes=00:00;14:05",
            "TransInterval=1",
            "TransTables=User Transaction",
            "Realtime=1",
            f"TimeZone={self.timezone_option(device, now)}",
            "TimeoutSec=10",
        ]
        return "\n".join(lines) + "\n"

    # -- ATTLOG ------------------------------------------------------------------------
    def attlog(self, device: DeviceView, body: str, now: datetime, address: str = "") -> int:
        """Store an ATTLOG upload; returns the number of lines stored (the ``OK: n``)."""
        parsed: list[AttlogLine] = []
        bad: list[tuple[str, str]] = []
        for line in body_lines(body):
            try:
                parsed.append(parse_attlog_line(line))
            except LineError as exc:
                bad.append((line, str(exc)))
        return self.store_punches(device, "adms", parsed, bad, now, address, "ATTLOG").taken

    def store_punches(
        self,
        device: DeviceView,
        origin: str,
        parsed: Sequence[AttlogLine],
        bad: Sequence[tuple[str, str]],
        now: datetime,
        address: str,
        table: str,
    ) -> UploadResult:
        """The common path of ADMS uploads and TCP pulls: one batch, every line kept."""
        zone = self.zone_of(device)
        bad = list(bad)
        good: list[AttlogLine] = []
        times: list[datetime] = []  # aware, in the line's own offset or the serial's zone
        for p in parsed:
            try:
                times.append(self._utc(p, zone))
                good.append(p)
            except OverflowError:
                bad.append((self._line_text(p), "time out of range in UTC"))
        with self._db.write() as conn:
            pins = self._pin_map(conn, {p.pin for p in good})
            reason = self._hold_reason(conn, device, good, times, now, pins)
            batch_id = int(
                conn.execute(
                    insert(AdmsBatch)
                    .values(
                        serial=device.serial,
                        origin=origin,
                        table_name=table,
                        address=address[:64],
                        received_utc=to_db(now),
                        lines=len(good) + len(bad),
                        punches=0,
                        unmatched=0,
                        unparsed=len(bad),
                        status="held" if reason else "counted",
                        reason=reason[:200],
                    )
                    .returning(AdmsBatch.id)
                ).scalar_one()
            )
            rows: list[dict[str, Any]] = []
            strays: list[dict[str, Any]] = []
            for p, at in zip(good, times, strict=True):
                pid = adms_punch_id(device.serial, p.pin, p.local_time)
                nip = pins.get(p.pin)
                if nip is None:
                    strays.append(
                        {
                            "id": pid,
                            "serial": device.serial,
                            "pin": p.pin,
                            "local_time": p.local_time,
                            "line": self._line_text(p)[:512],
                            "received_utc": to_db(now),
                        }
                    )
                    continue
                rows.append(self._punch_row(device.serial, origin, nip, p, at, pid, now, reason))
            inserted = insert_ignoring_duplicates(conn, rows)
            missed = [r for r in rows if r["id"] not in inserted]
            conflicts = self._conflicts(conn, device.serial, missed)
            for row in conflicts:
                line = json.loads(row["record"])["line"]
                bad.append((line, "punch id already held by another origin"))
            if reason and inserted:
                conn.execute(
                    _upsert(conn, AdmsHeld).on_conflict_do_nothing(index_elements=["punch_id"]),
                    [{"punch_id": pid, "batch_id": batch_id} for pid in sorted(inserted)],
                )
            if strays:
                conn.execute(
                    _upsert(conn, AdmsUnmatched).on_conflict_do_nothing(index_elements=["id"]),
                    strays,
                )
            if bad:
                conn.execute(
                    insert(AdmsReview),
                    [
                        {
                            "serial": device.serial,
                            "batch_id": batch_id,
                            "table_name": table,
                            "line": escape_raw(raw)[:4096],
                            "reason": why[:200],
                            "address": address[:64],
                            "received_utc": to_db(now),
                        }
                        for raw, why in bad
                    ],
                )
            conn.execute(
                update(AdmsBatch)
                .where(AdmsBatch.id == batch_id)
                .values(punches=len(inserted), unmatched=len(strays), unparsed=len(bad))
            )
        result = UploadResult(
            lines=len(good) + len(bad) - len(conflicts),
            stored=len(inserted),
            duplicates=len(rows) - len(inserted) - len(conflicts),
            unmatched=len(strays),
            unparsed=len(bad),
            held=reason,
            batch_id=batch_id,
        )
        (log.warning if reason or bad else log.info)(
            "adms upload",
            extra={
                "serial": device.serial,
                "origin": origin,
                "batch": batch_id,
                "lines": result.lines,
                "stored": result.stored,
                "duplicates": result.duplicates,
                "unmatched": result.unmatched,
                "for_review": result.unparsed,
                "held": reason,
            },
        )
        return result

    @staticmethod
    def _line_text(p: AttlogLine) -> str:
        return "\t".join([p.pin, p.local_time, p.status, p.verify, p.workcode, *p.extra])

    @staticmethod
    def _utc(p: AttlogLine, zone: ZoneInfo) -> datetime:
        """The aware punch time; OverflowError when it has no UTC equivalent."""
        wall = datetime.strptime(p.local_time, "%Y-%m-%d %H:%M:%S")
        if p.offset_minutes is not None:
            at = wall.replace(tzinfo=dt_timezone(timedelta(minutes=p.offset_minutes)))
        else:
            at = wall.replace(tzinfo=zone)
        at.astimezone(UTC)  # OverflowError for year 1 / 9999 on the wrong side of UTC
        return at

    def _hold_reason(
        self,
        conn: Connection,
        device: DeviceView,
        parsed: Sequence[AttlogLine],
        times: Sequence[datetime],
        now: datetime,
        pins: dict[str, str],
    ) -> str:
        if device.status != "approved":
            return "device_pending"
        if not parsed:
            return ""
        far = [
            t for t in times if t > now + self._limits.max_future or t < now - self._limits.max_age
        ]
        if far:
            return (
                f"quarantined: {len(far)} punch time(s) far from the server clock "
                f"(e.g. {format_utc(far[0])})"
            )
        window = timedelta(minutes=self._policy.pin_burst_minutes)
        by_pin: dict[str, set[datetime]] = {}
        for p, t in zip(parsed, times, strict=True):
            by_pin.setdefault(p.pin, set()).add(to_db(t))
        fresh = {pin: frozenset(found) for pin, found in by_pin.items()}
        # Punches of the same PIN already stored from this machine near these times
        # (a burst spread over many small uploads is still a burst).
        pin_of = {nip: pin for pin, nip in pins.items() if pin in by_pin}
        if pin_of:
            every = [t for found in by_pin.values() for t in found]
            nips = sorted(pin_of)
            for chunk in chunked(nips, 900):
                for nip, at in conn.execute(
                    select(Punch.nip, Punch.utc).where(
                        Punch.device_id == device.serial,
                        one_of(conn, Punch.nip, chunk),
                        Punch.utc >= min(every) - window,
                        Punch.utc <= max(every) + window,
                    )
                ):
                    by_pin[pin_of[nip]].add(at)
        for pin, found in by_pin.items():
            stamps = sorted(found)
            new = fresh[pin]
            k = self._policy.pin_burst
            for i in range(len(stamps) - k):
                # A burst that includes at least one punch of this upload.
                if stamps[i + k] - stamps[i] <= window and not new.isdisjoint(
                    stamps[i : i + k + 1]
                ):
                    return (
                        f"quarantined: PIN {pin} punched more than {k} times "
                        f"within {self._policy.pin_burst_minutes} minutes"
                    )
        recent = conn.execute(
            select(func.coalesce(func.sum(AdmsBatch.lines), 0)).where(
                AdmsBatch.serial == device.serial,
                AdmsBatch.received_utc >= to_db(now - timedelta(hours=1)),
            )
        ).scalar_one()
        if int(recent) + len(parsed) > self._policy.max_lines_per_hour:
            return f"quarantined: more than {self._policy.max_lines_per_hour} lines within an hour"
        return ""

    @staticmethod
    def _conflicts(
        conn: Connection, serial: str, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Rows not inserted whose id belongs to a row of another origin or machine."""
        if not rows:
            return []
        owners: dict[str, tuple[str, str]] = {}
        ids = [r["id"] for r in rows]
        for chunk in chunked(ids, 900):
            for rid, source, dev in conn.execute(
                select(Punch.id, Punch.source, Punch.device_id).where(one_of(conn, Punch.id, chunk))
            ):
                owners[rid] = (source, dev)
        return [
            r
            for r in rows
            if owners.get(r["id"], ("adms", serial))[0] not in ("adms", "zk")
            or owners.get(r["id"], ("adms", serial))[1] != serial
        ]

    def _punch_row(
        self,
        serial: str,
        origin: str,
        nip: str,
        p: AttlogLine,
        at: datetime,
        pid: str,
        now: datetime,
        reason: str,
    ) -> dict[str, Any]:
        offset = at.utcoffset() or timedelta(0)
        flags = []
        if reason:
            flags += [HELD_FLAG, "device_pending" if reason == "device_pending" else "quarantined"]
        if at > now + self._limits.max_future or at < now - self._limits.max_age:
            flags.append("timestamp_suspect")
        record = {
            "serial": serial,
            "pin": p.pin,
            "time": p.local_time,
            "status": p.status,
            "verify": p.verify,
            "workcode": p.workcode,
            "log_id": p.log_id,
            "time_offset": p.offset_minutes,
            "layout": p.layout,
            "extra": list(p.extra),
            "line": self._line_text(p),
        }
        text = json.dumps(record, separators=(",", ":"), sort_keys=True)
        return {
            "id": pid,
            "device_id": serial,
            "source": origin,
            "seq": None,
            "prev_hash": None,
            "record_hash": hashlib.sha256(text.encode()).hexdigest(),
            "nip": nip,
            "utc": to_db(at),
            "local_offset_minutes": int(offset.total_seconds() // 60),
            "clock_state": "unknown",
            "verify_mode": p.verify_mode,
            "direction": p.direction,
            "flags": ",".join(flags),
            "signature": None,
            "record": text,
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

    # -- review ------------------------------------------------------------------------
    def _release(self, conn: Connection, batch_id: int, now: datetime) -> int:
        ids = [
            r[0]
            for r in conn.execute(select(AdmsHeld.punch_id).where(AdmsHeld.batch_id == batch_id))
        ]
        for i in range(0, len(ids), 900):
            chunk = ids[i : i + 900]
            released = conn.execute(
                select(
                    Punch.id, Punch.flags, Punch.nip, Punch.utc, Punch.local_offset_minutes
                ).where(one_of(conn, Punch.id, chunk))
            ).all()
            for rid, flags, _nip, _utc, _offset in released:
                kept = [f for f in flags.split(",") if f and f != HELD_FLAG]
                conn.execute(
                    update(Punch)
                    .where(Punch.id == rid)
                    .values(flags=",".join([*kept, "released"])[:128])
                )
            # The ledger skips held punches: their days are computed again now.
            enqueue_punches(
                conn,
                [
                    {"nip": nip, "utc": utc, "local_offset_minutes": offset}
                    for _rid, _flags, nip, utc, offset in released
                ],
                now,
            )
        conn.execute(delete(AdmsHeld).where(AdmsHeld.batch_id == batch_id))
        conn.execute(update(AdmsBatch).where(AdmsBatch.id == batch_id).values(status="released"))
        return len(ids)

    def release_batch(self, batch_id: int, now: datetime) -> int:
        """Let a held batch count (its punches lose the ``held`` flag)."""
        with self._db.write() as conn:
            status = conn.execute(
                select(AdmsBatch.status).where(AdmsBatch.id == batch_id)
            ).scalar_one_or_none()
            if status != "held":
                raise ApiError(404, "not_found", f"batch {batch_id} is not held")
            return self._release(conn, batch_id, now)

    def discard_batch(self, batch_id: int) -> None:
        """Keep a held batch held for good (its rows stay, flagged, never counted)."""
        with self._db.write() as conn:
            if not conn.execute(
                update(AdmsBatch)
                .where(AdmsBatch.id == batch_id, AdmsBatch.status == "held")
                .values(status="discarded")
            ).rowcount:
                raise ApiError(404, "not_found", f"batch {batch_id} is not held")

    def batches(self, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        q = select(AdmsBatch.__table__).order_by(AdmsBatch.id.desc()).limit(limit)
        if status:
            q = q.where(AdmsBatch.status == status)
        with self._db.read() as conn:
            return [
                {
                    "id": b.id,
                    "serial": b.serial,
                    "origin": b.origin,
                    "table": b.table_name,
                    "address": b.address,
                    "received_utc": format_utc(b.received_utc),
                    "lines": b.lines,
                    "punches": b.punches,
                    "unmatched": b.unmatched,
                    "unparsed": b.unparsed,
                    "status": b.status,
                    "reason": b.reason,
                }
                for b in conn.execute(q)
            ]

    def review_lines(self, serial: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        q = select(AdmsReview.__table__).order_by(AdmsReview.id).limit(limit)
        if serial:
            q = q.where(AdmsReview.serial == serial)
        with self._db.read() as conn:
            return [
                {
                    "id": r.id,
                    "serial": r.serial,
                    "batch_id": r.batch_id,
                    "table": r.table_name,
                    "line": r.line,
                    "reason": r.reason,
                    "address": r.address,
                    "received_utc": format_utc(r.received_utc),
                }
                for r in conn.execute(q)
            ]

    # -- users (USERINFO, BIODATA, OPERLOG) ----------------------------------------------
    def user_table(
        self, device: DeviceView, table: str, body: str, now: datetime, address: str = ""
    ) -> int:
        users: dict[str, dict[str, Any]] = {}
        bios: dict[str, set[str]] = {}
        bad: list[tuple[str, str]] = []
        lines = body_lines(body)
        for line in lines:
            try:
                user = parse_user_line(line)
            except LineError as exc:
                bad.append((line, str(exc)))
                continue
            if user is None:
                continue  # OPLOG entries and the like: not used by this server
            if user.name is not None:
                users[user.pin] = {
                    "serial": device.serial,
                    "pin": user.pin,
                    "name": user.name,
                    "privilege": user.privilege or "0",
                    "updated_utc": to_db(now),
                    "biometrics": "",
                }
            if user.biometric:
                bios.setdefault(user.pin, set()).add(user.biometric)
        with self._db.write() as conn:
            if users:
                stmt = _upsert(conn, AdmsUser)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["serial", "pin"],
                    set_={
                        "name": stmt.excluded.name,
                        "privilege": stmt.excluded.privilege,
                        "updated_utc": stmt.excluded.updated_utc,
                    },
                )
                conn.execute(stmt, list(users.values()))
            for pin, kinds in bios.items():
                current = conn.execute(
                    select(AdmsUser.biometrics).where(
                        AdmsUser.serial == device.serial, AdmsUser.pin == pin
                    )
                ).first()
                if current is None:
                    conn.execute(
                        insert(AdmsUser).values(
                            serial=device.serial,
                            pin=pin,
                            name="",
                            privilege="0",
                            updated_utc=to_db(now),
                            biometrics=",".join(sorted(kinds))[:128],
                        )
                    )
                else:
                    merged = {k for k in current.biometrics.split(",") if k} | kinds
                    conn.execute(
                        update(AdmsUser)
                        .where(AdmsUser.serial == device.serial, AdmsUser.pin == pin)
                        .values(biometrics=",".join(sorted(merged))[:128], updated_utc=to_db(now))
                    )
            if bad:
                conn.execute(
                    insert(AdmsReview),
                    [
                        {
                            "serial": device.serial,
                            "batch_id": None,
                            "table_name": table[:32],
                            "line": escape_raw(raw)[:4096],
                            "reason": why[:200],
                            "address": address[:64],
                            "received_utc": to_db(now),
                        }
                        for raw, why in bad
                    ],
                )
        log.info(
            "adms user table",
            extra={
                "serial": device.serial,
                "table": table,
                "lines": len(lines),
                "users": len(users),
                "biometric_owners": len(bios),
                "for_review": len(bad),
            },
        )
        return len(lines)

    # Back-compatible name for the OPERLOG table.
    def operlog(self, device: DeviceView, body: str, now: datetime, address: str = "") -> int:
        return self.user_table(device, "OPERLOG", body, now, address)

    def device_users(self, serial: str) -> list[dict[str, str]]:
        with self._db.read() as conn:
            return [
                {"pin": u.pin, "name": u.name, "privilege": u.privilege, "biometrics": u.biometrics}
                for u in conn.execute(
                    select(AdmsUser.__table__)
                    .where(AdmsUser.serial == serial)
                    .order_by(AdmsUser.pin)
                )
            ]

    # -- commands ----------------------------------------------------------------------
    def queue_command(self, serial: str, command: str, now: datetime) -> int:
        if (
            not command
            or len(command) > 1000
            or any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in command)
        ):
            raise ApiError(422, "invalid_request", "command: one line of 1-1000 characters")
        with self._db.write() as conn:
            if not SERIAL_RE.fullmatch(serial) or not self._known(conn, serial):
                raise ApiError(404, "not_found", f"serial {serial[:64]!r} is not a known machine")
            cid = conn.execute(
                insert(AdmsCommand)
                .values(serial=serial, command=command, status="queued", created_utc=to_db(now))
                .returning(AdmsCommand.id)
            ).scalar_one()
        return int(cid)

    def poll(self, device: DeviceView, now: datetime) -> str:
        if device.status != "approved":
            return "OK"  # a pending machine never receives the admin's commands
        with self._db.write() as conn:
            rows = conn.execute(
                select(AdmsCommand.id, AdmsCommand.command)
                .where(AdmsCommand.serial == device.serial, AdmsCommand.status == "queued")
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

    def command_results(self, device: DeviceView, body: str) -> int:
        """``ID=..&Return=..&CMD=..`` lines; key=value lines after an INFO result: device info."""
        if device.status != "approved":
            return 0
        done = 0
        info: dict[str, str] = {}
        current_cmd = ""
        with self._db.write() as conn:
            for line in body_lines(body):
                text = line.strip()
                if text.startswith("ID="):
                    fields = parse_qs(text, keep_blank_values=True)
                    cid = (fields.get("ID") or [""])[0]
                    ret = printable((fields.get("Return") or [""])[0])[:32]
                    current_cmd = (fields.get("CMD") or [""])[0].upper()
                    if not cid.isdigit() or len(cid) > 18:
                        continue
                    result = conn.execute(
                        update(AdmsCommand)
                        .where(AdmsCommand.id == int(cid), AdmsCommand.serial == device.serial)
                        .values(status="done", return_code=ret)
                    )
                    done += result.rowcount
                elif current_cmd == "INFO" and "=" in text:
                    key, _, value = text.partition("=")
                    info[key.strip()] = value.strip()
        if info:
            self.note_info(device.serial, info)
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


def adms_policy(settings: Any) -> AdmsPolicy:
    """The trust policy from :class:`server.settings.ServerSettings`."""
    return AdmsPolicy(
        serials=tuple(settings.adms_serials),
        max_pending=settings.adms_max_pending,
        requests_per_second=settings.adms_requests_per_second,
        request_burst=settings.adms_request_burst,
        max_lines_per_hour=settings.adms_max_lines_per_hour,
        pin_burst=settings.adms_pin_burst,
        pin_burst_minutes=settings.adms_pin_burst_minutes,
    )
