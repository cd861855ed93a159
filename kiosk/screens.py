"""The kiosk screens and the main window: layouts of widgets over controller state.

Screens read :class:`kiosk.controller.KioskController` state and call its
methods on touches; they hold no state of their own beyond Qt's. The window
rescales the style sheet with its size (800x480 up to 1920x1080).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from kiosk.controller import KioskController
from kiosk.state import PersonRow, Screen
from kiosk.widgets import (
    CameraView,
    ClockWidget,
    GuidanceLine,
    Keypad,
    ResultCard,
    SyncBadge,
    big_button,
    load_style_template,
    style_sheet,
)

FrameProvider = Callable[[], "npt.NDArray[np.uint8] | None"]


def _label(name: str, wrap: bool = True) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(wrap)
    return label


def person_line(ctl: KioskController, r: PersonRow, with_unit: bool) -> str:
    """Two lines for a roster list: the name, then NIP, (unit,) samples and enrollment date."""
    cat = ctl.cat
    when = (
        cat.text("people.enrolled", date=r.enrolled_text)
        if r.template_count
        else cat.text("people.not_enrolled")
    )
    parts = [r.nip]
    if with_unit and r.unit:
        parts.append(r.unit)
    if r.template_count:
        parts.append(cat.text("people.templates", count=r.template_count))
    parts.append(when)
    return f"{r.name}\n{' · '.join(parts)}"


class AttendanceScreen(QWidget):
    """Camera preview (or the result card) on the left, clock and guidance on the right."""

    def __init__(self, ctl: KioskController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctl = ctl
        self.camera = CameraView()
        self.result = ResultCard()
        self.result.pin_requested.connect(ctl.open_pin)
        self.left = QStackedWidget()
        self.left.addWidget(self.camera)
        self.left.addWidget(self.result)

        self.opd = _label("opd")
        self.sync = SyncBadge()
        self.admin_button = QPushButton("\u2699")
        self.admin_button.setObjectName("adminButton")
        self.admin_button.clicked.connect(ctl.open_admin)
        top = QHBoxLayout()
        top.addWidget(self.opd, 1)
        top.addWidget(self.sync)
        top.addWidget(self.admin_button)

        self.clock = ClockWidget()
        self.guidance = GuidanceLine()
        self.pin_button = big_button("", "pinButton")
        self.pin_button.clicked.connect(ctl.open_pin)
        side = QVBoxLayout()
        side.addWidget(self.clock)
        side.addStretch(1)
        side.addWidget(self.guidance)
        side.addStretch(1)
        side.addWidget(self.pin_button)
        side_frame = QFrame()
        side_frame.setObjectName("side")
        side_frame.setLayout(side)

        body = QHBoxLayout()
        body.addWidget(self.left, 3)
        body.addWidget(side_frame, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(body, 1)

    def show_state(self) -> None:
        st = self.ctl.attendance
        self.opd.setText(st.opd_name)
        self.sync.show_state(st.sync)
        self.clock.show_state(st.clock_text, st.date_text)
        self.guidance.show_state(st.guidance_text, st.guidance_kind)
        self.guidance.setVisible(st.result is None)
        self.pin_button.setVisible(st.result is None or not st.result.offer_pin)
        self.pin_button.setText(st.pin_button_text)
        self.camera.set_box(st.face_box)
        self.camera.set_message(st.guidance_text if st.guidance_kind == "error" else "")
        if st.guidance_code == "camera.lost":
            self.camera.show_frame(None)  # no frozen picture of whoever stood there last
        if st.result is not None:
            self.result.show_state(st.result, st.pin_button_text)
            self.left.setCurrentWidget(self.result)
        else:
            self.left.setCurrentWidget(self.camera)


class KeypadScreen(QWidget):
    def __init__(self, ctl: KioskController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctl = ctl
        self.keypad = Keypad(ctl.keypad_key)
        layout = QVBoxLayout(self)
        layout.addWidget(self.keypad)

    def show_state(self) -> None:
        self.keypad.show_state(self.ctl.keypad)


class AdminMenuScreen(QWidget):
    def __init__(self, ctl: KioskController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctl = ctl
        self.title = _label("screenTitle")
        grid = QGridLayout()
        self.buttons: dict[str, QPushButton] = {}
        for i, (key, text) in enumerate(ctl.admin_menu.items):
            button = big_button(text, "menuButton")
            button.setMinimumHeight(60)
            button.clicked.connect(lambda _=False, k=key: ctl.admin_select(k))
            grid.addWidget(button, i // 2, i % 2)
            self.buttons[key] = button
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(grid, 1)

    def show_state(self) -> None:
        self.title.setText(self.ctl.admin_menu.title)


class EnrollScreen(QWidget):
    """Search, consent, guided capture, duplicate warning, saved: one page per step."""

    def __init__(self, ctl: KioskController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctl = ctl
        cat = ctl.cat
        self.title = _label("screenTitle")
        self.pages = QStackedWidget()

        # search
        self.query = QLineEdit()
        self.query.setObjectName("search")
        self.query.setPlaceholderText(cat.text("enroll.search"))
        self.query.textChanged.connect(ctl.enroll_search)
        self.candidates = QListWidget()
        self.candidates.setObjectName("list")
        self.candidates.itemClicked.connect(self._chosen)
        self.search_message = _label("message")
        search = QWidget()
        sl = QVBoxLayout(search)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.query)
        sl.addWidget(self.candidates, 1)
        sl.addWidget(self.search_message)
        self.pages.addWidget(search)

        # consent
        self.consent_person = _label("personLine")
        self.consent_body = _label("body")
        self.agree = big_button(cat.text("enroll.consent.agree"), "primaryButton")
        self.decline = big_button(cat.text("enroll.consent.decline"))
        self.agree_finger = big_button(cat.text("enroll.finger.agree"), "primaryButton")
        self.agree.clicked.connect(lambda: ctl.enroll_consent(True))
        self.decline.clicked.connect(lambda: ctl.enroll_consent(False))
        self.agree_finger.clicked.connect(ctl.enroll_finger)
        consent = QWidget()
        cl = QVBoxLayout(consent)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.consent_person)
        cl.addWidget(self.consent_body, 1)
        row = QHBoxLayout()
        row.addWidget(self.decline)
        row.addWidget(self.agree)
        row.addWidget(self.agree_finger)
        cl.addLayout(row)
        self.pages.addWidget(consent)

        # capture
        self.camera = CameraView()
        self.prompt = _label("guidance")
        self.prompt.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.quality = _label("quality")
        self.quality.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.save = big_button(cat.text("enroll.save"), "primaryButton")
        self.save.clicked.connect(ctl.enroll_save)
        capture = QWidget()
        cap = QHBoxLayout(capture)
        cap.setContentsMargins(0, 0, 0, 0)
        cap.addWidget(self.camera, 3)
        side = QVBoxLayout()
        side.addWidget(self.prompt)
        side.addWidget(self.quality)
        side.addWidget(self.progress)
        side.addStretch(1)
        side.addWidget(self.save)
        cap.addLayout(side, 2)
        self.pages.addWidget(capture)

        # duplicate / saved / failed
        self.message = _label("bigMessage")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.retry = big_button(cat.text("enroll.retry"))
        self.retry.clicked.connect(ctl.enroll_retry)
        done = QWidget()
        dl = QVBoxLayout(done)
        dl.addStretch(1)
        dl.addWidget(self.message)
        dl.addStretch(1)
        dl.addWidget(self.retry)
        self.pages.addWidget(done)

        self.back = big_button(cat.text("admin.back"), "backButton")
        self.back.clicked.connect(lambda: ctl.admin_select("menu"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.back)
        self._rows: tuple[PersonRow, ...] = ()

    def _chosen(self, item: QListWidgetItem) -> None:
        index = self.candidates.row(item)
        if 0 <= index < len(self._rows):
            self.ctl.enroll_choose(self._rows[index])

    def show_state(self) -> None:
        st = self.ctl.enroll
        self.title.setText(st.title)
        if st.step == "search":
            self.pages.setCurrentIndex(0)
            if self.query.text() != st.query:
                self.query.blockSignals(True)
                self.query.setText(st.query)
                self.query.blockSignals(False)
            if st.candidates != self._rows:
                self._rows = st.candidates
                self.candidates.clear()
                for r in st.candidates:
                    self.candidates.addItem(person_line(self.ctl, r, with_unit=True))
            self.search_message.setText(st.message)
        elif st.step == "consent":
            self.pages.setCurrentIndex(1)
            person = st.person
            self.consent_person.setText(f"{person.name} · {person.nip}" if person else "")
            self.consent_body.setText(st.body)
            self.agree_finger.setVisible(self.ctl.finger_enroller is not None)
        elif st.step == "capture":
            self.pages.setCurrentIndex(2)
            self.prompt.setText(st.prompt)
            self.quality.setText(st.quality)
            self.progress.setMaximum(max(1, st.total))
            self.progress.setValue(st.done)
            self.camera.set_box(st.face_box)
            self.save.setEnabled(st.total > 0 and st.done >= st.total)
        else:  # finger (the prompt), duplicate, saved, failed
            self.pages.setCurrentIndex(3)
            self.message.setText(st.prompt if st.step == "finger" else st.message)
            if self.message.property("kind") != st.step:
                self.message.setProperty("kind", st.step)
                self.message.style().unpolish(self.message)
                self.message.style().polish(self.message)
            self.retry.setVisible(st.step in ("duplicate", "failed"))


class PeopleScreen(QWidget):
    def __init__(self, ctl: KioskController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctl = ctl
        cat = ctl.cat
        self.query = QLineEdit()
        self.query.setObjectName("search")
        self.query.setPlaceholderText(cat.text("people.search"))
        self.query.textChanged.connect(ctl.people_search)
        self.list = QListWidget()
        self.list.setObjectName("list")
        self.message = _label("message")
        self.erase = big_button(cat.text("people.erase"), "dangerButton")
        self.erase.clicked.connect(self._erase)
        self.back = big_button(cat.text("admin.back"), "backButton")
        self.back.clicked.connect(lambda: ctl.admin_select("menu"))
        buttons = QHBoxLayout()
        buttons.addWidget(self.back)
        buttons.addWidget(self.erase)
        layout = QVBoxLayout(self)
        layout.addWidget(self.query)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self._rows: tuple[PersonRow, ...] = ()

    def _erase(self) -> None:
        index = self.list.currentRow()
        if 0 <= index < len(self._rows):
            self.ctl.people_erase(self._rows[index].nip)

    def show_state(self) -> None:
        st = self.ctl.people
        if st.rows != self._rows:
            selected = self.list.currentRow()
            self._rows = st.rows
            self.list.clear()
            for r in st.rows:
                self.list.addItem(person_line(self.ctl, r, with_unit=False))
            if 0 <= selected < len(st.rows):
                self.list.setCurrentRow(selected)
        pending = next((i for i, r in enumerate(st.rows) if r.nip == st.pending_erase), -1)
        if pending >= 0 and self.list.currentRow() != pending:
            self.list.setCurrentRow(pending)
        self.message.setText(st.message)


class DeviceScreen(QWidget):
    def __init__(self, ctl: KioskController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctl = ctl
        cat = ctl.cat
        self.title = _label("screenTitle")
        self.title.setText(cat.text("device.title"))
        self.grid = QGridLayout()
        self.grid.setColumnStretch(1, 1)
        self.grid.setVerticalSpacing(2)
        self.labels: list[tuple[QLabel, QLabel]] = []
        self.path = QLineEdit()
        self.path.setObjectName("search")
        self.path.setPlaceholderText(cat.text("device.export_path"))
        self.path.setText("/media/usb/absensi.csv")
        self.export = big_button(cat.text("device.export"))
        self.export.clicked.connect(lambda: ctl.device_export(self.path.text()))
        self.sync_now = big_button(cat.text("device.sync_now"), "primaryButton")
        self.sync_now.clicked.connect(ctl.device_sync_now)
        self.leave = big_button(cat.text("device.leave"), "dangerButton")
        self.leave.clicked.connect(ctl.device_leave)
        self.back = big_button(cat.text("admin.back"), "backButton")
        self.back.clicked.connect(lambda: ctl.admin_select("menu"))
        self.message = _label("message")
        # First start: registration with the central server (hidden once syncing).
        self.server_url = QLineEdit()
        self.server_url.setObjectName("search")
        self.server_url.setPlaceholderText(cat.text("device.server_url"))
        self.code = QLineEdit()
        self.code.setObjectName("search")
        self.code.setPlaceholderText(cat.text("device.code"))
        self.register = big_button(cat.text("device.register"))
        self.register.clicked.connect(
            lambda: ctl.device_register(self.server_url.text(), self.code.text())
        )
        self.register_row = QWidget()
        register_row = QHBoxLayout(self.register_row)
        register_row.setContentsMargins(0, 0, 0, 0)
        register_row.addWidget(self.server_url, 2)
        register_row.addWidget(self.code, 1)
        register_row.addWidget(self.register, 1)
        export_row = QHBoxLayout()
        export_row.addWidget(self.path, 2)
        export_row.addWidget(self.export, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.back)
        buttons.addWidget(self.sync_now)
        buttons.addWidget(self.leave)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(self.grid)
        layout.addStretch(1)
        layout.addWidget(self.register_row)
        layout.addLayout(export_row)
        layout.addWidget(self.message)
        layout.addLayout(buttons)

    def show_state(self) -> None:
        st = self.ctl.device
        while len(self.labels) < len(st.rows):
            key, value = _label("deviceKey", wrap=False), _label("deviceValue")
            row = len(self.labels)
            self.grid.addWidget(key, row, 0)
            self.grid.addWidget(value, row, 1)
            self.labels.append((key, value))
        for (key, value), (k, v) in zip(self.labels, st.rows, strict=False):
            key.setText(k)
            value.setText(v)
        self.message.setText(st.message)
        self.sync_now.setEnabled(self.ctl.sync is not None)
        self.register_row.setVisible(self.ctl.sync is None)


class KioskWindow(QWidget):
    """The top-level window: one stacked page per screen, repainted on state changes."""

    def __init__(
        self,
        ctl: KioskController,
        frames: FrameProvider | None = None,
        preview_fps: int = 30,
    ) -> None:
        super().__init__()
        self.setObjectName("window")
        self.setWindowTitle("Hadir")
        self.ctl = ctl
        self.frames = frames
        self._template = load_style_template()
        self._styled_for: tuple[int, int] = (0, 0)
        self.attendance = AttendanceScreen(ctl)
        self.keypad = KeypadScreen(ctl)
        self.menu = AdminMenuScreen(ctl)
        self.enroll = EnrollScreen(ctl)
        self.people = PeopleScreen(ctl)
        self.device = DeviceScreen(ctl)
        self.stack = QStackedWidget()
        self.pages: dict[Screen, QWidget] = {
            "attendance": self.attendance,
            "pin": self.keypad,
            "admin_pin": self.keypad,
            "admin_menu": self.menu,
            "enroll": self.enroll,
            "people": self.people,
            "device": self.device,
        }
        for page in (
            self.attendance,
            self.keypad,
            self.menu,
            self.enroll,
            self.people,
            self.device,
        ):
            self.stack.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
        ctl.subscribe(self.show_state)
        self.preview_timer = QTimer(self)
        self.preview_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.preview_timer.timeout.connect(self._paint_preview)
        if frames is not None:
            self.preview_timer.start(max(1, 1000 // preview_fps))
        self.show_state()

    def _paint_preview(self) -> None:
        if self.frames is None:
            return
        screen = self.ctl.screen
        view = None
        if screen == "attendance" and self.ctl.attendance.result is None:
            view = self.attendance.camera
        elif screen == "enroll" and self.ctl.enroll.step == "capture":
            view = self.enroll.camera
        if view is None:
            return
        image = self.frames()
        if image is not None:
            view.show_frame(image)

    def show_state(self) -> None:
        page = self.pages[self.ctl.screen]
        if self.stack.currentWidget() is not page:
            self.stack.setCurrentWidget(page)
        show = getattr(page, "show_state", None)
        if show is not None:
            show()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        size = (event.size().width(), event.size().height())
        if size != self._styled_for:
            self._styled_for = size
            self.setStyleSheet(style_sheet(size[0], size[1], self._template))
        super().resizeEvent(event)
