"""Time-ordered punch identities (UUIDv7, RFC 9562) and the wire form of UTC times.

Python 3.11 has no ``uuid.uuid7``; this is the RFC layout: 48 bits of Unix
milliseconds, version 7, 74 random bits. Ids sort by creation time, which
keeps the primary-key index of the punches append-mostly.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime


def uuid7(unix_ms: int, random_bytes: bytes | None = None) -> str:
    """A UUIDv7 string for ``unix_ms``; ``random_bytes`` (10 bytes) makes it deterministic."""
    if not 0 <= unix_ms < 1 << 48:
        raise ValueError(f"unix_ms out of range for a UUIDv7: {unix_ms}")
    rnd = os.urandom(10) if random_bytes is None else random_bytes
    if len(rnd) != 10:
        raise ValueError(f"uuid7 needs 10 random bytes, got {len(rnd)}")
    rand_a = int.from_bytes(rnd[:2], "big") & 0x0FFF
    rand_b = int.from_bytes(rnd[2:], "big") & ((1 << 62) - 1)
    value = (unix_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def uuid7_for(at_utc: datetime) -> str:
    return uuid7(int(at_utc.timestamp() * 1000))


def format_utc(at: datetime) -> str:
    """The signed wire form: ``2026-11-28T00:12:03.123456Z`` (always microseconds)."""
    if at.tzinfo is None:
        raise ValueError("a punch time must be timezone-aware (UTC)")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    """Inverse of :func:`format_utc`."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(
            f"not a UTC time of the form 2026-11-28T00:12:03.123456Z: {text!r}"
        ) from None


def validate_nip(nip: str) -> str:
    """Return ``nip`` if it is an 18-digit NIP, else raise ``ValueError`` saying why."""
    if not isinstance(nip, str) or len(nip) != 18 or not nip.isascii() or not nip.isdigit():
        raise ValueError(f"a NIP has exactly 18 digits, got {nip!r}")
    return nip
