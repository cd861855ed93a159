"""Punch integrity shared by the kiosk and the central server.

A punch travels as a flat JSON object (:data:`SIGNED_FIELDS`). Its canonical
bytes are the UTF-8 JSON of those fields with sorted keys and no spaces. The
device signs the canonical bytes with its Ed25519 key; the record hash is the
SHA-256 of the canonical bytes, and each punch carries the hash of the
device's previous punch (``prev_hash``; 64 zeros for the first) together with
a per-device sequence number starting at 1. Changing any signed field breaks
the signature; removing, inserting or reordering punches breaks the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

GENESIS_HASH = "0" * 64

# Every field that is signed, in the wire format (JSON types in comments).
SIGNED_FIELDS: tuple[str, ...] = (
    "id",  # str, UUIDv7 of the punch: the idempotency key
    "device_id",  # str
    "seq",  # int, per-device sequence number, 1, 2, 3, ...
    "prev_hash",  # str, hex SHA-256 of the previous punch's canonical bytes
    "nip",  # str, 18-digit NIP of the employee
    "utc",  # str, ISO 8601 UTC with microseconds and "Z": 2026-11-28T00:12:03.123456Z
    "local_offset_minutes",  # int, e.g. 420 for WIB
    "clock_state",  # str: "synced" | "unsynced" | "suspect"
    "boot_id",  # str
    "monotonic_ns",  # int
    "verify_mode",  # str: "face" | "fingerprint" | "pin"
    "direction",  # str: "masuk" | "pulang"
    "distance",  # float | None
    "margin",  # float | None
    "liveness",  # str | None, e.g. "passed:blink:0.93"
)


class IntegrityError(ValueError):
    """A punch record is malformed or its signature does not verify."""


def canonical_bytes(record: Mapping[str, Any]) -> bytes:
    missing = [f for f in SIGNED_FIELDS if f not in record]
    if missing:
        raise IntegrityError(f"punch record lacks field(s): {', '.join(missing)}")
    body = {f: record[f] for f in SIGNED_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(record)).hexdigest()


def sign(record: Mapping[str, Any], key: Ed25519PrivateKey) -> str:
    """Hex Ed25519 signature over the canonical bytes."""
    return key.sign(canonical_bytes(record)).hex()


def verify(record: Mapping[str, Any], public_key: Ed25519PublicKey) -> None:
    """Raise :class:`IntegrityError` unless ``record['signature']`` is valid."""
    sig = record.get("signature")
    if not isinstance(sig, str):
        raise IntegrityError("punch record has no signature")
    try:
        raw = bytes.fromhex(sig)
    except ValueError:
        raise IntegrityError("signature is not hex") from None
    try:
        public_key.verify(raw, canonical_bytes(record))
    except InvalidSignature:
        raise IntegrityError("signature does not match the record (altered field?)") from None


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def load_public_key(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise IntegrityError(f"an Ed25519 public key has 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)
