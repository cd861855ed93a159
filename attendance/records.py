"""Rows of ``punches`` as signed wire records (the exact dicts that were signed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attendance.integrity import SIGNED_FIELDS
from attendance.models import Punch

_HEX_FIELDS = ("prev_hash",)


def signed_columns() -> list[Any]:
    """The punch columns holding the signed fields, in SIGNED_FIELDS order."""
    return [getattr(Punch, name) for name in SIGNED_FIELDS]


def record_columns() -> list[Any]:
    """Signed columns plus ``signature`` and ``record_hash``: what verifying a punch needs."""
    return [*signed_columns(), Punch.signature, Punch.record_hash]


def punch_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The signed wire record of a punch row (SIGNED_FIELDS plus ``signature``, hex)."""
    record: dict[str, Any] = {}
    for name in SIGNED_FIELDS:
        value = row[name]
        record[name] = value.hex() if name in _HEX_FIELDS else value
    record["signature"] = bytes(row["signature"]).hex()
    return record
