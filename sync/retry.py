"""When to try again: an immutable retry policy and the error kinds it sorts.

Shape taken from urllib3's ``Retry``: the policy is a frozen value, every
decision is a pure function of its inputs, and the random source and the
clock are injected so tests are deterministic.

Kinds of failure, and what the sync worker does with each:

* :class:`TransientError` - network error, timeout, 5xx, 429, a malformed or
  truncated reply. Retry after :meth:`RetryPolicy.delay` (exponential backoff
  with full jitter, or the server's ``Retry-After``). Nothing is marked
  delivered.
* :class:`UnauthorizedError` - 401/403: the device is unknown or revoked.
  Sync stops and the kiosk shows "perangkat belum terdaftar".
* :class:`RejectedError` - any other 4xx for a whole request. For a punch
  batch the worker splits the batch until the offending record stands alone,
  then quarantines it with the server's reason; the rest goes through.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC

UNREGISTERED_TEXT = "perangkat belum terdaftar"


class SyncError(Exception):
    """Base of every failure the sync clients raise."""


class TransientError(SyncError):
    """A failure worth retrying; ``retry_after`` is the server's wish in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnauthorizedError(SyncError):
    """The server does not know this device (401) or refuses it (403)."""


class RejectedError(SyncError):
    """The server refused the request itself (4xx other than 401/403/408/429)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date).

    ``now`` is the current wall-clock time (Unix seconds), used for the date
    form. Returns ``None`` for a missing or unreadable header and never a
    negative number (a date in the past means "now").
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(int(text))
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110: HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def classify_status(status: int, message: str, retry_after: float | None = None) -> SyncError:
    """The error for a non-2xx HTTP status (network errors never reach here)."""
    if status in (401, 403):
        return UnauthorizedError(f"HTTP {status}: {message}")
    if status in (408, 429) or status >= 500:
        return TransientError(f"HTTP {status}: {message}", retry_after=retry_after)
    if 400 <= status < 500:
        return RejectedError(f"HTTP {status}: {message}", status=status)
    # 1xx/3xx reaching us means a proxy or redirect we did not ask for.
    return TransientError(f"unexpected HTTP {status}: {message}", retry_after=retry_after)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped, honouring ``Retry-After``.

    ``delay(attempt)`` for the n-th consecutive failure (``attempt`` >= 1) is
    uniform in ``[0, min(cap, base * 2 ** (attempt - 1))]`` ("full jitter",
    which spreads a fleet of kiosks that lost the network together). A
    server's ``Retry-After`` replaces the jittered value but is still capped
    at ``max_backoff_seconds`` so a wrong header cannot stall a kiosk for
    days.
    """

    base_seconds: float = 1.0
    max_backoff_seconds: float = 300.0
    rng: Callable[[], float] = field(default=random.random, compare=False)
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def __post_init__(self) -> None:
        if not (self.base_seconds > 0 and math.isfinite(self.base_seconds)):
            raise ValueError(f"base_seconds must be > 0, got {self.base_seconds!r}")
        if not (self.max_backoff_seconds >= self.base_seconds):
            raise ValueError(
                "max_backoff_seconds must be >= base_seconds, "
                f"got {self.max_backoff_seconds!r} < {self.base_seconds!r}"
            )

    def ceiling(self, attempt: int) -> float:
        """Upper bound of the jittered delay for the given failure count."""
        if attempt < 1:
            return 0.0
        exponent = min(attempt - 1, 62)  # 2**62 * base is far past any cap
        return min(self.max_backoff_seconds, self.base_seconds * (2.0**exponent))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before the next try after ``attempt`` consecutive failures."""
        if retry_after is not None and math.isfinite(retry_after):
            return min(max(0.0, retry_after), self.max_backoff_seconds)
        return self.rng() * self.ceiling(attempt)

    def delay_for(self, error: SyncError, attempt: int) -> float:
        """Delay for an error: transient errors may carry the server's ``Retry-After``."""
        retry_after = error.retry_after if isinstance(error, TransientError) else None
        return self.delay(attempt, retry_after)

    def retry_after_from_header(self, value: str | None) -> float | None:
        """:func:`parse_retry_after` against this policy's clock."""
        return parse_retry_after(value, self.clock())
