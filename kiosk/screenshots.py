"""``hadir screenshots OUT_DIR``: every screen rendered to PNG for review by eye.

The screens are driven by setting the controller's Qt-free state directly
(no engine, store or camera is needed), so every state the kiosk can show is
rendered exactly as the widgets draw it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from kiosk.controller import KioskController
from kiosk.i18n import Catalogue
from kiosk.ports import (
    AdminCheck,
    DeviceInfo,
    EnrollmentSession,
    Frame,
    FrameAnalysis,
    PunchOutcome,
    SyncInfo,
    run_inline,
)
from kiosk.state import EnrollState, FaceBox, PeopleState, PersonRow, ResultState

log = logging.getLogger(__name__)

SIZES: tuple[tuple[int, int], ...] = ((800, 480), (1024, 600))


class RenderOnlyError(RuntimeError):
    """The screenshot renderer has no engine or store behind it."""


class RenderOnlyServices:
    """Stands in for every service while only state is rendered; any call is a bug."""

    def _refuse(self) -> RenderOnlyError:
        return RenderOnlyError("screenshots render state only; no service is available")

    def analyse(self, frame: Frame, now: float) -> FrameAnalysis:
        raise self._refuse()

    def reset(self) -> None:
        return None

    def record_face(
        self,
        nip: str,
        distance: float | None,
        margin: float | None,
        liveness: str | None,
        snapshot_jpeg: bytes | None,
    ) -> PunchOutcome:
        raise self._refuse()

    def record_pin(self, nip: str, pin: str, snapshot_jpeg: bytes | None) -> PunchOutcome:
        raise self._refuse()

    def record_fingerprint(self, nip: str, score: int, snapshot_jpeg: bytes | None) -> PunchOutcome:
        raise self._refuse()

    def check_pin(self, pin: str) -> AdminCheck:
        raise self._refuse()

    def set_first_pin(self, pin: str) -> None:
        raise self._refuse()

    def register(self, server_url: str, code: str) -> str:
        raise self._refuse()

    def search(self, query: str) -> list[PersonRow]:
        return []

    def erase(self, nip: str) -> None:
        raise self._refuse()

    def export_csv(self, path: Path) -> int:
        raise self._refuse()

    def device_info(self) -> DeviceInfo:
        raise self._refuse()

    def start(self, person: PersonRow) -> EnrollmentSession:
        raise self._refuse()


def sample_frame(shared: Path | None) -> tuple[npt.NDArray[np.uint8], FaceBox]:
    """A 640x480 BGR frame with a face (from the shared data when present)."""
    import cv2

    if shared is not None:
        for candidate in sorted((shared / "faces" / "deepface-colour").glob("*/*.jpg")):
            img = cv2.imread(str(candidate))
            if img is None:
                continue
            h, w = img.shape[:2]
            scale = 480 / h
            img = cv2.resize(img, (max(1, round(w * scale)), 480))
            canvas = np.full((480, 640, 3), 40, np.uint8)
            x0 = max(0, (img.shape[1] - 640) // 2)
            part = img[:, x0 : x0 + 640]
            ox = (640 - part.shape[1]) // 2
            canvas[:, ox : ox + part.shape[1]] = part
            return canvas, FaceBox(230, 130, 410, 330, ok=True)
    y, x = np.mgrid[0:480, 0:640]
    frame = np.stack([(x / 3) % 256, (y / 2) % 256, np.full_like(x, 90)], axis=2)
    frame = frame.astype(np.uint8)
    cv2.ellipse(frame, (320, 230), (90, 120), 0, 0, 360, (150, 180, 220), -1)
    return frame, FaceBox(230, 110, 410, 350, ok=True)


def _snapshot(frame: npt.NDArray[np.uint8], box: FaceBox) -> bytes:
    import cv2

    crop = frame[box.top : box.bottom, box.left : box.right]
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return bytes(buf) if ok else b""


def render_all(out_dir: Path, language: str = "id", shared: Path | None = None) -> list[Path]:
    """Render every screen at every size in :data:`SIZES`; returns the PNG paths."""
    from PySide6.QtWidgets import QApplication

    from kiosk.screens import KioskWindow

    app = QApplication.instance() or QApplication([])
    out_dir.mkdir(parents=True, exist_ok=True)
    cat = Catalogue(language)
    services = RenderOnlyServices()
    frame, box = sample_frame(shared)
    snapshot = _snapshot(frame, box)
    tz = ZoneInfo("Asia/Jakarta")
    fixed = datetime(2026, 11, 30, 0, 42, 5, tzinfo=UTC)  # Monday 07:42:05 WIB
    ctl = KioskController(
        catalogue=cat,
        opd_name="Dinas Komunikasi dan Informatika",
        timezone=tz,
        recognizer=services,
        punches=services,
        admin=services,
        enrollment=services,
        sync=None,
        runner=run_inline,
        monotonic=lambda: 0.0,
        wall_clock=lambda: fixed,
    )
    ctl.on_sync_status(SyncInfo(mode="offline", pending=12))
    window = KioskWindow(ctl, frames=lambda: frame)
    people = (
        PersonRow("198503122010011002", "Siti Rahmawati, S.Kom.", "Bidang TIK", 5, "28-11-2026"),
        PersonRow("199001012015031004", "Ahmad Fauzi", "Sekretariat", 0, ""),
        PersonRow("197812242006042001", "Dewi Lestari, S.E.", "Bidang Statistik", 3, "12-11-2026"),
    )
    who = people[0]
    result_ok = ResultState(
        kind="success",
        title=cat.text("result.success"),
        name=who.name,
        nip="19850312 201001 1 002",
        time_text="07:42 WIB",
        direction_text=cat.text("result.direction.masuk"),
        lateness_text="Terlambat 12 menit (TL1)" if language == "id" else "Late 12 min (TL1)",
        snapshot_jpeg=snapshot,
    )
    result_dup = ResultState(
        kind="duplicate",
        title=cat.text("result.duplicate", time="07:12"),
        name=who.name,
        nip="19850312 201001 1 002",
        time_text="07:12",
        snapshot_jpeg=snapshot,
    )
    result_unknown = ResultState(
        kind="not_recognised",
        title=cat.text("result.not_recognised"),
        note=cat.text("result.not_recognised.sub"),
        snapshot_jpeg=snapshot,
        offer_pin=True,
    )
    base = ctl.attendance

    def att(**changes: object) -> None:
        ctl.screen = "attendance"
        ctl.attendance = replace(base, **changes)  # type: ignore[arg-type]

    def keypad(purpose: str, digits: str, error: str = "") -> None:
        ctl.screen = "admin_pin" if purpose == "admin" else "pin"
        ctl._keypad_purpose = purpose  # type: ignore[assignment]
        ctl._digits = digits
        ctl._pin_nip = "198503122010011002"
        ctl.keypad = ctl._keypad_state(error)

    def enroll(**changes: object) -> None:
        ctl.screen = "enroll"
        ctl.enroll = EnrollState(**changes)  # type: ignore[arg-type]

    scenes: list[tuple[str, object]] = [
        ("01-ready", lambda: att()),
        (
            "02-guidance-closer",
            lambda: att(
                guidance_code="too_far",
                guidance_text=cat.guidance("too_far"),
                guidance_kind="warn",
                face_box=replace(box, ok=False),
            ),
        ),
        (
            "03-challenge-blink",
            lambda: att(
                guidance_code="challenge.blink",
                guidance_text=cat.challenge("blink"),
                guidance_kind="challenge",
                face_box=box,
            ),
        ),
        (
            "04-camera-lost",
            lambda: att(
                guidance_code="camera.lost",
                guidance_text=cat.text("camera.lost"),
                guidance_kind="error",
            ),
        ),
        ("05-success", lambda: att(result=result_ok)),
        ("06-duplicate", lambda: att(result=result_dup)),
        ("07-not-recognised", lambda: att(result=result_unknown)),
        ("08-pin-nip", lambda: keypad("punch_nip", "19850312201001")),
        ("09-pin-pin", lambda: keypad("punch_pin", "1234", cat.text("pin.wrong"))),
        ("10-admin-pin", lambda: keypad("admin", "12", cat.text("admin.wrong_pin", left=3))),
        ("11-admin-locked", lambda: keypad("admin", "", cat.text("admin.locked", seconds=60))),
        ("12-admin-menu", lambda: setattr(ctl, "screen", "admin_menu")),
        (
            "13-enroll-search",
            lambda: enroll(
                step="search", title=cat.text("enroll.search"), query="", candidates=people
            ),
        ),
        (
            "14-enroll-consent",
            lambda: enroll(
                step="consent",
                title=cat.text("enroll.consent.title"),
                person=who,
                body=cat.text("enroll.consent.body", opd=ctl.opd_name),
            ),
        ),
        (
            "15-enroll-capture",
            lambda: enroll(
                step="capture",
                title=cat.text("enroll.capture.title", done=2, total=5),
                person=who,
                done=2,
                total=5,
                prompt=cat.text("enroll.pose.left"),
                quality=cat.guidance("too_dark"),
                face_box=box,
            ),
        ),
        (
            "16-enroll-duplicate",
            lambda: enroll(
                step="duplicate",
                title=cat.text("enroll.capture.title", done=1, total=5),
                person=who,
                message=cat.text(
                    "enroll.duplicate", name="Dewi Lestari, S.E.", nip="19781224 200604 2 001"
                ),
            ),
        ),
        (
            "17-enroll-saved",
            lambda: enroll(
                step="saved",
                title=cat.text("enroll.capture.title", done=5, total=5),
                person=who,
                message=cat.text("enroll.saved", name=who.name, count=5),
            ),
        ),
        (
            "17f-enroll-finger",
            lambda: enroll(
                step="finger",
                title=cat.text("enroll.finger.title", name=who.name),
                person=who,
                prompt=cat.text("enroll.finger.place_again"),
            ),
        ),
        ("18-people", lambda: _people_scene(ctl, people)),
        ("19-device", lambda: _device_scene(ctl)),
    ]
    written: list[Path] = []
    for width, height in SIZES:
        window.resize(width, height)
        window.show()
        for name, scene in scenes:
            scene()  # type: ignore[operator]
            window.show_state()
            window._paint_preview()
            app.processEvents()
            path = out_dir / f"{name}-{width}x{height}.png"
            if not window.grab().save(str(path)):
                raise OSError(f"could not write {path}")
            written.append(path)
    window.close()
    log.info("wrote %d screenshots to %s", len(written), out_dir)
    return written


def _people_scene(ctl: KioskController, people: tuple[PersonRow, ...]) -> None:
    ctl.screen = "people"
    who = people[0]
    ctl.people = PeopleState(
        rows=people,
        pending_erase=who.nip,
        message=ctl.cat.text("people.erase.confirm", name=who.name),
    )


def _device_scene(ctl: KioskController) -> None:
    ctl.screen = "device"
    ctl._device_info(
        DeviceInfo(
            camera_ok=True,
            clock_state="synced",
            queue=12,
            last_sync=datetime(2026, 11, 30, 0, 30, tzinfo=UTC),
            last_error="server tidak terjangkau (timeout 10 s)",
            server="https://absensi.okikab.go.id",
            disk_free_bytes=21_400_000_000,
            version="0.1.0",
            temperature_c=52.3,
            uptime_seconds=273_906.0,
        )
    )
