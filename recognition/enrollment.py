"""Guided enrollment: several good samples with some pose variety, no duplicates.

An :class:`EnrollmentSession` is fed the analysed frames (:class:`FaceResult`)
of one person standing at the kiosk. It asks for a sequence of poses ("look
straight", "turn slightly left", ...), keeps a sample only when the quality
gate passed and the head pose fits the prompt, refuses a face that already
matches a *different* enrolled person (naming that person), and refuses a
session in which the samples stop looking like one person.

Pose convention: frames are the camera's own (not mirrored); the person's
left is the image's right, so "turn left" is a positive yaw from
:func:`recognition.quality.yaw_from_landmarks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from recognition.config import EnrollmentSection
from recognition.faces import FaceResult, FloatArray
from recognition.gallery import Gallery
from recognition.quality import yaw_from_landmarks


class Pose(StrEnum):
    STRAIGHT = "look_straight"
    SLIGHT_LEFT = "turn_slightly_left"
    SLIGHT_RIGHT = "turn_slightly_right"


# Yaw bands (eye distances) that satisfy each prompt.
_POSE_BANDS: dict[Pose, tuple[float, float]] = {
    Pose.STRAIGHT: (-0.08, 0.08),
    Pose.SLIGHT_LEFT: (0.06, 0.30),
    Pose.SLIGHT_RIGHT: (-0.30, -0.06),
}
_POSE_CYCLE = (Pose.STRAIGHT, Pose.SLIGHT_LEFT, Pose.SLIGHT_RIGHT)


class EnrollState(StrEnum):
    CAPTURING = "capturing"
    DUPLICATE = "duplicate"  # refused: the face matches another enrolled person
    INCONSISTENT = "inconsistent"  # refused: samples of different people
    DONE = "done"


@dataclass(frozen=True)
class Sample:
    vector: FloatArray
    quality: float
    pose: Pose
    yaw: float


@dataclass(frozen=True)
class EnrollmentStatus:
    state: EnrollState
    prompt: Pose
    captured: int
    required: int
    guidance: str | None = None  # quality code or "pose" when the pose does not fit
    duplicate_of: str | None = None
    duplicate_distance: float | None = None

    @property
    def progress(self) -> float:
        return self.captured / self.required if self.required else 1.0


@dataclass
class EnrollmentSession:
    person_id: str
    gallery: Gallery
    params: EnrollmentSection = field(default_factory=EnrollmentSection)
    samples: list[Sample] = field(default_factory=list)
    state: EnrollState = EnrollState.CAPTURING
    _duplicate: tuple[str, float] | None = None

    @property
    def prompt(self) -> Pose:
        return _POSE_CYCLE[len(self.samples) % len(_POSE_CYCLE)]

    def status(self, guidance: str | None = None) -> EnrollmentStatus:
        dup, dist = self._duplicate if self._duplicate else (None, None)
        return EnrollmentStatus(
            self.state, self.prompt, len(self.samples), self.params.samples, guidance, dup, dist
        )

    def offer(self, result: FaceResult) -> EnrollmentStatus:
        """Consider one analysed frame; returns what the screen should show."""
        if self.state is not EnrollState.CAPTURING:
            return self.status()
        if result.quality is None or not result.quality.passed or result.embedding is None:
            return self.status(result.code)
        assert result.landmarks is not None
        yaw = yaw_from_landmarks(result.landmarks)
        lo, hi = _POSE_BANDS[self.prompt]
        if not lo <= yaw <= hi:
            return self.status("pose")
        vec = result.embedding
        hit = self.gallery.search(vec) if len(self.gallery) else None
        if hit is not None:
            other, distance = _nearest_other(self.gallery, vec, self.person_id)
            if other is not None and distance <= self.params.duplicate_threshold:
                self.state = EnrollState.DUPLICATE
                self._duplicate = (other, distance)
                return self.status()
        if self.samples:
            dists = [float(np.linalg.norm(s.vector - vec)) for s in self.samples]
            if max(dists) > self.params.max_self_distance:
                self.state = EnrollState.INCONSISTENT
                return self.status()
            if min(dists) < self.params.min_sample_spacing:
                return self.status("hold")
        self.samples.append(Sample(vec.copy(), result.quality.score, self.prompt, yaw))
        if len(self.samples) >= self.params.samples:
            self.state = EnrollState.DONE
        return self.status()

    @property
    def model(self) -> tuple[str, str]:
        """Model name and version every template of this session carries (the gallery's)."""
        return self.gallery.model_name, self.gallery.model_version


def _nearest_other(gallery: Gallery, vec: FloatArray, person_id: str) -> tuple[str | None, float]:
    """Nearest enrolled person other than ``person_id`` (re-enrollment is allowed)."""
    result = gallery.search(vec)
    if result is None:
        return None, float("inf")
    if result.person_id != person_id:
        return result.person_id, result.distance
    return result.runner_up, result.runner_up_distance
