"""Small widgets that only render Qt-free state (see :mod:`kiosk.state`).

None of them decides anything: they take a state object in ``show_state`` and
report touches through callbacks or signals. Sizes come from the style sheet,
which the main window rescales with the window (see :func:`style_sheet`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from kiosk.state import FaceBox, KeypadState, ResultState, SyncIndicator

ASSETS = Path(__file__).resolve().parent.parent / "assets"
STYLE_FILE = ASSETS / "kiosk.qss"

# Font and spacing sizes in pixels at the reference 800x480 screen.
_BASE_SIZES: dict[str, float] = {
    "XS": 12,
    "S": 15,
    "M": 18,
    "L": 23,
    "XL": 30,
    "XXL": 40,
    "CLOCK": 54,
    "PAD": 8,
    "RADIUS": 10,
    "KEY": 26,
}


def scale_for(width: int, height: int) -> float:
    """How much larger than 800x480 the window is (the smaller of both ratios)."""
    return max(0.6, min(width / 800.0, height / 480.0))


def style_sheet(width: int, height: int, template: str | None = None) -> str:
    """The style sheet with every ``@NAME@`` size token scaled for the window."""
    text = template if template is not None else load_style_template()
    factor = scale_for(width, height)
    for name, base in _BASE_SIZES.items():
        text = text.replace(f"@{name}@", str(max(1, round(base * factor))))
    return text


def load_style_template() -> str:
    try:
        return STYLE_FILE.read_text(encoding="utf-8")
    except OSError:
        return ""


def _label(object_name: str, text: str = "", wrap: bool = False) -> QLabel:
    label = QLabel(text)
    label.setObjectName(object_name)
    label.setWordWrap(wrap)
    return label


def _refresh_style(widget: QWidget) -> None:
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)


class ClockWidget(QWidget):
    """Large clock with the date below it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clock = _label("clock")
        self.date = _label("date", wrap=True)
        self.clock.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.date.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.clock)
        layout.addWidget(self.date)

    def show_state(self, clock_text: str, date_text: str) -> None:
        if self.clock.text() != clock_text:
            self.clock.setText(clock_text)
        if self.date.text() != date_text:
            self.date.setText(date_text)


class SyncBadge(QLabel):
    """Network / sync indicator: colour by mode, text with the waiting count."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sync")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._mode = ""

    def show_state(self, sync: SyncIndicator) -> None:
        if self.text() != sync.text:
            self.setText(sync.text)
        if sync.mode != self._mode:
            self._mode = sync.mode
            self.setProperty("mode", sync.mode)
            _refresh_style(self)


class GuidanceLine(QLabel):
    """The one short instruction under the preview; colour by kind."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("guidance")
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._kind = ""

    def show_state(self, text: str, kind: str) -> None:
        if self.text() != text:
            self.setText(text)
        if kind != self._kind:
            self._kind = kind
            self.setProperty("kind", kind)
            _refresh_style(self)


def bgr_to_qimage(image: npt.NDArray[np.uint8]) -> QImage:
    """Wrap a BGR frame without copying; keep ``image`` alive while the QImage is used."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 BGR frame, got shape {image.shape}")
    if not image.flags["C_CONTIGUOUS"]:
        image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    return QImage(image.data, w, h, int(image.strides[0]), QImage.Format.Format_BGR888)


class CameraView(QWidget):
    """Paints the newest frame, cropped to fill, with the face outlined.

    ``show_frame`` is cheap (no copy, no conversion); painting happens in the
    next paint event, so the preview keeps the display's pace while
    recognition runs on its own thread.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("camera")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(QSize(160, 120))
        self._frame: npt.NDArray[np.uint8] | None = None
        self._image: QImage | None = None
        self._box: FaceBox | None = None
        self._message = ""
        self.frames_painted = 0
        self.mirror = True

    def show_frame(self, image: npt.NDArray[np.uint8] | None) -> None:
        self._frame = image
        self._image = bgr_to_qimage(image) if image is not None else None
        self.update()

    def set_box(self, box: FaceBox | None) -> None:
        if box != self._box:
            self._box = box
            self.update()

    def set_message(self, message: str) -> None:
        if message != self._message:
            self._message = message
            self.update()

    def _source_rect(self, iw: int, ih: int) -> QRectF:
        """The part of the frame shown: the centre, cropped to the widget's aspect."""
        ww, wh = max(1, self.width()), max(1, self.height())
        scale = max(ww / iw, wh / ih)
        sw, sh = ww / scale, wh / scale
        return QRectF((iw - sw) / 2, (ih - sh) / 2, sw, sh)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#101418"))
        image = self._image
        if image is not None:
            iw, ih = image.width(), image.height()
            src = self._source_rect(iw, ih)
            target = QRectF(self.rect())
            painter.save()
            if self.mirror:  # a mirror image is what people expect of a screen facing them
                painter.translate(self.width(), 0)
                painter.scale(-1, 1)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(target, image, src)
            box = self._box
            if box is not None:
                sx = target.width() / src.width()
                sy = target.height() / src.height()
                rect = QRectF(
                    (box.left - src.x()) * sx,
                    (box.top - src.y()) * sy,
                    (box.right - box.left) * sx,
                    (box.bottom - box.top) * sy,
                )
                colour = QColor("#22c55e") if box.ok else QColor("#f59e0b")
                pen = QPen(colour, max(3.0, self.height() / 120.0))
                painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
                painter.setPen(pen)
                radius = rect.width() * 0.12
                painter.drawRoundedRect(rect, radius, radius)
            painter.restore()
            self.frames_painted += 1
        if self._message:
            painter.setPen(QColor("#ffffff"))
            font = painter.font()
            font.setPixelSize(max(14, self.height() // 14))
            painter.setFont(font)
            painter.drawText(
                self.rect().adjusted(12, 12, -12, -12),
                int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
                self._message,
            )
        painter.end()


def snapshot_pixmap(jpeg: bytes | None) -> QPixmap | None:
    if not jpeg:
        return None
    pix = QPixmap()
    return pix if pix.loadFromData(jpeg) else None


class ResultCard(QFrame):
    """Success, duplicate, not recognised or error, with the face snapshot."""

    pin_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("result")
        self.snapshot = QLabel()
        self.snapshot.setObjectName("snapshot")
        self.snapshot.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = _label("resultTitle", wrap=True)
        self.direction = _label("resultDirection")
        self.name = _label("resultName", wrap=True)
        self.nip = _label("resultNip")
        self.time = _label("resultTime")
        self.lateness = _label("resultLateness", wrap=True)
        self.note = _label("resultNote", wrap=True)
        self.pin_button = QPushButton()
        self.pin_button.setObjectName("pinButton")
        self.pin_button.clicked.connect(self.pin_requested.emit)
        texts = QVBoxLayout()
        texts.setSpacing(2)
        for w in (self.title, self.direction, self.name, self.nip, self.time, self.lateness):
            texts.addWidget(w)
        texts.addWidget(self.note)
        texts.addStretch(1)
        texts.addWidget(self.pin_button)
        row = QHBoxLayout(self)
        row.addWidget(self.snapshot, 2)
        row.addLayout(texts, 3)
        self._kind = ""

    def show_state(self, result: ResultState, pin_text: str) -> None:
        if result.kind != self._kind:
            self._kind = result.kind
            self.setProperty("kind", result.kind)
            _refresh_style(self)
        self.title.setText(result.title)
        for label, text in (
            (self.direction, result.direction_text),
            (self.name, result.name),
            (self.nip, result.nip),
            (self.time, result.time_text),
            (self.lateness, result.lateness_text),
            (self.note, result.note),
        ):
            label.setText(text)
            label.setVisible(bool(text))
        self.pin_button.setText(pin_text)
        self.pin_button.setVisible(result.offer_pin)
        pix = snapshot_pixmap(result.snapshot_jpeg)
        if pix is None:
            self.snapshot.clear()
            self.snapshot.setVisible(False)
        else:
            side = max(80, min(self.height() - 20, self.width() * 2 // 7))
            self.snapshot.setPixmap(
                pix.scaled(
                    side,
                    side,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
            self.snapshot.setVisible(True)


class Keypad(QWidget):
    """On-screen numeric keypad with its display; reports keys through ``on_key``."""

    def __init__(self, on_key: Callable[[str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keypad")
        self._on_key = on_key
        self.title = _label("keypadTitle", wrap=True)
        self.prompt = _label("keypadPrompt", wrap=True)
        self.display = _label("keypadDisplay")
        self.display.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.error = _label("keypadError", wrap=True)
        self.keys: dict[str, QPushButton] = {}
        grid = QGridLayout()
        grid.setSpacing(6)
        layout_keys = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "back", "0", "ok")
        for i, key in enumerate(layout_keys):
            button = QPushButton(key)
            button.setObjectName("key")
            if key in ("back", "ok"):
                button.setProperty("role", key)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            button.clicked.connect(lambda _=False, k=key: self._on_key(k))
            grid.addWidget(button, i // 3, i % 3)
            self.keys[key] = button
        self.cancel = QPushButton()
        self.cancel.setObjectName("cancelButton")
        self.cancel.clicked.connect(lambda: self._on_key("cancel"))
        left = QVBoxLayout()
        left.addWidget(self.title)
        left.addWidget(self.prompt)
        left.addWidget(self.display)
        left.addWidget(self.error)
        left.addStretch(1)
        left.addWidget(self.cancel)
        row = QHBoxLayout(self)
        row.addLayout(left, 1)
        row.addLayout(grid, 1)

    def show_state(self, state: KeypadState) -> None:
        self.title.setText(state.title)
        self.prompt.setText(state.prompt)
        self.display.setText(state.shown or " ")
        self.error.setText(state.error)
        self.keys["ok"].setText(state.ok_text)
        self.keys["back"].setText("\u232b")
        self.keys["back"].setToolTip(state.back_text)
        self.cancel.setText(state.cancel_text)


def big_button(text: str, object_name: str = "bigButton") -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(object_name)
    button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    return button
