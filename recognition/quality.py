"""The quality gate: is this face good enough to embed, and if not, why.

Each failure is a short code that the kiosk turns into one instruction on
screen ("Mendekat ke kamera", "Terlalu gelap", ...). The checks run in the
order a person can fix them: one person only, whole face in the frame,
come closer, light, face the camera, hold still.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np
import numpy.typing as npt

from recognition.config import QualitySection

if TYPE_CHECKING:
    from recognition.faces import Box

QualityCode = Literal[
    "ok",
    "no_face",
    "multiple_faces",
    "cut_off",
    "too_far",
    "too_dark",
    "too_bright",
    "turned",
    "blurred",
]

# Every code the gate can emit, in check order (the kiosk needs a text for each).
QUALITY_CODES: tuple[QualityCode, ...] = (
    "ok",
    "no_face",
    "multiple_faces",
    "cut_off",
    "too_far",
    "too_dark",
    "too_bright",
    "turned",
    "blurred",
)

# Sharpness is measured on the face resized to this width, so the number does
# not depend on how far away the person stands.
_SHARPNESS_WIDTH = 96


@dataclass(frozen=True)
class QualityReport:
    code: QualityCode
    eye_distance: float = 0.0
    sharpness: float = 0.0
    brightness: float = 0.0
    yaw: float = 0.0

    @property
    def passed(self) -> bool:
        return self.code == "ok"

    @property
    def score(self) -> float:
        """0..1, higher is better; stored with enrolled templates."""
        if self.code == "no_face":
            return 0.0
        frontal = max(0.0, 1.0 - abs(self.yaw) * 2.0)
        sharp = min(1.0, self.sharpness / 200.0)
        size = min(1.0, self.eye_distance / 60.0)
        return round(float(0.4 * frontal + 0.3 * sharp + 0.3 * size), 4)


def yaw_from_landmarks(landmarks5: npt.NDArray[np.float32]) -> float:
    """Signed head turn from dlib's 5 points: the nose's offset from the eye
    midpoint along the eye line, in eye distances (0 frontal, ~0.5 profile).
    Positive when the nose moves towards the image's right."""
    a = landmarks5[0:2].mean(axis=0)
    b = landmarks5[2:4].mean(axis=0)
    if a[0] > b[0]:
        a, b = b, a
    e = b - a
    d = float(np.hypot(e[0], e[1]))
    if d <= 1e-6:
        return 0.0
    mid = (a + b) / 2.0
    return float(np.dot(landmarks5[4] - mid, e / d) / d)


def eye_distance(landmarks5: npt.NDArray[np.float32]) -> float:
    a = landmarks5[0:2].mean(axis=0)
    b = landmarks5[2:4].mean(axis=0)
    return float(np.hypot(*(b - a)))


def _face_crop_grey(rgb: npt.NDArray[np.uint8], box: Box) -> npt.NDArray[np.uint8] | None:
    h, w = rgb.shape[:2]
    left, top = max(0, box.left), max(0, box.top)
    right, bottom = min(w, box.right), min(h, box.bottom)
    if right - left < 4 or bottom - top < 4:
        return None
    crop = rgb[top:bottom, left:right]
    return np.asarray(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), dtype=np.uint8)


def assess(
    rgb: npt.NDArray[np.uint8],
    box: Box,
    landmarks5: npt.NDArray[np.float32],
    other_boxes: Sequence[Box],
    params: QualitySection,
) -> QualityReport:
    """Gate one face; returns the first failing check, or ``ok``."""
    h, w = rgb.shape[:2]
    eyes = eye_distance(landmarks5)
    yaw = yaw_from_landmarks(landmarks5)
    grey = _face_crop_grey(rgb, box)
    if grey is None:
        return QualityReport(code="cut_off", eye_distance=eyes, yaw=yaw)
    brightness = float(grey.mean())
    scale = _SHARPNESS_WIDTH / grey.shape[1]
    norm = cv2.resize(grey, (_SHARPNESS_WIDTH, max(8, round(grey.shape[0] * scale))))
    sharpness = float(cv2.Laplacian(norm, cv2.CV_64F).var())

    def report(code: QualityCode) -> QualityReport:
        return QualityReport(code, eyes, sharpness, brightness, yaw)

    if any(o.area >= params.second_face_ratio * box.area for o in other_boxes):
        return report("multiple_faces")
    mx, my = params.edge_margin * w, params.edge_margin * h
    if box.left < mx or box.top < my or box.right > w - mx or box.bottom > h - my:
        return report("cut_off")
    if eyes < params.min_eye_distance:
        return report("too_far")
    if brightness < params.min_brightness:
        return report("too_dark")
    if brightness > params.max_brightness:
        return report("too_bright")
    if abs(yaw) > params.max_yaw:
        return report("turned")
    if sharpness < params.min_sharpness:
        return report("blurred")
    return report("ok")
