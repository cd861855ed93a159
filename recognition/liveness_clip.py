"""Landmarks for liveness from frames: follow one face, give its 68 points per frame.

Used by ``hadir liveness`` on recorded clips and by the tests; the kiosk
feeds :class:`recognition.liveness.ChallengeSession` the same way from its
camera frames (:class:`FaceTrack68`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from recognition.faces import Box, Detection, Detector, FaceModels, ImageArray
from recognition.images import IMAGE_SUFFIXES, load_image
from recognition.liveness import Landmarks

log = logging.getLogger(__name__)

#: A still image given as a "clip" is repeated this many times ...
STILL_FRAMES = 24
#: ... at this frame rate (2 seconds, as a kiosk would see a held picture).
STILL_FPS = 12.0
#: Longest clip read (frames); a longer one is cut with a warning.
MAX_CLIP_FRAMES = 3000


class ClipError(ValueError):
    """A clip (video or still image) that cannot be read; the message names the file."""


def landmark_box(detection: Detection) -> Box:
    """The box to give dlib's 68-point predictor for a detection.

    The predictor was trained on boxes of dlib's HOG detector. YuNet boxes are
    taller (they include the forehead), which shifts the predicted points; so
    for a detection with keypoints a HOG-like square box is rebuilt from the
    eyes and the mouth (centre 0.6 of the way from the eye midpoint to the
    mouth midpoint, side 2.2 eye-to-mouth distances: the median relation
    measured between the two detectors on the clips in ``shared/data/video``).
    """
    kps = detection.keypoints
    if kps is None:
        return detection.box
    eyes = (kps[0] + kps[1]) / 2.0
    mouth = (kps[3] + kps[4]) / 2.0
    span = float(np.hypot(*(mouth - eyes)))
    if span < 2.0:
        return detection.box
    cx, cy = (eyes + 0.6 * (mouth - eyes)).tolist()
    half = 1.1 * span
    return Box(round(cx - half), round(cy - half), round(cx + half), round(cy + half))


class FaceTrack68:
    """Follows one face over consecutive frames and returns its 68 landmarks.

    The first face is the largest one (or, with ``start_at``, the one whose
    centre is nearest to that point); after that the detection overlapping
    the previous box most is taken. When no detection overlaps (the face was
    not found, left, or another one came in), the frame yields ``None``; the
    track then resumes on a face whose centre is within one face width of
    where the lost face was, and (unless ``start_at`` chose the face) only
    after ``max_lost_frames`` frames without one does it start again from
    the largest face. So a detector that misses a tilted head for a few
    frames does not hand the track to the person beside it. A face cut off by
    the frame edge yields ``None`` too (the predictor guesses the missing
    points).
    """

    def __init__(
        self,
        detector: Detector,
        models: FaceModels,
        min_iou: float = 0.2,
        start_at: tuple[float, float] | None = None,
        max_lost_frames: int = 12,
    ) -> None:
        self.detector = detector
        self.models = models
        self.min_iou = min_iou
        self.start_at = start_at
        self.max_lost_frames = max_lost_frames
        self._last: Box | None = None
        self._lost: Box | None = None  # where the face was when the track was lost
        self._lost_frames = 0

    def reset(self) -> None:
        self._last = None
        self._lost = None
        self._lost_frames = 0

    def landmarks(self, rgb: ImageArray) -> Landmarks | None:
        detections = self.detector.detect(rgb)
        det = self.choose(detections)
        if det is None:
            return None
        pts = self.models.landmarks68(rgb, landmark_box(det))
        h, w = rgb.shape[:2]
        if (
            pts[:, 0].min() < 0
            or pts[:, 1].min() < 0
            or pts[:, 0].max() >= w
            or pts[:, 1].max() >= h
        ):
            return None  # the face is cut off by the frame edge: its landmarks are guesses
        return pts

    def choose(self, detections: list[Detection]) -> Detection | None:
        """The detection that continues the track in this frame, or ``None``."""
        det = self._pick(detections)
        if det is not None:
            self._last = det.box
            self._lost, self._lost_frames = None, 0
        return det

    def _pick(self, detections: list[Detection]) -> Detection | None:
        if self._last is not None:
            last = self._last
            best = max(detections, key=lambda d: d.box.iou(last), default=None)
            if best is not None and best.box.iou(last) >= self.min_iou:
                return best
            self._lost, self._last, self._lost_frames = last, None, 0
        if self._lost is not None:
            self._lost_frames += 1
            # A face chosen by start_at is never swapped for another one.
            if self.start_at is not None or self._lost_frames <= self.max_lost_frames:
                return _nearest(detections, self._lost.center, within=self._lost.width)
            self._lost = None
        if not detections:
            return None
        if self.start_at is None:
            return detections[0]
        return _nearest(detections, self.start_at)


def _nearest(
    detections: list[Detection], point: tuple[float, float], within: float = math.inf
) -> Detection | None:
    x, y = point
    dist = [math.hypot(d.box.center[0] - x, d.box.center[1] - y) for d in detections]
    if not dist or min(dist) > within:
        return None
    return detections[dist.index(min(dist))]


def first_frame_width(path: Path) -> int:
    """Width in pixels of a clip's frames (the first frame of a video, or the image)."""
    for _, rgb in iter_clip(path):
        return int(rgb.shape[1])
    raise ClipError(f"{path}: no frame could be decoded")


def iter_clip(path: Path) -> Iterator[tuple[float, ImageArray]]:
    """(timestamp in seconds, RGB frame) of a video file, or of a still image repeated.

    Raises :class:`ClipError` for a missing, unreadable or empty file.
    """
    if not path.is_file():
        raise ClipError(f"{path}: no such file")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        try:
            rgb = load_image(path)
        except ValueError as exc:
            raise ClipError(str(exc)) from None
        for i in range(STILL_FRAMES):
            yield i / STILL_FPS, rgb
        return
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise ClipError(f"{path}: not a readable video (or an image of an unknown type)")
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        if not math.isfinite(fps) or fps <= 0 or fps > 1000:
            log.warning("%s: no usable frame rate in the file; assuming 25 fps", path)
            fps = 25.0
        n = 0
        while True:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            if n >= MAX_CLIP_FRAMES:
                log.warning("%s: only the first %d frames are checked", path, MAX_CLIP_FRAMES)
                break
            if bgr.ndim != 3 or bgr.shape[2] != 3:
                raise ClipError(f"{path}: frame {n} is not a colour image")
            yield n / fps, np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            n += 1
        if n == 0:
            raise ClipError(f"{path}: no frame could be decoded (corrupt or empty video)")
    finally:
        cap.release()


def clip_landmarks(
    path: Path,
    detector: Detector,
    models: FaceModels,
    start_at: tuple[float, float] | None = None,
) -> tuple[list[Landmarks | None], list[float]]:
    """Landmarks of the followed face and the timestamp of every frame of a clip."""
    track = FaceTrack68(detector, models, start_at=start_at)
    landmarks: list[Landmarks | None] = []
    stamps: list[float] = []
    for ts, rgb in iter_clip(path):
        landmarks.append(track.landmarks(rgb))
        stamps.append(ts)
    return landmarks, stamps
