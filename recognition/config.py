"""The sections of ``config.toml`` that ``recognition/`` owns.

``[camera]``, ``[recognition.*]`` and ``[fingerprint]``: frozen pydantic
models (see :class:`hadir.configfile.Section`) whose field constraints are
the allowed values. The code of this package takes these models directly
(``MatchSection`` is what the decision reads, ``LivenessSection`` what the
liveness gate reads...); there are no parallel parameter classes. This module
imports only pydantic, so the server and ``hadir config show`` can read it
without OpenCV or dlib. Adding a key: add the field here and a commented line
in the top-level ``config.toml`` (a test checks the two agree).
"""

from __future__ import annotations

from typing import Literal, Self, get_args

from pydantic import Field, model_validator

from hadir.configfile import Section, SectionView

SourceKind = Literal["camera", "video", "images"]
ChallengeKind = Literal["blink", "turn_left", "turn_right"]
CHALLENGE_KINDS: tuple[ChallengeKind, ...] = get_args(ChallengeKind)
ChallengePolicy = Literal["always", "random", "unsure", "never"]
CHALLENGE_POLICIES: tuple[ChallengePolicy, ...] = get_args(ChallengePolicy)


class CameraSection(Section):
    """``[camera]``: which frame source the kiosk opens (``recognition.frames``)."""

    source: SourceKind = "camera"
    index: int = Field(0, ge=0, le=63)
    device: str = Field("", description="device path such as /dev/video0; overrides index")
    path: str = Field("", description="video file or image folder for source = video/images")
    loop: bool = True
    width: int = Field(640, ge=160, le=3840)
    height: int = Field(480, ge=120, le=2160)
    fps: int = Field(15, ge=1, le=60)
    reconnect_seconds: float = Field(2.0, ge=0.1, le=300.0)


class DetectorSection(Section):
    backend: Literal["hog", "yunet"] = "yunet"
    yunet_model: str = Field("", description="path to a YuNet ONNX file; empty = the shipped one")
    detect_width: int = Field(320, ge=80, le=1920)
    upsample: int = Field(0, ge=0, le=2)
    min_confidence: float = Field(0.7, ge=0.0, le=1.0)


class QualitySection(Section):
    """``[recognition.quality]``: the gate of ``recognition.quality.assess``."""

    min_eye_distance: float = Field(28.0, ge=4.0, le=1000.0)
    min_sharpness: float = Field(15.0, ge=0.0, le=100000.0)
    min_brightness: float = Field(50.0, ge=0.0, le=255.0)
    max_brightness: float = Field(210.0, ge=0.0, le=255.0)
    max_yaw: float = Field(0.35, ge=0.0, le=1.0)
    edge_margin: float = Field(0.02, ge=0.0, le=0.5)
    second_face_ratio: float = Field(0.6, ge=0.0, le=1.0)


class MatchSection(Section):
    """``[recognition.match]``: the decision of ``recognition.decision``.

    ``gallery_scope`` is read by the composition root, which builds the
    gallery's scope filter from it; the decision itself does not use it.
    """

    threshold: float = Field(0.94, ge=0.0, le=2.0, allow_inf_nan=False)
    review_threshold: float = Field(1.02, ge=0.0, le=2.0, allow_inf_nan=False)
    min_margin: float = Field(0.0, ge=0.0, le=2.0, allow_inf_nan=False)
    max_cohort_ratio: float = Field(0.78, ge=0.0, le=10.0, allow_inf_nan=False)
    max_runner_up_ratio: float = Field(10.0, ge=0.0, le=10.0, allow_inf_nan=False)
    mean_template: bool = True
    frames_required: int = Field(3, ge=1, le=30)
    track_timeout_seconds: float = Field(1.0, ge=0.1, le=10.0)
    gallery_scope: Literal["opd", "all"] = "opd"

    @model_validator(mode="after")
    def _review_above_threshold(self) -> Self:
        if self.review_threshold < self.threshold:
            raise ValueError(
                f"review_threshold ({self.review_threshold}) must be >= "
                f"threshold ({self.threshold})"
            )
        return self


class LivenessSection(Section):
    """``[recognition.liveness]``: when and how ``recognition.liveness`` challenges."""

    challenge: ChallengePolicy = "unsure"
    random_share: float = Field(0.2, ge=0.0, le=1.0)
    # A TOML list; kept as a tuple (strict=False lets a list in).
    challenges: tuple[ChallengeKind, ...] = Field(CHALLENGE_KINDS, min_length=1, strict=False)
    timeout_seconds: float = Field(6.0, ge=1.0, le=30.0)
    passive_min_frames: int = Field(5, ge=2, le=60)


class EnrollmentSection(Section):
    samples: int = Field(5, ge=1, le=20)
    duplicate_threshold: float = Field(0.80, ge=0.0, le=2.0)
    # Two samples of one person farther apart than this mean someone else stepped in
    # (face-reidentification-retail-0095: one face turned left and right measured up
    # to 1.00 apart, different people mostly 1.2-1.45; dlib: 0.55).
    max_self_distance: float = Field(1.15, ge=0.0, le=2.0)
    # A sample this close to an earlier one adds nothing (same frame twice; dlib: 0.015).
    min_sample_spacing: float = Field(0.03, ge=0.0, le=2.0)


class MigrationSection(Section):
    """``[recognition.migration]``: templates of the new model grown from dlib's matches."""

    target_model: Literal["", "face-reidentification-retail-0095"] = Field(
        "", description="empty = no migration"
    )
    max_distance: float = Field(0.40, ge=0.0, le=2.0)
    max_templates: int = Field(3, ge=1, le=20)


# The embedding models of recognition/modelinfo.py (a test checks the two agree).
FaceModel = Literal["face-reidentification-retail-0095", "dlib_face_recognition_resnet_model_v1"]


class RecognitionSection(Section):
    # The face embedding model; templates of another model are kept but not matched.
    model: FaceModel = "face-reidentification-retail-0095"
    detector: DetectorSection = Field(default_factory=DetectorSection)
    quality: QualitySection = Field(default_factory=QualitySection)
    match: MatchSection = Field(default_factory=MatchSection)
    liveness: LivenessSection = Field(default_factory=LivenessSection)
    enrollment: EnrollmentSection = Field(default_factory=EnrollmentSection)
    migration: MigrationSection = Field(default_factory=MigrationSection)


class FingerprintSection(Section):
    """``[fingerprint]``: the UART module of ``recognition.fingerprint``."""

    port: str = Field("", description="empty = no fingerprint sensor")
    baudrate: int = Field(57600, ge=9600, le=115200)
    password: int = Field(0, ge=0, le=0xFFFFFFFF)
    capacity: int = Field(1000, ge=1, le=65535)
    poll_seconds: float = Field(0.15, ge=0.02, le=5.0)


class RecognitionConfig(SectionView):
    """What ``recognition/`` reads of the whole file."""

    camera: CameraSection = Field(default_factory=CameraSection)
    recognition: RecognitionSection = Field(default_factory=RecognitionSection)
    fingerprint: FingerprintSection = Field(default_factory=FingerprintSection)
