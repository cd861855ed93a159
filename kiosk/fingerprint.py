"""Fingerprint punches at the kiosk: enrollment into a module slot, and a watcher.

The module matches on its own (``recognition.fingerprint``); this kiosk maps
slots to NIPs (``attendance.fingerprints``). :class:`FingerprintWatcher` polls
the sensor on its own thread and reports a matched NIP through a callback
(the kiosk passes one that posts to the Qt main thread). No Qt here.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from attendance.fingerprints import FingerprintSlots
from attendance.store import AuditLog
from recognition.fingerprint import (
    ENROLL_WAIT_SECONDS,
    EnrollStep,
    FingerprintError,
    FingerprintModule,
    ModuleRefusedError,
)

log = logging.getLogger(__name__)


class FingerAlreadyEnrolledError(FingerprintError):
    """The finger matches one already in the module's library (``nip`` None: a
    slot this kiosk has no NIP for)."""

    def __init__(self, slot: int, nip: str | None) -> None:
        self.slot = slot
        self.nip = nip
        owner = f"NIP {nip}" if nip else "no employee known to this kiosk"
        super().__init__(f"this finger is already enrolled in slot {slot} ({owner})")


def enroll_finger(
    module: FingerprintModule,
    slots: FingerprintSlots,
    audit: AuditLog,
    nip: str,
    actor: str,
    wait_seconds: float = ENROLL_WAIT_SECONDS,
    *,
    on_step: Callable[[EnrollStep], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> int:
    """Enroll one finger of ``nip`` into the lowest free slot; returns the slot.

    A finger already in the library (this person's or anyone's) is refused
    with :class:`FingerAlreadyEnrolledError`: one finger enrolled under two NIPs
    would let one person punch for another. If the module fails, the slot is
    released again and the error raised.
    """

    def refuse_known_finger() -> None:
        hit = module.search(1, 0, slots.capacity)
        if hit is not None:
            raise FingerAlreadyEnrolledError(hit.slot, slots.nip_of(hit.slot))

    module.verify_password()
    slot = slots.reserve(nip)
    try:
        module.enroll(
            slot,
            wait_seconds,
            on_step=on_step,
            check_first=refuse_known_finger,
            cancelled=cancelled,
        )
    except BaseException:
        # The module may have stored the template before the failure (a lost
        # reply): clear the slot too, or the finger would stay there unnamed.
        with contextlib.suppress(FingerprintError):
            module.delete(slot)
        slots.release_slot(slot)
        raise
    audit.record(actor, "enroll_fingerprint", nip, f"slot={slot}")
    log.info("fingerprint enrolled in slot %d", slot)
    return slot


class FingerprintWatcher:
    """Polls the sensor; ``on_match(nip, score)`` for a finger in the library.

    A finger that matches no slot, or a slot this kiosk does not know, calls
    ``on_unknown()``. The same finger left on the sensor is reported once
    until it is lifted. A module error is reported through ``on_error`` once
    (not again until the sensor has answered in between) and polling goes on
    after ``error_pause`` seconds, so a sensor unplugged and plugged back in
    recovers without a restart. :meth:`enroll` borrows the module from the
    polling loop for the admin screen's enrollment.
    """

    def __init__(
        self,
        module: FingerprintModule,
        slots: FingerprintSlots,
        on_match: Callable[[str, int], None],
        on_unknown: Callable[[], None],
        on_error: Callable[[str], None],
        *,
        poll_seconds: float = 0.15,
        error_pause: float = 2.0,
    ) -> None:
        self.module = module
        self.slots = slots
        self.on_match = on_match
        self.on_unknown = on_unknown
        self.on_error = on_error
        self.poll_seconds = poll_seconds
        self.error_pause = error_pause
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._finger_down = False
        self._failing = False
        self._to_delete: list[int] = []
        self._delete_lock = threading.Lock()
        # Held by each look at the sensor and for a whole enrollment.
        self._module_lock = threading.Lock()

    def delete_slots(self, slots: tuple[int, ...] | list[int]) -> None:
        """Any thread: delete these slots on the module (an erased person's
        fingers). Done by the watcher's thread before its next look; kept and
        retried while the module fails."""
        with self._delete_lock:
            self._to_delete.extend(slots)

    def _delete_pending(self) -> None:
        with self._delete_lock:
            pending, self._to_delete = self._to_delete, []
        try:
            while pending:
                self.module.delete(pending[0])
                log.info("fingerprint slot %d deleted on the module", pending[0])
                pending.pop(0)
        finally:
            if pending:
                with self._delete_lock:
                    self._to_delete[:0] = pending

    def enroll(
        self,
        nip: str,
        audit: AuditLog,
        actor: str,
        on_step: Callable[[EnrollStep], None],
        cancelled: Callable[[], bool],
    ) -> int:
        """Blocking, from a worker thread: enroll a finger of ``nip`` (see
        :func:`enroll_finger`) while the punch polling waits. Stops with
        ``EnrollmentCancelledError`` when ``cancelled()`` or the watcher stops."""
        with self._module_lock:
            # An erased person's slot may be handed out again at once: its old
            # template must be gone from the module before a new one is stored.
            self._delete_pending()
            try:
                return enroll_finger(
                    self.module,
                    self.slots,
                    audit,
                    nip,
                    actor,
                    on_step=on_step,
                    cancelled=lambda: cancelled() or self._stop.is_set(),
                )
            finally:
                # The enrolled finger may still be on the sensor: not a punch.
                self._finger_down = True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fingerprint", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def poll_once(self) -> None:
        """One look at the sensor (the thread's loop body; also for tests)."""
        self._delete_pending()
        if not self.module.capture():
            self._finger_down = False
            return
        if self._finger_down:
            return  # still the same touch
        self._finger_down = True
        try:
            self.module.image_to_buffer(1)
        except ModuleRefusedError:  # a smudged or partial print: touch again
            self.on_unknown()
            return
        hit = self.module.search(1, 0, self.slots.capacity)
        nip = self.slots.nip_of(hit.slot) if hit is not None else None
        if hit is None or nip is None:
            self.on_unknown()
        else:
            self.on_match(nip, hit.score)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._module_lock.acquire(timeout=self.poll_seconds):
                    continue  # an enrollment has the module
                try:
                    self.poll_once()
                finally:
                    self._module_lock.release()
                if self._failing:
                    log.info("fingerprint sensor answers again")
                self._failing = False
                pause = self.poll_seconds
            except FingerprintError as exc:
                self._failed(str(exc))
                pause = self.error_pause
            except Exception as exc:  # surfaced, and the loop goes on
                log.exception("fingerprint watcher failed")
                self._failed(f"{type(exc).__name__}: {exc}")
                pause = self.error_pause
            self._stop.wait(pause)

    def _failed(self, reason: str) -> None:
        self._finger_down = False
        if not self._failing:
            log.warning("fingerprint sensor: %s", reason)
            self.on_error(reason)
        self._failing = True
