"""The kiosk's recognition path (EngineRecognizer) on a real clip: match, then a turn challenge."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.engine import EngineRecognizer
from recognition.config import ChallengeKind, LivenessSection, MatchSection
from recognition.faces import FaceEngine, FaceModels, YuNetDetector
from recognition.gallery import Gallery, GalleryHolder, Template
from recognition.images import to_rgb

NIP = "198703152010011002"
FPS = 12.0


def _frames(clip: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    cap.release()
    assert frames, clip
    return frames


def _gallery(engine: FaceEngine, vectors: list[np.ndarray]) -> Gallery:
    name, version = engine.models.model_name, engine.models.model_version
    templates = [Template(NIP, v, str(i), name, version) for i, v in enumerate(vectors)]
    return Gallery.build(templates, None, name, version)


@pytest.fixture(scope="module")
def yunet_engine(shared_models: Path) -> FaceEngine:
    detector = YuNetDetector(shared_models / "face_detection_yunet_2023mar.onnx", 320)
    return FaceEngine(detector, FaceModels(with_68=True))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["turn_left", "turn_right"])
def test_a_real_head_turn_passes_the_kiosk_challenge_with_yunet(
    shared_data: Path, yunet_engine: FaceEngine, kind: ChallengeKind
) -> None:
    # The woman of the head-pose clip turns both ways. With YuNet the 68-point
    # landmarks must come from a HOG-like box (recognition.liveness_clip.landmark_box):
    # with YuNet's own taller box one direction never reached the turn threshold
    # and the kiosk's challenge timed out.
    frames = _frames(shared_data / "video" / "head-pose-face-detection-female.mp4")
    vectors = []
    for bgr in frames[-8:]:
        result = yunet_engine.analyze(to_rgb(bgr))
        if result.embedding is not None:
            vectors.append(result.embedding)
    assert vectors
    gallery = GalleryHolder(_gallery(yunet_engine, vectors))
    liveness = LivenessSection(challenge="always", challenges=(kind,), timeout_seconds=6.0)
    recognizer = EngineRecognizer(
        yunet_engine, gallery, MatchSection(), liveness, rng=random.Random(1)
    )
    asked = None
    # The clip plays on a loop, as at the door, until a decision or the timeout.
    for i in range(int(8 * FPS)):
        analysis = recognizer.analyse(frames[i % len(frames)], i / FPS)
        asked = asked or analysis.challenge
        if analysis.decision != "pending":
            break
    assert asked == kind
    assert analysis.decision == "match", analysis
    assert analysis.nip == NIP
    assert analysis.liveness is not None and analysis.liveness.startswith(f"passed:{kind}:")


@pytest.mark.slow
def test_a_borderline_face_names_its_nearest_person_only_for_the_pin_keypad(
    shared_data: Path, yunet_engine: FaceEngine
) -> None:
    frames = _frames(shared_data / "video" / "head-pose-face-detection-female.mp4")
    vectors = [
        r.embedding
        for r in (yunet_engine.analyze(to_rgb(f)) for f in frames[-4:])
        if r.embedding is not None
    ]
    assert vectors
    gallery = GalleryHolder(_gallery(yunet_engine, vectors))
    # Her own face, but every distance falls in the review band (above 0.05).
    params = MatchSection(threshold=0.05, review_threshold=0.9)
    liveness = LivenessSection(challenge="never")
    recognizer = EngineRecognizer(yunet_engine, gallery, params, liveness, rng=random.Random(1))
    probes = frames[: len(frames) // 2]  # other frames than the enrolled ones
    for i in range(int(8 * FPS)):
        analysis = recognizer.analyse(probes[i % len(probes)], i / FPS)
        if analysis.decision != "pending":
            break
    assert analysis.decision == "review", analysis
    assert analysis.candidate_nip == NIP
    assert analysis.nip is None and analysis.distance is None  # not a match
