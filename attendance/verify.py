"""Checking the punch log: every signature, every link of every device's chain.

Problems are named precisely: a gap in the sequence, a punch whose
``prev_hash`` does not link to its predecessor (inserted, removed or
reordered), a reordering of storage against the sequence, a signed field that
was changed after signing (named when it can be determined by trying the
field's few possible values), an altered signature or record hash, and a log
truncated behind the chain head kept in ``device_state``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, select

from attendance import integrity
from attendance.db import Database
from attendance.models import CLOCK_STATES, DIRECTIONS, VERIFY_MODES, DeviceState, Punch
from attendance.records import punch_record, record_columns

# Signed fields with a handful of possible values: an alteration can be named by trying them.
_SMALL_DOMAINS: dict[str, tuple[Any, ...]] = {
    "direction": DIRECTIONS,
    "clock_state": CLOCK_STATES,
    "verify_mode": VERIFY_MODES,
    "liveness": (None,),
    "distance": (None,),
    "margin": (None,),
}


@dataclass(frozen=True)
class Problem:
    kind: str  # gap | broken_link | reordered | altered_field | bad_signature | bad_record_hash
    #            | truncated | bad_start | head_mismatch
    device_id: str
    seq: int | None
    punch_id: str | None
    message: str


@dataclass
class VerifyReport:
    punches: int = 0
    devices: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "punches": self.punches,
            "devices": self.devices,
            "problems": [asdict(p) for p in self.problems],
        }


def _verifies(public_key: Ed25519PublicKey, signature: bytes, record: dict[str, Any]) -> bool:
    try:
        public_key.verify(signature, integrity.canonical_bytes(record))
    except InvalidSignature:
        return False
    return True


def _name_altered_field(
    public_key: Ed25519PublicKey,
    signature: bytes,
    record: dict[str, Any],
    expected: dict[str, tuple[Any, ...]],
) -> tuple[str, Any] | None:
    """(field, signed value) if changing one field back makes the signature valid.

    Tried: every value of the small-domain fields, and what the chain says ``seq``
    and ``prev_hash`` should be (``expected``).
    """
    for name, values in {**expected, **_SMALL_DOMAINS}.items():
        for value in values:
            if value == record[name]:
                continue
            if _verifies(public_key, signature, {**record, name: value}):
                return name, value
    return None


def _rows(conn: Connection, device_id: str) -> Iterator[Any]:
    query = (
        select(*record_columns(), Punch.pk)
        .where(Punch.device_id == device_id)
        .order_by(Punch.seq)
        .execution_options(yield_per=2000)
    )
    yield from conn.execute(query).mappings()


def verify_log(db: Database, public_key: Ed25519PublicKey) -> VerifyReport:
    """Check all punches in ``db`` against ``public_key`` (this kiosk's signing key)."""
    report = VerifyReport()
    with db.read() as conn:
        devices = sorted(conn.execute(select(Punch.device_id).distinct()).scalars())
        heads = {
            k.removeprefix("chain_head:"): v
            for k, v in conn.execute(
                select(DeviceState.key, DeviceState.value).where(
                    DeviceState.key.startswith("chain_head:")
                )
            ).all()
        }
        report.devices = sorted(set(devices) | set(heads))
        for device_id in devices:
            _verify_device(conn, device_id, public_key, heads.get(device_id), report)
        for device_id in sorted(set(heads) - set(devices)):
            report.problems.append(
                Problem(
                    "truncated",
                    device_id,
                    None,
                    None,
                    f"device {device_id}: the chain head says {heads[device_id].split(':')[0]} "
                    "punches were recorded, but none are in the log",
                )
            )
    return report


def _verify_device(
    conn: Connection,
    device_id: str,
    public_key: Ed25519PublicKey,
    head: str | None,
    report: VerifyReport,
) -> None:
    problems = report.problems
    prev_seq = 0
    prev_hash = integrity.GENESIS_HASH
    prev_pk = 0
    for row in _rows(conn, device_id):
        report.punches += 1
        record = punch_record(row)
        seq, pid = record["seq"], record["id"]
        where = f"punch {pid} seq {seq}"
        digest = hashlib.sha256(integrity.canonical_bytes(record)).hexdigest()
        signature = bytes(row["signature"])
        stored_hash = bytes(row["record_hash"]).hex()
        signed_ok = _verifies(public_key, signature, record)
        altered: tuple[str, Any] | None = None
        if not signed_ok:
            expected: dict[str, tuple[Any, ...]] = {
                "seq": (prev_seq + 1,),
                "prev_hash": (prev_hash,),
                "device_id": (device_id,),
            }
            altered = _name_altered_field(public_key, signature, record, expected)
            if altered is not None:
                name, signed_value = altered
                problems.append(
                    Problem(
                        "altered_field",
                        device_id,
                        seq,
                        pid,
                        f"{where}: field {name!r} was altered: stored {record[name]!r}, "
                        f"signed {signed_value!r}",
                    )
                )
            elif digest == stored_hash:
                problems.append(
                    Problem(
                        "bad_signature",
                        device_id,
                        seq,
                        pid,
                        f"{where}: signature mismatch (the signed fields match the record "
                        "hash: the signature itself was altered or made with another key)",
                    )
                )
            else:
                problems.append(
                    Problem(
                        "bad_signature",
                        device_id,
                        seq,
                        pid,
                        f"{where}: signature mismatch: a signed field was altered "
                        "(which one cannot be determined)",
                    )
                )
        elif digest != stored_hash:
            problems.append(
                Problem(
                    "bad_record_hash",
                    device_id,
                    seq,
                    pid,
                    f"{where}: stored record hash was altered (signature is valid)",
                )
            )
        if prev_seq == 0 and seq != 1:
            problems.append(
                Problem(
                    "bad_start",
                    device_id,
                    seq,
                    pid,
                    f"device {device_id}: the log starts at seq {seq}: punches 1..{seq - 1} "
                    "are missing",
                )
            )
        elif prev_seq and seq != prev_seq + 1:
            problems.append(
                Problem(
                    "gap",
                    device_id,
                    seq,
                    pid,
                    f"device {device_id}: gap in the chain: seq {prev_seq + 1}..{seq - 1} "
                    f"missing before {where}",
                )
            )
        elif record["prev_hash"] != prev_hash and not (altered and altered[0] == "prev_hash"):
            problems.append(
                Problem(
                    "broken_link",
                    device_id,
                    seq,
                    pid,
                    f"{where}: prev_hash does not match the hash of seq {prev_seq} "
                    "(a punch was inserted, removed or reordered)",
                )
            )
        if row["pk"] < prev_pk:
            problems.append(
                Problem(
                    "reordered",
                    device_id,
                    seq,
                    pid,
                    f"{where} was stored before seq {prev_seq}: the log was reordered",
                )
            )
        # After an altered punch, its successor links to the hash that was signed, which the
        # row still stores: one alteration is reported once, not again as a broken link.
        prev_seq, prev_hash, prev_pk = seq, digest if signed_ok else stored_hash, row["pk"]
    if head is not None:
        head_seq, _, head_hash = head.partition(":")
        if int(head_seq) > prev_seq:
            problems.append(
                Problem(
                    "truncated",
                    device_id,
                    prev_seq + 1,
                    None,
                    f"device {device_id}: the log ends at seq {prev_seq} but the chain head "
                    f"says {head_seq}: punches {prev_seq + 1}..{head_seq} were removed",
                )
            )
        elif int(head_seq) != prev_seq or head_hash != prev_hash:
            problems.append(
                Problem(
                    "head_mismatch",
                    device_id,
                    prev_seq,
                    None,
                    f"device {device_id}: the chain head ({head_seq}) does not match the last "
                    f"punch (seq {prev_seq})",
                )
            )
