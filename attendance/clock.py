"""Clocks and how far a punch's time can be trusted.

A Raspberry Pi 4 has no real-time clock: after a power cut it may boot with
the time it last saved (or 1970) until NTP answers, and then the wall clock
*jumps*. Every punch therefore carries a clock state:

- ``"suspect"``: a jump of the wall clock against the monotonic clock was
  seen recently (see :class:`ClockTrust` for the exact rule);
- ``"synced"``: the operating system says the clock is NTP-synchronised, or
  the central server's time agreed with ours recently;
- ``"unsynced"``: neither.

:class:`Clock` is the small interface everything takes; :class:`SystemClock`
is the real one and :class:`FakeClock` the settable one for tests and drills.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

log = logging.getLogger(__name__)

ClockState = Literal["synced", "unsynced", "suspect"]
BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
STA_UNSYNC = 0x0040
TIME_ERROR = 5


class Clock(Protocol):
    def now_utc(self) -> datetime:
        """Wall clock, aware UTC."""
        ...

    def monotonic_ns(self) -> int:
        """A clock that never steps, counted from boot (comparable within one boot id)."""
        ...

    def boot_id(self) -> str:
        """Identifies the current boot; monotonic readings compare only within one."""
        ...

    def os_synchronized(self) -> bool | None:
        """True/False when the OS knows whether NTP has synchronised the clock, else None."""
        ...


# --------------------------------------------------------------------------- real clock


class _Timex(ctypes.Structure):
    # The leading fields of struct timex (<sys/timex.h>); padding covers the rest.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 512),
    ]


class SystemClock:
    """The machine's clocks.

    ``monotonic_ns`` uses ``CLOCK_BOOTTIME`` where available (it keeps
    counting during a suspend, so wall-minus-monotonic stays constant), else
    ``time.monotonic_ns``. ``os_synchronized`` asks ``timedatectl show -p
    NTPSynchronized`` when it exists, else ``adjtimex(2)`` (``STA_UNSYNC``),
    else None. It may take tens of milliseconds: :class:`ClockTrust` caches it.
    """

    def __init__(self, boot_id_path: Path = BOOT_ID_PATH) -> None:
        self._boot_id_path = boot_id_path
        self._boot_id: str | None = None
        self._timedatectl_usable = True  # cleared after it fails once (no systemd)
        self._adjtimex: Any = None

    def now_utc(self) -> datetime:
        return datetime.now(UTC)

    def monotonic_ns(self) -> int:
        if hasattr(time, "CLOCK_BOOTTIME"):
            return time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        return time.monotonic_ns()  # pragma: no cover - non-Linux

    def boot_id(self) -> str:
        if self._boot_id is None:
            try:
                self._boot_id = self._boot_id_path.read_text(encoding="ascii").strip()
            except OSError:
                # Without a boot id nothing links monotonic readings across
                # restarts; a random per-process id is the safe reading.
                self._boot_id = f"process-{uuid.uuid4()}"
                log.warning("cannot read %s; using a per-process boot id", self._boot_id_path)
        return self._boot_id

    def os_synchronized(self) -> bool | None:
        if self._timedatectl_usable:
            state = _timedatectl_synchronized()
            if state is not None:
                return state
            self._timedatectl_usable = False
            log.info("timedatectl gives no NTP state; reading adjtimex(2) instead")
        if self._adjtimex is None:
            self._adjtimex = _load_adjtimex() or False
        return _adjtimex_synchronized(self._adjtimex) if self._adjtimex else None


def _timedatectl_synchronized() -> bool | None:
    try:
        out = subprocess.run(
            ["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=2.0,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip().lower()
    if out.returncode != 0 or value not in ("yes", "no"):
        return None
    return value == "yes"


def _load_adjtimex() -> Any:
    for name in (None, ctypes.util.find_library("c")):  # None: symbols already in the process
        try:
            return ctypes.CDLL(name, use_errno=True).adjtimex
        except (OSError, AttributeError):
            continue
    return None


def _adjtimex_synchronized(adjtimex: Any) -> bool | None:
    tx = _Timex()
    tx.modes = 0  # read only
    state = int(adjtimex(ctypes.byref(tx)))
    if state < 0:
        return None
    return state != TIME_ERROR and not tx.status & STA_UNSYNC


# --------------------------------------------------------------------------- fake clock


class FakeClock:
    """A settable clock for tests, drills and demos.

    ``advance`` moves wall and monotonic time together (time passing);
    ``jump_wall`` steps only the wall clock (what NTP or an operator does);
    ``reboot`` starts a new boot id with the monotonic clock near zero.
    """

    def __init__(
        self,
        now_utc: datetime | None = None,
        *,
        monotonic_ns: int = 1_000_000_000,
        boot_id: str = "fake-boot-1",
        synchronized: bool | None = True,
    ) -> None:
        now = now_utc or datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
        if now.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = now.astimezone(UTC)
        self._mono = monotonic_ns
        self._boot_id = boot_id
        self.synchronized = synchronized

    def now_utc(self) -> datetime:
        return self._now

    def monotonic_ns(self) -> int:
        return self._mono

    def boot_id(self) -> str:
        return self._boot_id

    def os_synchronized(self) -> bool | None:
        return self.synchronized

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time passing cannot be negative; use jump_wall to step the clock")
        self._now += timedelta(seconds=seconds)
        self._mono += round(seconds * 1e9)

    def jump_wall(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def set_wall(self, now_utc: datetime) -> None:
        if now_utc.tzinfo is None:
            raise ValueError("set_wall needs an aware datetime")
        self._now = now_utc.astimezone(UTC)

    def reboot(self, boot_id: str, *, monotonic_ns: int = 1_000_000_000) -> None:
        self._boot_id = boot_id
        self._mono = monotonic_ns


# --------------------------------------------------------------------------- trust


@dataclass(frozen=True)
class ClockReading:
    """One simultaneous reading of both clocks; persist the last one across restarts."""

    boot_id: str
    wall_utc: datetime
    monotonic_ns: int

    @property
    def wall_minus_mono_ns(self) -> int:
        return _epoch_ns(self.wall_utc) - self.monotonic_ns


@dataclass(frozen=True)
class ClockJump:
    """A step of the wall clock seen between two readings of one boot.

    Punches taken with ``after.monotonic_ns <= monotonic_ns <= seen.monotonic_ns``
    (same boot id) happened around the step; the store may flag them suspect
    beside the record (never rewriting it).
    """

    after: ClockReading  # the last trusted reading before the step
    seen: ClockReading  # the reading that revealed it
    step_seconds: float  # positive: the wall clock moved forward


@dataclass(frozen=True)
class ServerOffset:
    """A correction measured against the server: ``true_utc = local_utc + offset_seconds``."""

    offset_seconds: float
    at_utc: datetime  # local wall time of the measurement
    boot_id: str
    monotonic_ns: int


@dataclass(frozen=True)
class ClockStamp:
    """Everything a punch records about its time, from one reading."""

    utc: datetime
    monotonic_ns: int
    boot_id: str
    state: ClockState
    jump: ClockJump | None = None  # set when this very reading revealed a jump


class ClockTrust:
    """Watches wall-minus-monotonic and decides the clock state of a punch.

    The rule: at every :meth:`observe` (the kiosk calls it every few seconds
    and :meth:`stamp` calls it for each punch) the wall clock must have moved
    like the monotonic clock since the previous reading of the same boot,
    within ``jump_tolerance_s`` plus ``max_slew_ppm`` of the elapsed time (NTP
    slewing). A larger difference is a *jump*: the reading that saw it and
    every punch for ``suspect_window_s`` of monotonic time after it are
    ``"suspect"``; punches between the last trusted reading and the jump are
    named by :class:`ClockJump` so the store can flag them too. After the
    window the state is ``"synced"`` if the OS reports NTP synchronisation
    (re-asked at most every ``os_check_interval_s``) or a server offset no
    larger than the tolerance was applied less than ``server_offset_max_age_s``
    ago, else ``"unsynced"``. The OS state is re-read by :meth:`observe` every
    ``os_check_interval_s`` (and by :meth:`stamp` only when nothing observed
    for twice that), because ``timedatectl`` takes tens of milliseconds.

    A server offset is only recorded (:meth:`apply_server_offset`), never
    used to rewrite times; :meth:`server_offset` returns the latest one.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        jump_tolerance_s: float = 2.0,
        suspect_window_s: float = 600.0,
        max_slew_ppm: float = 500.0,
        os_check_interval_s: float = 60.0,
        server_offset_max_age_s: float = 6 * 3600.0,
        baseline: ClockReading | None = None,
    ) -> None:
        if jump_tolerance_s <= 0 or suspect_window_s < 0:
            raise ValueError("jump_tolerance_s must be > 0 and suspect_window_s >= 0")
        self.clock = clock
        self.jump_tolerance_s = jump_tolerance_s
        self.suspect_window_ns = round(suspect_window_s * 1e9)
        self.max_slew = max_slew_ppm / 1e6
        self.os_check_interval_ns = round(os_check_interval_s * 1e9)
        self.server_offset_max_age_ns = round(server_offset_max_age_s * 1e9)
        self._last: ClockReading | None = baseline
        self._suspect_until: tuple[str, int] | None = None  # (boot id, monotonic ns)
        self._jumps: list[ClockJump] = []
        self._offsets: list[ServerOffset] = []
        self._os_state: bool | None = None
        self._os_checked_at: tuple[str, int] | None = None
        self._lock = threading.Lock()  # the kiosk observes on a timer while punches stamp

    # ------------------------------------------------------------------ readings

    def read(self) -> ClockReading:
        # Two separate reads: a preemption between them is tiny against the
        # tolerance, which is in seconds.
        mono = self.clock.monotonic_ns()
        wall = self.clock.now_utc()
        return ClockReading(self.clock.boot_id(), wall, mono)

    def observe(self) -> ClockJump | None:
        """Take a reading, compare it with the previous one; return a jump if one is seen.

        Also re-asks the OS for its NTP state every ``os_check_interval_s``
        (outside the lock, so a punch never waits for ``timedatectl``).
        """
        with self._lock:
            reading = self.read()
            jump = self._compare(reading)
            stale = self._os_stale(reading, 1)
        if stale:
            state = self._ask_os()
            with self._lock:
                self._os_state = state
                self._os_checked_at = (reading.boot_id, reading.monotonic_ns)
        return jump

    def _compare(self, reading: ClockReading) -> ClockJump | None:
        last, self._last = self._last, reading
        if last is None or last.boot_id != reading.boot_id:
            return None
        elapsed_ns = reading.monotonic_ns - last.monotonic_ns
        if elapsed_ns < 0:
            return None  # not the same monotonic timeline after all
        step_ns = reading.wall_minus_mono_ns - last.wall_minus_mono_ns
        allowed_ns = self.jump_tolerance_s * 1e9 + self.max_slew * elapsed_ns
        if abs(step_ns) <= allowed_ns:
            return None
        jump = ClockJump(after=last, seen=reading, step_seconds=step_ns / 1e9)
        self._jumps.append(jump)
        self._suspect_until = (reading.boot_id, reading.monotonic_ns + self.suspect_window_ns)
        log.warning(
            "wall clock stepped %+.3f s against the monotonic clock; punches until %.0f s "
            "from now are marked suspect",
            jump.step_seconds,
            self.suspect_window_ns / 1e9,
        )
        return jump

    def last_reading(self) -> ClockReading | None:
        """The latest reading; persist it so a restart in the same boot can still see a jump."""
        return self._last

    def jumps(self) -> tuple[ClockJump, ...]:
        return tuple(self._jumps)

    # ------------------------------------------------------------------ server

    def apply_server_offset(
        self, offset_seconds: float, at: datetime | None = None
    ) -> ServerOffset:
        """Record the server's correction (``server_utc - local_utc``) measured at ``at``.

        Nothing is rewritten. The offset counts towards ``"synced"`` while it is
        recent and within the jump tolerance; a larger offset means our clock
        is wrong and keeps the state ``"unsynced"`` until the OS corrects it.
        """
        if at is not None and at.tzinfo is None:
            raise ValueError("apply_server_offset needs an aware datetime")
        with self._lock:
            reading = self.read()
            when = at if at is not None else reading.wall_utc
            record = ServerOffset(
                float(offset_seconds), when.astimezone(UTC), reading.boot_id, reading.monotonic_ns
            )
            self._offsets.append(record)
        if abs(offset_seconds) > self.jump_tolerance_s:
            log.warning("server says the local clock is off by %+.3f s", offset_seconds)
        return record

    def server_offset(self) -> ServerOffset | None:
        return self._offsets[-1] if self._offsets else None

    def server_offsets(self) -> tuple[ServerOffset, ...]:
        return tuple(self._offsets)

    # ------------------------------------------------------------------ state

    def stamp(self) -> ClockStamp:
        """One reading for a punch: its UTC, monotonic time, boot id and clock state."""
        with self._lock:
            reading = self.read()
            jump = self._compare(reading)
            state = self._state(reading)
        return ClockStamp(reading.wall_utc, reading.monotonic_ns, reading.boot_id, state, jump)

    def state_for_punch(self) -> ClockState:
        return self.stamp().state

    def _state(self, reading: ClockReading) -> ClockState:
        if self._suspect_until is not None:
            boot, until = self._suspect_until
            if boot == reading.boot_id and reading.monotonic_ns <= until:
                return "suspect"
        if self._os_synchronized(reading):
            return "synced"
        offset = self.server_offset()
        if (
            offset is not None
            and offset.boot_id == reading.boot_id
            and 0 <= reading.monotonic_ns - offset.monotonic_ns <= self.server_offset_max_age_ns
            and abs(offset.offset_seconds) <= self.jump_tolerance_s
        ):
            return "synced"
        return "unsynced"

    def _os_synchronized(self, reading: ClockReading) -> bool:
        # A punch re-asks the OS only when no observe() did for two intervals.
        if self._os_stale(reading, 2):
            self._os_state = self._ask_os()
            self._os_checked_at = (reading.boot_id, reading.monotonic_ns)
        return self._os_state is True

    def _os_stale(self, reading: ClockReading, intervals: int) -> bool:
        checked = self._os_checked_at
        return (
            checked is None
            or checked[0] != reading.boot_id
            or not 0 <= reading.monotonic_ns - checked[1] < intervals * self.os_check_interval_ns
        )

    def _ask_os(self) -> bool | None:
        try:
            return self.clock.os_synchronized()
        except OSError as exc:
            log.warning("cannot read the OS clock synchronisation state: %s", exc)
            return None


def _epoch_ns(dt: datetime) -> int:
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
