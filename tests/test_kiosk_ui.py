"""The kiosk end to end (pytest-qt, offscreen): real engine, real store, scripted camera.

Faces are Yale subjects from the shared data: subject02 is enrolled from
several conditions and probes with another one; subject01 is a second
enrolled person so that the margin to the runner-up is real.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pytest

from attendance.admin import AdminGuard
from attendance.clock import SystemClock
from attendance.store import EmployeeRecord, Store
from hadir.config import HadirConfig, load_config
from recognition.frames import FakeFrameSource
from recognition.images import load_image
from recognition.liveness import ChallengePolicy

# Integration tier (the whole kiosk UI on real faces (pytest-qt)):
# `uv run pytest -m "not slow"` leaves it out.
pytestmark = pytest.mark.slow

if TYPE_CHECKING:
    from kiosk.app import Kiosk

pytest.importorskip("pytestqt")

NIP_A = "198503122010011002"  # yale subject02
NIP_B = "199001012015031004"  # yale subject01
NIP_C = "197812242006042001"  # not enrolled
ENROLL_A = ("normal", "noglasses", "sad", "sleepy", "rightlight")
ENROLL_B = ("normal", "glasses", "happy")
PROBE_A = "centerlight"
PIN = "4321"
ADMIN_PIN = "246810"


def canvas(rgb: np.ndarray) -> np.ndarray:
    """A 640x480 BGR camera frame with the face image in the middle."""
    out = np.full((480, 640, 3), 90, np.uint8)
    h, w = rgb.shape[:2]
    s = min(400 / h, 560 / w)
    img = cv2.resize(rgb, (int(w * s), int(h * s)))
    h, w = img.shape[:2]
    y, x = (480 - h) // 2, (640 - w) // 2
    out[y : y + h, x : x + w] = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    return out


def face(shared: Path, subject: str, condition: str) -> np.ndarray:
    return canvas(load_image(shared / "faces" / "yale" / subject / f"{condition}.png"))


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    from kiosk.app import build_engine, close_engine

    engine = build_engine(HadirConfig())
    yield engine
    close_engine(engine)


CLIP = "head-pose-face-detection-female.mp4"  # a person turning the head


@pytest.fixture(scope="module")
def clip_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An engine for the small faces of the sample clips (the demo's detector settings)."""
    from kiosk.app import build_engine, close_engine
    from kiosk.demo import demo_config

    cfg = demo_config(HadirConfig(), tmp_path_factory.mktemp("clip"), small_faces=True)
    engine = build_engine(cfg)
    yield engine
    close_engine(engine)


@pytest.fixture(scope="module")
def pose_frames(shared_data: Path, clip_engine: Any) -> list[np.ndarray]:
    """Real frames of one person in the pose order of the enrollment prompts:
    straight, slightly left, slightly right, straight, slightly left."""
    from recognition.frames import open_source
    from recognition.images import to_rgb
    from recognition.quality import yaw_from_landmarks

    bands = {"straight": (-0.08, 0.08), "left": (0.06, 0.30), "right": (-0.30, -0.06)}
    found: dict[str, list[np.ndarray]] = {k: [] for k in bands}
    path = shared_data / "video" / CLIP
    with open_source("video", path=str(path), loop=False, realtime=False) as src:
        while (frame := src.read()) is not None:
            result = clip_engine.analyze(to_rgb(frame.image))
            if result.embedding is None:
                continue
            yaw = yaw_from_landmarks(result.landmarks)
            for name, (lo, hi) in bands.items():
                if lo <= yaw <= hi:
                    found[name].append(frame.image)
                    break
    order = [("straight", 0), ("left", 0), ("right", 0), ("straight", 1), ("left", 1)]
    # The clip is fixed data that has these poses: finding fewer is a failure of
    # the face pipeline (detection, landmarks, yaw), not a reason to skip.
    counts = {name: len(frames) for name, frames in found.items()}
    assert all(len(found[name]) > i for name, i in order), (
        f"{CLIP}: the face pipeline found too few poses for enrollment: {counts}"
    )
    return [found[name][i] for name, i in order]


def kiosk_config(challenge: ChallengePolicy = "never", **kiosk: Any) -> HadirConfig:
    """The test config; a still test picture cannot pass liveness, so it is off by default."""
    cfg = load_config()
    rec = cfg.recognition
    return cfg.model_copy(
        update={
            "kiosk": cfg.kiosk.model_copy(update={"fullscreen": False, "sound": False, **kiosk}),
            "recognition": rec.model_copy(
                update={
                    "liveness": rec.liveness.model_copy(
                        update={"challenge": challenge, "timeout_seconds": 1.5}
                    )
                }
            ),
        }
    )


def prepare_store(cfg: HadirConfig, shared: Path, engine: Any, enroll: bool = True) -> None:
    from recognition.images import to_rgb

    with Store.from_config(cfg) as store:
        for nip, name in ((NIP_A, "Siti Rahmawati"), (NIP_B, "Ahmad Fauzi"), (NIP_C, "Dewi")):
            store.employees.upsert(
                EmployeeRecord(
                    nip=nip, name=name, opd_code=cfg.device.opd_code, employee_type="PNS"
                )
            )
            store.employees.set_pin(nip, PIN)
        AdminGuard(store.admin_state, SystemClock(), cfg.admin).set_pin(ADMIN_PIN)
        if not enroll:
            return
        for nip, subject, conditions in (
            (NIP_A, "subject02", ENROLL_A),
            (NIP_B, "subject01", ENROLL_B),
        ):
            for cond in conditions:
                result = engine.analyze(to_rgb(face(shared, subject, cond)))
                assert result.embedding is not None, (subject, cond, result.code)
                store.templates.add(nip, result.embedding)


@pytest.fixture
def make_kiosk(qtbot: Any, engine: Any) -> Iterator[Any]:
    from kiosk.app import build_kiosk

    built: list[Any] = []

    def make(
        cfg: HadirConfig, frames: list[np.ndarray], with_engine: Any = None, **source_kw: Any
    ) -> Any:
        source = FakeFrameSource(frames, fps=15, **source_kw)
        kiosk = build_kiosk(cfg, source, engine=with_engine or engine)
        qtbot.addWidget(kiosk.window)
        kiosk.window.resize(800, 480)
        kiosk.window.show()
        kiosk.start()
        built.append(kiosk)
        return kiosk

    yield make
    for kiosk in built:
        kiosk.stop()


def test_face_punch_success_then_duplicate(
    qtbot: Any, shared_data: Path, engine: Any, make_kiosk: Any
) -> None:
    cfg = kiosk_config(result_seconds=1.0)
    prepare_store(cfg, shared_data, engine)
    kiosk = make_kiosk(cfg, [face(shared_data, "subject02", PROBE_A)])
    ctl = kiosk.controller

    qtbot.waitUntil(lambda: ctl.attendance.result is not None, timeout=20000)
    result = ctl.attendance.result
    assert result.kind == "success", result
    assert result.name == "Siti Rahmawati"
    assert result.nip.replace(" ", "") == NIP_A
    assert result.direction_text in ("MASUK", "PULANG")
    assert result.snapshot_jpeg  # the face snapshot is shown
    with kiosk.store.db.read() as conn:
        mode, liveness = conn.exec_driver_sql("SELECT verify_mode, liveness FROM punches").one()
    assert mode == "face" and liveness.startswith("unproven:passive:")
    # the screen shows it
    card = kiosk.window.attendance.result
    assert card.isVisible() and card.name.text() == "Siti Rahmawati"
    assert kiosk.store.punch_count() == 1

    # back to ready after result_seconds, then the same person again: a duplicate
    qtbot.waitUntil(lambda: ctl.attendance.result is None, timeout=5000)
    qtbot.waitUntil(
        lambda: ctl.attendance.result is not None and ctl.attendance.result.kind == "duplicate",
        timeout=20000,
    )
    dup = ctl.attendance.result
    assert dup.title.startswith("Sudah tercatat pukul ")
    assert kiosk.store.punch_count() == 1


def test_still_picture_gets_a_challenge_and_is_refused(
    qtbot: Any, shared_data: Path, engine: Any, make_kiosk: Any
) -> None:
    cfg = kiosk_config(challenge="unsure")
    prepare_store(cfg, shared_data, engine)
    kiosk = make_kiosk(cfg, [face(shared_data, "subject02", PROBE_A)])
    ctl = kiosk.controller
    qtbot.waitUntil(lambda: ctl.attendance.guidance_kind == "challenge", timeout=20000)
    assert ctl.attendance.guidance_text in ("Kedipkan mata", "Toleh ke kiri", "Toleh ke kanan")
    assert kiosk.window.attendance.guidance.text() == ctl.attendance.guidance_text
    qtbot.waitUntil(lambda: ctl.attendance.guidance_code == "spoof", timeout=10000)
    assert ctl.attendance.guidance_text == "Verifikasi gagal, coba lagi"
    assert kiosk.store.punch_count() == 0


def test_pin_fallback_marks_a_pin_punch(
    qtbot: Any, shared_data: Path, engine: Any, make_kiosk: Any
) -> None:
    cfg = kiosk_config()
    prepare_store(cfg, shared_data, engine, enroll=False)
    # the enrolled gallery is empty: a real face is "not recognised" and a PIN is offered
    kiosk = make_kiosk(cfg, [face(shared_data, "subject02", PROBE_A)])
    ctl = kiosk.controller
    qtbot.waitUntil(lambda: ctl.attendance.result is not None, timeout=20000)
    assert ctl.attendance.result.kind == "not_recognised"
    assert ctl.attendance.result.offer_pin
    kiosk.window.attendance.result.pin_button.click()
    assert ctl.screen == "pin"

    keypad = kiosk.window.keypad.keypad
    for digit in NIP_C:
        keypad.keys[digit].click()
    keypad.keys["ok"].click()
    for digit in "9999":  # wrong PIN
        keypad.keys[digit].click()
    keypad.keys["ok"].click()
    qtbot.waitUntil(lambda: ctl.keypad.error == "NIP atau PIN salah", timeout=10000)
    assert kiosk.store.punch_count() == 0
    for digit in PIN:
        keypad.keys[digit].click()
    keypad.keys["ok"].click()
    qtbot.waitUntil(lambda: ctl.attendance.result is not None, timeout=10000)
    result = ctl.attendance.result
    assert result.kind == "success" and result.name == "Dewi"
    assert "PIN" in result.note
    assert ctl.screen == "attendance"
    with kiosk.store.db.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT verify_mode, snapshot FROM punches WHERE nip = ?", (NIP_C,)
        ).one()
    assert row[0] == "pin"
    assert row[1], "the face snapshot is kept for review with a PIN punch"


def _enter_admin(qtbot: Any, kiosk: Any, pin: str) -> None:
    kiosk.window.attendance.admin_button.click()
    keypad = kiosk.window.keypad.keypad
    for digit in pin:
        keypad.keys[digit].click()
    keypad.keys["ok"].click()


def test_enrollment_end_to_end_and_duplicate_warning(
    qtbot: Any,
    shared_data: Path,
    engine: Any,
    clip_engine: Any,
    pose_frames: list[np.ndarray],
    make_kiosk: Any,
) -> None:
    cfg = kiosk_config()
    prepare_store(cfg, shared_data, engine, enroll=False)
    kiosk = make_kiosk(cfg, pose_frames, with_engine=clip_engine)
    ctl = kiosk.controller
    _enter_admin(qtbot, kiosk, ADMIN_PIN)
    qtbot.waitUntil(lambda: ctl.screen == "admin_menu", timeout=10000)
    kiosk.window.menu.buttons["enroll"].click()
    assert ctl.screen == "enroll"
    kiosk.window.enroll.query.setText("Siti")
    qtbot.waitUntil(lambda: len(ctl.enroll.candidates) == 1, timeout=5000)
    assert ctl.enroll.candidates[0].nip == NIP_A
    lst = kiosk.window.enroll.candidates
    qtbot.waitUntil(lambda: lst.count() == 1, timeout=2000)
    lst.itemClicked.emit(lst.item(0))
    assert ctl.enroll.step == "consent"
    assert "UU No. 27 Tahun 2022" in kiosk.window.enroll.consent_body.text()
    kiosk.window.enroll.agree.click()
    assert ctl.enroll.step == "capture"
    assert ctl.enroll.prompt == "Lihat lurus"
    prompts: set[str] = set()
    ctl.subscribe(lambda: prompts.add(ctl.enroll.prompt))
    qtbot.waitUntil(
        lambda: ctl.enroll.total > 0 and ctl.enroll.done >= ctl.enroll.total, timeout=20000
    )
    assert kiosk.window.enroll.save.isEnabled()
    assert {"Toleh sedikit ke kiri", "Toleh sedikit ke kanan"} <= prompts
    kiosk.window.enroll.save.click()
    qtbot.waitUntil(lambda: ctl.enroll.step == "saved", timeout=10000)
    samples = cfg.recognition.enrollment.samples
    assert kiosk.store.templates.counts().get(NIP_A) == samples
    assert NIP_A in kiosk.loader.holder.gallery  # the gallery was swapped

    # the same face for another person is refused, naming the enrolled person
    ctl.admin_select("enroll")
    ctl.enroll_choose(next(r for r in kiosk.admin.search("Ahmad") if r.nip == NIP_B))
    ctl.enroll_consent(True)
    qtbot.waitUntil(lambda: ctl.enroll.step == "duplicate", timeout=20000)
    assert "Siti Rahmawati" in ctl.enroll.message
    assert kiosk.store.templates.counts().get(NIP_B, 0) == 0

    # people page: erase the enrolled face (two presses)
    ctl.admin_select("people")
    qtbot.waitUntil(lambda: any(r.nip == NIP_A for r in ctl.people.rows), timeout=5000)
    row = next(r for r in ctl.people.rows if r.nip == NIP_A)
    assert row.template_count == samples and row.enrolled_text
    ctl.people_erase(NIP_A)
    assert kiosk.store.templates.counts().get(NIP_A) == samples  # asks first
    ctl.people_erase(NIP_A)
    qtbot.waitUntil(lambda: not kiosk.store.templates.counts().get(NIP_A), timeout=5000)
    qtbot.waitUntil(lambda: NIP_A not in kiosk.loader.holder.gallery, timeout=5000)


def test_admin_lockout_after_repeated_wrong_pins(
    qtbot: Any, shared_data: Path, engine: Any, make_kiosk: Any
) -> None:
    cfg = kiosk_config()
    cfg = cfg.model_copy(
        update={"admin": cfg.admin.model_copy(update={"max_attempts": 3, "lockout_seconds": 60.0})}
    )
    prepare_store(cfg, shared_data, engine, enroll=False)
    kiosk = make_kiosk(cfg, [np.full((480, 640, 3), 60, np.uint8)])
    ctl = kiosk.controller
    keypad = kiosk.window.keypad.keypad
    _enter_admin(qtbot, kiosk, "1111")
    qtbot.waitUntil(lambda: "PIN salah" in ctl.keypad.error, timeout=10000)
    for _ in range(2):
        for digit in "1111":
            keypad.keys[digit].click()
        keypad.keys["ok"].click()
        qtbot.waitUntil(lambda: kiosk.runner.pending == 0, timeout=10000)
    qtbot.waitUntil(lambda: "Terkunci" in ctl.keypad.error, timeout=10000)
    # even the right PIN is refused while locked
    for digit in ADMIN_PIN:
        keypad.keys[digit].click()
    keypad.keys["ok"].click()
    qtbot.waitUntil(lambda: kiosk.runner.pending == 0, timeout=10000)
    assert ctl.screen == "admin_pin" and "Terkunci" in ctl.keypad.error
    audit = kiosk.store.audit.recent(10)
    assert sum(1 for a in audit if a["action"] == "admin_login") >= 4


def test_camera_unplugged_shows_message_and_reconnects(
    qtbot: Any, shared_data: Path, engine: Any, make_kiosk: Any
) -> None:
    cfg = kiosk_config()
    cfg = cfg.model_copy(
        update={"camera": cfg.camera.model_copy(update={"reconnect_seconds": 0.2})}
    )
    prepare_store(cfg, shared_data, engine, enroll=False)
    kiosk = make_kiosk(cfg, [np.full((480, 640, 3), 60, np.uint8)])
    ctl = kiosk.controller
    source = kiosk.grabber._source
    qtbot.waitUntil(lambda: kiosk.grabber.frames_read > 3, timeout=5000)
    source.disconnect()
    qtbot.waitUntil(lambda: ctl.attendance.guidance_code == "camera.lost", timeout=5000)
    assert "Kamera tidak terhubung" in kiosk.window.attendance.guidance.text()
    source.reconnect()
    qtbot.waitUntil(lambda: ctl.attendance.guidance_code == "ready", timeout=5000)


def ctl_guidance(kiosk: Any) -> str:
    return str(kiosk.controller.attendance.guidance_code)


def test_event_loop_stays_responsive_while_recognition_runs(
    qtbot: Any, shared_data: Path, engine: Any, make_kiosk: Any
) -> None:
    from PySide6.QtCore import QTimer

    # a stranger who stays: every frame is detected, gated, embedded and searched,
    # and the PIN offer is held back for longer than the measurement
    cfg = kiosk_config(review_wait_seconds=30.0)
    prepare_store(cfg, shared_data, engine)
    kiosk = make_kiosk(cfg, [face(shared_data, "subject03", "normal")])
    gaps: list[float] = []
    last = [time.monotonic()]

    def beat() -> None:
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(beat)
    timer.start(10)
    start_frames = kiosk.worker.frames_processed
    qtbot.wait(3000)
    timer.stop()
    processed = kiosk.worker.frames_processed - start_frames
    assert processed >= 3, "recognition did not run during the measurement"
    assert ctl_guidance(kiosk) == "ok", "the face was gated and embedded"
    assert kiosk.window.attendance.camera.frames_painted > 30
    assert kiosk.controller.attendance.result is None
    assert max(gaps) < 0.2, f"UI thread blocked for {max(gaps) * 1000:.0f} ms"


def test_crashed_recognition_is_reported_on_screen_and_restarted(
    qtbot: Any, shared_data: Path, engine: Any, make_kiosk: Any
) -> None:
    cfg = kiosk_config()
    prepare_store(cfg, shared_data, engine, enroll=False)
    kiosk: Kiosk = make_kiosk(cfg, [np.full((480, 640, 3), 60, np.uint8)])
    ctl = kiosk.controller

    def broken(frame: np.ndarray, now: float) -> object:
        raise RuntimeError("simulated bug in the engine")

    def crash_once() -> bool:
        if kiosk.worker.crashes == 0:
            kiosk.worker.set_processor(ctl.generation, broken)
        return kiosk.worker.crashes > 0

    qtbot.waitUntil(crash_once, timeout=5000)
    qtbot.waitUntil(lambda: ctl.attendance.guidance_code == "worker.restarted", timeout=5000)
    assert ctl.attendance.guidance_kind == "error"
    processed = kiosk.worker.frames_processed
    qtbot.waitUntil(lambda: kiosk.worker.frames_processed > processed + 3, timeout=10000)
    assert kiosk.worker.alive
    qtbot.waitUntil(lambda: ctl.attendance.guidance_code == "ready", timeout=10000)


def test_fingerprint_enrolled_at_the_admin_screen_then_punches(
    qtbot: Any, shared_data: Path, engine: Any, make_kiosk: Any
) -> None:
    """A sensor on a serial line (the simulated module behind a pseudo-terminal):
    enroll Dewi's finger through the admin screens, then her touch punches her in."""
    from recognition.fingerprint_fake import FakeFingerprintModule, PtyBridge

    fake = FakeFingerprintModule()
    with PtyBridge(fake) as port:
        cfg = kiosk_config()
        cfg = cfg.model_copy(
            update={
                "fingerprint": cfg.fingerprint.model_copy(
                    update={"port": port, "poll_seconds": 0.05}
                )
            }
        )
        prepare_store(cfg, shared_data, engine, enroll=False)
        empty_hall = np.zeros((480, 640, 3), np.uint8)
        kiosk = make_kiosk(cfg, [empty_hall])
        ctl = kiosk.controller
        _enter_admin(qtbot, kiosk, ADMIN_PIN)
        qtbot.waitUntil(lambda: ctl.screen == "admin_menu", timeout=10000)
        enroll_button = kiosk.window.menu.buttons["enroll"]
        assert enroll_button.text() == "Daftarkan wajah / sidik jari"
        enroll_button.click()
        kiosk.window.enroll.query.setText("Dewi")
        lst = kiosk.window.enroll.candidates
        qtbot.waitUntil(lambda: lst.count() == 1, timeout=5000)
        lst.itemClicked.emit(lst.item(0))
        assert ctl.enroll.step == "consent"
        assert kiosk.window.enroll.agree_finger.isVisibleTo(kiosk.window)
        kiosk.window.enroll.agree_finger.click()
        assert ctl.enroll.step == "finger"
        message = kiosk.window.enroll.message
        assert message.text() == "Letakkan satu jari di sensor"
        fake.place("dewi-index")
        qtbot.waitUntil(lambda: message.text() == "Angkat jari", timeout=10000)
        fake.lift()
        qtbot.waitUntil(lambda: message.text() == "Letakkan lagi jari yang sama", timeout=10000)
        fake.place("dewi-index")
        qtbot.waitUntil(lambda: ctl.enroll.step == "saved", timeout=10000)
        assert message.text() == "Sidik jari Dewi tersimpan (slot 0)"
        fake.lift()
        kiosk.window.menu.buttons["exit"].click()
        assert ctl.screen == "attendance"
        time.sleep(0.3)  # the watcher sees the sensor empty
        fake.place("dewi-index")
        qtbot.waitUntil(lambda: ctl.attendance.result is not None, timeout=10000)
        result = ctl.attendance.result
        assert result.kind == "success" and result.name == "Dewi"
        with kiosk.store.db.read() as conn:
            rows = conn.exec_driver_sql("SELECT nip, verify_mode FROM punches").all()
        assert [tuple(r) for r in rows] == [(NIP_C, "fingerprint")]
        kiosk.stop()
