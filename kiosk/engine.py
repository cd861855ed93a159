"""The kiosk's recognition ports implemented over ``recognition/``.

:class:`EngineRecognizer` turns one BGR frame into a :class:`FrameAnalysis`
(face box, quality code, tracker decision, a JPEG of the face for the punch
snapshot). :class:`EngineEnrollment` is the guided capture: it collects
``samples`` embeddings that pass the quality gate, prompts for a little pose
variety, and refuses a face that already matches someone else in the
gallery, naming that person.

Both run on the frame worker thread; ``reset`` may be called from the UI
thread and is guarded by a lock.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kiosk.ports import EnrollProgress, Frame, FrameAnalysis
from kiosk.state import FaceBox, PersonRow
from recognition.config import EnrollmentSection, LivenessSection, MatchSection
from recognition.decision import FaceTracker, Observation, Outcome
from recognition.enrollment import EnrollmentSession, EnrollState, Pose
from recognition.faces import Box, FaceEngine, FaceResult
from recognition.gallery import GalleryHolder
from recognition.images import to_rgb
from recognition.liveness import (
    ChallengeSession,
    ChallengeStatus,
    PassiveCheck,
    draw_challenge,
    needs_challenge,
)
from recognition.liveness_clip import landmark_box
from recognition.migration import TemplateMigrator

log = logging.getLogger(__name__)

#: A REVIEW or UNKNOWN window must persist this long before the kiosk offers
#: NIP + PIN: a person still walking up often turns into a MATCH.
DEFAULT_REVIEW_WAIT_SECONDS = 1.2

#: The engine's pose prompts as the kiosk's text keys (``enroll.pose.<name>``).
POSE_NAMES: dict[str, str] = {
    Pose.STRAIGHT: "front",
    Pose.SLIGHT_LEFT: "left",
    Pose.SLIGHT_RIGHT: "right",
}


def face_box(box: Box | None, ok: bool) -> FaceBox | None:
    if box is None:
        return None
    return FaceBox(int(box.left), int(box.top), int(box.right), int(box.bottom), ok)


def face_jpeg(image: npt.NDArray[np.uint8], box: Box, size: int = 160) -> bytes | None:
    """A small JPEG of the face (with some margin) for the punch snapshot."""
    import cv2

    h, w = image.shape[:2]
    pad = int(0.25 * max(box.right - box.left, box.bottom - box.top))
    left, top = max(0, box.left - pad), max(0, box.top - pad)
    right, bottom = min(w, box.right + pad), min(h, box.bottom + pad)
    if right - left < 8 or bottom - top < 8:
        return None
    crop: npt.NDArray[np.uint8] = image[top:bottom, left:right]
    scale = size / max(crop.shape[:2])
    if scale < 1:
        new_size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = np.asarray(cv2.resize(crop, new_size), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return bytes(buf) if ok else None


class EngineRecognizer:
    """Frame -> detection, quality gate, embedding, 1:N search, decision, liveness.

    A MATCH of the tracker is only reported once liveness is settled: the
    passive check needs ``passive_min_frames`` frames of the face; when it
    does not prove a live person (or the policy says so) an active challenge
    is asked (``FrameAnalysis.challenge``) and the MATCH is reported when it
    passes. A failed challenge reports ``spoof``. ``liveness=None`` turns the
    check off (tests of the matching alone).

    With a ``migrator`` (``[recognition.migration]``), a punch the current
    (old) model matched clearly and whose liveness passed also yields the new
    model's vector of that frame, handed to ``on_migrate(nip, vector,
    quality)`` once per track (see :mod:`recognition.migration`).
    """

    def __init__(
        self,
        engine: FaceEngine,
        gallery: GalleryHolder,
        params: MatchSection,
        liveness: LivenessSection | None = None,
        *,
        review_wait_seconds: float = DEFAULT_REVIEW_WAIT_SECONDS,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.gallery = gallery
        self.params = params
        self.liveness = liveness
        self.review_wait = review_wait_seconds
        self.rng = rng or random.SystemRandom()
        self._lock = threading.Lock()
        self._tracker = FaceTracker(params)
        self._unsure_since: dict[int, float] = {}
        self._track: int | None = None
        self._passive: PassiveCheck | None = None
        self._challenge: ChallengeSession | None = None
        self._challenge_decided = False
        self.challenges_asked = 0
        self.migrator: TemplateMigrator | None = None
        self.on_migrate: Callable[[str, npt.NDArray[np.float32], float], object] | None = None
        self._migrated_track: int | None = None

    def reset(self) -> None:
        with self._lock:
            self._tracker.reset()
            self._unsure_since.clear()
            self._new_track(None)

    def _new_track(self, track: int | None) -> None:
        self._track = track
        self._passive = PassiveCheck(self.liveness) if self.liveness is not None else None
        self._challenge = None
        self._challenge_decided = False

    def analyse(self, frame: Frame, now: float) -> FrameAnalysis:
        rgb = to_rgb(frame)
        result: FaceResult = self.engine.analyze(rgb)
        h, w = frame.shape[:2]
        code = result.code
        box = result.box
        landmarks = None
        if box is not None and self.liveness is not None:
            # The 68-point predictor needs a HOG-like box; YuNet's is taller.
            # (result.box is the box of detections[0], the main face.)
            landmarks = self.engine.models.landmarks68(rgb, landmark_box(result.detections[0]))
        with self._lock:
            if box is None:
                obs = Observation(now)
            elif result.embedding is None:
                obs = Observation(now, box, failure=code)
            else:
                obs = Observation(now, box, result=self.gallery.search(result.embedding))
            decision = self._tracker.update(obs)
            if decision.track_id != self._track:
                self._new_track(decision.track_id)
            if self._passive is not None and landmarks is not None:
                self._passive.add(landmarks)
            verdict = "pending"
            challenge: str | None = None
            live_text: str | None = None
            if decision.outcome is Outcome.MATCH:
                verdict, challenge, live_text = self._liveness(landmarks, now)
            elif decision.outcome in (Outcome.REVIEW, Outcome.UNKNOWN):
                track = decision.track_id if decision.track_id is not None else -1
                first = self._unsure_since.setdefault(track, now)
                if now - first >= self.review_wait:
                    verdict = "review" if decision.outcome is Outcome.REVIEW else "unknown"
        snapshot = face_jpeg(frame, box) if box is not None and code == "ok" else None
        matched = verdict == "match"
        if matched and decision.person_id is not None:
            self._migrate(rgb, result, decision.person_id, decision.distance, live_text)
        return FrameAnalysis(
            frame_size=(w, h),
            box=face_box(box, code == "ok"),
            guidance=code,
            challenge=challenge,
            decision=verdict,  # type: ignore[arg-type]
            nip=decision.person_id if matched else None,
            distance=decision.distance if matched else None,
            margin=_finite(decision.margin) if matched else None,
            liveness=live_text if matched else None,
            snapshot_jpeg=snapshot,
            candidate_nip=decision.person_id if verdict == "review" else None,
        )

    def _migrate(
        self,
        rgb: npt.NDArray[np.uint8],
        result: FaceResult,
        nip: str,
        distance: float,
        liveness: str | None,
    ) -> None:
        """Teach the new model this punch's face (once per track), when eligible."""
        migrator, store = self.migrator, self.on_migrate
        if migrator is None or store is None or self._migrated_track == self._track:
            return
        if not migrator.eligible(distance, liveness):
            return
        self._migrated_track = self._track
        vector = migrator.embed(rgb, result)
        if vector is None:
            return
        quality = result.quality.score if result.quality is not None else 0.0
        try:
            store(nip, vector, quality)
        except Exception:  # a punch never fails because of the migration
            log.exception("storing a migrated template failed")

    def _liveness(self, landmarks: object, now: float) -> tuple[str, str | None, str | None]:
        """(verdict, challenge asked, liveness text) for a tracker MATCH; under the lock."""
        params = self.liveness
        passive = self._passive
        if params is None or passive is None:
            return "match", None, None
        if self._challenge is None:
            waits = params.challenge in ("unsure", "random")
            if waits and passive.frames < params.passive_min_frames:
                return "pending", None, None  # a few more frames for the passive check
            verdict = passive.result()
            if not needs_challenge(params, verdict, self.rng):
                status = "passed" if verdict.live else "unproven"
                return "match", None, f"{status}:passive:{verdict.score:.2f}"
            self._challenge = ChallengeSession(draw_challenge(params, self.rng), now, params)
            self.challenges_asked += 1
            log.info("liveness challenge asked: %s", self._challenge.kind)
        session = self._challenge
        state = session.update(landmarks, now)  # type: ignore[arg-type]
        if state.status is ChallengeStatus.PASSED:
            return "match", None, f"passed:{session.kind}:{state.score:.2f}"
        if state.status is ChallengeStatus.FAILED:
            log.warning("liveness challenge %s failed: %s", session.kind, state.reason)
            return "spoof", None, None
        return "pending", session.kind, None


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


@dataclass(frozen=True)
class CapturedSample:
    vector: npt.NDArray[np.float32]
    quality: float


SaveTemplates = Callable[[str, list[CapturedSample]], int]
NameOf = Callable[[str], str]


class EngineEnrollmentSession:
    """Guided capture of one person's samples (``recognition.enrollment.EnrollmentSession``).

    The engine's session checks the quality gate, the head pose asked for
    ("Lihat lurus", "Toleh sedikit ke kiri", ...), that the face is not
    already enrolled as somebody else, and that the samples stay one person.
    """

    def __init__(
        self,
        person: PersonRow,
        engine: FaceEngine,
        gallery: GalleryHolder,
        params: EnrollmentSection,
        save: SaveTemplates,
        name_of: NameOf,
    ) -> None:
        self.person = person
        self.engine = engine
        self._session = EnrollmentSession(person.nip, gallery.gallery, params)
        self._save = save
        self._name_of = name_of

    def feed(self, frame: Frame, now: float) -> EnrollProgress:
        result = self.engine.analyze(to_rgb(frame))
        status = self._session.offer(result)
        box = face_box(result.box, result.code == "ok")
        pose = POSE_NAMES.get(status.prompt, "front")
        dup_nip = status.duplicate_of if status.state is EnrollState.DUPLICATE else None
        return EnrollProgress(
            done=status.captured,
            total=status.required,
            pose=pose,
            quality=status.guidance or "ok",
            box=box,
            duplicate_nip=dup_nip,
            duplicate_name=self._name_of(dup_nip) if dup_nip else None,
            inconsistent=status.state is EnrollState.INCONSISTENT,
        )

    def save(self) -> int:
        samples = self._session.samples
        if self._session.state is not EnrollState.DONE:
            raise ValueError(
                f"enrollment not complete ({len(samples)} of {self._session.params.samples})"
            )
        return self._save(self.person.nip, [CapturedSample(x.vector, x.quality) for x in samples])


class EngineEnrollment:
    def __init__(
        self,
        engine: FaceEngine,
        gallery: GalleryHolder,
        params: EnrollmentSection,
        save: SaveTemplates,
        name_of: NameOf,
    ) -> None:
        self.engine = engine
        self.gallery = gallery
        self.params = params
        self.save = save
        self.name_of = name_of

    def start(self, person: PersonRow) -> EngineEnrollmentSession:
        return EngineEnrollmentSession(
            person, self.engine, self.gallery, self.params, self.save, self.name_of
        )
