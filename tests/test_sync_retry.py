"""The retry policy: full jitter, cap, Retry-After, and the sorting of HTTP statuses."""

from __future__ import annotations

import random
from dataclasses import FrozenInstanceError

import pytest

from sync.retry import (
    RejectedError,
    RetryPolicy,
    TransientError,
    UnauthorizedError,
    classify_status,
    parse_retry_after,
)

NOW = 1_790_000_000.0  # a fixed wall-clock instant


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = RetryPolicy(base_seconds=1.0, max_backoff_seconds=30.0, rng=lambda: 1.0)
    assert [policy.delay(n) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert policy.delay(10_000) == 30.0  # no overflow on huge attempt counts
    assert policy.delay(0) == 0.0


def test_full_jitter_uses_the_injected_rng() -> None:
    rng = random.Random(7)
    policy = RetryPolicy(base_seconds=2.0, max_backoff_seconds=100.0, rng=rng.random)
    delays = [policy.delay(4) for _ in range(2000)]
    assert all(0.0 <= d <= 16.0 for d in delays)
    assert min(delays) < 1.0 and max(delays) > 15.0  # spread over the whole range
    again = RetryPolicy(base_seconds=2.0, max_backoff_seconds=100.0, rng=random.Random(7).random)
    assert [again.delay(4) for _ in range(2000)] == delays  # deterministic


def test_policy_is_immutable_and_validates() -> None:
    policy = RetryPolicy()
    with pytest.raises(FrozenInstanceError):
        policy.base_seconds = 5.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="base_seconds"):
        RetryPolicy(base_seconds=0.0)
    with pytest.raises(ValueError, match="max_backoff_seconds"):
        RetryPolicy(base_seconds=10.0, max_backoff_seconds=5.0)


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(" 3 ", NOW) == 3.0
    assert parse_retry_after("1.5", NOW) == 1.5
    date = "Fri, 31 Dec 2026 23:59:59 GMT"
    from email.utils import parsedate_to_datetime

    target = parsedate_to_datetime(date).timestamp()
    assert parse_retry_after(date, target - 42) == pytest.approx(42.0)
    assert parse_retry_after(date, target + 10) == 0.0  # in the past: now
    for bad in (None, "", "soon", "-5", "nan", "Fri, 99 Foo 2026"):
        got = parse_retry_after(bad, NOW)
        assert got is None or got == 0.0, bad


def test_retry_after_replaces_jitter_but_is_capped() -> None:
    policy = RetryPolicy(
        base_seconds=1.0, max_backoff_seconds=60.0, rng=lambda: 0.0, clock=lambda: NOW
    )
    assert policy.delay(1, retry_after=7.0) == 7.0
    assert policy.delay(1, retry_after=10_000.0) == 60.0
    err = TransientError("HTTP 503", retry_after=policy.retry_after_from_header("9"))
    assert policy.delay_for(err, 5) == 9.0
    assert policy.delay_for(TransientError("timeout"), 5) == 0.0  # rng() == 0


def test_statuses_are_sorted_into_retry_stop_and_reject() -> None:
    assert isinstance(classify_status(401, "x"), UnauthorizedError)
    assert isinstance(classify_status(403, "x"), UnauthorizedError)
    for status in (408, 429, 500, 502, 503, 504):
        assert isinstance(classify_status(status, "x"), TransientError), status
    for status in (400, 404, 409, 413, 422):
        err = classify_status(status, "bad")
        assert isinstance(err, RejectedError) and err.status == status
    err = classify_status(503, "busy", retry_after=4.0)
    assert isinstance(err, TransientError) and err.retry_after == 4.0
