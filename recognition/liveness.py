"""Liveness: is the face in front of the kiosk a live person or a picture?

Two layers, both measured on dlib's 68-point landmarks (``FaceModels(with_68=True)``):

* **Passive** (:class:`PassiveCheck`): a flat picture, however it is moved,
  scaled, rotated or tilted in front of the camera, moves its landmarks by a
  plane-to-plane *homography*. A real head turning, talking or blinking does
  not: the nose tip stands in front of the face contour (parallax), eyelids
  and lips move on their own. For every pair of frames we fit a homography
  (least squares over all 68 points) and measure the RMS residual in eye
  distances; the score is the second-highest, over frames, of a frame's
  median residual against all other frames (so a single glitching frame
  cannot make a picture "live"). A still picture (no motion at all) scores
  0 and never passes. The passive check only ever says *live* or *not
  proven*: a real person standing still also looks rigid, so "not proven"
  means "ask a challenge" (see :func:`needs_challenge`).

* **Active** (:class:`ChallengeSession`): a randomised (injected RNG),
  time-limited (injected timestamps) challenge, fed frame by frame:

  - ``blink``: eye opening (eyelid gap over nose length, which a tilted
    picture cannot change, unlike the classic eye aspect ratio) must go
    open -> closed -> open relative to the person's own baseline, both eyes
    together, while the face keeps its proportions (nose length over eye
    distance: tipping a photo changes it, a blink does not);
  - ``turn_left`` / ``turn_right``: the yaw must span from frontal to past a
    threshold in the asked direction, judged by two cues that agree (nose
    against the eyes, nose against the face contour), and the landmarks of
    those two frames must not be related by a homography (a tilted photo
    foreshortens, it does not turn).

**Mirror convention.** Yaw is measured on the frame *as the camera delivers
it* (not the mirrored preview the kiosk displays). Positive yaw means the
nose moved towards the image's right. "Left" is the *person's* left: in an
unmirrored camera frame a person turning to their own left moves their nose
towards the image's right, so ``turn_left`` asks for positive yaw. Pass
``mirrored=True`` to :class:`ChallengeSession` for sources that already flip
the image horizontally.

The order of frontal and turned frames is not imposed: a person who is
already turned when the challenge starts and comes back to frontal has shown
the same 3D motion. The kiosk starts a challenge while the person faces the
camera, so in practice the frontal frame comes first.

**Scores** (``LivenessResult.score``), each in its own unit: passive = the
non-rigidity statistic above (eye distances; live from 0.16); turn = the
yaw swing reached in the asked direction (eye distances; 0.35 needed);
blink = how far the eyes closed, 1 - lowest opening / baseline (0.45
needed, then reopening to 0.85 of the baseline).

**In the kiosk**: per tracked face, feed ``PassiveCheck.add`` with
``FaceModels.landmarks68(rgb, landmark_box(detection))`` (see
:mod:`recognition.liveness_clip`; ~2 ms a frame) while recognising; then
``needs_challenge(params, passive.result(), rng)``; if so,
``ChallengeSession(draw_challenge(params, rng), clock(), params)`` and feed
``update(landmarks, clock())`` until it is no longer PENDING.

**Limits.** Everything is measured on landmarks, so it inherits the
predictor's habits: a photo tilted steeply can make dlib "see" a slightly
turned face, which is why the turn needs two agreeing yaw cues and a wide
swing, and why the passive threshold sits above every attack measured
(faces below ``min_eye_distance_px`` are not judged at all). Not covered:
a *video* of the person replayed on a screen (it blinks and turns), masks,
and a photo bent while it is shown. The audit snapshot of each punch is
the backstop for those.

Nothing here loads models or touches files; thresholds live in
:class:`LivenessTuning` (calibrated on the clips in ``../shared/data/video``
against synthetic rigid-picture attacks, see ``tests/test_liveness.py``).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from recognition.config import (
    CHALLENGE_KINDS,
    CHALLENGE_POLICIES,
    ChallengeKind,
    ChallengePolicy,
    LivenessSection,
)
from recognition.quality import yaw_from_landmarks

Landmarks = npt.NDArray[np.float32]

# 68-point layout (iBUG 300-W): 36-41 one eye, 42-47 the other, 27-30 nose
# ridge (30 = tip), 33 = nose base.
_EYE_A = slice(36, 42)
_EYE_B = slice(42, 48)
_YAW_POINTS = [36, 39, 42, 45, 30]  # eye corners + nose tip, the 5-point layout of quality
_LID_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))


@dataclass(frozen=True)
class LivenessTuning:
    """Calibrated thresholds (not in config.toml: changing them needs re-measuring).

    Units: yaw in eye distances (see :func:`recognition.quality.yaw_from_landmarks`),
    residuals in eye distances, eye opening as a fraction of the person's baseline.
    """

    # Faces smaller than this (pixels between eye centres) are too noisy to judge.
    min_eye_distance_px: float = 20.0
    # Passive: score (residual statistic) needed to call a face live.
    passive_threshold: float = 0.16
    # Passive: below this largest landmark displacement (eye distances) nothing moved.
    min_motion: float = 0.02
    # Passive: at most this many recent frames are kept (pairwise cost is quadratic).
    passive_max_frames: int = 60
    # Turn: |yaw| at most this, and |contour yaw| at most frontal_contour, is frontal.
    frontal_yaw: float = 0.15
    frontal_contour: float = 0.15
    # Turn: yaw at least this, and contour yaw at least turn_contour, in the
    # asked direction counts as turned ...
    turn_yaw: float = 0.30
    turn_contour: float = 0.45
    # ... and the swing from the frontal frame must be at least this.
    turn_swing: float = 0.35
    # Turn: homography residual between the frontal and the turned frame.
    turn_min_residual: float = 0.08
    # Blink: frames that set the open-eye baseline before a blink can count.
    blink_baseline_frames: int = 3
    # Blink: opening below this fraction of the baseline is "closed" ...
    blink_closed_ratio: float = 0.55
    # ... and back above this fraction is "open again".
    blink_open_ratio: float = 0.85
    # Blink: only judged while the face is roughly frontal ...
    blink_max_yaw: float = 0.25
    # ... and keeps its proportions (nose length over eye distance, relative).
    blink_max_shape_change: float = 0.12
    # A jump of the face centre by more than this (eye distances) between two
    # consecutive frames means another face or a swapped picture.
    max_jump: float = 1.0


@dataclass(frozen=True)
class LivenessResult:
    """What a liveness check concluded: ``live``, its ``score`` and a short ``reason`` code."""

    live: bool
    score: float
    reason: str


class ChallengeStatus(enum.Enum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class ChallengeState:
    """The state of a challenge after a frame; ``reason`` says why it passed or failed."""

    status: ChallengeStatus
    score: float
    reason: str

    def result(self) -> LivenessResult:
        return LivenessResult(self.status is ChallengeStatus.PASSED, self.score, self.reason)


# --------------------------------------------------------------------------- geometry


def check_landmarks(landmarks: npt.ArrayLike) -> Landmarks:
    """Validate a (68, 2) array of finite landmark coordinates."""
    arr = np.asarray(landmarks, dtype=np.float32)
    if arr.shape != (68, 2):
        raise ValueError(f"liveness needs 68-point landmarks of shape (68, 2), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("landmarks contain non-finite values")
    return arr


def eye_distance68(landmarks: Landmarks) -> float:
    """Distance between the two eye centres, in pixels."""
    a = landmarks[_EYE_A].mean(axis=0)
    b = landmarks[_EYE_B].mean(axis=0)
    return float(np.hypot(*(b - a)))


def yaw68(landmarks: Landmarks) -> float:
    """Signed yaw (eye distances; positive = nose towards the image's right)."""
    return yaw_from_landmarks(landmarks[_YAW_POINTS])


def contour_yaw(landmarks: Landmarks) -> float:
    """Signed yaw from the face contour: where the nose tip (30) sits between the
    jaw ends (0 and 16) along the eye line, -1..1 (0 frontal; same sign as :func:`yaw68`).

    A second, independent cue: a real head turn moves both, whereas a tilted
    picture that fools the landmark predictor about the nose rarely moves the
    contour consistently.
    """
    a = landmarks[_EYE_A].mean(axis=0)
    b = landmarks[_EYE_B].mean(axis=0)
    if a[0] > b[0]:
        a, b = b, a
    e = b - a
    d = float(np.hypot(e[0], e[1]))
    if d <= 1e-6:
        return 0.0
    u = e / d
    ends = sorted((landmarks[0], landmarks[16]), key=lambda p: float(np.dot(p, u)))
    left = float(np.dot(landmarks[30] - ends[0], u))
    right = float(np.dot(ends[1] - landmarks[30], u))
    total = left + right
    if total <= 1e-6:
        return 0.0
    return float(np.clip((left - right) / total, -1.0, 1.0))


def eye_openings(landmarks: Landmarks) -> tuple[float, float]:
    """Eyelid gap of each eye (36-41, 42-47) over the nose length (27 -> 33).

    Both are roughly vertical segments, so their ratio survives any affine
    warp of a picture (tilting a photo back shortens both alike), unlike the
    eye aspect ratio whose height/width ratio a tilt changes.
    """
    nose = float(np.hypot(*(landmarks[33] - landmarks[27])))
    if nose <= 1e-6:
        return 0.0, 0.0
    gaps = [float(np.hypot(*(landmarks[i] - landmarks[j]))) / nose for i, j in _LID_PAIRS]
    return (gaps[0] + gaps[1]) / 2.0, (gaps[2] + gaps[3]) / 2.0


def eye_opening(landmarks: Landmarks) -> float:
    """Mean of :func:`eye_openings` over both eyes."""
    a, b = eye_openings(landmarks)
    return (a + b) / 2.0


def nose_to_eyes(landmarks: Landmarks) -> float:
    """Nose length over the eye distance: changes when a picture is tipped, not in a blink."""
    return float(np.hypot(*(landmarks[33] - landmarks[27]))) / max(eye_distance68(landmarks), 1e-6)


def eye_aspect_ratio(landmarks: Landmarks) -> float:
    """The classic eye aspect ratio (Soukupova & Cech 2016), mean of both eyes."""

    def ear(e: Landmarks) -> float:
        w = float(np.hypot(*(e[0] - e[3])))
        if w <= 1e-6:
            return 0.0
        h = float(np.hypot(*(e[1] - e[5]))) + float(np.hypot(*(e[2] - e[4])))
        return h / (2.0 * w)

    return (ear(landmarks[_EYE_A]) + ear(landmarks[_EYE_B])) / 2.0


def rigid_residual(a: Landmarks, b: Landmarks) -> float:
    """RMS residual (in eye distances of ``b``) of the best homography mapping ``a`` to ``b``.

    Near 0 when ``b`` is a picture of ``a`` moved, scaled, rotated or tilted.
    """
    return float(rigid_residuals(a[None], b[None])[0])


def _normalising(pts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Hartley normalisation per set: centroid to 0, mean distance sqrt(2). (P, 3, 3)"""
    c = pts.mean(axis=1)
    d = np.sqrt(((pts - c[:, None]) ** 2).sum(axis=2)).mean(axis=1)
    s = np.sqrt(2.0) / np.maximum(d, 1e-9)
    t = np.zeros((len(pts), 3, 3))
    t[:, 0, 0] = s
    t[:, 1, 1] = s
    t[:, 0, 2] = -s * c[:, 0]
    t[:, 1, 2] = -s * c[:, 1]
    t[:, 2, 2] = 1.0
    return t


def _apply(h: npt.NDArray[np.float64], pts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    homog = np.concatenate([pts, np.ones((*pts.shape[:2], 1))], axis=2) @ h.transpose(0, 2, 1)
    w = homog[:, :, 2:3]
    w = np.where(np.abs(w) < 1e-12, 1e-12, w)
    return np.asarray(homog[:, :, :2] / w)


def rigid_residuals(src: npt.ArrayLike, dst: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """:func:`rigid_residual` for many pairs at once: ``src`` and ``dst`` are (P, N, 2).

    The homography is the normalised direct linear transform (least squares
    over all points), solved for all pairs in one batch, so the passive check
    over a few seconds of frames (~1800 pairs) costs milliseconds.
    """
    a = np.asarray(src, dtype=np.float64)
    b = np.asarray(dst, dtype=np.float64)
    ta, tb = _normalising(a), _normalising(b)
    an = _apply(ta, a)
    bn = _apply(tb, b)
    x, y = an[:, :, 0], an[:, :, 1]
    u, v = bn[:, :, 0], bn[:, :, 1]
    one, zero = np.ones_like(x), np.zeros_like(x)
    r1 = np.stack([-x, -y, -one, zero, zero, zero, u * x, u * y, u], axis=2)
    r2 = np.stack([zero, zero, zero, -x, -y, -one, v * x, v * y, v], axis=2)
    m = np.concatenate([r1, r2], axis=1)
    _, vecs = np.linalg.eigh(m.transpose(0, 2, 1) @ m)
    hn = vecs[:, :, 0].reshape(-1, 3, 3)
    h = np.linalg.inv(tb) @ hn @ ta
    proj = _apply(h, a)
    rms = np.sqrt(((proj - b) ** 2).sum(axis=2).mean(axis=1))
    eyes = np.hypot(*(b[:, 42:48].mean(axis=1) - b[:, 36:42].mean(axis=1)).T)
    return np.asarray(rms / np.maximum(eyes, 1e-6))


def _smooth(seq: Sequence[Landmarks]) -> list[Landmarks]:
    """Temporal median over 3 frames: removes single-frame landmark glitches."""
    if len(seq) < 3:
        return list(seq)
    out = [seq[0]]
    for i in range(1, len(seq) - 1):
        out.append(np.median(np.stack(seq[i - 1 : i + 2]), axis=0).astype(np.float32))
    out.append(seq[-1])
    return out


def _max_motion(seq: Sequence[Landmarks]) -> float:
    ref = seq[0]
    scale = max(eye_distance68(ref), 1e-6)
    return max(float(np.abs(p - ref).max()) for p in seq) / scale


# --------------------------------------------------------------------------- passive


class PassiveCheck:
    """Accumulates one face's landmarks over frames and judges whether it is a flat picture.

    Feed every frame of the tracked face with :meth:`add`; :meth:`result`
    is meaningful once ``passive_min_frames`` usable frames were seen.
    """

    def __init__(self, params: LivenessSection, tuning: LivenessTuning | None = None) -> None:
        self.params = params
        self.tuning = tuning or LivenessTuning()
        self._frames: list[Landmarks] = []
        self._small = 0

    @property
    def frames(self) -> int:
        return len(self._frames)

    def add(self, landmarks: npt.ArrayLike | None) -> None:
        """Add the tracked face's landmarks for one frame (``None``: no face in it)."""
        if landmarks is None:
            return
        pts = check_landmarks(landmarks)
        if eye_distance68(pts) < self.tuning.min_eye_distance_px:
            self._small += 1
            return
        self._frames.append(pts)
        if len(self._frames) > self.tuning.passive_max_frames:
            del self._frames[0]

    def result(self) -> LivenessResult:
        t = self.tuning
        if len(self._frames) < self.params.passive_min_frames:
            reason = "face_too_small" if self._small > len(self._frames) else "too_few_frames"
            return LivenessResult(False, 0.0, reason)
        seq = _smooth(self._frames)
        if _max_motion(seq) < t.min_motion:
            return LivenessResult(False, 0.0, "no_motion")
        score = non_rigidity(seq)
        if score >= t.passive_threshold:
            return LivenessResult(True, score, "non_rigid_motion")
        return LivenessResult(False, score, "rigid_motion")


def non_rigidity(seq: Sequence[Landmarks]) -> float:
    """The passive score of a landmark sequence (see the module docstring)."""
    n = len(seq)
    if n < 3:
        return 0.0
    pts = np.stack(seq).astype(np.float64)
    i, j = np.triu_indices(n, 1)
    m = np.zeros((n, n), dtype=np.float64)
    r = rigid_residuals(pts[i], pts[j])
    m[i, j] = r
    m[j, i] = r
    # median over the other frames (the zero diagonal excluded)
    off = m[~np.eye(n, dtype=bool)].reshape(n, n - 1)
    med = np.median(off, axis=1)
    return float(np.sort(med)[-2])


# --------------------------------------------------------------------------- active


@dataclass
class _Sample:
    t: float
    pts: Landmarks
    yaw: float
    contour: float
    openings: tuple[float, float]
    shape: float


class ChallengeSession:
    """One active challenge, fed frame by frame with the tracked face's landmarks.

    ``update`` returns PENDING until the challenge is met (PASSED) or fails
    (FAILED with a reason: ``timeout``, ``face_changed``). Once decided, the
    state no longer changes. Timestamps are seconds from any monotonic clock
    (injected, so tests are deterministic); the time limit counts from
    ``started_at``.
    """

    def __init__(
        self,
        kind: ChallengeKind,
        started_at: float,
        params: LivenessSection,
        tuning: LivenessTuning | None = None,
        *,
        mirrored: bool = False,
    ) -> None:
        if kind not in CHALLENGE_KINDS:
            raise ValueError(
                f"unknown liveness challenge {kind!r} (allowed: {', '.join(CHALLENGE_KINDS)})"
            )
        self.kind: ChallengeKind = kind
        self.started_at = float(started_at)
        self.params = params
        self.tuning = tuning or LivenessTuning()
        self.mirrored = mirrored
        self._samples: list[_Sample] = []
        self._state = ChallengeState(ChallengeStatus.PENDING, 0.0, "waiting")
        self._best = 0.0
        # blink state machine
        self._closed_seen = False
        self._min_ratio = 1.0

    @property
    def state(self) -> ChallengeState:
        return self._state

    @property
    def deadline(self) -> float:
        return self.started_at + self.params.timeout_seconds

    def update(self, landmarks: npt.ArrayLike | None, timestamp: float) -> ChallengeState:
        """Feed one frame (``landmarks`` of the tracked face, or ``None`` when none was found)."""
        if self._state.status is not ChallengeStatus.PENDING:
            return self._state
        if timestamp > self.deadline:
            self._state = ChallengeState(ChallengeStatus.FAILED, self._best, "timeout")
            return self._state
        if landmarks is None:
            return self._state
        pts = check_landmarks(landmarks)
        iod = eye_distance68(pts)
        if iod < self.tuning.min_eye_distance_px:
            self._state = ChallengeState(ChallengeStatus.PENDING, self._best, "face_too_small")
            return self._state
        if self._samples and self._jumped(self._samples[-1].pts, pts):
            self._state = ChallengeState(ChallengeStatus.FAILED, self._best, "face_changed")
            return self._state
        sample = _Sample(
            float(timestamp),
            pts,
            yaw68(pts),
            contour_yaw(pts),
            eye_openings(pts),
            nose_to_eyes(pts),
        )
        self._samples.append(sample)
        if self.kind == "blink":
            self._state = self._update_blink()
        else:
            self._state = self._update_turn(sample)
        return self._state

    def _jumped(self, prev: Landmarks, cur: Landmarks) -> bool:
        iod = max(eye_distance68(prev), 1e-6)
        shift = float(np.hypot(*(cur.mean(axis=0) - prev.mean(axis=0)))) / iod
        return shift > self.tuning.max_jump

    # -- turn

    def _direction(self) -> float:
        # turn_left (person's left) = nose towards the image's right = positive yaw,
        # in an unmirrored frame.
        sign = 1.0 if self.kind == "turn_left" else -1.0
        return -sign if self.mirrored else sign

    def _update_turn(self, new: _Sample) -> ChallengeState:
        t = self.tuning
        d = self._direction()
        # Pair the new frame with every earlier one, in both roles (frontal or turned).
        for old in self._samples[:-1]:
            for frontal, turned in ((old, new), (new, old)):
                if abs(frontal.yaw) > t.frontal_yaw or abs(frontal.contour) > t.frontal_contour:
                    continue
                reach = d * turned.yaw
                swing = d * (turned.yaw - frontal.yaw)
                self._best = max(self._best, min(reach, swing))
                if reach < t.turn_yaw or swing < t.turn_swing:
                    continue
                if d * turned.contour < t.turn_contour:
                    continue
                if rigid_residual(frontal.pts, turned.pts) < t.turn_min_residual:
                    continue
                return ChallengeState(ChallengeStatus.PASSED, swing, "turned")
        return ChallengeState(ChallengeStatus.PENDING, self._best, "waiting")

    # -- blink

    def _update_blink(self) -> ChallengeState:
        t = self.tuning
        usable = [s for s in self._samples if abs(s.yaw) <= t.blink_max_yaw]
        if len(usable) < t.blink_baseline_frames + 1:
            return ChallengeState(ChallengeStatus.PENDING, 0.0, "waiting")
        # Baselines: the open eyes, a high percentile of what was seen so far (a
        # blink is short, so most frames are open), and the face's proportions.
        base = [float(np.percentile([s.openings[k] for s in usable], 75)) for k in (0, 1)]
        base_shape = float(np.median([s.shape for s in usable]))
        if min(base) <= 1e-6 or base_shape <= 1e-6:
            return ChallengeState(ChallengeStatus.PENDING, 0.0, "waiting")
        last = usable[-1]
        ratios = [last.openings[k] / base[k] for k in (0, 1)]
        # The first frames only set the baseline; a closing needs open frames before
        # it, both eyes closing together, and the face keeping its proportions (a
        # picture tipped back squashes eyes and nose alike, a blink only the eyes).
        steady = abs(last.shape / base_shape - 1.0) <= t.blink_max_shape_change
        if len(usable) > t.blink_baseline_frames and steady:
            closed = max(ratios)
            self._min_ratio = min(self._min_ratio, closed)
            if closed <= t.blink_closed_ratio:
                self._closed_seen = True
        self._best = 1.0 - self._min_ratio
        if self._closed_seen and sum(ratios) / 2.0 >= t.blink_open_ratio and steady:
            return ChallengeState(ChallengeStatus.PASSED, self._best, "blinked")
        return ChallengeState(
            ChallengeStatus.PENDING, self._best, "eyes_closed" if self._closed_seen else "waiting"
        )


# --------------------------------------------------------------------------- policy


def draw_challenge(params: LivenessSection, rng: random.Random) -> ChallengeKind:
    """Pick one of the configured challenges with the injected RNG."""
    kinds = [k for k in CHALLENGE_KINDS if k in params.challenges]
    return rng.choice(kinds)


def needs_challenge(
    params: LivenessSection, passive: LivenessResult | None, rng: random.Random
) -> bool:
    """Whether the kiosk asks an active challenge for this punch.

    ``always``: every punch. ``never``: no challenge, the passive check alone
    decides. ``random``: a ``random_share`` of punches (drawn with ``rng``),
    and also whenever the passive check did not prove liveness. ``unsure``
    (default): only when the passive check did not prove liveness (no
    result yet, too few frames, no motion or rigid motion).
    """
    if params.challenge == "always":
        return True
    if params.challenge == "never":
        return False
    unsure = passive is None or not passive.live
    if params.challenge == "random":
        return unsure or rng.random() < params.random_share
    return unsure


# --------------------------------------------------------------------------- clips


def check_clip(
    landmarks: Iterable[npt.ArrayLike | None],
    timestamps: Iterable[float],
    challenge: ChallengeKind | Literal["passive"],
    params: LivenessSection,
    tuning: LivenessTuning | None = None,
    *,
    mirrored: bool = False,
) -> LivenessResult:
    """Run one check over a recorded sequence as if the kiosk had asked for it.

    ``challenge="passive"`` runs :class:`PassiveCheck` over all frames; a
    challenge kind runs a :class:`ChallengeSession` started at the first
    timestamp, stopping at the first decision (an undecided session at the
    end of the clip fails with ``not_completed``).
    """
    tuning = tuning or LivenessTuning()
    pairs = list(zip(landmarks, timestamps, strict=True))
    if not pairs:
        return LivenessResult(False, 0.0, "no_frames")
    if challenge == "passive":
        check = PassiveCheck(params, tuning)
        for pts, _ in pairs:
            check.add(pts)
        return check.result()
    session = ChallengeSession(challenge, pairs[0][1], params, tuning, mirrored=mirrored)
    state = session.state
    for pts, ts in pairs:
        state = session.update(pts, ts)
        if state.status is not ChallengeStatus.PENDING:
            return state.result()
    return LivenessResult(False, state.score, "not_completed")


__all__ = [
    "CHALLENGE_KINDS",
    "CHALLENGE_POLICIES",
    "ChallengeKind",
    "ChallengePolicy",
    "ChallengeSession",
    "ChallengeState",
    "ChallengeStatus",
    "LivenessResult",
    "LivenessSection",
    "LivenessTuning",
    "PassiveCheck",
    "check_clip",
    "check_landmarks",
    "contour_yaw",
    "draw_challenge",
    "eye_aspect_ratio",
    "eye_distance68",
    "eye_opening",
    "eye_openings",
    "needs_challenge",
    "non_rigidity",
    "nose_to_eyes",
    "rigid_residual",
    "rigid_residuals",
    "yaw68",
]
