"""Splitting long id lists into batches for ``IN (...)`` queries.

SQLite caps the bound parameters of one statement (999 before 3.32), so a
query over an unbounded list of ids runs once per batch. The kiosk and the
server both use this one helper.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

# Batch size of the kiosk's queries; the server uses 900 (server.ingest.LOOKUP_CHUNK).
DEFAULT_BATCH = 500


def chunked(items: Sequence[T], size: int = DEFAULT_BATCH) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size`` (none for an empty list)."""
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    for i in range(0, len(items), size):
        yield items[i : i + size]
