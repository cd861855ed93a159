"""From per-frame gallery searches to one decision: MATCH, REVIEW, UNKNOWN or PENDING.

One frame is never enough: a blink, a half-turned head or a colleague passing
behind can move a distance across the threshold for a frame. A
:class:`FaceTracker` follows one face over consecutive frames (box continuity
and a time-out) and decides only when its last ``frames_required`` gated
frames (frames that passed the quality gate and were searched) say the same:

* MATCH (person, distance, margin): every frame names the same person with
  distance <= ``threshold`` and margin >= ``min_margin``. The reported
  distance is the worst (largest) of the window, the margin the smallest.
  A MATCH is final for its track.
* UNKNOWN: every frame is farther than ``review_threshold`` from everyone
  (a visitor; the normal case at a public kiosk).
* REVIEW: anything else once the window is full (a distance in the
  borderline band, a margin too small, or frames that disagree); the kiosk
  asks for NIP + PIN. REVIEW and UNKNOWN are not final: they describe the
  current window and may turn into MATCH when later frames agree, so the
  kiosk decides how long to wait before acting on them.
* PENDING: not enough gated frames yet.

Quality failures do not count as frames and do not break the window; they
are passed through as ``guidance`` for the on-screen instruction. Time is
always passed in (a monotonic reading in seconds); nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

from recognition.gallery import SearchResult

# Two boxes of consecutive frames belong to one face when they overlap this
# much (intersection over union) ...
_MIN_IOU = 0.3
# ... or when the centre moved by at most this share of the previous box size.
_MAX_CENTRE_SHIFT = 0.5


class Outcome(StrEnum):
    PENDING = "pending"
    MATCH = "match"
    REVIEW = "review"
    UNKNOWN = "unknown"


# Why a decision was taken (English codes for logs and tests, not UI text).
Reason = Literal[
    "match",  # MATCH: the frames agree
    "borderline",  # REVIEW: a distance between threshold and review_threshold
    "small_margin",  # REVIEW: close to the person, but not clearly closer than to others
    "disagree",  # REVIEW: the frames name different people, or mix match and no match
    "no_match",  # UNKNOWN: farther than review_threshold from everyone
    "empty_gallery",  # UNKNOWN: nobody enrolled in scope
    "collecting",  # PENDING: fewer than frames_required gated frames
    "no_face",  # PENDING: no face and no live track
]


@dataclass(frozen=True)
class MatchParams:
    """Mirrors ``[recognition.match]`` of config.toml (same field names and defaults).

    ``gallery_scope`` is carried for the composition root, which builds the
    gallery's scope filter from it; the decision itself does not use it.
    """

    threshold: float = 0.94
    review_threshold: float = 1.02
    min_margin: float = 0.0
    max_cohort_ratio: float = 0.78
    max_runner_up_ratio: float = 10.0
    mean_template: bool = True
    frames_required: int = 3
    track_timeout_seconds: float = 1.0
    gallery_scope: Literal["opd", "all"] = "opd"

    def __post_init__(self) -> None:
        for name in (
            "threshold",
            "review_threshold",
            "min_margin",
            "max_cohort_ratio",
            "max_runner_up_ratio",
            "track_timeout_seconds",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"match.{name} must be a finite number >= 0, got {value!r}")
        if self.review_threshold < self.threshold:
            raise ValueError(
                f"match.review_threshold ({self.review_threshold}) must be >= "
                f"match.threshold ({self.threshold})"
            )
        if self.track_timeout_seconds <= 0:
            raise ValueError(
                f"match.track_timeout_seconds must be > 0, got {self.track_timeout_seconds}"
            )
        if not isinstance(self.frames_required, int) or self.frames_required < 1:
            raise ValueError(
                f"match.frames_required must be an int >= 1, got {self.frames_required!r}"
            )
        if self.gallery_scope not in ("opd", "all"):
            raise ValueError(
                f"match.gallery_scope must be 'opd' or 'all', got {self.gallery_scope!r}"
            )


class BoxLike(Protocol):
    """A face box in pixels (``recognition.faces.Box`` fits)."""

    @property
    def left(self) -> float: ...
    @property
    def top(self) -> float: ...
    @property
    def right(self) -> float: ...
    @property
    def bottom(self) -> float: ...


@dataclass(frozen=True)
class Observation:
    """What one frame showed of the main face.

    * no face: ``box=None`` (``failure`` and ``result`` must be unset or "no_face");
    * a face that failed the quality gate: ``box`` and ``failure`` (a quality
      code such as ``"too_far"``);
    * a gated face: ``box`` and ``result`` (the gallery search; ``None`` when
      the gallery is empty). ``failure="ok"`` is the same as no failure.
    """

    timestamp: float
    box: BoxLike | None = None
    result: SearchResult | None = None
    failure: str | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.timestamp):
            raise ValueError(f"timestamp must be finite, got {self.timestamp!r}")
        if self.failure == "ok":
            object.__setattr__(self, "failure", None)
        if self.box is None:
            if self.result is not None:
                raise ValueError("an observation without a face box cannot carry a search result")
            if self.failure not in (None, "no_face"):
                raise ValueError(f"failure {self.failure!r} needs the face box it refers to")
        elif self.failure is not None and self.result is not None:
            raise ValueError("a frame that failed the quality gate has no search result")

    @property
    def gated(self) -> bool:
        """A face that passed the quality gate and was searched."""
        return self.box is not None and self.failure is None


@dataclass(frozen=True)
class Decision:
    """The state of the current face after one frame.

    ``person_id`` is the matched person for MATCH and the best candidate for
    REVIEW (for the kiosk's NIP prompt; never a punch); ``None`` otherwise.
    ``distance`` and ``margin`` are inf when not known. ``changed`` is true on
    the frame where the outcome of this track became what it is. ``guidance``
    is the latest quality failure code of the face, for the on-screen hint.
    """

    outcome: Outcome
    reason: Reason
    person_id: str | None = None
    distance: float = math.inf
    margin: float = math.inf
    frames: int = 0
    track_id: int | None = None
    changed: bool = False
    guidance: str | None = None


def decide_single(result: SearchResult | None, params: MatchParams) -> Decision:
    """The decision for one still image (``hadir evaluate`` on photo sets).

    Accept (MATCH) when distance <= threshold, margin >= min_margin and the
    distance is at most ``max_cohort_ratio`` of the cohort distance (the mean
    distance to the nearest other people: a genuine face stands out from
    them, a stranger's nearest person does not) and at most
    ``max_runner_up_ratio`` of the distance to the best other person (a
    stranger who resembles two enrolled look-alikes sits between them);
    UNKNOWN beyond
    review_threshold (or nobody enrolled); REVIEW between.
    """
    if result is None:
        return Decision(Outcome.UNKNOWN, "empty_gallery", frames=1)
    if result.distance > params.review_threshold:
        return Decision(Outcome.UNKNOWN, "no_match", None, result.distance, result.margin, 1)
    reason: Reason
    if result.distance > params.threshold:
        outcome, reason = Outcome.REVIEW, "borderline"
    elif (
        result.margin < params.min_margin
        or result.distance > params.max_cohort_ratio * result.cohort_distance
        or result.distance > params.max_runner_up_ratio * result.runner_up_distance
    ):
        outcome, reason = Outcome.REVIEW, "small_margin"
    else:
        outcome, reason = Outcome.MATCH, "match"
    return Decision(outcome, reason, result.person_id, result.distance, result.margin, 1)


@dataclass(frozen=True)
class _Frame:
    decision: Decision
    nearest: str | None  # the nearest person even when the frame alone says UNKNOWN


class _Track:
    def __init__(self, track_id: int, box: BoxLike, seen: float, frames_required: int) -> None:
        self.track_id = track_id
        self.box = box
        self.last_seen = seen
        self.window: deque[_Frame] = deque(maxlen=frames_required)
        self.outcome = Outcome.PENDING
        self.match: Decision | None = None
        self.guidance: str | None = None


class FaceTracker:
    """Follows the main face across frames and decides; one per camera, one thread.

    Feed every processed frame to :meth:`update` in time order. Call
    :meth:`reset` after acting on a decision to start afresh with the next face.
    """

    def __init__(self, params: MatchParams) -> None:
        self.params = params
        self._track: _Track | None = None
        self._next_id = 1
        self._last_time = -math.inf

    @property
    def track_id(self) -> int | None:
        """The id of the live track, if any."""
        return self._track.track_id if self._track is not None else None

    def reset(self) -> None:
        """End the current track; the next face starts a new one."""
        self._track = None

    def update(self, obs: Observation) -> Decision:
        if obs.timestamp < self._last_time:
            raise ValueError(
                f"observations must come in time order: {obs.timestamp} < {self._last_time}"
            )
        self._last_time = obs.timestamp
        track = self._track
        if (
            track is not None
            and obs.timestamp - track.last_seen > self.params.track_timeout_seconds
        ):
            track = self._track = None
        if obs.box is None:
            if track is None:
                return Decision(Outcome.PENDING, "no_face")
            return self._report(track, self._evaluate(track))  # a missed detection
        if track is None or not _same_face(track.box, obs.box):
            track = self._start(obs.box, obs.timestamp)
        track.box = obs.box
        track.last_seen = obs.timestamp
        if not obs.gated:
            track.guidance = obs.failure
            return self._report(track, self._evaluate(track))
        track.guidance = None
        single = decide_single(obs.result, self.params)
        nearest = obs.result.person_id if obs.result is not None else None
        track.window.append(_Frame(single, nearest))
        if track.match is not None and self._switched(track):
            # Another person took the place of the matched one without a gap.
            window = track.window
            track = self._start(obs.box, obs.timestamp)
            track.window.extend(window)
        return self._report(track, self._evaluate(track))

    def _start(self, box: BoxLike, now: float) -> _Track:
        self._track = _Track(self._next_id, box, now, self.params.frames_required)
        self._next_id += 1
        return self._track

    def _switched(self, track: _Track) -> bool:
        assert track.match is not None
        return len(track.window) == track.window.maxlen and all(
            f.nearest != track.match.person_id for f in track.window
        )

    def _evaluate(self, track: _Track) -> Decision:
        if track.match is not None:
            return track.match
        frames = [f.decision for f in track.window]
        n = len(frames)
        if n < self.params.frames_required:
            return Decision(Outcome.PENDING, "collecting", frames=n)
        outcomes = {d.outcome for d in frames}
        if outcomes == {Outcome.UNKNOWN}:
            reason: Reason = (
                "empty_gallery" if all(d.reason == "empty_gallery" for d in frames) else "no_match"
            )
            closest = min(frames, key=lambda d: d.distance)
            return Decision(Outcome.UNKNOWN, reason, None, closest.distance, closest.margin, n)
        people = {f.nearest for f in track.window}
        if outcomes == {Outcome.MATCH} and len(people) == 1:
            return Decision(
                Outcome.MATCH,
                "match",
                frames[-1].person_id,
                max(d.distance for d in frames),
                min(d.margin for d in frames),
                n,
            )
        reasons = {d.reason for d in frames}
        if len(people) > 1:
            reason = "disagree"
        elif "borderline" in reasons:
            reason = "borderline"
        elif "small_margin" in reasons:
            reason = "small_margin"
        else:  # the same person, but some frames match and others are far off
            reason = "disagree"
        candidate = _most_common([d.person_id for d in frames if d.person_id is not None])
        own = [d for d in frames if d.person_id == candidate]
        return Decision(
            Outcome.REVIEW,
            reason,
            candidate,
            min((d.distance for d in own), default=math.inf),
            min((d.margin for d in own), default=math.inf),
            n,
        )

    def _report(self, track: _Track, decision: Decision) -> Decision:
        changed = decision.outcome != track.outcome
        track.outcome = decision.outcome
        if decision.outcome is Outcome.MATCH and track.match is None:
            track.match = decision
        return Decision(
            decision.outcome,
            decision.reason,
            decision.person_id,
            decision.distance,
            decision.margin,
            decision.frames,
            track.track_id,
            changed,
            track.guidance,
        )


def _most_common(people: list[str]) -> str | None:
    """The most frequent person; on a tie the one seen last."""
    if not people:
        return None
    counts = Counter(people)
    top = max(counts.values())
    return next(p for p in reversed(people) if counts[p] == top)


def _same_face(previous: BoxLike, current: BoxLike) -> bool:
    """Box continuity between consecutive observations of a track."""
    pw, ph = previous.right - previous.left, previous.bottom - previous.top
    cw, ch = current.right - current.left, current.bottom - current.top
    ix = max(0.0, min(previous.right, current.right) - max(previous.left, current.left))
    iy = max(0.0, min(previous.bottom, current.bottom) - max(previous.top, current.top))
    inter = ix * iy
    union = max(0.0, pw) * max(0.0, ph) + max(0.0, cw) * max(0.0, ch) - inter
    if union > 0 and inter / union >= _MIN_IOU:
        return True
    dx = (current.left + current.right - previous.left - previous.right) / 2.0
    dy = (current.top + current.bottom - previous.top - previous.bottom) / 2.0
    return math.hypot(dx, dy) <= _MAX_CENTRE_SHIFT * max(pw, ph, 1.0)
