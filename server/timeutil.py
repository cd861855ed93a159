"""UTC times on the wire (``...Z``) and in the database (naive UTC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_WIRE_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")


def format_utc(at: datetime) -> str:
    """``2026-11-28T00:12:03.123456Z``; naive values are taken as UTC."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_optional(at: datetime | None) -> str | None:
    return None if at is None else format_utc(at)


def parse_wire_utc(text: str) -> datetime:
    """Parse the wire form; raises ``ValueError`` for anything else (offsets, dates only)."""
    if not _WIRE_UTC.fullmatch(text):
        raise ValueError(f"not an ISO 8601 UTC time with 'Z': {text[:40]!r}")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def to_db(at: datetime) -> datetime:
    """Aware -> naive UTC for the database."""
    return at.astimezone(UTC).replace(tzinfo=None)
