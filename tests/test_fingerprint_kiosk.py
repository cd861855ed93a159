"""Fingerprint punches at the kiosk: slots, enrollment, the watcher, the punch, erasure."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from attendance.clock import ClockTrust, FakeClock
from attendance.config import HadirConfig
from attendance.db import DB_FILENAME
from attendance.fingerprints import FingerprintSlots
from attendance.recorder import PunchRecorder, rules_from_config
from attendance.store import EmployeeRecord, Store
from kiosk.controller import KioskController
from kiosk.fingerprint import FingerprintWatcher, enroll_finger
from kiosk.i18n import Catalogue
from kiosk.ports import PunchService, run_inline
from kiosk.screenshots import RenderOnlyServices
from kiosk.services import StorePunches
from recognition.fingerprint import FingerprintError, FingerprintModule
from recognition.fingerprint_fake import FakeFingerprintModule, template_of

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
        enroll_finger(FingerprintModule(fake), slots, store.audit, BUDI, "it", capture_attempts=3)
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
    from dataclasses import replace

    from kiosk.app import _fingerprint_watcher

    controller = _controller()
    cfg = HadirConfig()
    assert _fingerprint_watcher(cfg, store, controller) is None  # no port configured
    assert controller.attendance.guidance_code != "finger.error"
    cfg = replace(cfg, fingerprint=replace(cfg.fingerprint, port="/dev/ttyHADIR-none"))
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
