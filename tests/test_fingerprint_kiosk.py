"""Fingerprint punches at the kiosk: slots, enrollment, the watcher, the punch, erasure."""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest

from attendance.clock import ClockTrust, FakeClock
from attendance.db import DB_FILENAME
from attendance.fingerprints import FingerprintSlots
from attendance.recorder import PunchRecorder, rules_from_config
from attendance.store import EmployeeRecord, Store
from hadir.config import HadirConfig
from kiosk.controller import KioskController
from kiosk.fingerprint import FingerAlreadyEnrolledError, FingerprintWatcher, enroll_finger
from kiosk.i18n import Catalogue
from kiosk.ports import PunchService, run_inline
from kiosk.screenshots import RenderOnlyServices
from kiosk.services import StorePunches
from kiosk.state import PersonRow
from recognition.fingerprint import (
    PID_COMMAND,
    STORE,
    EnrollmentCancelledError,
    FingerprintError,
    FingerprintModule,
)
from recognition.fingerprint_fake import FakeFingerprintModule, template_of

T = TypeVar("T")
SITI = "198703152010011002"
BUDI = "199001012015022001"
MONDAY_0725_WIB = datetime(2026, 11, 30, 0, 25, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path, device_id="kiosk-07")
    s.employees.upsert_many(
        [
            EmployeeRecord(SITI, "Siti Aminah", "DISKOMINFO", "PNS"),
            EmployeeRecord(BUDI, "Budi Santoso", "DISKOMINFO", "PPPK"),
        ]
    )
    return s


def _controller(
    punches: PunchService | None = None, monotonic: Callable[[], float] = lambda: 100.0
) -> KioskController:
    """A controller whose services other than ``punches`` refuse any call."""
    others = RenderOnlyServices()
    return KioskController(
        catalogue=Catalogue("id"),
        opd_name="Diskominfo",
        timezone=ZoneInfo("Asia/Jakarta"),
        recognizer=others,
        punches=punches or others,
        admin=others,
        enrollment=others,
        sync=None,
        runner=run_inline,
        monotonic=monotonic,
        wall_clock=lambda: MONDAY_0725_WIB,
        result_seconds=3.0,
        admin_idle_seconds=60.0,
    )


def test_slots_are_reserved_lowest_first_and_released(store: Store) -> None:
    slots = FingerprintSlots(store.state, capacity=3)
    assert [slots.reserve(SITI), slots.reserve(BUDI), slots.reserve(SITI)] == [0, 1, 2]
    with pytest.raises(ValueError, match="all 3 fingerprint slots"):
        slots.reserve(BUDI)
    assert slots.nip_of(1) == BUDI and slots.slots_of(SITI) == [0, 2]
    assert slots.release(SITI) == [0, 2] and slots.release(SITI) == []
    assert slots.reserve(BUDI) == 0  # freed slots are used again
    with pytest.raises(ValueError, match="18 digits"):
        slots.reserve("123")


def test_enrollment_stores_the_finger_and_audits_it(store: Store) -> None:
    fake = FakeFingerprintModule()
    slots = FingerprintSlots(store.state)
    fake.script = [None, "siti-index", None, "siti-index"]
    slot = enroll_finger(FingerprintModule(fake), slots, store.audit, SITI, "it-diskominfo")
    assert slot == 0 and fake.library[0] == template_of("siti-index")
    assert slots.nip_of(0) == SITI
    entry = store.audit.recent(1)[0]
    assert (entry["action"], entry["target"], entry["detail"]) == (
        "enroll_fingerprint",
        SITI,
        "slot=0",
    )
    # Nobody puts a finger down: the error is raised and the slot is free again.
    fake.lift()
    with pytest.raises(FingerprintError, match="no finger"):
        enroll_finger(FingerprintModule(fake), slots, store.audit, BUDI, "it", wait_seconds=0.2)
    assert slots.all() == {0: SITI}


def test_watcher_reports_each_touch_once(store: Store) -> None:
    fake = FakeFingerprintModule()
    slots = FingerprintSlots(store.state, capacity=10)
    fake.library[slots.reserve(SITI)] = template_of("siti-index")
    fake.library[9] = template_of("orphan")  # a slot this kiosk has no NIP for
    events: list[object] = []
    watcher = FingerprintWatcher(
        FingerprintModule(fake),
        slots,
        on_match=lambda nip, score: events.append((nip, score)),
        on_unknown=lambda: events.append("unknown"),
        on_error=lambda reason: events.append(("error", reason)),
    )
    watcher.poll_once()  # nothing on the sensor
    fake.place("siti-index")
    watcher.poll_once()
    watcher.poll_once()  # the same touch: not reported again
    fake.lift()
    watcher.poll_once()
    fake.place("tamu")
    watcher.poll_once()
    fake.lift()
    watcher.poll_once()
    fake.place("orphan")
    watcher.poll_once()
    fake.lift()
    watcher.poll_once()
    fake.place("siti-index")
    fake.smudged = True
    watcher.poll_once()
    assert events == [(SITI, 180), "unknown", "unknown", "unknown"]


def test_an_unplugged_sensor_is_reported_once_and_recovers(store: Store) -> None:
    fake = FakeFingerprintModule()
    slots = FingerprintSlots(store.state)
    fake.library[slots.reserve(SITI)] = template_of("siti-index")
    matched = threading.Event()
    errors: list[str] = []
    watcher = FingerprintWatcher(
        FingerprintModule(fake),
        slots,
        on_match=lambda nip, score: matched.set(),
        on_unknown=lambda: None,
        on_error=errors.append,
        poll_seconds=0.01,
        error_pause=0.02,
    )
    fake.silent = True
    watcher.start()
    try:
        deadline = threading.Event()
        deadline.wait(0.3)
        assert len(errors) == 1 and "connected" in errors[0]
        fake.silent = False
        fake.place("siti-index")
        assert matched.wait(5.0)
    finally:
        watcher.stop()


def test_a_matched_finger_is_recorded_as_a_fingerprint_punch(store: Store) -> None:
    cfg = HadirConfig()
    clock = FakeClock(MONDAY_0725_WIB)
    recorder = PunchRecorder(store, rules_from_config(cfg), ClockTrust(clock))
    controller = _controller(punches=StorePunches(store, recorder, "id"))
    controller.on_fingerprint(SITI, 180)
    result = controller.attendance.result
    assert result is not None and result.kind == "success" and result.name == "Siti Aminah"
    controller.on_fingerprint(BUDI, 150)  # a result is on screen: ignored
    with sqlite3.connect(store.data_dir / DB_FILENAME) as conn:
        rows = conn.execute("SELECT nip, verify_mode, distance FROM punches").fetchall()
    assert rows == [(SITI, "fingerprint", 180.0)]


def test_an_unknown_finger_offers_the_pin() -> None:
    controller = _controller()
    controller.on_fingerprint_unknown()
    result = controller.attendance.result
    assert result is not None and result.offer_pin and result.title == "Sidik jari tidak dikenali"


def test_erasing_a_person_frees_their_slots(store: Store) -> None:
    slots = FingerprintSlots(store.state)
    slots.reserve(SITI)
    slots.reserve(BUDI)
    slots.reserve(SITI)
    res = store.erase_person(SITI, actor="cli")
    assert res.fingerprint_slots == (0, 2)
    assert slots.all() == {1: BUDI}
    assert "fingerprint_slots=2" in (store.audit.recent(1)[0]["detail"] or "")


def test_enroll_command_errors_are_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hadir.cli import main

    data = tmp_path / "kiosk"
    Store.open(data, device_id="kiosk-07").close()
    cases = [
        ([SITI, "--data-dir", str(data)], "no sensor: give --port"),
        (["123", "--data-dir", str(data), "--port", "/dev/ttyHADIR-none"], "18 digits"),
        ([SITI, "--data-dir", str(data), "--port", "/dev/ttyHADIR-none"], "no employee"),
    ]
    for argv, message in cases:
        assert main(["fingerprint-enroll", *argv]) == 2
        assert message in capsys.readouterr().err
    with Store.open(data, device_id="kiosk-07") as store:
        store.employees.upsert(EmployeeRecord(SITI, "Siti Aminah", "DISKOMINFO", "PNS"))
    assert (
        main(["fingerprint-enroll", SITI, "--data-dir", str(data), "--port", "/dev/ttyHADIR-none"])
        == 2
    )
    err = capsys.readouterr().err
    assert "cannot open fingerprint sensor port /dev/ttyHADIR-none" in err
    with Store.open(data, device_id="kiosk-07") as store:
        assert FingerprintSlots(store.state).all() == {}  # nothing reserved by the failure


def test_erasing_at_the_kiosk_deletes_the_fingers_on_the_module(store: Store) -> None:
    fake = FakeFingerprintModule()
    slots = FingerprintSlots(store.state)
    for finger, nip in (("siti-index", SITI), ("budi-thumb", BUDI), ("siti-thumb", SITI)):
        fake.library[slots.reserve(nip)] = template_of(finger)
    watcher = FingerprintWatcher(
        FingerprintModule(fake), slots, lambda n, s: None, lambda: None, lambda r: None
    )
    res = store.erase_person(SITI, actor="admin")
    # The module is unplugged when the erasure happens: kept and retried.
    fake.silent = True
    watcher.delete_slots(res.fingerprint_slots)
    with pytest.raises(FingerprintError):
        watcher.poll_once()
    assert sorted(fake.library) == [0, 1, 2]
    fake.silent = False
    watcher.poll_once()
    assert sorted(fake.library) == [1]


def test_a_kiosk_whose_sensor_cannot_be_opened_goes_on_without_it(store: Store) -> None:

    from kiosk.app import _fingerprint_watcher

    controller = _controller()
    cfg = HadirConfig()
    assert _fingerprint_watcher(cfg, store, controller) is None  # no port configured
    assert controller.attendance.guidance_code != "finger.error"
    cfg = cfg.model_copy(
        update={"fingerprint": cfg.fingerprint.model_copy(update={"port": "/dev/ttyHADIR-none"})}
    )
    assert _fingerprint_watcher(cfg, store, controller) is None
    assert controller.attendance.guidance_code == "finger.error"
    assert controller.attendance.guidance_text == "Sensor sidik jari tidak merespons"


def test_only_a_fresh_face_snapshot_goes_with_a_fingerprint_punch(store: Store) -> None:
    from kiosk.ports import FrameAnalysis

    cfg = HadirConfig()
    recorder = PunchRecorder(store, rules_from_config(cfg), ClockTrust(FakeClock(MONDAY_0725_WIB)))
    t = [100.0]
    controller = _controller(punches=StorePunches(store, recorder, "id"), monotonic=lambda: t[0])
    jpeg = b"\xff\xd8\xff\xe0" + bytes(100)
    face = FrameAnalysis(frame_size=(640, 480), guidance="ok", snapshot_jpeg=jpeg)
    controller.on_frame_result(controller.generation, face)
    t[0] = 101.0  # Siti touches the sensor while facing the camera
    controller.on_fingerprint(SITI, 180)
    t[0] = 110.0  # nobody in front of the camera since: Budi's punch gets no face
    controller.tick()
    controller.on_fingerprint(BUDI, 170)
    with sqlite3.connect(store.data_dir / DB_FILENAME) as conn:
        rows = conn.execute("SELECT nip, snapshot IS NOT NULL FROM punches ORDER BY seq").fetchall()
    assert rows == [(SITI, 1), (BUDI, 0)]


def test_a_finger_enrolled_for_someone_is_refused_for_anyone_else(store: Store) -> None:
    fake = FakeFingerprintModule()
    slots = FingerprintSlots(store.state, capacity=10)
    module = FingerprintModule(fake)
    fake.script = [None, "siti-index", None, "siti-index"]
    assert enroll_finger(module, slots, store.audit, SITI, "it") == 0
    audited = len(store.audit.recent(50))
    # Budi presents Siti's finger: one finger under two NIPs would punch for both.
    fake.script = ["siti-index"]
    with pytest.raises(FingerAlreadyEnrolledError, match=f"slot 0 \\(NIP {SITI}\\)") as info:
        enroll_finger(module, slots, store.audit, BUDI, "it")
    assert (info.value.slot, info.value.nip) == (0, SITI)
    assert slots.all() == {0: SITI} and set(fake.library) == {0}  # slot 1 released
    assert len(store.audit.recent(50)) == audited  # nothing enrolled, nothing audited
    # A template left in the module by an earlier installation: no NIP to name.
    fake.library[7] = template_of("old-kiosk")
    fake.script = ["old-kiosk"]
    with pytest.raises(FingerAlreadyEnrolledError) as info:
        enroll_finger(module, slots, store.audit, BUDI, "it")
    assert (info.value.slot, info.value.nip) == (7, None)


def test_enrollment_reports_each_step_and_asks_again_after_a_smudge(store: Store) -> None:
    fake = FakeFingerprintModule()
    slots = FingerprintSlots(store.state)
    steps: list[str] = []

    def on_step(step: str) -> None:
        steps.append(step)
        if step == "smudged":
            fake.smudged = False  # the finger was wiped

    fake.smudged = True
    fake.script = ["budi-thumb", None, "budi-thumb", None, "budi-thumb"]
    slot = enroll_finger(FingerprintModule(fake), slots, store.audit, BUDI, "it", on_step=on_step)
    assert steps == ["place", "smudged", "lift", "place_again", "storing"]
    assert fake.library[slot] == template_of("budi-thumb")


def test_a_cancelled_enrollment_stops_and_frees_its_slot(store: Store) -> None:
    fake = FakeFingerprintModule()
    slots = FingerprintSlots(store.state)
    captures: list[str] = []
    cancel = threading.Event()

    def on_step(step: str) -> None:
        captures.append(step)
        if step == "lift":
            cancel.set()  # the admin leaves while the finger is still down

    fake.script = [None, "siti-index"]  # placed once, never lifted
    with pytest.raises(EnrollmentCancelledError):
        enroll_finger(
            FingerprintModule(fake),
            slots,
            store.audit,
            SITI,
            "it",
            on_step=on_step,
            cancelled=cancel.is_set,
        )
    assert captures == ["place", "lift"]
    assert slots.all() == {} and fake.library == {}


class _SlowLine:
    """The fake module behind a slow serial line (each command takes ``delay``
    seconds), so a test thread can watch an enrollment's steps as they happen."""

    def __init__(self, fake: FakeFingerprintModule, delay: float) -> None:
        self.fake = fake
        self.delay = delay

    def write(self, data: bytes, /) -> int:
        threading.Event().wait(self.delay)
        return self.fake.write(data)

    def read(self, size: int = 1) -> bytes:
        return self.fake.read(size)

    def reset_input_buffer(self) -> None:
        self.fake.reset_input_buffer()


def _wait_until(condition: Callable[[], bool], pump: Callable[[], None]) -> None:
    for _ in range(500):
        pump()
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError("condition not reached in 5 s")


def test_admin_screen_enrolls_a_finger_while_the_watcher_runs(store: Store) -> None:
    """Consent page -> "place" / "lift" / "place again" prompts -> saved, with the
    watcher polling for punches on its own thread all along; the finger left on
    the sensor afterwards is not a punch."""
    fake = FakeFingerprintModule()
    slots = FingerprintSlots(store.state)
    punches: list[str] = []
    watcher = FingerprintWatcher(
        FingerprintModule(_SlowLine(fake, 0.02)),
        slots,
        on_match=lambda nip, score: punches.append(nip),
        on_unknown=lambda: punches.append("unknown"),
        on_error=lambda reason: punches.append(reason),
        poll_seconds=0.01,
    )
    ui: list[Callable[[], None]] = []  # callbacks waiting for the "UI thread"

    def runner(
        fn: Callable[[], T], on_ok: Callable[[T], None], on_error: Callable[[BaseException], None]
    ) -> None:
        """run_inline on a worker thread, its callbacks queued for the "UI thread"."""

        def ok(value: T) -> None:
            ui.append(functools.partial(on_ok, value))

        def error(exc: BaseException) -> None:
            ui.append(functools.partial(on_error, exc))

        threading.Thread(target=run_inline, args=(fn, ok, error), daemon=True).start()

    def pump() -> None:
        while ui:
            ui.pop(0)()
        controller.tick()

    controller = KioskController(
        catalogue=Catalogue("id"),
        opd_name="Diskominfo",
        timezone=ZoneInfo("Asia/Jakarta"),
        recognizer=RenderOnlyServices(),
        punches=RenderOnlyServices(),
        admin=RenderOnlyServices(),
        enrollment=RenderOnlyServices(),
        sync=None,
        runner=runner,
        monotonic=lambda: 100.0,
        wall_clock=lambda: MONDAY_0725_WIB,
        admin_idle_seconds=60.0,
    )
    assert dict(controller.admin_menu.items)["enroll"] == "Daftarkan wajah"
    controller.attach_finger_enroller(
        lambda nip, on_step, cancelled: watcher.enroll(
            nip, store.audit, "kiosk-admin", on_step, cancelled
        )
    )
    assert dict(controller.admin_menu.items)["enroll"] == "Daftarkan wajah / sidik jari"
    watcher.start()
    try:
        controller.admin_select("enroll")
        controller.enroll_choose(PersonRow(SITI, "Siti Aminah", "DISKOMINFO"))
        controller.enroll_finger()
        assert controller.enroll.step == "finger"
        assert controller.enroll.prompt == "Letakkan satu jari di sensor"
        fake.place("siti-index")
        _wait_until(lambda: controller.enroll.prompt == "Angkat jari", pump)
        fake.lift()
        _wait_until(lambda: controller.enroll.prompt == "Letakkan lagi jari yang sama", pump)
        fake.place("siti-index")
        _wait_until(lambda: controller.enroll.step == "saved", pump)
        assert controller.enroll.message == "Sidik jari Siti Aminah tersimpan (slot 0)"
        assert slots.all() == {0: SITI} and fake.library[0] == template_of("siti-index")
        # (A touch before the enrollment took the module may have been polled.)
        punches.clear()
        threading.Event().wait(0.2)  # the watcher polls again, the finger still down
        assert punches == []
        fake.lift()
        threading.Event().wait(0.2)  # the watcher sees the finger lifted
        fake.place("siti-index")
        _wait_until(lambda: punches == [SITI], pump)
    finally:
        watcher.stop()
    entry = store.audit.recent(1)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == (
        "kiosk-admin",
        "enroll_fingerprint",
        SITI,
    )


def test_admin_screen_names_the_owner_of_a_known_finger_and_cancels_on_leaving(
    store: Store,
) -> None:
    fake = FakeFingerprintModule()
    slots = FingerprintSlots(store.state)
    fake.library[slots.reserve(SITI)] = template_of("siti-index")
    watcher = FingerprintWatcher(
        FingerprintModule(fake), slots, lambda n, s: None, lambda: None, lambda r: None
    )
    deferred: list[Callable[[], None]] = []

    def later(
        fn: Callable[[], T], on_ok: Callable[[T], None], on_error: Callable[[BaseException], None]
    ) -> None:
        deferred.append(functools.partial(run_inline, fn, on_ok, on_error))

    controller = _controller()
    controller.run = later
    controller.attach_finger_enroller(
        lambda nip, on_step, cancelled: watcher.enroll(
            nip, store.audit, "kiosk-admin", on_step, cancelled
        )
    )
    budi = PersonRow(BUDI, "Budi Santoso", "DISKOMINFO")
    controller.admin_select("enroll")
    deferred.clear()  # the roster search (no admin service here)
    controller.enroll_choose(budi)
    fake.script = ["siti-index"]
    controller.enroll_finger()
    deferred.pop()()
    assert controller.enroll.step == "duplicate"
    assert controller.enroll.message == (
        "Sidik jari ini sudah terdaftar untuk NIP 19870315 201001 1 002"
    )
    # Leaving the screen cancels a running enrollment: no slot, no late result.
    controller.enroll_retry()
    controller.enroll_finger()
    controller.admin_select("menu")
    fake.script = [None, "budi-thumb", None, "budi-thumb"]
    deferred.pop()()
    assert controller.screen == "admin_menu"
    assert controller.enroll == replace(controller.enroll, step="finger")  # no late result
    assert slots.all() == {0: SITI} and set(fake.library) == {0}


def test_a_slot_freed_by_erasure_is_cleared_on_the_module_before_it_is_reused(
    store: Store,
) -> None:
    """Siti is erased while the sensor is unplugged: her slot is free in the
    database at once, but her template is still on the module. Budi enrolled
    next gets that slot: the old template must go first, not his new one after."""
    fake = FakeFingerprintModule()
    slots = FingerprintSlots(store.state)
    fake.library[slots.reserve(SITI)] = template_of("siti-index")
    watcher = FingerprintWatcher(
        FingerprintModule(fake), slots, lambda n, s: None, lambda: None, lambda r: None
    )
    erased = store.erase_person(SITI, actor="it")
    fake.silent = True  # unplugged: the deletion waits
    watcher.delete_slots(erased.fingerprint_slots)
    with pytest.raises(FingerprintError):
        watcher.poll_once()
    fake.silent = False
    fake.script = [None, "budi-thumb", None, "budi-thumb"]
    slot = watcher.enroll(BUDI, store.audit, "it", lambda step: None, lambda: False)
    assert slot == 0 and fake.library == {0: template_of("budi-thumb")}
    fake.lift()
    watcher.poll_once()  # nothing left to delete: Budi's finger stays
    assert fake.library == {0: template_of("budi-thumb")} and slots.all() == {0: BUDI}


def test_a_failed_enrollment_clears_its_slot_on_the_module(store: Store) -> None:
    """The module stored the template but its reply was lost: the slot is
    freed in the database and on the module (no unnamed finger left behind)."""
    fake = FakeFingerprintModule()
    slots = FingerprintSlots(store.state)

    class GarbledStoreReply:
        """The serial line garbles the module's answer to STORE (after it stored)."""

        def write(self, data: bytes, /) -> int:
            if len(data) > 9 and data[6] == PID_COMMAND and data[9] == STORE:
                fake.corrupt_next = True
            return fake.write(data)

        def read(self, size: int = 1) -> bytes:
            return fake.read(size)

        def reset_input_buffer(self) -> None:
            fake.reset_input_buffer()

    fake.script = [None, "siti-index", None, "siti-index"]
    with pytest.raises(FingerprintError, match="checksum"):
        enroll_finger(FingerprintModule(GarbledStoreReply()), slots, store.audit, SITI, "it")
    assert slots.all() == {} and fake.library == {}
