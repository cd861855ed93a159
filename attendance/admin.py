"""Admin PIN and employee fallback PINs: slow hashes and a lockout.

The same :class:`AdminGuard` schedule guards each employee's NIP + PIN
punches (per NIP, with ``attendance.store.EmployeePinAttempts``), so a
colleague cannot try PIN after PIN for someone else.

PINs are stored as ``scrypt$n$r$p$salt_b64$hash_b64`` (``hashlib.scrypt``,
16-byte random salt, 32-byte hash, standard base64). Verification is
constant-time. A PIN is 4 to 12 ASCII digits.

:class:`AdminGuard` counts failed admin PIN attempts. After ``max_attempts``
consecutive failures the PIN is refused for ``lockout_seconds``; each further
failure doubles that (30 s, 60 s, 120 s, ...; capped at
``max_lockout_seconds``). While locked, attempts are refused without being
checked or counted. A correct PIN resets the count. The state (failures,
locked-until, PIN hash) lives behind :class:`AdminStateStore` so the store can
keep it in SQLite across restarts; :class:`MemoryAdminStateStore` is the
in-memory one for tests. The caller writes the audit log entry for every
check and change (this module never logs a PIN).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from attendance.clock import Clock
from attendance.config import AdminSection

log = logging.getLogger(__name__)

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
_PIN = re.compile(r"[0-9]{4,12}")
# Parameters accepted when verifying a stored hash (bounds the work a bad row can cause).
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16


class PinFormatError(ValueError):
    """A PIN is not 4-12 digits (the message never contains the PIN)."""


class PinHashError(ValueError):
    """A stored PIN hash is malformed or uses parameters out of bounds."""


def validate_pin(pin: str) -> None:
    """Raise :class:`PinFormatError` unless ``pin`` is 4 to 12 ASCII digits."""
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        raise PinFormatError("a PIN must be 4 to 12 digits (0-9)")


def hash_pin(pin: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """Hash a validated PIN: ``scrypt$n$r$p$salt_b64$hash_b64``."""
    validate_pin(pin)
    _check_params(n, r, p)
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(pin, salt, n, r, p, HASH_BYTES)
    return "$".join(
        ("scrypt", str(n), str(r), str(p), _b64(salt), _b64(digest)),
    )


def verify_pin(pin: str, encoded: str) -> bool:
    """True when ``pin`` matches ``encoded``; a malformed PIN simply does not match.

    Raises :class:`PinHashError` when ``encoded`` itself is malformed.
    """
    n, r, p, salt, expected = _parse(encoded)
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        return False
    digest = _scrypt(pin, salt, n, r, p, len(expected))
    return hmac.compare_digest(digest, expected)


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    return hashlib.scrypt(
        pin.encode("ascii"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=maxmem
    )


def _check_params(n: int, r: int, p: int) -> None:
    if n < 2 or n & (n - 1) or n > _MAX_N:
        raise PinHashError(f"scrypt n must be a power of two between 2 and {_MAX_N}, got {n}")
    if not 1 <= r <= _MAX_R or not 1 <= p <= _MAX_P:
        raise PinHashError(f"scrypt r must be 1-{_MAX_R} and p 1-{_MAX_P}, got r={r} p={p}")


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$") if isinstance(encoded, str) else []
    if len(parts) != 6 or parts[0] != "scrypt":
        raise PinHashError("PIN hash must look like scrypt$n$r$p$salt_b64$hash_b64")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        raise PinHashError("PIN hash has a non-numeric parameter or bad base64") from None
    _check_params(n, r, p)
    if len(salt) < 8 or len(digest) < 16:
        raise PinHashError("PIN hash has too short a salt or hash")
    return n, r, p, salt, digest


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# --------------------------------------------------------------------------- lockout


@dataclass(frozen=True)
class AdminState:
    """What the guard persists: consecutive failures, lockout end (UTC) and the PIN hash."""

    failures: int = 0
    locked_until: datetime | None = None
    pin_hash: str | None = None


class AdminStateStore(Protocol):
    def load(self) -> AdminState: ...

    def save(self, state: AdminState) -> None: ...


class MemoryAdminStateStore:
    """Keeps the admin state in memory (tests, demos)."""

    def __init__(self, state: AdminState | None = None) -> None:
        self.state = state or AdminState()
        self.saves = 0

    def load(self) -> AdminState:
        return self.state

    def save(self, state: AdminState) -> None:
        self.state = state
        self.saves += 1


AdminOutcome = Literal["ok", "wrong", "locked", "not_set"]


@dataclass(frozen=True)
class AdminCheck:
    """The result of one admin PIN attempt."""

    outcome: AdminOutcome
    locked_until: datetime | None = None  # UTC, when a lockout is in force
    retry_after_seconds: float = 0.0
    attempts_left: int = 0  # wrong PINs left before the next lockout

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class AdminGuard:
    """Checks the admin PIN with a lockout that grows after repeated failures."""

    def __init__(
        self, store: AdminStateStore, clock: Clock, admin: AdminSection, what: str = "admin PIN"
    ) -> None:
        self.store = store
        self.clock = clock
        self.admin = admin
        self.what = what  # for the log: "admin PIN", "PIN of one employee"

    def is_set(self) -> bool:
        return self.store.load().pin_hash is not None

    def set_pin(self, pin: str) -> None:
        """Store a new admin PIN (first set-up, or after a successful :meth:`check`)."""
        state = self.store.load()
        self.store.save(replace(state, pin_hash=hash_pin(pin), failures=0, locked_until=None))
        log.info("admin PIN changed")

    def lockout_for(self, failures: int) -> float:
        """Seconds of lockout after ``failures`` consecutive failures (0 below the limit)."""
        extra = failures - self.admin.max_attempts
        if extra < 0:
            return 0.0
        seconds = self.admin.lockout_seconds * 2.0 ** min(extra, 64)
        return float(min(seconds, self.admin.max_lockout_seconds))

    def status(self) -> AdminCheck:
        """Locked or not right now, without an attempt."""
        state = self.store.load()
        now = self.clock.now_utc()
        if state.locked_until is not None and now < state.locked_until:
            return self._locked(state.locked_until, now)
        if state.pin_hash is None:
            return AdminCheck("not_set")
        return AdminCheck("wrong", attempts_left=self._left(state.failures))

    def check(self, pin: str) -> AdminCheck:
        """One attempt. While locked the PIN is not even compared."""
        state = self.store.load()
        now = self.clock.now_utc()
        if state.locked_until is not None and now < state.locked_until:
            return self._locked(state.locked_until, now)
        if state.pin_hash is None:
            return AdminCheck("not_set")
        if verify_pin(pin, state.pin_hash):
            if state.failures or state.locked_until is not None:
                self.store.save(replace(state, failures=0, locked_until=None))
            return AdminCheck("ok", attempts_left=self.admin.max_attempts)
        failures = state.failures + 1
        lock = self.lockout_for(failures)
        locked_until = now + timedelta(seconds=lock) if lock > 0 else None
        self.store.save(replace(state, failures=failures, locked_until=locked_until))
        if locked_until is not None:
            log.warning("%s failed %d times; locked for %.0f s", self.what, failures, lock)
            return self._locked(locked_until, now)
        return AdminCheck("wrong", attempts_left=self._left(failures))

    def _left(self, failures: int) -> int:
        return max(0, self.admin.max_attempts - failures) or 1

    @staticmethod
    def _locked(until: datetime, now: datetime) -> AdminCheck:
        return AdminCheck(
            "locked",
            locked_until=until,
            retry_after_seconds=max(0.0, (until - now).total_seconds()),
            attempts_left=0,
        )
