"""The controller without Qt: time injected, tasks run inline, no engine or store needed.

``RenderOnlyServices`` (the screenshot renderer's stand-in, which refuses any
service call) proves these paths never reach a service.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from attendance.clock import ClockTrust, FakeClock
from attendance.recorder import PunchRecorder, rules_from_config
from attendance.store import EmployeeRecord, Store
from hadir.config import HadirConfig
from kiosk.controller import KioskController
from kiosk.i18n import Catalogue
from kiosk.ports import FrameAnalysis, SyncInfo, run_inline
from kiosk.screenshots import RenderOnlyServices
from kiosk.services import StorePunches
from kiosk.state import FaceBox, Screen


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def screen_of(ctl: KioskController) -> Screen:
    """``ctl.screen`` as declared: mypy keeps an assignment's narrowing across ``ctl.tick()``."""
    return ctl.screen


def make(clock: Clock, language: str = "id") -> KioskController:
    s = RenderOnlyServices()
    return KioskController(
        catalogue=Catalogue(language),
        opd_name="Dinas Kesehatan",
        timezone=ZoneInfo("Asia/Jakarta"),
        recognizer=s,
        punches=s,
        admin=s,
        enrollment=s,
        sync=None,
        runner=run_inline,
        monotonic=clock,
        wall_clock=lambda: datetime(2026, 11, 30, 0, 5, 9, tzinfo=UTC),
        result_seconds=3.0,
        admin_idle_seconds=60.0,
    )


def test_clock_and_date_in_wib() -> None:
    ctl = make(Clock())
    assert ctl.attendance.clock_text == "07:05:09"
    assert ctl.attendance.date_text == "Senin, 30 November 2026"
    assert ctl.attendance.opd_name == "Dinas Kesehatan"


def test_guidance_follows_the_quality_code_and_the_challenge() -> None:
    ctl = make(Clock())
    box = FaceBox(10, 10, 50, 50, ok=False)
    ctl.on_frame_result(ctl.generation, FrameAnalysis((640, 480), box, guidance="too_dark"))
    assert (ctl.attendance.guidance_text, ctl.attendance.guidance_kind) == ("Terlalu gelap", "warn")
    assert ctl.attendance.face_box == box
    ctl.on_frame_result(ctl.generation, FrameAnalysis((640, 480), box, "ok", challenge="turn_left"))
    assert ctl.attendance.guidance_text == "Toleh ke kiri"
    assert ctl.attendance.guidance_kind == "challenge"
    ctl.on_frame_result(ctl.generation, FrameAnalysis((640, 480)))
    assert ctl.attendance.guidance_code == "ready" and ctl.attendance.face_box is None


def test_stale_results_of_an_older_generation_are_dropped() -> None:
    ctl = make(Clock())
    old = ctl.generation
    ctl.open_pin()
    ctl.show_attendance()
    assert ctl.generation != old
    ctl.on_frame_result(old, FrameAnalysis((640, 480), None, guidance="too_dark"))
    assert ctl.attendance.guidance_code == "ready"


def test_not_recognised_offers_pin_then_returns_to_ready_after_result_seconds() -> None:
    clock = Clock()
    ctl = make(clock)
    ctl.on_frame_result(ctl.generation, FrameAnalysis((640, 480), decision="unknown"))
    result = ctl.attendance.result
    assert result is not None and result.kind == "not_recognised" and result.offer_pin
    assert ctl.frame_processor() is None  # recognition pauses while the card shows
    clock.t += 2.9
    ctl.tick()
    assert ctl.attendance.result is not None
    clock.t += 0.2
    ctl.tick()
    assert ctl.attendance.result is None and ctl.frame_processor() is not None


def test_nip_must_have_18_digits_and_cancel_goes_back() -> None:
    ctl = make(Clock())
    ctl.open_pin()
    for d in "12345":
        ctl.keypad_key(d)
    assert ctl.keypad.shown == "12345"
    ctl.keypad_key("ok")
    assert ctl.keypad.error == "NIP harus 18 digit"
    ctl.keypad_key("back")
    assert ctl.keypad.shown == "1234"
    for d in "9" * 30:
        ctl.keypad_key(d)
    assert len(ctl.keypad.shown.replace(" ", "")) == 18
    ctl.keypad_key("ok")
    assert ctl.keypad.prompt == "Masukkan PIN" and ctl.keypad.shown == ""
    ctl.keypad_key("7")
    assert ctl.keypad.shown == "\u25cf"  # the PIN is masked
    ctl.keypad_key("cancel")
    assert ctl.screen == "attendance"
    with pytest.raises(ValueError, match="unknown keypad key"):
        ctl.keypad_key("x")


def test_admin_mode_times_out_without_touches() -> None:
    clock = Clock()
    ctl = make(clock)
    ctl.open_admin()
    ctl.screen = "admin_menu"  # as after a correct PIN
    clock.t += 59
    ctl.tick()
    assert screen_of(ctl) == "admin_menu"
    clock.t += 2
    ctl.tick()
    assert screen_of(ctl) == "attendance"


def test_camera_lost_and_back_and_sync_indicator() -> None:
    ctl = make(Clock())
    ctl.on_camera(False)
    assert ctl.attendance.guidance_text.startswith("Kamera tidak terhubung")
    assert ctl.frame_processor() is not None  # the worker keeps waiting for frames
    ctl.on_camera(True)
    assert ctl.attendance.guidance_code == "ready"
    ctl.on_sync_status(SyncInfo(mode="offline", pending=3))
    assert ctl.attendance.sync.text == "Offline · 3 menunggu"
    ctl.on_sync_status(SyncInfo(mode="online", pending=0))
    assert ctl.attendance.sync.text == "Terhubung"


def test_english_screens() -> None:
    ctl = make(Clock(), "en")
    assert ctl.attendance.date_text == "Monday, 30 November 2026"
    assert ctl.attendance.guidance_text == "Please look at the camera"
    box = FaceBox(1, 1, 5, 5, ok=False)
    ctl.on_frame_result(ctl.generation, FrameAnalysis((640, 480), box, guidance="too_far"))
    assert ctl.attendance.guidance_text == "Come closer to the camera"


def test_a_borderline_face_opens_the_pin_keypad_for_its_nearest_person(tmp_path: Path) -> None:
    """REVIEW: the card's PIN button asks straight for the PIN of the nearest
    person (no 18 digits to type); back on an empty PIN asks for another NIP."""
    siti, budi = "198703152010011002", "199001012015022001"
    store = Store.open(tmp_path, device_id="kiosk-07")
    store.employees.upsert_many(
        [
            EmployeeRecord(siti, "Siti Aminah", "DINKES", "PNS"),
            EmployeeRecord(budi, "Budi Santoso", "DINKES", "PNS"),
        ]
    )
    store.employees.set_pin(siti, "482913")
    clock = FakeClock(datetime(2026, 11, 30, 0, 25, tzinfo=UTC))
    recorder = PunchRecorder(store, rules_from_config(HadirConfig()), ClockTrust(clock))
    ctl = make(Clock())
    ctl.punches = StorePunches(store, recorder, "id")
    review = FrameAnalysis((640, 480), decision="review", candidate_nip=siti)
    ctl.on_frame_result(ctl.generation, review)
    result = ctl.attendance.result
    assert result is not None and result.offer_pin and result.pin_nip == siti
    assert siti not in (result.title + result.note + result.name)  # not on the card
    ctl.open_pin()
    assert ctl.keypad.prompt == "Masukkan PIN"
    assert ctl.keypad.title.endswith("19870315 201001 1 002")
    for d in "482913":
        ctl.keypad_key(d)
    ctl.keypad_key("ok")
    assert ctl.attendance.result is not None and ctl.attendance.result.kind == "success"
    assert ctl.attendance.result.name == "Siti Aminah"
    # Not Siti: back on the empty PIN gives an empty NIP keypad.
    ctl.show_attendance()
    ctl.on_frame_result(ctl.generation, review)
    ctl.open_pin()
    ctl.keypad_key("back")
    assert (ctl.keypad.prompt, ctl.keypad.shown) == ("Masukkan NIP (18 digit)", "")
    for d in budi:
        ctl.keypad_key(d)
    ctl.keypad_key("ok")
    assert ctl.keypad.title.endswith("19900101 201502 2 001")
    ctl.keypad_key("back")  # a typed NIP comes back to be corrected
    assert ctl.keypad.shown == "19900101 201502 2 001"
    # An unknown face (no nearest person) asks for the NIP first.
    ctl.show_attendance()
    ctl.on_frame_result(ctl.generation, FrameAnalysis((640, 480), decision="unknown"))
    assert ctl.attendance.result is not None and ctl.attendance.result.pin_nip == ""
    ctl.open_pin()
    assert ctl.keypad.prompt == "Masukkan NIP (18 digit)"
    store.close()


def test_wrong_pins_lock_that_nip_and_the_lock_survives_a_restart(tmp_path: Path) -> None:
    """A colleague trying PIN after PIN for someone else: after [admin]
    max_attempts wrong PINs that NIP's PIN punches wait, even a restart later;
    every attempt is in the audit log (never the PIN)."""
    siti = "198703152010011002"
    store = Store.open(tmp_path, device_id="kiosk-07")
    store.employees.upsert(EmployeeRecord(siti, "Siti Aminah", "DINKES", "PNS"))
    store.employees.set_pin(siti, "482913")
    clock = FakeClock(datetime(2026, 11, 30, 0, 25, tzinfo=UTC))
    cfg = HadirConfig()
    ctl = make(Clock())

    def punches(s: Store) -> StorePunches:
        recorder = PunchRecorder(s, rules_from_config(cfg), ClockTrust(clock))
        return StorePunches(s, recorder, "id", lockout=cfg.admin, clock=clock)

    def try_pin(pin: str) -> None:
        ctl.open_pin()
        for d in siti + "+" + pin:
            ctl.keypad_key("ok" if d == "+" else d)
        ctl.keypad_key("ok")

    ctl.punches = punches(store)
    for _ in range(cfg.admin.max_attempts - 1):
        try_pin("111111")
        assert ctl.keypad.error == "NIP atau PIN salah"
    try_pin("111111")
    locked = "Terlalu banyak PIN salah untuk NIP ini. Coba lagi dalam 1 menit"
    assert ctl.keypad.error == locked
    try_pin("482913")  # the right PIN, but locked: not even compared
    assert ctl.keypad.error == locked
    store.close()
    store = Store.open(tmp_path, device_id="kiosk-07")  # the kiosk restarts
    ctl.punches = punches(store)
    clock.advance(cfg.admin.lockout_seconds - 1)
    try_pin("482913")
    assert ctl.keypad.error == locked
    clock.advance(2)
    try_pin("482913")
    assert ctl.attendance.result is not None and ctl.attendance.result.kind == "success"
    actions = [(e["action"], e["detail"]) for e in reversed(store.audit.recent(20))]
    assert actions == [
        ("pin_wrong", "attempts_left=4"),
        ("pin_wrong", "attempts_left=3"),
        ("pin_wrong", "attempts_left=2"),
        ("pin_wrong", "attempts_left=1"),
        ("pin_wrong", "lockout=30s"),
        ("pin_locked", "retry_after=30s"),
        ("pin_locked", "retry_after=1s"),
    ]
    assert store.pin_attempts(siti).load().failures == 0  # a right PIN clears the count
    # Anyone at the keypad can lock a colleague's PIN: never for long.
    assert ctl.punches.lockout.max_lockout_seconds == 900.0
    store.close()
