"""Periodic jobs of a running kiosk: clock watch and snapshot purge.

A small thread (never the UI thread) that
- takes a clock reading every ``observe_seconds`` so a jump of the wall clock
  against the monotonic clock is seen even between punches, and records a
  ``suspect`` correction beside the punches around it (nothing is rewritten);
- applies the snapshot retention and disk cap at start and every
  ``purge_seconds``.
A failing job is logged with its traceback and tried again next time; it
never stops the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from attendance.clock import ClockJump, ClockTrust

log = logging.getLogger(__name__)


@dataclass
class HousekeepingStats:
    observations: int = 0
    jumps: int = 0
    punches_flagged: int = 0
    purges: int = 0
    snapshots_purged: int = 0
    failures: int = 0
    last_error: str | None = None


class Housekeeping:
    def __init__(
        self,
        trust: ClockTrust,
        flag_clock_jump: Callable[[ClockJump], int],
        purge_snapshots: Callable[[], object],
        *,
        observe_seconds: float = 5.0,
        purge_seconds: float = 86_400.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._trust = trust
        self._flag = flag_clock_jump
        self._purge = purge_snapshots
        self._observe_every = observe_seconds
        self._purge_every = purge_seconds
        self._monotonic = monotonic
        self._next_purge: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = HousekeepingStats()

    def run_once(self) -> None:
        """One round: a clock reading, and the purge when it is due."""
        try:
            jump = self._trust.observe()
            self.stats.observations += 1
            if jump is not None:
                self.stats.jumps += 1
                flagged = self._flag(jump)
                self.stats.punches_flagged += flagged
                log.warning("wall clock jumped; %d punch(es) flagged suspect", flagged)
        except Exception as exc:  # surfaced in stats and the log, retried next round
            self._failed("clock watch", exc)
        now = self._monotonic()
        if self._next_purge is None or now >= self._next_purge:
            self._next_purge = now + self._purge_every
            try:
                result = self._purge()
                self.stats.purges += 1
                self.stats.snapshots_purged += int(getattr(result, "files_deleted", 0) or 0)
            except Exception as exc:
                self._failed("snapshot purge", exc)

    def _failed(self, job: str, exc: Exception) -> None:
        self.stats.failures += 1
        self.stats.last_error = f"{job}: {exc}"
        log.exception("housekeeping %s failed; will retry", job)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="housekeeping", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self._observe_every)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
