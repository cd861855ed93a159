"""Deciding over consecutive frames: MATCH only when enough gated frames agree."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recognition.config import MatchSection
from recognition.decision import (
    Decision,
    FaceTracker,
    Observation,
    Outcome,
    decide_single,
)
from recognition.faces import Box
from recognition.gallery import SearchResult

# Explicit values, so the tests check the logic whatever the calibrated defaults are.
PARAMS = MatchSection(
    threshold=0.42,
    review_threshold=0.52,
    min_margin=0.06,
    max_cohort_ratio=10.0,
    max_runner_up_ratio=10.0,
)  # 3 frames, 1 s
BOX = Box(200, 120, 320, 260)
FPS = 1 / 8  # the recognition loop runs at about 8 frames per second


def hit(person: str, distance: float, margin: float = 0.2) -> SearchResult:
    other = "asn-runner-up"
    return SearchResult(person, distance, margin, other, distance + margin, f"{person}-t1")


def feed(tracker: FaceTracker, results: Sequence[SearchResult | None], t0: float = 0.0) -> Decision:
    decision = Decision(Outcome.PENDING, "no_face")
    for i, result in enumerate(results):
        decision = tracker.update(Observation(t0 + i * FPS, BOX, result))
    return decision


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"review_threshold": 0.3}, "review_threshold"),
        ({"frames_required": 0}, "frames_required"),
        ({"min_margin": -0.1}, "min_margin"),
        ({"max_runner_up_ratio": -1.0}, "max_runner_up_ratio"),
        ({"threshold": math.nan}, "threshold"),
        ({"track_timeout_seconds": 0.0}, "track_timeout_seconds"),
        ({"gallery_scope": "everyone"}, "gallery_scope"),
    ],
)
def test_bad_params_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MatchSection(**changes)  # type: ignore[arg-type]


def test_cohort_ratio_sends_an_indistinct_match_to_review() -> None:
    params = PARAMS.model_copy(update={"max_cohort_ratio": 0.76})
    distinct = SearchResult("a", 0.30, 0.2, "b", 0.5, "t", cohort_distance=0.60)
    assert decide_single(distinct, params).outcome is Outcome.MATCH  # 0.30 <= 0.456
    crowded = SearchResult("a", 0.40, 0.1, "b", 0.5, "t", cohort_distance=0.50)
    decision = decide_single(crowded, params)  # 0.40 > 0.38: not clearly this person
    assert (decision.outcome, decision.reason) == (Outcome.REVIEW, "small_margin")
    # A lone enrolled person has no cohort: only the threshold applies.
    alone = SearchResult("a", 0.40, math.inf, None, math.inf, "t")
    assert decide_single(alone, params).outcome is Outcome.MATCH


def test_runner_up_ratio_sends_a_match_between_look_alikes_to_review() -> None:
    params = PARAMS.model_copy(update={"max_runner_up_ratio": 0.8})
    # Margin 0.08 passes min_margin (0.06), but 0.36 is 0.82 of 0.44: a stranger
    # between two enrolled look-alikes, not clearly either of them.
    between = SearchResult("a", 0.36, 0.08, "b", 0.44, "t", cohort_distance=0.9)
    decision = decide_single(between, params)
    assert (decision.outcome, decision.reason) == (Outcome.REVIEW, "small_margin")
    assert decide_single(between, PARAMS).outcome is Outcome.MATCH  # rule off (10)
    clear = SearchResult("a", 0.30, 0.14, "b", 0.44, "t", cohort_distance=0.9)
    assert decide_single(clear, params).outcome is Outcome.MATCH  # 0.30 <= 0.352
    alone = SearchResult("a", 0.40, math.inf, None, math.inf, "t")
    assert decide_single(alone, params).outcome is Outcome.MATCH


def test_decide_single_bands() -> None:
    assert decide_single(hit("a", 0.30), PARAMS).outcome is Outcome.MATCH
    assert decide_single(hit("a", 0.42), PARAMS).outcome is Outcome.MATCH  # inclusive
    borderline = decide_single(hit("a", 0.45), PARAMS)
    assert (borderline.outcome, borderline.reason, borderline.person_id) == (
        Outcome.REVIEW,
        "borderline",
        "a",
    )
    assert decide_single(hit("a", 0.52), PARAMS).outcome is Outcome.REVIEW
    close_call = decide_single(hit("a", 0.30, margin=0.05), PARAMS)
    assert (close_call.outcome, close_call.reason) == (Outcome.REVIEW, "small_margin")
    visitor = decide_single(hit("a", 0.60), PARAMS)
    assert (visitor.outcome, visitor.reason, visitor.person_id) == (
        Outcome.UNKNOWN,
        "no_match",
        None,
    )
    assert decide_single(None, PARAMS).reason == "empty_gallery"
    single = SearchResult("a", 0.2, math.inf, None, math.inf, "t")
    assert decide_single(single, PARAMS).outcome is Outcome.MATCH


@given(
    distance=st.floats(0.0, 2.0),
    margin=st.floats(0.0, 2.0) | st.just(math.inf),
)
def test_decide_single_accepts_exactly_inside_the_operating_point(
    distance: float, margin: float
) -> None:
    decision = decide_single(hit("a", distance, margin), PARAMS)
    accept = distance <= PARAMS.threshold and margin >= PARAMS.min_margin
    assert (decision.outcome is Outcome.MATCH) == accept
    assert (decision.outcome is Outcome.UNKNOWN) == (distance > PARAMS.review_threshold)


def test_match_after_frames_required_agreeing_frames() -> None:
    tracker = FaceTracker(PARAMS)
    first = tracker.update(Observation(0.0, BOX, hit("asn-7", 0.35, 0.15)))
    second = tracker.update(Observation(0.1, BOX, hit("asn-7", 0.30, 0.20)))
    assert (first.outcome, first.frames) == (Outcome.PENDING, 1)
    assert (second.outcome, second.reason, second.frames) == (Outcome.PENDING, "collecting", 2)
    third = tracker.update(Observation(0.2, BOX, hit("asn-7", 0.33, 0.10)))
    assert third.outcome is Outcome.MATCH
    assert third.person_id == "asn-7"
    assert third.distance == 0.35  # the worst of the window
    assert third.margin == 0.10
    assert third.changed
    assert third.track_id == first.track_id == 1
    # A MATCH is final for its track: later frames keep it, not "changed" again.
    fourth = tracker.update(Observation(0.3, BOX, hit("asn-7", 0.47)))
    assert (fourth.outcome, fourth.person_id, fourth.changed) == (Outcome.MATCH, "asn-7", False)


@pytest.mark.parametrize("frames_required", [1, 2, 5])
def test_frames_required_is_honoured(frames_required: int) -> None:
    tracker = FaceTracker(PARAMS.model_copy(update={"frames_required": frames_required}))
    outcomes = [
        tracker.update(Observation(i * FPS, BOX, hit("a", 0.3))).outcome
        for i in range(frames_required)
    ]
    assert outcomes == [Outcome.PENDING] * (frames_required - 1) + [Outcome.MATCH]


def test_single_disagreeing_frame_prevents_match() -> None:
    tracker = FaceTracker(PARAMS)
    decision = feed(tracker, [hit("asn-1", 0.3), hit("asn-2", 0.3), hit("asn-1", 0.3)])
    assert decision.outcome is Outcome.REVIEW
    assert decision.reason == "disagree"
    assert decision.person_id == "asn-1"  # the candidate for the NIP prompt
    # Once the odd frame has left the window, the agreeing frames decide.
    later = feed(tracker, [hit("asn-1", 0.3), hit("asn-1", 0.3)], t0=3 * FPS)
    assert (later.outcome, later.person_id) == (Outcome.MATCH, "asn-1")
    assert later.track_id == decision.track_id


@given(
    odd=st.integers(0, 4),
    odd_result=st.sampled_from(
        [hit("asn-2", 0.3), hit("asn-1", 0.45), hit("asn-1", 0.3, 0.01), hit("asn-1", 0.7)]
    ),
)
@settings(max_examples=40)
def test_any_bad_frame_in_the_window_prevents_match(odd: int, odd_result: SearchResult) -> None:
    params = PARAMS.model_copy(update={"frames_required": 5})
    results = [hit("asn-1", 0.3) for _ in range(5)]
    results[odd] = odd_result
    decision = feed(FaceTracker(params), results)
    assert decision.outcome is Outcome.REVIEW


def test_review_in_the_borderline_band() -> None:
    decision = feed(FaceTracker(PARAMS), [hit("a", 0.45), hit("a", 0.40), hit("a", 0.50)])
    assert (decision.outcome, decision.reason, decision.person_id) == (
        Outcome.REVIEW,
        "borderline",
        "a",
    )
    assert decision.distance == 0.40
    small = feed(FaceTracker(PARAMS), [hit("a", 0.3, 0.03)] * 3)
    assert (small.outcome, small.reason) == (Outcome.REVIEW, "small_margin")


def test_unknown_for_visitors() -> None:
    tracker = FaceTracker(PARAMS)
    decision = feed(tracker, [hit("a", 0.70), hit("b", 0.61), hit("c", 0.80)])
    assert (decision.outcome, decision.reason, decision.person_id) == (
        Outcome.UNKNOWN,
        "no_match",
        None,
    )
    assert decision.distance == 0.61
    assert decision.changed
    again = tracker.update(Observation(0.5, BOX, hit("a", 0.75)))
    assert (again.outcome, again.changed) == (Outcome.UNKNOWN, False)
    empty = feed(FaceTracker(PARAMS), [None, None, None])
    assert (empty.outcome, empty.reason) == (Outcome.UNKNOWN, "empty_gallery")


def test_switching_faces_resets_the_track() -> None:
    tracker = FaceTracker(PARAMS)
    feed(tracker, [hit("asn-1", 0.3), hit("asn-1", 0.3)])
    # Another face somewhere else in the frame: a new track, the old frames are gone.
    elsewhere = Box(450, 100, 560, 230)
    decision = tracker.update(Observation(0.3, elsewhere, hit("asn-1", 0.3)))
    assert (decision.outcome, decision.frames, decision.track_id) == (Outcome.PENDING, 1, 2)


def test_small_movements_keep_the_track() -> None:
    tracker = FaceTracker(PARAMS)
    boxes = [Box(200, 120, 320, 260), Box(215, 125, 335, 265), Box(240, 130, 370, 280)]
    decisions = [
        tracker.update(Observation(i * FPS, box, hit("a", 0.3))) for i, box in enumerate(boxes)
    ]
    assert {d.track_id for d in decisions} == {1}
    assert decisions[-1].outcome is Outcome.MATCH


def test_another_person_in_the_same_place_after_a_match_starts_a_new_track() -> None:
    tracker = FaceTracker(PARAMS)
    first = feed(tracker, [hit("asn-1", 0.3)] * 3)
    assert (first.outcome, first.person_id) == (Outcome.MATCH, "asn-1")
    # asn-2 steps in without a gap, at the same spot.
    decisions = [
        tracker.update(Observation(1.0 + i * FPS, BOX, hit("asn-2", 0.3))) for i in range(3)
    ]
    assert [d.person_id for d in decisions[:2]] == ["asn-1", "asn-1"]
    assert (decisions[2].outcome, decisions[2].person_id) == (Outcome.MATCH, "asn-2")
    assert decisions[2].track_id != first.track_id
    assert decisions[2].changed


def test_timeout_ends_the_track() -> None:
    tracker = FaceTracker(PARAMS)
    feed(tracker, [hit("a", 0.3), hit("a", 0.3)])  # last seen at 0.125 s
    assert tracker.track_id == 1
    # Still within the time-out: a missed detection keeps the track.
    gap = tracker.update(Observation(1.0, None))
    assert (gap.outcome, gap.track_id, gap.frames) == (Outcome.PENDING, 1, 2)
    # Past it: the track is over, and the next face starts from zero.
    gone = tracker.update(Observation(1.2, None))
    assert (gone.outcome, gone.reason, gone.track_id) == (Outcome.PENDING, "no_face", None)
    assert tracker.track_id is None
    back = tracker.update(Observation(1.3, BOX, hit("a", 0.3)))
    assert (back.outcome, back.frames, back.track_id) == (Outcome.PENDING, 1, 2)


def test_timeout_applies_even_when_the_same_box_reappears() -> None:
    tracker = FaceTracker(PARAMS)
    feed(tracker, [hit("a", 0.3), hit("a", 0.3)])
    late = tracker.update(Observation(5.0, BOX, hit("a", 0.3)))
    assert (late.outcome, late.frames, late.track_id) == (Outcome.PENDING, 1, 2)


def test_quality_failures_guide_but_do_not_count() -> None:
    tracker = FaceTracker(PARAMS)
    tracker.update(Observation(0.0, BOX, hit("a", 0.3)))
    turned = tracker.update(Observation(0.1, BOX, failure="turned"))
    assert (turned.outcome, turned.frames, turned.guidance) == (Outcome.PENDING, 1, "turned")
    tracker.update(Observation(0.2, BOX, hit("a", 0.3)))
    done = tracker.update(Observation(0.3, BOX, hit("a", 0.3), failure="ok"))
    assert (done.outcome, done.frames, done.guidance) == (Outcome.MATCH, 3, None)


def test_reset_starts_afresh() -> None:
    tracker = FaceTracker(PARAMS)
    matched = feed(tracker, [hit("a", 0.3)] * 3)
    tracker.reset()
    assert tracker.track_id is None
    after = tracker.update(Observation(1.0, BOX, hit("a", 0.3)))
    assert (after.outcome, after.frames) == (Outcome.PENDING, 1)
    assert after.track_id != matched.track_id


def test_bad_observations_are_refused() -> None:
    tracker = FaceTracker(PARAMS)
    tracker.update(Observation(2.0, BOX, hit("a", 0.3)))
    with pytest.raises(ValueError, match="time order"):
        tracker.update(Observation(1.0, BOX, hit("a", 0.3)))
    with pytest.raises(ValueError, match="without a face box"):
        Observation(0.0, None, hit("a", 0.3))
    with pytest.raises(ValueError, match="needs the face box"):
        Observation(0.0, None, failure="blurred")
    with pytest.raises(ValueError, match="no search result"):
        Observation(0.0, BOX, hit("a", 0.3), failure="blurred")
    with pytest.raises(ValueError, match="finite"):
        Observation(math.inf, BOX)


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.floats(0.0, 1.0), st.floats(0.0, 0.3)),
        min_size=1,
        max_size=12,
    )
)
def test_match_only_when_the_last_frames_all_accept_the_same_person(
    frames: list[tuple[str, float, float]],
) -> None:
    """Over any sequence, the first MATCH comes exactly when the window first all-accepts."""
    tracker = FaceTracker(PARAMS)
    n = PARAMS.frames_required
    accepted = [d <= PARAMS.threshold and m >= PARAMS.min_margin for _, d, m in frames]
    for i, (person, distance, margin) in enumerate(frames):
        decision = tracker.update(Observation(i * FPS, BOX, hit(person, distance, margin)))
        window = frames[max(0, i - n + 1) : i + 1]
        all_accept = (
            i + 1 >= n
            and all(accepted[max(0, i - n + 1) : i + 1])
            and len({p for p, _, _ in window}) == 1
        )
        if decision.outcome is Outcome.MATCH and decision.changed:
            assert all_accept
            assert decision.person_id == person
            break
        assert not all_accept
