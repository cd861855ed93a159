"""Moving kiosks from dlib's model to face-reidentification-retail-0095 without re-enrolling.

Kiosks in the field hold dlib templates and no photos, so the new model's
templates have to come from the people themselves. While a kiosk still
matches with the old model (``[recognition] model``), a
:class:`TemplateMigrator` for the new model (``[recognition.migration]
target_model``) looks at every punch: when the old model matched with a
clearly good distance (at most ``max_distance``, well inside the match
threshold) and liveness *passed* (not merely "unproven"), it embeds the same
frame's face with the new model, and the kiosk stores that vector as a
template of the new model for the matched person (encrypted like every
template, audit-logged, uploaded through the outbox like a kiosk enrollment).
A person gets at most ``max_templates`` such templates.

``hadir templates status`` shows per OPD how many people have templates of
each model; when coverage is enough an admin sets ``[recognition] model`` to
the new model, and the old model's templates can be dropped
(``hadir templates drop``).
"""

from __future__ import annotations

import math

import numpy as np

from recognition.config import MigrationSection
from recognition.embedding import ReidEmbedder
from recognition.faces import FaceResult, FloatArray, ImageArray, eye_centers
from recognition.modelinfo import ModelInfo


class TemplateMigrator:
    """Decides whether a punch may add a new-model template, and computes it."""

    def __init__(self, embedder: ReidEmbedder, params: MigrationSection) -> None:
        self.embedder = embedder
        self.params = params

    @property
    def info(self) -> ModelInfo:
        return self.embedder.info

    def eligible(self, distance: float | None, liveness: str | None) -> bool:
        """A punch of the old model with a clear match and liveness that *passed*."""
        if distance is None or not math.isfinite(distance):
            return False
        return distance <= self.params.max_distance and (liveness or "").startswith("passed")

    def embed(self, rgb: ImageArray, result: FaceResult) -> FloatArray | None:
        """The new model's vector of the frame's main face (``None`` without one)."""
        if result.box is None or not result.detections:
            return None
        points = result.detections[0].keypoints
        if points is None:
            if result.landmarks is None:
                return None
            a, b = eye_centers(result.landmarks)
            pair = sorted([(float(a[0]), float(a[1])), (float(b[0]), float(b[1]))])
            points = np.asarray(pair, dtype=np.float32)
        try:
            return self.embedder.embed(rgb, points)
        except ValueError:
            return None
