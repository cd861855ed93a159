from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from attendance.admin import (
    AdminGuard,
    AdminState,
    MemoryAdminStateStore,
    PinFormatError,
    PinHashError,
    hash_pin,
    validate_pin,
    verify_pin,
)
from attendance.clock import FakeClock
from attendance.config import AdminSection

START = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def test_hash_format_and_no_pin_inside() -> None:
    pin = "987654"
    encoded = hash_pin(pin)
    parts = encoded.split("$")
    assert parts[:4] == ["scrypt", "16384", "8", "1"]
    assert len(base64.b64decode(parts[4])) == 16
    assert len(base64.b64decode(parts[5])) == 32
    assert pin not in encoded
    assert verify_pin(pin, encoded)
    assert not verify_pin("987655", encoded)


def test_each_hash_has_its_own_salt() -> None:
    a, b = hash_pin("2468", n=2**10), hash_pin("2468", n=2**10)
    assert a != b
    assert a.split("$")[1] == "1024"
    assert verify_pin("2468", a) and verify_pin("2468", b)


@pytest.mark.parametrize("pin", ["123", "1234567890123", "12a4", "", " 1234", "١٢٣٤", "1234\n"])
def test_bad_pins_are_refused_without_echoing_them(pin: str) -> None:
    with pytest.raises(PinFormatError) as err:
        validate_pin(pin)
    assert pin.strip() == "" or pin.strip() not in str(err.value)
    with pytest.raises(PinFormatError):
        hash_pin(pin)
    assert not verify_pin(pin, hash_pin("1234", n=2**10))


def test_valid_pin_lengths() -> None:
    validate_pin("0000")
    validate_pin("012345678901")


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "bcrypt$16384$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$16384$8$1$c2FsdHNhbHQ=",
        "scrypt$x$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$1000$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$2097152$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$16384$8$1$!!!$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$16384$8$1$c2E=$aGFzaGhhc2hoYXNoaGFzaA==",
    ],
)
def test_malformed_hashes_raise(encoded: str) -> None:
    with pytest.raises(PinHashError):
        verify_pin("1234", encoded)


def make_guard(
    max_attempts: int = 3, lockout: float = 30.0, cap: float = 86400.0
) -> tuple[AdminGuard, FakeClock, MemoryAdminStateStore]:
    clock = FakeClock(START)
    store = MemoryAdminStateStore()
    admin = AdminSection(
        max_attempts=max_attempts, lockout_seconds=lockout, max_lockout_seconds=cap
    )
    return AdminGuard(store, clock, admin), clock, store


def test_not_set_then_right_and_wrong_pin() -> None:
    guard, _, store = make_guard()
    assert not guard.is_set()
    assert guard.check("1234").outcome == "not_set"
    guard.set_pin("482910")
    assert guard.is_set()
    assert store.state.pin_hash is not None and "482910" not in store.state.pin_hash
    assert guard.check("482910").ok
    wrong = guard.check("000000")
    assert wrong.outcome == "wrong" and wrong.attempts_left == 2


def test_lockout_grows_after_repeated_failures() -> None:
    guard, clock, store = make_guard(max_attempts=3, lockout=30.0)
    guard.set_pin("482910")
    assert [guard.check("1111").outcome for _ in range(2)] == ["wrong", "wrong"]
    third = guard.check("1111")
    assert third.outcome == "locked" and third.retry_after_seconds == 30.0
    assert third.locked_until == START + timedelta(seconds=30)
    # While locked even the right PIN is refused and the failure count does not move.
    clock.advance(29)
    locked = guard.check("482910")
    assert locked.outcome == "locked" and locked.retry_after_seconds == pytest.approx(1.0)
    assert store.state.failures == 3
    # Each further failure doubles the lockout: 60 s, then 120 s.
    clock.advance(1)
    assert guard.status().outcome == "wrong"
    fourth = guard.check("1111")
    assert fourth.outcome == "locked" and fourth.retry_after_seconds == 60.0
    clock.advance(60)
    fifth = guard.check("1111")
    assert fifth.outcome == "locked" and fifth.retry_after_seconds == 120.0
    assert guard.status().outcome == "locked"
    clock.advance(120)
    assert guard.check("482910").ok
    assert store.state.failures == 0 and store.state.locked_until is None
    # The count starts afresh after a success.
    assert guard.check("1111").outcome == "wrong"


def test_lockout_is_capped() -> None:
    guard, _, _ = make_guard(max_attempts=1, lockout=30.0, cap=100.0)
    assert [guard.lockout_for(f) for f in (0, 1, 2, 3, 4, 200)] == [
        0.0,
        30.0,
        60.0,
        100.0,
        100.0,
        100.0,
    ]


def test_lockout_survives_a_new_guard_on_the_same_store() -> None:
    guard, clock, store = make_guard(max_attempts=1)
    guard.set_pin("482910")
    assert guard.check("1111").outcome == "locked"
    again = AdminGuard(store, clock, AdminSection(max_attempts=1))
    assert again.check("482910").outcome == "locked"


def test_preloaded_state_store() -> None:
    store = MemoryAdminStateStore(AdminState(pin_hash=hash_pin("5555", n=2**10)))
    guard = AdminGuard(store, FakeClock(START), AdminSection())
    assert guard.check("5555").ok
    assert store.saves == 0  # nothing to reset, nothing written
