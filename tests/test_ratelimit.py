"""Per-device token buckets of the server's device API."""

from __future__ import annotations

import threading

import pytest

from server.ratelimit import RateLimiter


class Ticker:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    t = Ticker()
    limiter = RateLimiter(2.0, 3, clock=t)
    assert [limiter.acquire("k1") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("k1") == pytest.approx(0.5)  # one token in 1/rate s
    t.now += 0.25
    assert limiter.acquire("k1") == pytest.approx(0.25)  # half a token came back
    t.now += 0.25
    assert limiter.acquire("k1") == 0.0
    # A long pause refills to the burst size, not beyond it.
    t.now += 3600
    assert [limiter.acquire("k1") for _ in range(4)][-1] > 0
    # Another device has its own bucket.
    assert limiter.acquire("k2") == 0.0


def test_zero_rate_disables_and_bad_arguments_are_refused() -> None:
    limiter = RateLimiter(0.0, 1)
    assert not limiter.enabled
    assert all(limiter.acquire("k") == 0.0 for _ in range(1000))
    for rate, burst in ((-1.0, 1), (float("nan"), 1), (1.0, 0)):
        with pytest.raises(ValueError):
            RateLimiter(rate, burst)


def test_old_devices_are_forgotten_beyond_max_keys() -> None:
    t = Ticker()
    limiter = RateLimiter(1.0, 1, clock=t, max_keys=2)
    assert limiter.acquire("a") == 0.0 and limiter.acquire("a") > 0
    limiter.acquire("b")
    limiter.acquire("c")  # "a" was seen least recently: its bucket is dropped
    assert limiter.acquire("a") == 0.0


def test_concurrent_requests_never_get_more_than_the_burst() -> None:
    t = Ticker()  # time stands still: no refill
    limiter = RateLimiter(1.0, 50, clock=t)
    allowed: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        ok = sum(1 for _ in range(100) if limiter.acquire("k") == 0.0)
        with lock:
            allowed.append(ok)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(allowed) == 50
