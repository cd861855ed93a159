"""The kiosk's store and sync ports implemented over ``attendance/`` and ``sync/``.

Every method here is called off the UI thread (by the task runner). The
store is thread-safe (each call opens its own transaction); the gallery is
rebuilt from the encrypted templates and swapped atomically after an
enrollment or an erasure.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

import numpy as np

from attendance.admin import AdminGuard, PinHashError
from attendance.clock import Clock, SystemClock
from attendance.config import AdminSection
from attendance.hostinfo import cpu_temperature_c, uptime_seconds
from kiosk.engine import CapturedSample
from kiosk.ports import (
    AdminCheck,
    DeviceInfo,
    PinLockedError,
    PinRejectedError,
    PunchOutcome,
    SyncInfo,
)
from kiosk.state import PersonRow, SyncMode
from recognition.gallery import MODEL_NAME, MODEL_VERSION, Gallery, GalleryHolder

if TYPE_CHECKING:
    from attendance.clock import ClockTrust
    from attendance.recorder import PunchRecorder, RecordResult
    from attendance.store import Store
    from sync.worker import SyncWorker

log = logging.getLogger(__name__)

ADMIN_ACTOR = "kiosk-admin"
# Audit actor of NIP + PIN attempts at the keypad (whoever stands there).
PIN_ACTOR = "kiosk-keypad"
# Longest lockout of one employee's PIN punches.
PIN_MAX_LOCKOUT_SECONDS = 900.0
EXPORT_FROM = date(2000, 1, 1)


def kiosk_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hadir")
    except PackageNotFoundError:
        return "0.1.0"


class GalleryLoader:
    """Builds the gallery of this kiosk's scope from the template store and swaps it in."""

    def __init__(
        self,
        store: Store,
        holder: GalleryHolder,
        opd_code: str | None,
        *,
        mean_templates: bool = False,
        model: tuple[str, str] = (MODEL_NAME, MODEL_VERSION),
    ) -> None:
        self.store = store
        self.holder = holder
        self.opd_code = opd_code
        self.mean_templates = mean_templates
        # Only templates of the engine's model (name, version) are matched.
        self.model_name, self.model_version = model
        self._lock = threading.Lock()

    def reload(self) -> int:
        with self._lock:
            rows = self.store.templates.all_for_scope(
                self.opd_code, self.model_name, self.model_version
            )
            if rows:
                persons = [nip for nip, _, _ in rows]
                ids = [tid for _, tid, _ in rows]
                matrix = np.stack([vec for _, _, vec in rows]).astype(np.float32)
                gallery = Gallery.from_arrays(
                    persons,
                    matrix,
                    ids,
                    self.model_name,
                    self.model_version,
                    mean_templates=self.mean_templates,
                )
            else:
                gallery = Gallery.empty(self.model_name, self.model_version)
            self.holder.swap(gallery)
        log.info("gallery loaded: %d templates", len(rows))
        return len(rows)

    def reload_quietly(self) -> None:
        """:meth:`reload` for callbacks that expect no result (sync's roster hook)."""
        self.reload()


class StorePunches:
    """:class:`kiosk.ports.PunchService` over the real recorder."""

    def __init__(
        self,
        store: Store,
        recorder: PunchRecorder,
        language: str,
        *,
        lockout: AdminSection | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.language = language
        # Wrong PINs per NIP before that NIP's PIN punches are locked: the
        # [admin] schedule, capped at 15 minutes, because anyone at the keypad
        # can lock a colleague's PIN (face and fingerprint still work).
        section = lockout or AdminSection()
        self.lockout = section.model_copy(
            update={
                "max_lockout_seconds": min(section.max_lockout_seconds, PIN_MAX_LOCKOUT_SECONDS)
            }
        )
        self.clock = clock or SystemClock()
        self._pin_lock = threading.Lock()  # one check's read-modify-write at a time

    def _outcome(self, r: RecordResult, verify_mode: str) -> PunchOutcome:
        from attendance.rules import describe

        direction: Literal["masuk", "pulang"] | None = (
            "masuk" if r.direction == "masuk" else "pulang" if r.direction == "pulang" else None
        )
        return PunchOutcome(
            kind=r.kind,
            nip=r.nip,
            name=r.name,
            local_time=r.at_utc,
            direction=direction,
            lateness_text="" if r.kind == "duplicate" else describe(r.decision, self.language),
            verify_mode=verify_mode,
        )

    def record_face(
        self,
        nip: str,
        distance: float | None,
        margin: float | None,
        liveness: str | None,
        snapshot_jpeg: bytes | None,
    ) -> PunchOutcome:
        result = self.recorder.record(
            nip, "face", distance=distance, margin=margin, liveness=liveness,
            snapshot_jpeg=snapshot_jpeg,
        )  # fmt: skip
        log.info("face punch %s (%s)", result.kind, result.punch_id or "duplicate")
        return self._outcome(result, "face")

    def record_fingerprint(self, nip: str, score: int, snapshot_jpeg: bytes | None) -> PunchOutcome:
        # The module's match score goes where a face punch keeps its distance.
        result = self.recorder.record(
            nip, "fingerprint", distance=float(score), snapshot_jpeg=snapshot_jpeg
        )
        log.info("fingerprint punch %s (%s)", result.kind, result.punch_id or "duplicate")
        return self._outcome(result, "fingerprint")

    def record_pin(self, nip: str, pin: str, snapshot_jpeg: bytes | None) -> PunchOutcome:
        guard = AdminGuard(
            self.store.pin_attempts(nip), self.clock, self.lockout, "PIN of one employee"
        )
        with self._pin_lock:
            was_locked = guard.status().outcome == "locked"
            try:
                check = guard.check(pin)
            except PinHashError:
                log.error("stored PIN hash of one employee is malformed; PIN refused")
                raise PinRejectedError("unknown NIP or wrong PIN") from None
        if check.outcome == "locked":
            seconds = round(check.retry_after_seconds)
            if was_locked:  # refused without looking at the PIN
                self.store.audit.record(PIN_ACTOR, "pin_locked", nip, f"retry_after={seconds}s")
            else:  # this wrong PIN started the lockout
                self.store.audit.record(PIN_ACTOR, "pin_wrong", nip, f"lockout={seconds}s")
            raise PinLockedError(check.retry_after_seconds)
        if not check.ok:
            if check.outcome == "wrong":  # an enrolled NIP: someone tried its PIN
                self.store.audit.record(
                    PIN_ACTOR, "pin_wrong", nip, f"attempts_left={check.attempts_left}"
                )
            raise PinRejectedError("unknown NIP or wrong PIN")
        result = self.recorder.record(nip, "pin", snapshot_jpeg=snapshot_jpeg)
        log.info("PIN punch %s (%s)", result.kind, result.punch_id or "duplicate")
        return self._outcome(result, "pin")


class StoreAdmin:
    """:class:`kiosk.ports.AdminService`: admin PIN, roster search, erase, export, device page."""

    def __init__(
        self,
        store: Store,
        guard: AdminGuard,
        gallery: GalleryLoader,
        tz: ZoneInfo,
        trust: ClockTrust,
        camera_ok: Callable[[], bool],
        sync_info: Callable[[], SyncInfo | None],
        server: str,
    ) -> None:
        self.store = store
        self.guard = guard
        self.gallery = gallery
        self.tz = tz
        self.trust = trust
        self.camera_ok = camera_ok
        self.sync_info = sync_info
        self.server = server
        # Set by the composition root when a fingerprint sensor is attached:
        # deletes an erased person's slots on the module.
        self.on_fingerprint_erased: Callable[[tuple[int, ...]], None] | None = None
        # Set by the composition root: (server URL, enrollment code) -> OPD code.
        self.registrar: Callable[[str, str], str] | None = None
        self._pin_lock = threading.Lock()  # the guard's read-modify-write must not interleave

    def check_pin(self, pin: str) -> AdminCheck:
        with self._pin_lock:
            check = self.guard.check(pin)
            self.store.audit.record(ADMIN_ACTOR, "admin_login", detail=check.outcome)
        return AdminCheck(
            ok=check.ok,
            attempts_left=check.attempts_left,
            locked_seconds=check.retry_after_seconds,
            not_set=check.outcome == "not_set",
        )

    def register(self, server_url: str, code: str) -> str:
        """Register with the central server (the device page); returns the OPD code."""
        if self.registrar is None:
            raise RuntimeError("registration is not available on this kiosk")
        return self.registrar(server_url, code)

    def set_first_pin(self, pin: str) -> None:
        """First start at the touch screen: only while no admin PIN is set."""
        with self._pin_lock:
            if self.guard.is_set():
                raise PermissionError("an admin PIN is already set on this kiosk")
            self.guard.set_pin(pin)  # PinFormatError (a ValueError) names what is wrong
            self.store.audit.record(ADMIN_ACTOR, "set_admin_pin", detail="first start")

    def search(self, query: str) -> list[PersonRow]:
        people = self.store.employees.search(query, limit=50)
        counts = self.store.templates.counts()
        rows: list[PersonRow] = []
        for p in people:
            count = counts.get(p.nip, 0)
            enrolled = ""
            if count:
                infos = self.store.templates.info(p.nip)
                if infos:
                    enrolled = _local_date(infos[0].created_at, self.tz)
            rows.append(PersonRow(p.nip, p.name, p.unit or p.opd_code, count, enrolled))
        return rows

    def name_of(self, nip: str) -> str:
        emp = self.store.employees.get(nip)
        return emp.name if emp is not None else nip

    def erase(self, nip: str) -> None:
        result = self.store.erase_person(nip, actor=ADMIN_ACTOR)
        log.info(
            "erased biometric data of one person: %d templates, %d snapshots, %d fingers",
            result.templates_deleted,
            result.snapshots_deleted,
            len(result.fingerprint_slots),
        )
        if result.fingerprint_slots and self.on_fingerprint_erased is not None:
            self.on_fingerprint_erased(result.fingerprint_slots)
        self.gallery.reload()

    def save_templates(self, nip: str, samples: list[CapturedSample]) -> int:
        for s in samples:
            self.store.templates.add(
                nip,
                s.vector,
                self.gallery.model_name,
                self.gallery.model_version,
                quality=s.quality,
                source="kiosk",
            )
        self.store.audit.record(ADMIN_ACTOR, "enroll", target=nip, detail=f"{len(samples)} samples")
        self.gallery.reload()
        return len(samples)

    def export_csv(self, path: Path) -> int:
        from attendance.export import export_csv

        if not path.parent.is_dir():
            raise FileNotFoundError(f"folder {path.parent} does not exist (is the USB stick in?)")
        today = datetime.now(self.tz).date()
        count = export_csv(self.store.db, path, EXPORT_FROM, today, self.tz)
        self.store.audit.record(ADMIN_ACTOR, "export_csv", target=str(path), detail=str(count))
        return count

    def device_info(self) -> DeviceInfo:
        sync = self.sync_info()
        pending = sync.pending if sync is not None else self.store.outbox.pending_count()
        return DeviceInfo(
            camera_ok=self.camera_ok(),
            clock_state=self.trust.state_for_punch(),
            queue=pending,
            last_sync=sync.last_success if sync is not None else None,
            last_error=sync.last_error if sync is not None else "",
            server=self.server,
            disk_free_bytes=shutil.disk_usage(self.store.data_dir).free,
            version=kiosk_version(),
            temperature_c=cpu_temperature_c(),
            uptime_seconds=uptime_seconds(),
        )


def _local_date(utc_text: str, tz: ZoneInfo) -> str:
    try:
        when = datetime.fromisoformat(utc_text.replace("Z", "+00:00"))
    except ValueError:
        return utc_text[:10]
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(tz).strftime("%d-%m-%Y")


class WorkerSync:
    """:class:`kiosk.ports.SyncService` over :class:`sync.worker.SyncWorker`."""

    def __init__(self, worker: SyncWorker, server: str) -> None:
        self.worker = worker
        self.server = server
        self.last: SyncInfo | None = None

    def status(self) -> SyncInfo:
        st = self.worker.status()
        last_success = (
            datetime.fromisoformat(st.last_success_utc.replace("Z", "+00:00"))
            if st.last_success_utc
            else None
        )
        mode: SyncMode
        if st.state in ("offline", "unregistered", "disabled"):
            mode = st.state
        elif st.state == "online" or last_success is not None:
            mode = "online"
        else:
            mode = "offline"
        info = SyncInfo(
            mode=mode,
            pending=st.pending,
            last_success=last_success,
            last_error=st.last_error or "",
            server=self.server,
        )
        self.last = info
        return info

    def sync_now(self) -> None:
        self.worker.sync_now()
