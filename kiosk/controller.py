"""The kiosk's behaviour, without Qt.

:class:`KioskController` owns the view state of every screen and changes it
in response to frame analyses (from the recognition worker), results of slow
tasks (recording a punch, checking the admin PIN, saving an enrollment) and
touches. Everything here runs on the UI thread and never blocks: slow work is
handed to the injected :class:`~kiosk.ports.Runner`, whose callbacks come
back on the UI thread. Time is injected (a wall clock and a monotonic clock)
so tests are deterministic.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from attendance.hostinfo import format_uptime
from kiosk.fingerprint import FingerAlreadyEnrolledError
from kiosk.i18n import Catalogue
from kiosk.ports import (
    AdminCheck,
    AdminService,
    DeviceInfo,
    EnrollmentService,
    EnrollmentSession,
    EnrollProgress,
    FingerEnroller,
    Frame,
    FrameAnalysis,
    PinLockedError,
    PinRejectedError,
    PunchOutcome,
    PunchService,
    Recognizer,
    Runner,
    SyncInfo,
    SyncService,
)
from kiosk.setup import first_pin_step
from kiosk.state import (
    AdminMenuState,
    AttendanceState,
    DeviceState,
    EnrollState,
    EnrollStep,
    FaceBox,
    GuidanceKind,
    KeypadState,
    PeopleState,
    PersonRow,
    ResultState,
    Screen,
    SyncIndicator,
    format_clock,
    format_date,
    format_time,
    group_nip,
    mask_pin,
)

log = logging.getLogger(__name__)

NIP_LENGTH = 18
PIN_MIN, PIN_MAX = 4, 12
ADMIN_IDLE_SECONDS = 120.0
SYNC_POLL_SECONDS = 2.0
NOTICE_SECONDS = 3.0
# A face snapshot older than this is not attached to a fingerprint punch.
FINGER_SNAPSHOT_SECONDS = 2.0

Processor = Callable[[Frame, float], object]
KeypadPurpose = Literal["punch_nip", "punch_pin", "admin", "admin_new"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class KioskController:
    """State machine of the kiosk screens (UI thread only)."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        opd_name: str,
        timezone: ZoneInfo,
        recognizer: Recognizer,
        punches: PunchService,
        admin: AdminService,
        enrollment: EnrollmentService,
        sync: SyncService | None,
        runner: Runner,
        monotonic: Callable[[], float],
        wall_clock: Callable[[], datetime] = _utc_now,
        result_seconds: float = 4.0,
        admin_idle_seconds: float = ADMIN_IDLE_SECONDS,
        on_success: Callable[[], None] | None = None,
        on_quit: Callable[[], None] | None = None,
    ) -> None:
        self.cat = catalogue
        self.opd_name = opd_name
        self.tz = timezone
        self.recognizer = recognizer
        self.punches = punches
        self.admin = admin
        self.enrollment = enrollment
        self.sync = sync
        self.run = runner
        self.monotonic = monotonic
        self.wall_clock = wall_clock
        self.result_seconds = result_seconds
        self.admin_idle_seconds = admin_idle_seconds
        self.on_success = on_success
        self.on_quit = on_quit
        self._listeners: list[Callable[[], None]] = []

        self.screen: Screen = "attendance"
        self.generation = 0  # bumped whenever the frame processor changes
        self._busy = False
        self._result_until: float | None = None
        self._last_snapshot: bytes | None = None
        self._last_snapshot_at = -math.inf
        self._camera_ok = True
        self._notice: tuple[str, GuidanceKind, float] | None = None
        self._sync_info = SyncInfo(mode="disabled", pending=0)
        self._sync_polling = False
        self._next_sync_poll = 0.0
        self._keypad_purpose: KeypadPurpose = "punch_nip"
        self._first_pin: str | None = None  # first start: the new admin PIN typed once
        self._digits = ""
        self._pin_nip = ""
        self._pin_suggested = False  # _pin_nip came from a borderline face
        self._admin_active_until = 0.0
        self._session: EnrollmentSession | None = None
        # Set through attach_finger_enroller when a fingerprint sensor is attached.
        self.finger_enroller: FingerEnroller | None = None
        # The running finger enrollment (set = cancelled), and the step a
        # worker thread last reported with the job it belongs to (one
        # assignment, read by tick(): a cancelled job's late step is ignored).
        self._finger_job: threading.Event | None = None
        self._finger_step: tuple[threading.Event | None, str] = (None, "")
        self._retry_finger = False  # "retry" redoes the finger, not the face

        now = self._local_now()
        self.attendance = AttendanceState(
            guidance_code="ready",
            guidance_text=self.cat.text("ready"),
            guidance_kind="info",
            clock_text=format_clock(now),
            date_text=format_date(now, self.cat),
            opd_name=opd_name,
            sync=self._sync_indicator(),
            pin_button_text=self.cat.text("pin.button"),
        )
        self.keypad = self._keypad_state("")
        self.admin_menu = AdminMenuState(
            title=self.cat.text("admin.title"),
            items=tuple(
                (key, self.cat.text(f"admin.menu.{key}"))
                for key in ("enroll", "people", "device", "exit")
            ),
        )
        self.enroll = EnrollState(step="search", title=self.cat.text("enroll.search"))
        self.people = PeopleState()
        self.device = DeviceState()

    # ----------------------------------------------------------------- plumbing
    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    def _local_now(self) -> datetime:
        return self.wall_clock().astimezone(self.tz)

    def frame_processor(self) -> Processor | None:
        """What the frame worker should do with the newest frame right now."""
        if self.screen == "attendance" and not self._busy and self._result_until is None:
            return self.recognizer.analyse
        capturing = self.screen == "enroll" and self.enroll.step == "capture"
        wants_more = self.enroll.done < self.enroll.total or self.enroll.total == 0
        if capturing and wants_more and self._session is not None:
            return self._session.feed
        return None

    def _bump(self) -> None:
        self.generation += 1

    def _task_failed(self, what: str) -> Callable[[BaseException], None]:
        def fail(exc: BaseException) -> None:
            log.error("%s failed: %s: %s", what, type(exc).__name__, exc)

        return fail

    # -------------------------------------------------------------------- time
    def tick(self) -> None:
        """Called by a UI timer a few times a second."""
        mono = self.monotonic()
        now = self._local_now()
        changed = False
        clock = format_clock(now)
        if clock != self.attendance.clock_text:
            self.attendance = replace(
                self.attendance, clock_text=clock, date_text=format_date(now, self.cat)
            )
            changed = True
        if self._result_until is not None and mono >= self._result_until:
            self._end_result()
            changed = True
        if self._notice is not None and mono >= self._notice[2]:
            self._notice = None
            self._set_guidance("ready", self.cat.text("ready"), "info")
            changed = True
        if self.screen != "attendance" and self.screen != "pin" and mono > self._admin_active_until:
            log.info("admin mode left after %.0f s without a touch", self.admin_idle_seconds)
            self._leave_admin()
            changed = True
        if self.screen == "pin" and mono > self._admin_active_until:
            self.show_attendance()
            changed = True
        if self._show_finger_step():
            changed = True
        if self.sync is not None and not self._sync_polling and mono >= self._next_sync_poll:
            self._poll_sync()
        if changed:
            self._changed()

    def _touch(self) -> None:
        self._admin_active_until = self.monotonic() + self.admin_idle_seconds

    # -------------------------------------------------------------------- sync
    def _poll_sync(self) -> None:
        sync = self.sync
        if sync is None:
            return
        self._sync_polling = True
        self.run(sync.status, self.on_sync_status, self._sync_poll_failed)

    def _sync_poll_failed(self, exc: BaseException) -> None:
        self._sync_polling = False
        self._next_sync_poll = self.monotonic() + SYNC_POLL_SECONDS
        log.warning("sync status unavailable: %s", exc)

    def on_sync_status(self, info: SyncInfo) -> None:
        self._sync_polling = False
        self._next_sync_poll = self.monotonic() + SYNC_POLL_SECONDS
        if info != self._sync_info:
            self._sync_info = info
            self.attendance = replace(self.attendance, sync=self._sync_indicator())
            self._changed()

    def _sync_indicator(self) -> SyncIndicator:
        info = self._sync_info
        label = self.cat.text(f"sync.{info.mode}")
        if info.pending:
            label = f"{label} · {self.cat.text('sync.pending', count=info.pending)}"
        return SyncIndicator(mode=info.mode, pending=info.pending, text=label)

    # ----------------------------------------------------------- camera/worker
    def on_camera(self, ok: bool) -> None:
        if ok == self._camera_ok:
            return
        self._camera_ok = ok
        if ok:
            self._set_guidance("ready", self.cat.text("ready"), "info")
        else:
            self._set_guidance("camera.lost", self.cat.text("camera.lost"), "error")
        self._changed()

    def on_worker_restarted(self) -> None:
        self._notice = (
            "worker.restarted",
            "error",
            self.monotonic() + NOTICE_SECONDS,
        )
        self._set_guidance("worker.restarted", self.cat.text("worker.restarted"), "error")
        self._changed()

    def _set_guidance(
        self, code: str, text: str, kind: GuidanceKind, box: FaceBox | None = None
    ) -> None:
        self.attendance = replace(
            self.attendance,
            guidance_code=code,
            guidance_text=text,
            guidance_kind=kind,
            face_box=box,
        )

    # ------------------------------------------------------------- attendance
    def on_frame_result(self, generation: int, result: object) -> None:
        """A frame worker result; stale ones (older generation) are dropped."""
        if generation != self.generation:
            return
        if isinstance(result, FrameAnalysis):
            self._on_analysis(result)
        elif isinstance(result, EnrollProgress):
            self._on_enroll_progress(result)

    def _on_analysis(self, a: FrameAnalysis) -> None:
        if not self._ready_for_punch():
            return
        if a.snapshot_jpeg is not None:
            self._last_snapshot = a.snapshot_jpeg
            self._last_snapshot_at = self.monotonic()
        if not self._camera_ok:
            return
        if self._notice is not None and a.guidance == "no_face":
            return
        if a.decision == "match" and a.nip:
            self._record_face(a)
        elif a.decision in ("review", "unknown"):
            self._show_result(
                ResultState(
                    kind="not_recognised",
                    title=self.cat.text("result.not_recognised"),
                    note=self.cat.text("result.not_recognised.sub"),
                    snapshot_jpeg=a.snapshot_jpeg,
                    offer_pin=True,
                    pin_nip=(a.candidate_nip or "") if a.decision == "review" else "",
                )
            )
        elif a.decision == "spoof":
            self._notice = ("challenge.failed", "warn", self.monotonic() + NOTICE_SECONDS)
            self._set_guidance("spoof", self.cat.text("challenge.failed"), "warn", a.box)
            self.recognizer.reset()
        elif a.challenge:
            self._set_guidance(
                f"challenge.{a.challenge}", self.cat.challenge(a.challenge), "challenge", a.box
            )
        elif a.guidance == "no_face":
            self._set_guidance("ready", self.cat.text("ready"), "info")
        elif a.guidance == "ok":
            self._set_guidance("ok", self.cat.text("guidance.hold_still"), "busy", a.box)
        else:
            self._set_guidance(a.guidance, self.cat.guidance(a.guidance), "warn", a.box)
        self._changed()

    def _ready_for_punch(self) -> bool:
        """The attendance screen is showing, with no punch or result under way."""
        return self.screen == "attendance" and not self._busy and self._result_until is None

    def _record_face(self, a: FrameAnalysis) -> None:
        self._busy = True
        self._bump()
        self._set_guidance("checking", self.cat.text("guidance.checking"), "busy", a.box)
        nip = a.nip or ""
        self.run(
            lambda: self.punches.record_face(
                nip, a.distance, a.margin, a.liveness, a.snapshot_jpeg
            ),
            lambda outcome: self._punch_done(outcome, a.snapshot_jpeg),
            self._punch_failed,
        )

    # ---------------------------------------------------------------- fingerprint
    def on_fingerprint(self, nip: str, score: int) -> None:
        """The sensor matched an enrolled finger (called on the UI thread)."""
        if not self._ready_for_punch():
            return
        self._busy = True
        self._bump()
        self._set_guidance("checking", self.cat.text("guidance.checking"), "busy")
        # The face in front of the camera as the finger touched, if one was seen
        # just now; an older snapshot may show the person before.
        fresh = self.monotonic() - self._last_snapshot_at <= FINGER_SNAPSHOT_SECONDS
        snapshot = self._last_snapshot if fresh else None
        self.run(
            lambda: self.punches.record_fingerprint(nip, score, snapshot),
            lambda outcome: self._punch_done(outcome, snapshot),
            self._punch_failed,
        )

    def on_fingerprint_unknown(self) -> None:
        """A finger the sensor does not know (or a poor print): PIN is offered."""
        if not self._ready_for_punch():
            return
        self._show_result(
            ResultState(
                kind="not_recognised",
                title=self.cat.text("result.finger_unknown"),
                note=self.cat.text("result.not_recognised.sub"),
                offer_pin=True,
            )
        )

    def on_fingerprint_error(self, reason: str) -> None:
        log.warning("fingerprint sensor unavailable: %s", reason)
        self._notice = ("finger.error", "warn", self.monotonic() + NOTICE_SECONDS)
        self._set_guidance("finger.error", self.cat.text("finger.error"), "warn")
        self._changed()

    def _punch_done(self, outcome: PunchOutcome, snapshot: bytes | None) -> None:
        self._busy = False
        self._show_result(self._result_from(outcome, snapshot))
        if outcome.kind == "recorded" and self.on_success is not None:
            self.on_success()

    def _punch_failed(self, exc: BaseException) -> None:
        log.error("recording a punch failed: %s: %s", type(exc).__name__, exc)
        self._busy = False
        self._show_result(
            ResultState(kind="error", title=self.cat.text("result.error", reason=str(exc)))
        )

    def _result_from(self, o: PunchOutcome, snapshot: bytes | None) -> ResultState:
        local = o.local_time.astimezone(self.tz)
        if o.kind == "duplicate":
            return ResultState(
                kind="duplicate",
                title=self.cat.text("result.duplicate", time=format_time(local)),
                name=o.name,
                nip=group_nip(o.nip),
                time_text=format_time(local),
                snapshot_jpeg=snapshot,
            )
        direction = self.cat.text(f"result.direction.{o.direction}") if o.direction else ""
        return ResultState(
            kind="success",
            title=self.cat.text("result.success"),
            name=o.name,
            nip=group_nip(o.nip),
            time_text=f"{format_time(local)} {self.cat.text('tz')}",
            direction_text=direction,
            lateness_text=o.lateness_text,
            note=self.cat.text("result.pin_snapshot") if o.verify_mode == "pin" else "",
            snapshot_jpeg=snapshot,
        )

    def _show_result(self, result: ResultState) -> None:
        self.screen = "attendance"
        self._bump()
        self._result_until = self.monotonic() + self.result_seconds
        self.attendance = replace(self.attendance, result=result, face_box=None)
        self._changed()

    def _end_result(self) -> None:
        self._result_until = None
        self.recognizer.reset()
        self._bump()
        self.attendance = replace(self.attendance, result=None)
        self._set_guidance("ready", self.cat.text("ready"), "info")

    def show_attendance(self) -> None:
        self.screen = "attendance"
        self._session = None
        if self._result_until is not None:
            self._end_result()
        self.recognizer.reset()
        self._bump()
        self._changed()

    # ---------------------------------------------------------------- keypads
    def open_pin(self) -> None:
        """The NIP + PIN fallback (from the ready screen or a 'not recognised' card).

        After a borderline face the keypad asks straight for the PIN of the
        nearest person (at 07:25 that saves typing 18 digits); back on an empty
        PIN asks for a NIP instead.
        """
        result = self.attendance.result
        suggested = result.pin_nip if result is not None else ""
        self._result_until = None
        self.attendance = replace(self.attendance, result=None)
        if suggested:
            self._pin_nip = suggested
            self._pin_suggested = True
            self._open_keypad("punch_pin")
        else:
            self._open_keypad("punch_nip")
        self.screen = "pin"
        self._bump()
        self._changed()

    def open_admin(self) -> None:
        self._open_keypad("admin")
        self.screen = "admin_pin"
        self._bump()
        self._changed()

    def _open_keypad(self, purpose: KeypadPurpose) -> None:
        self._keypad_purpose = purpose
        self._digits = ""
        self._touch()
        self.keypad = self._keypad_state("")

    def _keypad_state(self, error: str) -> KeypadState:
        purpose = self._keypad_purpose
        if purpose == "punch_nip":
            title, prompt = self.cat.text("pin.title"), self.cat.text("pin.enter_nip")
            shown, max_len = group_nip(self._digits), NIP_LENGTH
        elif purpose == "punch_pin":
            title = f"{self.cat.text('pin.title')} · {group_nip(self._pin_nip)}"
            prompt = self.cat.text("pin.enter_pin")
            shown, max_len = mask_pin(self._digits), PIN_MAX
        elif purpose == "admin_new":  # first start (kiosk/setup.py)
            title = self.cat.text("setup.title")
            prompt = self.cat.text(
                "setup.pin_new" if self._first_pin is None else "setup.pin_repeat"
            )
            shown, max_len = mask_pin(self._digits), PIN_MAX
        else:
            title, prompt = self.cat.text("admin.title"), self.cat.text("admin.enter_pin")
            shown, max_len = mask_pin(self._digits), PIN_MAX
        return KeypadState(
            title=title,
            prompt=prompt,
            shown=shown,
            error=error,
            ok_text=self.cat.text("key.ok"),
            back_text=self.cat.text("key.back"),
            cancel_text=self.cat.text("key.cancel"),
            max_len=max_len,
        )

    def keypad_key(self, key: str) -> None:
        """A keypad press: a digit, ``back``, ``ok`` or ``cancel``."""
        self._touch()
        max_len = self.keypad.max_len
        if key.isdigit() and len(key) == 1:
            if len(self._digits) < max_len:
                self._digits += key
            self.keypad = self._keypad_state("")
        elif key == "back" and not self._digits and self._keypad_purpose == "punch_pin":
            # Back to the NIP: empty after a suggestion (someone else's), else
            # the NIP typed, to correct it.
            self._digits = "" if self._pin_suggested else self._pin_nip
            self._pin_suggested = False
            self._keypad_purpose = "punch_nip"
            self.keypad = self._keypad_state("")
        elif key == "back":
            self._digits = self._digits[:-1]
            self.keypad = self._keypad_state("")
        elif key == "cancel":
            if self._keypad_purpose in ("admin", "admin_new"):
                self._leave_admin()
            else:
                self.show_attendance()
            return
        elif key == "ok":
            self._keypad_ok()
        else:
            raise ValueError(f"unknown keypad key {key!r}")
        self._changed()

    def _keypad_ok(self) -> None:
        purpose = self._keypad_purpose
        digits = self._digits
        if purpose == "punch_nip":
            if len(digits) != NIP_LENGTH:
                self.keypad = self._keypad_state(self.cat.text("pin.nip_invalid"))
                return
            self._pin_nip = digits
            self._pin_suggested = False
            self._keypad_purpose = "punch_pin"
            self._digits = ""
            self.keypad = self._keypad_state("")
        elif purpose == "punch_pin":
            if len(digits) < PIN_MIN:
                self.keypad = self._keypad_state(self.cat.text("pin.wrong"))
                return
            nip, snapshot = self._pin_nip, self._last_snapshot
            self._digits = ""
            self._busy = True
            self.run(
                lambda: self.punches.record_pin(nip, digits, snapshot),
                lambda outcome: self._punch_done(outcome, snapshot),
                self._pin_failed,
            )
        elif purpose == "admin_new":
            self._digits = ""
            outcome, self._first_pin = first_pin_step(self._first_pin, digits)
            if outcome == "set":
                self.run(
                    lambda: self.admin.set_first_pin(digits), self._first_pin_set, self._admin_error
                )
            else:
                self.keypad = self._keypad_state(
                    "" if outcome == "repeat" else self.cat.text(f"setup.pin_{outcome}")
                )
        else:
            self._digits = ""
            self.keypad = self._keypad_state("")
            self.run(lambda: self.admin.check_pin(digits), self._admin_checked, self._admin_error)

    def _first_pin_set(self, _: None) -> None:
        self._first_pin = None
        self.screen = "admin_menu"
        self._touch()
        self._changed()

    def _pin_failed(self, exc: BaseException) -> None:
        self._busy = False
        if isinstance(exc, PinLockedError):
            log.info("PIN punch refused: this NIP's PIN is locked")
            minutes = max(1, math.ceil(exc.retry_after_seconds / 60))
            self.keypad = self._keypad_state(self.cat.text("pin.locked", minutes=minutes))
            self._changed()
        elif isinstance(exc, PinRejectedError):
            log.info("PIN punch refused")
            self.keypad = self._keypad_state(self.cat.text("pin.wrong"))
            self._changed()
        else:
            self._punch_failed(exc)

    def _admin_checked(self, check: AdminCheck) -> None:
        if check.ok:
            self.screen = "admin_menu"
            self._touch()
        elif check.not_set:  # first start: the admin PIN is made here, typed twice
            self._keypad_purpose, self._first_pin = "admin_new", None
            self.keypad = self._keypad_state(self.cat.text("admin.not_set"))
        elif check.locked_seconds > 0:
            seconds = max(1, round(check.locked_seconds))
            self.keypad = self._keypad_state(self.cat.text("admin.locked", seconds=seconds))
        else:
            self.keypad = self._keypad_state(
                self.cat.text("admin.wrong_pin", left=check.attempts_left)
            )
        self._changed()

    def _admin_error(self, exc: BaseException) -> None:
        log.error("admin PIN check failed: %s", exc)
        self.keypad = self._keypad_state(self.cat.text("result.error", reason=str(exc)))
        self._changed()

    # ------------------------------------------------------------------ admin
    def _leave_admin(self) -> None:
        self._session = None
        self._cancel_finger()
        self.show_attendance()

    def admin_select(self, item: str) -> None:
        self._touch()
        self._cancel_finger()
        if item == "enroll":
            self.enroll = EnrollState(step="search", title=self.cat.text("enroll.search"))
            self.screen = "enroll"
            self.enroll_search("")
        elif item == "people":
            self.people = PeopleState()
            self.screen = "people"
            self.people_search("")
        elif item == "device":
            self.screen = "device"
            self.refresh_device()
        elif item == "menu":
            self._session = None
            self.screen = "admin_menu"
            self._bump()
        elif item == "exit":
            self._leave_admin()
            return
        else:
            raise ValueError(f"unknown admin item {item!r}")
        self._changed()

    # enrollment -------------------------------------------------------------
    def enroll_search(self, query: str) -> None:
        self._touch()
        self.enroll = replace(self.enroll, query=query)

        def found(rows: list[PersonRow]) -> None:
            if self.enroll.step == "search" and self.enroll.query == query:
                message = "" if rows else self.cat.text("enroll.search.none")
                self.enroll = replace(self.enroll, candidates=tuple(rows[:50]), message=message)
                self._changed()

        self.run(lambda: self.admin.search(query), found, self._task_failed("search"))

    def enroll_choose(self, person: PersonRow) -> None:
        self._touch()
        self.enroll = EnrollState(
            step="consent",
            title=self.cat.text("enroll.consent.title"),
            person=person,
            body=self.cat.text("enroll.consent.body", opd=self.opd_name),
        )
        self._changed()

    def enroll_consent(self, agree: bool) -> None:
        self._touch()
        person = self.enroll.person
        if not agree or person is None:
            self.admin_select("enroll")
            return
        log.info("enrollment consent given for %s", person.nip)
        self._retry_finger = False
        self._session = self.enrollment.start(person)
        self._bump()
        self.enroll = EnrollState(
            step="capture",
            title=self.cat.text("enroll.capture.title", done=0, total=0),
            person=person,
            prompt=self.cat.text("enroll.pose.front"),
        )
        self._changed()

    def _on_enroll_progress(self, p: EnrollProgress) -> None:
        if self.screen != "enroll" or self.enroll.step != "capture":
            return
        self._touch()
        person = self.enroll.person
        if p.duplicate_nip is not None:
            self._bump()
            self.enroll = replace(
                self.enroll,
                step="duplicate",
                message=self.cat.text(
                    "enroll.duplicate",
                    name=p.duplicate_name or "?",
                    nip=group_nip(p.duplicate_nip),
                ),
                face_box=p.box,
            )
            log.warning(
                "enrollment of %s refused: face matches %s",
                person.nip if person else "?",
                p.duplicate_nip,
            )
        elif p.inconsistent:
            self._bump()
            self.enroll = replace(
                self.enroll, step="failed", message=self.cat.text("enroll.inconsistent")
            )
            log.warning("enrollment stopped: the samples are not of one person")
        else:
            if p.quality in ("ok", "no_face", "pose"):
                quality = ""  # the pose prompt itself says what to do
            elif p.quality == "hold":
                quality = self.cat.text("guidance.hold_still")
            else:
                quality = self.cat.guidance(p.quality)
            self.enroll = replace(
                self.enroll,
                title=self.cat.text("enroll.capture.title", done=p.done, total=p.total),
                done=p.done,
                total=p.total,
                prompt=self.cat.text(f"enroll.pose.{p.pose}")
                if self.cat.has(f"enroll.pose.{p.pose}")
                else self.cat.text("enroll.pose.front"),
                quality=quality,
                face_box=p.box,
            )
            if p.complete:
                self._bump()
        self._changed()

    def enroll_save(self) -> None:
        self._touch()
        session, person = self._session, self.enroll.person
        if session is None or person is None or self.enroll.step != "capture":
            return
        if self.enroll.done < self.enroll.total or self.enroll.total == 0:
            return

        def saved(count: int) -> None:
            self._session = None
            self.enroll = replace(
                self.enroll,
                step="saved",
                message=self.cat.text("enroll.saved", name=person.name, count=count),
            )
            self._changed()

        def failed(exc: BaseException) -> None:
            log.error("saving the enrollment failed: %s", exc)
            self.enroll = replace(
                self.enroll,
                step="failed",
                message=self.cat.text("result.error", reason=str(exc)),
            )
            self._changed()

        self.run(session.save, saved, failed)

    def enroll_finger(self) -> None:
        """Consent given on the consent page: enroll a finger on the sensor."""
        self._touch()
        person, enroller = self.enroll.person, self.finger_enroller
        if person is None or enroller is None or self.enroll.step != "consent":
            return
        log.info("fingerprint enrollment consent given for %s", person.nip)
        self._cancel_finger()
        self._retry_finger = True
        job = threading.Event()
        self._finger_job = job
        self._finger_step = (job, "place")
        self.enroll = EnrollState(
            step="finger",
            title=self.cat.text("enroll.finger.title", name=person.name),
            person=person,
            prompt=self.cat.text("enroll.finger.place"),
        )

        def on_step(step: str) -> None:  # the worker thread: tick() shows it
            self._finger_step = (job, step)

        def saved(slot: int) -> None:
            if self._finger_job is not job:
                return
            self._finger_job = None
            self._bump()
            self.enroll = replace(
                self.enroll,
                step="saved",
                message=self.cat.text("enroll.finger.saved", name=person.name, slot=slot),
            )
            self._changed()

        def failed(exc: BaseException) -> None:
            if self._finger_job is not job:
                return  # cancelled: the admin has moved on
            self._finger_job = None
            if isinstance(exc, FingerAlreadyEnrolledError):
                step: EnrollStep = "duplicate"
                message = (
                    self.cat.text("enroll.finger.duplicate", nip=group_nip(exc.nip))
                    if exc.nip
                    else self.cat.text("enroll.finger.duplicate_unknown", slot=exc.slot)
                )
                log.warning("fingerprint enrollment of %s refused: %s", person.nip, exc)
            else:
                step, message = "failed", self.cat.text("result.error", reason=str(exc))
                log.error("fingerprint enrollment failed: %s", exc)
            self._bump()
            self.enroll = replace(self.enroll, step=step, message=message)
            self._changed()

        self._changed()
        self.run(lambda: enroller(person.nip, on_step, job.is_set), saved, failed)

    def attach_finger_enroller(self, enroller: FingerEnroller) -> None:
        """A fingerprint sensor is attached: offer finger enrollment (before the
        window is built, so the admin menu names it)."""
        self.finger_enroller = enroller
        self.admin_menu = replace(
            self.admin_menu,
            items=tuple(
                (key, self.cat.text("admin.menu.enroll_finger") if key == "enroll" else text)
                for key, text in self.admin_menu.items
            ),
        )

    def _cancel_finger(self) -> None:
        if self._finger_job is not None:
            self._finger_job.set()
            self._finger_job = None
            log.info("fingerprint enrollment cancelled")

    def _show_finger_step(self) -> bool:
        """Show the step the enrollment worker last reported; True if it changed."""
        job, step = self._finger_step
        if job is None or job is not self._finger_job:
            return False  # no enrollment, or a step of a cancelled one
        if self.screen != "enroll" or self.enroll.step != "finger":
            return False
        key = f"enroll.finger.{step}"
        prompt = self.cat.text(key) if self.cat.has(key) else self.enroll.prompt
        if prompt == self.enroll.prompt:
            return False
        self._touch()  # a person at the sensor keeps the admin screen open
        self.enroll = replace(self.enroll, prompt=prompt)
        return True

    def enroll_retry(self) -> None:
        person = self.enroll.person
        if person is None:
            self.admin_select("enroll")
            return
        self.enroll = replace(self.enroll, step="consent")
        if self._retry_finger:
            self.enroll_finger()
        else:
            self.enroll_consent(True)

    # people -----------------------------------------------------------------
    def people_search(self, query: str) -> None:
        self._touch()
        self.people = replace(self.people, query=query, pending_erase="")

        def found(rows: list[PersonRow]) -> None:
            if self.people.query == query:
                self.people = replace(self.people, rows=tuple(rows[:200]))
                self._changed()

        self.run(lambda: self.admin.search(query), found, self._task_failed("search"))

    def people_erase(self, nip: str) -> None:
        """First press asks for confirmation; the second press erases."""
        self._touch()
        row = next((r for r in self.people.rows if r.nip == nip), None)
        name = row.name if row else nip
        if self.people.pending_erase != nip:
            self.people = replace(
                self.people,
                pending_erase=nip,
                message=self.cat.text("people.erase.confirm", name=name),
            )
            self._changed()
            return

        def erased(_: None) -> None:
            self.people = replace(
                self.people, pending_erase="", message=self.cat.text("people.erased", name=name)
            )
            self.people_search(self.people.query)
            self._changed()

        def failed(exc: BaseException) -> None:
            self.people = replace(
                self.people,
                pending_erase="",
                message=self.cat.text("result.error", reason=str(exc)),
            )
            self._changed()

        self.run(lambda: self.admin.erase(nip), erased, failed)

    # device -----------------------------------------------------------------
    def refresh_device(self) -> None:
        self.run(self.admin.device_info, self._device_info, self._task_failed("device info"))

    def _device_info(self, info: DeviceInfo) -> None:
        cat = self.cat
        last_sync = (
            info.last_sync.astimezone(self.tz).strftime("%d-%m-%Y %H:%M")
            if info.last_sync
            else cat.text("device.never")
        )
        disk = f"{info.disk_free_bytes / 1e9:.1f} GB"
        camera = cat.text("device.camera.ok" if info.camera_ok else "device.camera.lost")
        clock_key = f"clock.{info.clock_state}"
        clock = cat.text(clock_key) if cat.has(clock_key) else info.clock_state
        rows = (
            (cat.text("device.camera"), camera),
            (cat.text("device.clock"), clock),
            (cat.text("device.queue"), str(info.queue)),
            (cat.text("device.last_sync"), last_sync),
            (cat.text("device.last_error"), info.last_error or cat.text("device.none")),
            (cat.text("device.server"), info.server or cat.text("device.none")),
            (cat.text("device.disk"), disk),
            (cat.text("device.version"), info.version),
            (cat.text("device.temperature"),
             "-" if info.temperature_c is None else f"{info.temperature_c:.1f} °C"),
            (cat.text("device.uptime"), format_uptime(info.uptime_seconds)),
        )  # fmt: skip
        self.device = replace(self.device, rows=rows)
        self._changed()

    def device_sync_now(self) -> None:
        self._touch()
        sync = self.sync
        if sync is None:
            return

        def done(_: None) -> None:
            self._poll_sync()
            self.refresh_device()

        def failed(exc: BaseException) -> None:
            self.device = replace(
                self.device, message=self.cat.text("result.error", reason=str(exc))
            )
            self._changed()

        self.run(sync.sync_now, done, failed)

    def device_export(self, path: str) -> None:
        self._touch()
        target = Path(path)

        def done(count: int) -> None:
            self.device = replace(
                self.device,
                export_path=path,
                message=self.cat.text("device.exported", count=count, path=path),
            )
            self._changed()

        def failed(exc: BaseException) -> None:
            self.device = replace(
                self.device,
                export_path=path,
                message=self.cat.text("result.error", reason=str(exc)),
            )
            self._changed()

        self.run(lambda: self.admin.export_csv(target), done, failed)

    def device_register(self, server_url: str, code: str) -> None:
        """Register with the central server from the device page (first start)."""
        self._touch()

        def done(opd: str) -> None:
            self.device = replace(self.device, message=self.cat.text("device.registered", opd=opd))
            self._changed()

        def failed(exc: BaseException) -> None:
            reason = self.cat.text("device.register_failed", reason=str(exc))
            self.device = replace(self.device, message=reason)
            self._changed()

        self.run(lambda: self.admin.register(server_url.strip(), code.strip()), done, failed)

    def device_leave(self) -> None:
        log.info("kiosk mode left from the device page")
        if self.on_quit is not None:
            self.on_quit()
