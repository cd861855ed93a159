"""Punch ingest: validate, verify, chain-check and store a batch in one transaction.

Every record gets its own answer (accepted / duplicate / rejected with a
reason) so one bad record never blocks the rest of a kiosk's queue. The punch
UUID is the idempotency key: rows are inserted with ``INSERT .. ON CONFLICT
DO NOTHING`` (SQLite and PostgreSQL), so a replayed or concurrently
duplicated batch yields duplicates, never an error. Signatures and the hash
chain follow the contract in :mod:`attendance.integrity`. Decisions (see
``server/API.md``): a ``prev_hash`` that does not match a known neighbour is
*accepted and flagged* ``chain_mismatch`` (the record is validly signed by the
device's own key, and a dropped punch hurts a real person); a missing
predecessor is flagged ``gap``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import Connection, any_, bindparam, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY

from attendance.integrity import GENESIS_HASH, SIGNED_FIELDS, canonical_bytes
from server.db import Database
from server.devices import AuthenticatedDevice
from server.ledger_queue import enqueue_punches
from server.models import Device, Punch
from server.timeutil import format_utc, parse_wire_utc, to_db

log = logging.getLogger(__name__)

NIP_RE = re.compile(r"[0-9]{18}")
HEX64_RE = re.compile(r"[0-9a-f]{64}")
CLOCK_STATES = frozenset({"synced", "unsynced", "suspect"})
VERIFY_MODES = frozenset({"face", "fingerprint", "pin"})
DIRECTIONS = frozenset({"masuk", "pulang"})
MAX_SEQ = 2**62
MAX_MONOTONIC = 2**63 - 1
# Rows per IN (...) lookup: well under SQLite's parameter limit.
LOOKUP_CHUNK = 900


class RecordRejectedError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class Outcome:
    id: str | None
    status: str  # accepted | duplicate | rejected
    reason: str | None = None
    detail: str | None = None
    flags: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "reason": self.reason,
            "flags": self.flags,
        }
        if self.detail is not None:
            out["detail"] = self.detail
        return out


@dataclass
class _Candidate:
    index: int
    id: str
    seq: int
    prev_hash: str
    hash: str
    row: dict[str, Any]
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _ChainEntry:
    id: str
    hash: str
    prev_hash: str | None


@dataclass(frozen=True)
class IngestLimits:
    max_future: timedelta
    max_age: timedelta


def record_id_of(raw: Any) -> str | None:
    if isinstance(raw, Mapping):
        rid = raw.get("id")
        if isinstance(rid, str):
            return rid
    return None


def _get_str(rec: Mapping[str, Any], name: str, max_len: int) -> str:
    value = rec[name]
    if not isinstance(value, str):
        raise RecordRejectedError("malformed", f"{name}: must be a string")
    if len(value) > max_len:
        raise RecordRejectedError("malformed", f"{name}: longer than {max_len} characters")
    return value


def _get_int(rec: Mapping[str, Any], name: str, lo: int, hi: int) -> int:
    value = rec[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordRejectedError("malformed", f"{name}: must be an integer")
    if not lo <= value <= hi:
        raise RecordRejectedError("malformed", f"{name}: must be between {lo} and {hi}")
    return value


def _check_optional_float(rec: Mapping[str, Any], name: str) -> None:
    value = rec[name]
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordRejectedError("malformed", f"{name}: must be a number or null")
    if not math.isfinite(value):
        raise RecordRejectedError("malformed", f"{name}: must be finite")


def _check_choice(value: str, name: str, choices: frozenset[str]) -> None:
    if value not in choices:
        raise RecordRejectedError(
            "malformed", f"{name}: must be one of {', '.join(sorted(choices))}"
        )


def check_record(
    raw: Any, device: AuthenticatedDevice, now: datetime, limits: IngestLimits
) -> _Candidate:
    """Validate one wire record; raises :class:`RecordRejectedError` with the reason."""
    if not isinstance(raw, Mapping):
        raise RecordRejectedError("malformed", "a punch record must be a JSON object")
    missing = [f for f in (*SIGNED_FIELDS, "signature") if f not in raw]
    if missing:
        raise RecordRejectedError("malformed", f"missing field(s): {', '.join(missing)}")
    rid = _get_str(raw, "id", 36)
    try:
        canonical_id = str(uuid.UUID(rid))
    except ValueError:
        raise RecordRejectedError("malformed", "id: must be a UUID") from None
    if canonical_id != rid:
        raise RecordRejectedError("malformed", "id: must be a lowercase hyphenated UUID")
    device_id = _get_str(raw, "device_id", 64)
    seq = _get_int(raw, "seq", 1, MAX_SEQ)
    prev_hash = _get_str(raw, "prev_hash", 64)
    if not HEX64_RE.fullmatch(prev_hash):
        raise RecordRejectedError("malformed", "prev_hash: must be 64 lowercase hex characters")
    nip = _get_str(raw, "nip", 64)
    utc_text = _get_str(raw, "utc", 40)
    offset = _get_int(raw, "local_offset_minutes", -1440, 1440)
    clock_state = _get_str(raw, "clock_state", 16)
    _check_choice(clock_state, "clock_state", CLOCK_STATES)
    _get_str(raw, "boot_id", 64)
    _get_int(raw, "monotonic_ns", 0, MAX_MONOTONIC)
    verify_mode = _get_str(raw, "verify_mode", 16)
    _check_choice(verify_mode, "verify_mode", VERIFY_MODES)
    direction = _get_str(raw, "direction", 16)
    _check_choice(direction, "direction", DIRECTIONS)
    _check_optional_float(raw, "distance")
    _check_optional_float(raw, "margin")
    if raw["liveness"] is not None:
        _get_str(raw, "liveness", 200)
    signature = _get_str(raw, "signature", 128)

    if device_id != device.device_id:
        raise RecordRejectedError(
            "device_mismatch",
            f"device_id {device_id[:64]!r} is not the authenticated device {device.device_id!r}",
        )
    # integrity.verify + integrity.record_hash with one canonicalisation (hot path).
    canonical = canonical_bytes(raw)
    try:
        device.public_key.verify(bytes.fromhex(signature), canonical)
    except ValueError:
        raise RecordRejectedError("signature", "signature is not hex") from None
    except InvalidSignature:
        raise RecordRejectedError(
            "signature", "signature does not match the record (altered field?)"
        ) from None
    if not NIP_RE.fullmatch(nip):
        raise RecordRejectedError("nip_format", "nip: must be exactly 18 digits")
    try:
        at = parse_wire_utc(utc_text)
    except ValueError as exc:
        raise RecordRejectedError("timestamp", f"utc: {exc}") from None
    if at > now + limits.max_future:
        raise RecordRejectedError(
            "timestamp", f"utc {utc_text} is in the future (server time {format_utc(now)})"
        )
    if at < now - limits.max_age:
        raise RecordRejectedError(
            "timestamp", f"utc {utc_text} is older than {limits.max_age.days} days"
        )

    digest = hashlib.sha256(canonical).hexdigest()
    row = {
        "id": rid,
        "device_id": device_id,
        "source": "native",
        "seq": seq,
        "prev_hash": prev_hash,
        "record_hash": digest,
        "nip": nip,
        "utc": to_db(at),
        "local_offset_minutes": offset,
        "clock_state": clock_state,
        "verify_mode": verify_mode,
        "direction": direction,
        "flags": "",
        "signature": signature,
        "record": canonical.decode(),
    }
    return _Candidate(index=0, id=rid, seq=seq, prev_hash=prev_hash, hash=digest, row=row)


def one_of(conn: Connection, column: Any, values: Sequence[Any]) -> Any:
    """``column IN (...)``; on PostgreSQL ``= ANY(array)``: one parameter, and psycopg
    does not re-parse a statement with hundreds of placeholders for every batch."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type), unique=True))
    return column.in_(values)


def _chunks(items: Sequence[Any], size: int = LOOKUP_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def insert_ignoring_duplicates(conn: Connection, rows: list[dict[str, Any]]) -> set[str]:
    """INSERT .. ON CONFLICT (id) DO NOTHING; returns the ids actually inserted.

    The ledger's recomputation of the inserted punches' days is queued in the
    same transaction (:mod:`server.ledger_queue`).
    """
    inserted = _insert_punch_rows(conn, rows)
    if inserted:
        enqueue_punches(conn, [r for r in rows if r["id"] in inserted], rows[0]["received_utc"])
    return inserted


def _insert_punch_rows(conn: Connection, rows: list[dict[str, Any]]) -> set[str]:
    if not rows:
        return set()
    if conn.dialect.name == "postgresql":
        return _insert_postgresql(conn, rows)
    # SQLite: a plain executemany is much cheaper than RETURNING row by row. When
    # every row went in (the usual case: writers are serialised), that is the answer;
    # otherwise ask which ids now hold our rows.
    result = conn.execute(sqlite.insert(Punch).on_conflict_do_nothing(index_elements=["id"]), rows)
    if result.rowcount == len(rows):
        return {r["id"] for r in rows}
    if result.rowcount == 0:
        return set()
    ids = [r["id"] for r in rows]
    mine = {(r["id"], r["received_utc"], r["record_hash"]) for r in rows}
    inserted: set[str] = set()
    for chunk in _chunks(ids):
        for rid, received, digest in conn.execute(
            select(Punch.id, Punch.received_utc, Punch.record_hash).where(
                one_of(conn, Punch.id, chunk)
            )
        ):
            if (rid, received, digest) in mine:
                inserted.add(rid)
    return inserted


_PUNCH_COLUMNS = tuple(c.name for c in Punch.__table__.columns)
_PG_INSERT = (
    f"INSERT INTO punches ({', '.join(_PUNCH_COLUMNS)}) "  # noqa: S608 - names from the model; values are parameters
    f"VALUES ({', '.join(['%s'] * len(_PUNCH_COLUMNS))}) "
    "ON CONFLICT (id) DO NOTHING RETURNING id"
)


def _insert_postgresql(conn: Connection, rows: list[dict[str, Any]]) -> set[str]:
    """psycopg's pipelined executemany with RETURNING on the transaction's connection.

    A short statement psycopg prepares once, instead of SQLAlchemy's multi-VALUES
    text with thousands of placeholders that psycopg parses again per batch.
    """
    dbapi = conn.connection.driver_connection
    if dbapi is None:  # pragma: no cover - a live connection always has one
        raise RuntimeError("no DBAPI connection")
    inserted: set[str] = set()
    with dbapi.cursor() as cur:
        cur.executemany(
            _PG_INSERT, [tuple(r.get(c) for c in _PUNCH_COLUMNS) for r in rows], returning=True
        )
        while True:
            for (rid,) in cur.fetchall():
                inserted.add(rid)
            if not cur.nextset():
                break
    return inserted


def existing_hashes(conn: Connection, ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(ids):
        for rid, digest in conn.execute(
            select(Punch.id, Punch.record_hash).where(one_of(conn, Punch.id, chunk))
        ):
            found[rid] = digest
    return found


class PunchIngest:
    def __init__(self, db: Database, limits: IngestLimits) -> None:
        self._db = db
        self._limits = limits

    def ingest(
        self, device: AuthenticatedDevice, records: Sequence[Any], now: datetime
    ) -> list[Outcome]:
        started = time.perf_counter()
        outcomes: list[Outcome | None] = [None] * len(records)
        candidates: list[_Candidate] = []
        for i, raw in enumerate(records):
            try:
                cand = check_record(raw, device, now, self._limits)
            except RecordRejectedError as rej:
                outcomes[i] = Outcome(record_id_of(raw), "rejected", rej.reason, rej.detail)
                continue
            cand.index = i
            candidates.append(cand)

        if candidates:
            with self._db.write() as conn:
                self._store(conn, device.device_id, candidates, outcomes, now)
        else:
            with self._db.write() as conn:
                _touch(conn, device.device_id, now)

        final = [o if o is not None else Outcome(None, "rejected", "malformed") for o in outcomes]
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        reasons: dict[str, int] = {}
        for o in final:
            counts[o.status] += 1
            if o.reason:
                reasons[o.reason] = reasons.get(o.reason, 0) + 1
        log.info(
            "punch batch",
            extra={
                "device_id": device.device_id,
                "records": len(records),
                **counts,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        if reasons:
            log.warning(
                "punches rejected", extra={"device_id": device.device_id, "reasons": reasons}
            )
        return final

    def _store(
        self,
        conn: Connection,
        device_id: str,
        candidates: list[_Candidate],
        outcomes: list[Outcome | None],
        now: datetime,
    ) -> None:
        stored = existing_hashes(conn, [c.id for c in candidates])
        fresh: list[_Candidate] = []
        batch: dict[str, str] = {}
        for cand in candidates:
            known = stored.get(cand.id, batch.get(cand.id))
            if known is None:
                batch[cand.id] = cand.hash
                fresh.append(cand)
            elif known == cand.hash:
                outcomes[cand.index] = Outcome(cand.id, "duplicate")
            else:
                outcomes[cand.index] = Outcome(
                    cand.id,
                    "rejected",
                    "conflict",
                    "this punch id is already stored with different content",
                )
        if not fresh:
            _touch(conn, device_id, now)
            return

        chain = self._chain_neighbours(conn, device_id, fresh)
        for cand in fresh:
            chain.setdefault(cand.seq, []).append(_ChainEntry(cand.id, cand.hash, cand.prev_hash))
        for cand in fresh:
            flags = cand.flags
            if cand.row["clock_state"] != "synced":
                flags.append("clock_untrusted")
            same_seq = [e for e in chain.get(cand.seq, []) if e.id != cand.id]
            if same_seq:
                flags.append("seq_conflict")
            mismatch = False
            if cand.seq == 1:
                mismatch = cand.prev_hash != GENESIS_HASH
            else:
                preds = chain.get(cand.seq - 1, [])
                if not preds:
                    flags.append("gap")
                elif all(p.hash != cand.prev_hash for p in preds):
                    mismatch = True
            succs = chain.get(cand.seq + 1, [])
            if any(s.prev_hash != cand.hash for s in succs):
                mismatch = True
            if mismatch:
                flags.append("chain_mismatch")
            cand.row["flags"] = ",".join(flags)
            cand.row["received_utc"] = to_db(now)

        inserted = insert_ignoring_duplicates(conn, [c.row for c in fresh])
        lost = [c for c in fresh if c.id not in inserted]
        raced = existing_hashes(conn, [c.id for c in lost]) if lost else {}
        for cand in fresh:
            if cand.id in inserted:
                outcomes[cand.index] = Outcome(cand.id, "accepted", flags=cand.flags)
            elif raced.get(cand.id) == cand.hash:
                outcomes[cand.index] = Outcome(cand.id, "duplicate")
            else:
                outcomes[cand.index] = Outcome(
                    cand.id,
                    "rejected",
                    "conflict",
                    "this punch id is already stored with different content",
                )
        flagged = [c for c in fresh if c.id in inserted and set(c.flags) - {"clock_untrusted"}]
        if flagged:
            log.warning(
                "chain irregularities",
                extra={
                    "device_id": device_id,
                    "punches": [{"id": c.id, "seq": c.seq, "flags": c.flags} for c in flagged][:20],
                },
            )
        _touch(conn, device_id, now)

    @staticmethod
    def _chain_neighbours(
        conn: Connection, device_id: str, fresh: list[_Candidate]
    ) -> dict[int, list[_ChainEntry]]:
        wanted = sorted({s for c in fresh for s in (c.seq - 1, c.seq, c.seq + 1) if s >= 1})
        chain: dict[int, list[_ChainEntry]] = {}
        for chunk in _chunks(wanted):
            for rid, seq, digest, prev in conn.execute(
                select(Punch.id, Punch.seq, Punch.record_hash, Punch.prev_hash).where(
                    Punch.device_id == device_id,
                    Punch.source == "native",
                    one_of(conn, Punch.seq, chunk),
                )
            ):
                chain.setdefault(int(seq), []).append(_ChainEntry(rid, digest, prev))
        return chain


def _touch(conn: Connection, device_id: str, now: datetime) -> None:
    conn.execute(
        update(Device).where(Device.device_id == device_id).values(last_seen_utc=to_db(now))
    )
