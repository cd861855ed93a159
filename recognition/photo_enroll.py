"""Enrollment from ID photos (``hadir enroll NIP PHOTO...``), outside the kiosk.

Each photo goes through the kiosk's own checks: the face pipeline with its
quality gate (one face, large enough, lit, frontal, sharp) and the
duplicate check of guided enrollment (a face closer than
``duplicate_threshold`` to *another* enrolled person is refused, naming
that person). :func:`check_photo` says what one photo yields; the caller
stores the vectors of the photos that were accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recognition.config import EnrollmentSection
from recognition.faces import FaceEngine, FloatArray
from recognition.gallery import Gallery
from recognition.images import ImageError, load_image

#: What the report line says for each quality code of the gate.
_REASONS = {
    "no_face": "no face",
    "multiple_faces": "two faces",
    "too_far": "too small",
    "cut_off": "face cut off",
    "too_dark": "too dark",
    "too_bright": "too bright",
    "turned": "face turned",
    "blurred": "blurred",
}


@dataclass(frozen=True)
class PhotoResult:
    """The outcome of one photo: ``enrolled`` with its vector, or why not."""

    path: Path
    outcome: str  # "enrolled", "no face", "two faces", "too small", "duplicate", ...
    vector: FloatArray | None = None
    quality: float = 0.0
    duplicate_of: str | None = None
    distance: float | None = None

    @property
    def line(self) -> str:
        """The report line for this file."""
        if self.outcome == "duplicate":
            return f"{self.path.name}: duplicate of NIP {self.duplicate_of} ({self.distance:.3f})"
        return f"{self.path.name}: {self.outcome}"


def check_photo(
    engine: FaceEngine, gallery: Gallery, person_id: str, path: Path, params: EnrollmentSection
) -> PhotoResult:
    """Run one ID photo through the quality gate and the duplicate check."""
    try:
        rgb = load_image(path)
    except ImageError as exc:
        return PhotoResult(path, f"unreadable ({exc})")
    result = engine.analyze(rgb)
    if result.quality is None or not result.quality.passed or result.embedding is None:
        return PhotoResult(path, _REASONS.get(result.code, result.code))
    vector = result.embedding
    if len(gallery):
        hit = gallery.search(vector)
        if hit is not None:
            other, distance = (
                (hit.person_id, hit.distance)
                if hit.person_id != person_id
                else (hit.runner_up, hit.runner_up_distance)
            )
            if other is not None and distance <= params.duplicate_threshold:
                return PhotoResult(path, "duplicate", duplicate_of=other, distance=distance)
    return PhotoResult(path, "enrolled", vector, result.quality.score)
