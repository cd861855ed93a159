"""Guided enrollment (:class:`recognition.enrollment.EnrollmentSession`) on real faces.

The embeddings, boxes and 5-point landmarks come from real photos in
``../shared/data/faces/yale`` run through the real :class:`FaceEngine`. Those
photos are all frontal, so for most tests the head poses the session asks for
("turn slightly left/right") are made by moving the nose point of the real
landmarks along the eye line (see :func:`posed`): ``yaw_from_landmarks`` reads
the pose from exactly that offset, and the embedding of the real photo is kept.
The last tests use real head turns: every frame of a clip in
``../shared/data/video`` in which a woman turns her head left and right.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from recognition import gallery as gallery_module
from recognition.bench import BenchSettings, read_frames
from recognition.config import EnrollmentSection
from recognition.enrollment import (
    EnrollmentSession,
    EnrollmentStatus,
    EnrollState,
    Pose,
)
from recognition.faces import FaceEngine, FaceModels, FaceResult, HogDetector
from recognition.gallery import Gallery, Template
from recognition.images import load_image, to_rgb
from recognition.modelinfo import DLIB_NAME
from recognition.quality import QUALITY_CODES, QualityReport, yaw_from_landmarks

# Yaw (in eye distances) used for each prompt: inside the band the session accepts.
YAW = {Pose.STRAIGHT: 0.0, Pose.SLIGHT_LEFT: 0.15, Pose.SLIGHT_RIGHT: -0.15}

# Photos used: five of subject01 (for a full session), two of subject02, one of subject03.
PHOTOS = {
    "a1": ("subject01", "normal.png"),
    "a2": ("subject01", "happy.png"),
    "a3": ("subject01", "sad.png"),
    "a4": ("subject01", "surprised.png"),
    "a5": ("subject01", "sleepy.png"),
    "b1": ("subject02", "normal.png"),
    "b2": ("subject02", "happy.png"),
    "c1": ("subject03", "normal.png"),
}


def _dlib(**kw: Any) -> EnrollmentSection:
    """An enrollment section at dlib's distances (the defaults are the Intel model's)."""
    base: dict[str, Any] = {
        "duplicate_threshold": 0.45,
        "max_self_distance": 0.55,
        "min_sample_spacing": 0.015,
    }
    return EnrollmentSection.model_validate(base | kw)


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    # The session's logic is model-agnostic; these tests keep dlib's 128-d model
    # (the gallery's default), with its distances (DLIB_PARAMS where they matter).
    return FaceEngine(HogDetector(), FaceModels(model=DLIB_NAME))


@pytest.fixture(scope="module")
def faces(engine: FaceEngine, shared_data: Path) -> dict[str, FaceResult]:
    """Real analysed frames (each passed the quality gate and has an embedding)."""
    yale = shared_data / "faces" / "yale"
    out: dict[str, FaceResult] = {}
    for key, (subject, name) in PHOTOS.items():
        result = engine.analyze(load_image(yale / subject / name))
        assert result.ok and result.landmarks is not None, (subject, name, result.code)
        out[key] = result
    return out


def posed(result: FaceResult, yaw: float) -> FaceResult:
    """``result`` with its nose landmark moved so the head reads as turned by ``yaw``.

    The nose keeps its distance below the eye line; only its position along
    the eye line changes (``yaw`` eye distances from the eye midpoint, positive
    towards the image's right, i.e. the person's left).
    """
    assert result.landmarks is not None and result.quality is not None
    lm = result.landmarks.copy()
    a, b = lm[0:2].mean(axis=0), lm[2:4].mean(axis=0)
    if a[0] > b[0]:
        a, b = b, a
    eye_line = b - a
    unit = eye_line / float(np.hypot(*eye_line))
    mid = (a + b) / 2.0
    along = float(np.dot(lm[4] - mid, unit))
    lm[4] = lm[4] + (yaw * float(np.hypot(*eye_line)) - along) * unit
    assert yaw_from_landmarks(lm) == pytest.approx(yaw, abs=1e-4)
    return replace(result, landmarks=lm, quality=replace(result.quality, yaw=yaw))


def offer_prompted(session: EnrollmentSession, result: FaceResult) -> EnrollmentStatus:
    """Offer ``result`` in the pose the session currently asks for."""
    return session.offer(posed(result, YAW[session.prompt]))


@pytest.mark.slow
def test_posed_landmarks_read_as_the_intended_turn(faces: dict[str, FaceResult]) -> None:
    real = faces["a1"]
    assert real.landmarks is not None
    assert abs(yaw_from_landmarks(real.landmarks)) < 0.06  # the photos are frontal
    left = posed(real, YAW[Pose.SLIGHT_LEFT])
    assert left.landmarks is not None
    # Turning to the person's left moves the nose towards the image's right.
    assert left.landmarks[4][0] > real.landmarks[4][0]
    assert left.embedding is real.embedding


def test_full_session_reaches_done_with_alternating_prompts(
    faces: dict[str, FaceResult],
) -> None:
    session = EnrollmentSession("A", Gallery.empty(), _dlib())
    assert session.params.samples == 5
    expected = [Pose.STRAIGHT, Pose.SLIGHT_LEFT, Pose.SLIGHT_RIGHT, Pose.STRAIGHT, Pose.SLIGHT_LEFT]
    first = session.status()
    assert (first.state, first.prompt, first.captured, first.required) == (
        EnrollState.CAPTURING,
        Pose.STRAIGHT,
        0,
        5,
    )
    for i, key in enumerate(["a1", "a2", "a3", "a4", "a5"]):
        assert session.prompt is expected[i]
        status = offer_prompted(session, faces[key])
        assert status.guidance is None and status.duplicate_of is None
        assert status.captured == i + 1
        assert status.state is (EnrollState.DONE if i == 4 else EnrollState.CAPTURING)
        if i < 4:
            assert status.prompt is expected[i + 1]
    assert status.progress == 1.0
    assert [s.pose for s in session.samples] == expected
    yaws = [s.yaw for s in session.samples]
    assert yaws[1] > 0.06 and yaws[2] < -0.06 and abs(yaws[0]) < 0.08
    for sample, key in zip(session.samples, ["a1", "a2", "a3", "a4", "a5"], strict=True):
        embedding = faces[key].embedding
        quality = faces[key].quality
        assert embedding is not None and quality is not None
        assert sample.vector.dtype == np.float32 and sample.vector.shape == (128,)
        np.testing.assert_array_equal(sample.vector, embedding)
        assert sample.vector is not embedding  # a copy, not the caller's buffer
        assert 0.0 < sample.quality <= 1.0
    # A finished session takes nothing more.
    after = offer_prompted(session, faces["b1"])
    assert after.state is EnrollState.DONE and after.captured == 5


def test_quality_failures_are_guidance_and_not_captured(
    engine: FaceEngine, faces: dict[str, FaceResult], shared_data: Path
) -> None:
    session = EnrollmentSession("A", Gallery.empty(), _dlib())
    photo = load_image(shared_data / "faces" / "yale" / "subject01" / "normal.png")
    # Real frames that fail the gate: the same photo far too dark, and an empty wall.
    dark = engine.analyze((photo * 0.15).astype(np.uint8))
    blank = engine.analyze(np.full((480, 640, 3), 128, np.uint8))
    assert (dark.code, blank.code) == ("too_dark", "no_face")
    for result in (dark, blank):
        status = session.offer(result)
        assert status.guidance == result.code
        assert status.state is EnrollState.CAPTURING and status.captured == 0
    # Every failure code of the gate is passed through, even when an embedding
    # was computed (a frame analysed with gate=False must not slip in).
    real = faces["a1"]
    for code in QUALITY_CODES:
        if code == "ok":
            continue
        failed = replace(real, quality=QualityReport(code))
        status = session.offer(failed)
        assert status.guidance == code, code
        assert status.captured == 0 and status.prompt is Pose.STRAIGHT
    assert session.samples == []
    # The same frame with a passing gate is taken.
    assert session.offer(posed(real, 0.0)).captured == 1


def test_wrong_pose_gives_pose_guidance(faces: dict[str, FaceResult]) -> None:
    session = EnrollmentSession("A", Gallery.empty(), _dlib())
    assert session.offer(posed(faces["a1"], 0.2)).guidance == "pose"  # asked straight
    assert session.offer(posed(faces["a1"], -0.2)).guidance == "pose"
    assert session.offer(posed(faces["a1"], 0.0)).captured == 1
    assert session.status().prompt is Pose.SLIGHT_LEFT
    for wrong in (0.0, -0.15, 0.32):  # straight, the other way, too far
        status = session.offer(posed(faces["a2"], wrong))
        assert (status.guidance, status.captured, status.state) == (
            "pose",
            1,
            EnrollState.CAPTURING,
        ), wrong
    status = session.offer(posed(faces["a2"], 0.15))
    assert status.guidance is None and status.captured == 2
    assert status.prompt is Pose.SLIGHT_RIGHT
    assert session.offer(posed(faces["a3"], 0.15)).guidance == "pose"
    assert session.offer(posed(faces["a3"], -0.15)).captured == 3


def test_same_frame_twice_asks_to_hold(faces: dict[str, FaceResult]) -> None:
    session = EnrollmentSession("A", Gallery.empty(), _dlib())
    assert offer_prompted(session, faces["a1"]).captured == 1
    # The very same frame again (only the prompted pose differs) adds nothing.
    status = offer_prompted(session, faces["a1"])
    assert (status.guidance, status.captured, status.state) == ("hold", 1, EnrollState.CAPTURING)
    assert offer_prompted(session, faces["a2"]).captured == 2


def _vec(result: FaceResult) -> npt.NDArray[np.float64]:
    assert result.embedding is not None
    return result.embedding.astype(np.float64)


def _gallery(faces: dict[str, FaceResult], people: dict[str, list[str]]) -> Gallery:
    templates = []
    for person, keys in people.items():
        for key in keys:
            vec = faces[key].embedding
            assert vec is not None
            templates.append(Template(person, vec, template_id=f"{person}-{key}"))
    return Gallery.build(templates)


def test_duplicate_of_another_person_is_refused_naming_them(
    faces: dict[str, FaceResult],
) -> None:
    gallery = _gallery(faces, {"A": ["a1", "a2"], "C": ["b1"]})
    session = EnrollmentSession("B", gallery)
    probe = faces["a3"]  # another photo of A, presented as a new person B
    assert probe.embedding is not None
    status = offer_prompted(session, probe)
    assert status.state is EnrollState.DUPLICATE
    assert status.duplicate_of == "A"
    expected = min(float(np.linalg.norm(_vec(probe) - _vec(faces[k]))) for k in ("a1", "a2"))
    assert status.duplicate_distance == pytest.approx(expected, abs=1e-4)
    assert status.duplicate_distance is not None
    assert status.duplicate_distance <= session.params.duplicate_threshold
    assert status.captured == 0 and session.samples == []
    # The refusal is final for the session, whatever comes next.
    later = offer_prompted(session, faces["c1"])
    assert later.state is EnrollState.DUPLICATE and later.duplicate_of == "A"
    assert later.captured == 0


def test_new_person_unlike_everyone_is_enrolled(faces: dict[str, FaceResult]) -> None:
    gallery = _gallery(faces, {"A": ["a1", "a2"], "C": ["b1"]})
    session = EnrollmentSession("D", gallery, _dlib(samples=1))
    status = offer_prompted(session, faces["c1"])
    assert status.state is EnrollState.DONE and status.duplicate_of is None


def test_duplicate_threshold_is_the_configured_one(faces: dict[str, FaceResult]) -> None:
    gallery = _gallery(faces, {"A": ["a1"]})
    strict = _dlib(samples=1, duplicate_threshold=0.05)
    # A's other photo is ~0.3 away: a duplicate at 0.45, not at 0.05.
    assert offer_prompted(EnrollmentSession("B", gallery), faces["a2"]).state is (
        EnrollState.DUPLICATE
    )
    assert offer_prompted(EnrollmentSession("B", gallery, strict), faces["a2"]).state is (
        EnrollState.DONE
    )


@pytest.mark.parametrize("others", [False, True], ids=["alone", "with-others"])
def test_reenrolling_the_same_person_is_allowed(faces: dict[str, FaceResult], others: bool) -> None:
    people = {"A": ["a1", "a2"]} | ({"C": ["b1"], "E": ["c1"]} if others else {})
    session = EnrollmentSession("A", _gallery(faces, people), _dlib(samples=3))
    for key in ("a3", "a4", "a5"):
        status = offer_prompted(session, faces[key])
        assert status.duplicate_of is None and status.guidance is None, key
    assert status.state is EnrollState.DONE and status.captured == 3


def test_samples_of_two_people_are_inconsistent(faces: dict[str, FaceResult]) -> None:
    session = EnrollmentSession("X", Gallery.empty(), _dlib())
    assert offer_prompted(session, faces["a1"]).captured == 1
    status = offer_prompted(session, faces["b1"])  # someone else steps in
    assert status.state is EnrollState.INCONSISTENT and status.captured == 1
    assert offer_prompted(session, faces["a2"]).state is EnrollState.INCONSISTENT
    assert len(session.samples) == 1


def test_templates_carry_the_model_name_and_version(faces: dict[str, FaceResult]) -> None:
    session = EnrollmentSession("A", Gallery.empty(), _dlib(samples=2))
    for key in ("a1", "a2"):
        offer_prompted(session, faces[key])
    assert session.state is EnrollState.DONE
    assert session.model == ("dlib_face_recognition_resnet_model_v1", "1")
    assert session.model == (gallery_module.MODEL_NAME, gallery_module.MODEL_VERSION)
    name, version = session.model
    templates = [
        Template("A", s.vector, f"A-{i}", model_name=name, model_version=version)
        for i, s in enumerate(session.samples)
    ]
    gallery = Gallery.build(templates)
    hit = gallery.search(_vec(faces["a3"]))
    assert hit is not None and hit.person_id == "A"
    for t in templates:  # the wire form: 512 bytes, little-endian float32
        assert Template.from_bytes("A", t.to_bytes()).vector.tobytes() == t.vector.tobytes()
    # A template of another model version is refused by the gallery, naming it.
    stale = Template("A", session.samples[0].vector, "A-old", model_name=name, model_version="0")
    with pytest.raises(ValueError, match="A-old"):
        Gallery.build([*templates, stale])


# -- a real person turning their head ------------------------------------------

TURN_CLIP = "head-pose-face-detection-female.mp4"


@pytest.fixture(scope="module")
def clip_frames(engine: FaceEngine, shared_data: Path) -> list[FaceResult]:
    """Every frame of a real clip in which a woman turns her head left and right,
    framed as the kiosk camera frames it (640x480) and analysed by the engine."""
    path = shared_data / "video" / TURN_CLIP
    if not path.is_file():
        pytest.skip(f"{path} not found")
    frames, _ = read_frames(path, BenchSettings(max_frames_per_clip=100))
    assert len(frames) >= 20
    return [engine.analyze(to_rgb(bgr)) for bgr in frames]


@pytest.mark.slow
def test_real_head_turns_in_a_clip_complete_a_session(clip_frames: list[FaceResult]) -> None:
    session = EnrollmentSession("F", Gallery.empty(), _dlib(samples=3))
    guidance = set()
    for result in clip_frames:
        status = session.offer(result)
        if status.guidance is not None:
            guidance.add(status.guidance)
    assert session.state is EnrollState.DONE
    assert [s.pose for s in session.samples] == [Pose.STRAIGHT, Pose.SLIGHT_LEFT, Pose.SLIGHT_RIGHT]
    straight, left, right = (s.yaw for s in session.samples)
    assert abs(straight) < 0.08 and 0.06 < left <= 0.30 and -0.30 <= right < -0.06
    # On the way she was out of frame, blurred by motion, turned too far, and
    # turned the wrong way for the prompt.
    assert {"no_face", "turned", "pose"} <= guidance


def test_same_person_from_a_clip_cannot_enroll_under_another_id(
    clip_frames: list[FaceResult], faces: dict[str, FaceResult]
) -> None:
    first = EnrollmentSession("F", Gallery.empty(), _dlib(samples=3))
    for result in clip_frames:
        first.offer(result)
    assert first.state is EnrollState.DONE
    name, version = first.model
    gallery = Gallery.build(
        [Template("F", s.vector, f"F-{i}", name, version) for i, s in enumerate(first.samples)]
        + [Template("A", _vec(faces["a1"]).astype(np.float32), "A-0", name, version)]
    )
    second = EnrollmentSession("G", gallery)
    statuses = [second.offer(result) for result in clip_frames]
    assert second.state is EnrollState.DUPLICATE
    assert statuses[-1].duplicate_of == "F" and statuses[-1].captured == 0
    # She may re-enroll as herself.
    again = EnrollmentSession("F", gallery, _dlib(samples=3))
    for result in clip_frames:
        again.offer(result)
    assert again.state is EnrollState.DONE
