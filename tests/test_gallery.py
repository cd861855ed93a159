"""The 1:N gallery: search against brute force, margins, scope, bad vectors, atomic swap."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from recognition.gallery import (
    COHORT_SIZE,
    EMBEDDING_DIM,
    MODEL_NAME,
    MODEL_VERSION,
    TEMPLATE_BYTES,
    Gallery,
    GalleryHolder,
    Template,
    bench_search,
    check_vector,
    look_alikes,
)

# Components in dlib's range; float32 so the brute force sees exactly what the gallery stores.
component = st.floats(-1.0, 1.0, width=32, allow_nan=False, allow_infinity=False)
vectors_st = hnp.arrays(np.float32, EMBEDDING_DIM, elements=component)


@st.composite
def galleries(draw: st.DrawFn) -> tuple[list[str], np.ndarray]:
    """Row-aligned person ids and vectors; some rows are exact copies of others (ties)."""
    n_persons = draw(st.integers(1, 6))
    counts = draw(st.lists(st.integers(1, 3), min_size=n_persons, max_size=n_persons))
    person_ids = [f"asn-{p}" for p, c in enumerate(counts) for _ in range(c)]
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    matrix = rng.uniform(-0.3, 0.3, (len(person_ids), EMBEDDING_DIM)).astype(np.float32)
    for row in draw(st.lists(st.integers(0, len(person_ids) - 1), max_size=2)):
        matrix[row] = matrix[0]
    order = draw(st.permutations(range(len(person_ids))))  # input need not be sorted
    return [person_ids[i] for i in order], matrix[list(order)]


@st.composite
def probes_for(draw: st.DrawFn, matrix: np.ndarray) -> np.ndarray:
    """A probe near a template (the kiosk case), exactly on one, or anywhere."""
    kind = draw(st.sampled_from(["near", "exact", "random"]))
    if kind == "random":
        return draw(vectors_st) * np.float32(0.3)
    base: np.ndarray = matrix[draw(st.integers(0, len(matrix) - 1))]
    if kind == "exact":
        return base.copy()
    noise = draw(hnp.arrays(np.float32, EMBEDDING_DIM, elements=component))
    return (base + noise * np.float32(0.02)).astype(np.float32)


def brute_force(person_ids: list[str], matrix: np.ndarray, probe: np.ndarray) -> dict[str, float]:
    """Per-person nearest distance, float64, one template at a time."""
    best: dict[str, float] = {}
    for pid, row in zip(person_ids, matrix, strict=True):
        d = math.sqrt(float(((row.astype(np.float64) - probe.astype(np.float64)) ** 2).sum()))
        best[pid] = min(best.get(pid, math.inf), d)
    return best


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), gallery_data=galleries())
def test_search_equals_brute_force(
    data: st.DataObject, gallery_data: tuple[list[str], np.ndarray]
) -> None:
    person_ids, matrix = gallery_data
    gallery = Gallery.from_arrays(person_ids, matrix)
    probe = data.draw(probes_for(matrix))
    result = gallery.search(probe)
    assert result is not None
    truth = brute_force(person_ids, matrix, probe)
    nearest = min(truth.values())
    # The named person really is (one of) the nearest, at the reported distance.
    assert close(result.distance, nearest)
    assert close(truth[result.person_id], nearest)
    others = [d for pid, d in truth.items() if pid != result.person_id]
    if not others:
        assert result.runner_up is None
        assert result.margin == math.inf
    else:
        # The margin is exactly the gap to the best *other* person, never negative.
        assert close(result.runner_up_distance, min(others))
        assert result.runner_up is not None
        assert close(truth[result.runner_up], min(others))
        assert close(result.margin, min(others) - result.distance)
        assert result.margin >= 0.0
    # The batch search agrees with the single one.
    assert gallery.search_many(probe[None, :]) == [result]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), gallery_data=galleries())
def test_farther_template_never_changes_the_best(
    data: st.DataObject, gallery_data: tuple[list[str], np.ndarray]
) -> None:
    person_ids, matrix = gallery_data
    probe = data.draw(probes_for(matrix))
    before = Gallery.from_arrays(person_ids, matrix).search(probe)
    assert before is not None
    # With an exact tie the best is decided by person id, not distance.
    assume(before.margin > 1e-6)
    # A new template (of an existing or a new person) strictly farther than the best.
    direction = data.draw(vectors_st).astype(np.float64) + 1e-3
    direction /= np.linalg.norm(direction)
    extra = (probe + direction * (before.distance + 0.05)).astype(np.float32)
    owner = data.draw(st.sampled_from([*sorted(set(person_ids)), "asn-new"]))
    after = Gallery.from_arrays([*person_ids, owner], np.vstack([matrix, extra])).search(probe)
    assert after is not None
    assert after.person_id == before.person_id
    assert close(after.distance, before.distance)
    assert after.margin >= 0.0


def test_search_many_matches_search_over_blocks() -> None:
    rng = np.random.default_rng(7)
    person_ids = [f"p{i // 3}" for i in range(300)]
    matrix = rng.normal(0, 0.1, (300, EMBEDDING_DIM)).astype(np.float32)
    gallery = Gallery.from_arrays(person_ids, matrix)
    probes = matrix[::7] + rng.normal(0, 0.01, (43, EMBEDDING_DIM)).astype(np.float32)
    assert gallery.search_many(probes) == [gallery.search(p) for p in probes]
    assert gallery.search_many(np.zeros((0, EMBEDDING_DIM))) == []


def test_known_geometry_distance_margin_and_template() -> None:
    e = np.eye(EMBEDDING_DIM, dtype=np.float32)
    templates = [
        Template("199001012015031001", e[0] * 0.5, "t-a1"),
        Template("199001012015031001", e[1] * 0.5, "t-a2"),
        Template("198512122010012002", e[2] * 0.5, "t-b1"),
    ]
    gallery = Gallery.build(templates)
    probe = e[0] * 0.4
    result = gallery.search(probe)
    assert result is not None
    assert (result.person_id, result.runner_up, result.template_id) == (
        "199001012015031001",
        "198512122010012002",
        "t-a1",
    )
    assert (result.distance, result.margin, result.runner_up_distance) == pytest.approx(
        (0.1, math.hypot(0.4, 0.5) - 0.1, math.hypot(0.4, 0.5))
    )
    assert len(gallery) == 3
    assert gallery.persons == ("198512122010012002", "199001012015031001")
    assert gallery.templates_of("199001012015031001").shape == (2, EMBEDDING_DIM)
    assert "198512122010012002" in gallery
    assert gallery.matrix.shape == (3, EMBEDDING_DIM)
    assert gallery.row_persons == ("198512122010012002",) + ("199001012015031001",) * 2


def test_single_person_has_infinite_margin_and_empty_gallery_returns_none() -> None:
    gallery = Gallery.build([Template("only", np.full(EMBEDDING_DIM, 0.1, np.float32))])
    result = gallery.search(np.zeros(EMBEDDING_DIM))
    assert result is not None
    assert result.person_id == "only"
    assert result.margin == math.inf
    assert result.runner_up is None
    assert Gallery.empty().search(np.zeros(EMBEDDING_DIM)) is None
    assert Gallery.build([]).search_many(np.zeros((2, EMBEDDING_DIM))) == [None, None]


@given(
    st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=12),
    st.sets(st.sampled_from(["a", "b", "c", "d", "e", "zz"])),
)
def test_scope_filter_excludes_people(people: list[str], scope: set[str]) -> None:
    rng = np.random.default_rng(len(people))
    vectors = rng.uniform(-0.3, 0.3, (len(people), EMBEDDING_DIM)).astype(np.float32)
    templates = [
        Template(p, v, f"t{i}") for i, (p, v) in enumerate(zip(people, vectors, strict=True))
    ]
    by_set = Gallery.build(templates, include=scope)
    by_predicate = Gallery.build(templates, include=lambda pid: pid in scope)
    expected = sorted(set(people) & scope)
    assert list(by_set.persons) == expected
    assert list(by_predicate.persons) == expected
    assert len(by_set) == sum(p in scope for p in people)
    for vector in vectors:
        result = by_set.search(vector)
        if not expected:
            assert result is None
        else:
            assert result is not None
            assert result.person_id in scope
            assert result.runner_up is None or result.runner_up in scope


@pytest.mark.parametrize(
    ("vector", "message"),
    [
        (np.zeros(127), r"shape \(128,\)"),
        (np.zeros(129), r"shape \(128,\)"),
        (np.zeros((1, 128)), r"shape \(128,\)"),
        (np.array([np.nan] + [0.0] * 127), "NaN or infinity"),
        (np.array([np.inf] + [0.0] * 127), "NaN or infinity"),
        (np.array([1e39] + [0.0] * 127), "NaN or infinity"),  # overflows float32
        (np.array([5000.0] + [0.0] * 127), "not a face descriptor"),
        (["x"] * 128, "128 numbers"),
    ],
)
def test_bad_vectors_are_refused(vector: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Template("asn-1", vector)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        check_vector(vector, "probe")
    gallery = Gallery.build([Template("asn-1", np.zeros(EMBEDDING_DIM, np.float32))])
    with pytest.raises(ValueError, match=message):
        gallery.search(vector)  # type: ignore[arg-type]


def test_bad_arrays_and_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        Gallery.from_arrays(["a"], np.zeros((1, 64)))
    with pytest.raises(ValueError, match="2 person ids for 1 vectors"):
        Gallery.from_arrays(["a", "b"], np.zeros((1, EMBEDDING_DIM)))
    bad = np.zeros((2, EMBEDDING_DIM))
    bad[1, 5] = np.nan
    with pytest.raises(ValueError, match="person b contains NaN"):
        Gallery.from_arrays(["a", "b"], bad)
    with pytest.raises(ValueError, match="non-empty str"):
        Template("", np.zeros(EMBEDDING_DIM, np.float32))
    with pytest.raises(ValueError, match="probes must have shape"):
        Gallery.empty().search_many(np.zeros(EMBEDDING_DIM))
    with pytest.raises(TypeError, match="expected Template"):
        Gallery.build([np.zeros(EMBEDDING_DIM)])  # type: ignore[list-item]


def test_templates_of_another_model_are_refused() -> None:
    ok = Template("a", np.zeros(EMBEDDING_DIM, np.float32), "t1")
    other_version = Template("b", np.zeros(EMBEDDING_DIM, np.float32), "t2", MODEL_NAME, "2")
    other_model = Template("c", np.zeros(EMBEDDING_DIM, np.float32), "t3", "facenet", MODEL_VERSION)
    for foreign in (other_version, other_model):
        with pytest.raises(ValueError, match=f"template {foreign.template_id} of person"):
            Gallery.build([ok, foreign])
        # Out of scope does not hide a wrong-model template.
        with pytest.raises(ValueError, match="re-enroll"):
            Gallery.build([ok, foreign], include={"a"})
    gallery = Gallery.build([other_version], model_version="2")
    assert gallery.model_version == "2"


def test_template_bytes_round_trip() -> None:
    vector = np.linspace(-0.5, 0.5, EMBEDDING_DIM, dtype=np.float32)
    template = Template("asn-9", vector, "t9")
    data = template.to_bytes()
    assert len(data) == TEMPLATE_BYTES
    assert data[:4] == np.float32(-0.5).astype("<f4").tobytes()
    back = Template.from_bytes("asn-9", data, "t9")
    np.testing.assert_array_equal(back.vector, vector)
    with pytest.raises(ValueError, match="expected 512 bytes, got 511"):
        Template.from_bytes("asn-9", data[:-1])


def test_gallery_arrays_are_read_only() -> None:
    source = np.full((1, EMBEDDING_DIM), 0.1, np.float32)
    gallery = Gallery.from_arrays(["a"], source)
    source[0, 0] = 0.9  # the gallery took a copy
    assert gallery.matrix[0, 0] == np.float32(0.1)
    with pytest.raises(ValueError, match="read-only"):
        gallery.matrix[0, 0] = 0.5
    template = Template("a", source[0])
    with pytest.raises(ValueError, match="read-only"):
        template.vector[0] = 0.5


def _generation(k: int) -> Gallery:
    """Gallery k: persons g{k}-0 .. g{k}-(k%5+1), two templates each, near the origin."""
    rng = np.random.default_rng(k)
    n_persons = k % 5 + 2
    ids = [f"g{k}-{p}" for p in range(n_persons) for _ in range(2)]
    return Gallery.from_arrays(ids, rng.normal(0, 0.05, (len(ids), EMBEDDING_DIM)))


def test_swap_is_atomic_under_concurrent_readers() -> None:
    generations = [_generation(k) for k in range(12)]
    holder = GalleryHolder(generations[0])
    probe = np.zeros(EMBEDDING_DIM, np.float32)
    stop = threading.Event()
    errors: list[str] = []
    seen: set[str] = set()

    def reader() -> None:
        while not stop.is_set():
            gallery = holder.gallery
            k = gallery.persons[0].split("-")[0]
            if len(gallery) != 2 * (int(k[1:]) % 5 + 2):
                errors.append(f"size {len(gallery)} does not belong to {k}")
            result = holder.search(probe)
            if result is None or result.runner_up is None:
                errors.append(f"no result or no runner-up: {result}")
                continue
            # best and runner-up always come from one snapshot
            if result.person_id.split("-")[0] != result.runner_up.split("-")[0]:
                errors.append(f"mixed snapshot: {result.person_id} / {result.runner_up}")
            seen.add(result.person_id.split("-")[0])

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        for round_ in range(300):
            old = holder.swap(generations[(round_ + 1) % len(generations)])
            assert old is generations[round_ % len(generations)]
            time.sleep(0.0005)  # let the readers run between swaps
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=30)
    assert not errors, errors[:3]
    assert holder.generation == 300
    assert len(seen) > 1  # the readers really ran across swaps
    with pytest.raises(TypeError, match="expected Gallery"):
        holder.swap("not a gallery")  # type: ignore[arg-type]


def test_empty_holder_searches_to_none() -> None:
    holder = GalleryHolder()
    assert holder.search(np.zeros(EMBEDDING_DIM)) is None
    assert len(holder.gallery) == 0


def test_bench_search_reports_a_positive_median() -> None:
    ms = bench_search(2_000, 5, np.random.default_rng(0))
    assert 0.0 < ms < 10_000.0
    with pytest.raises(ValueError, match=">= 1"):
        bench_search(0, 5, np.random.default_rng(0))


def test_cohort_distance_is_mean_of_nearest_other_people() -> None:
    rng = np.random.default_rng(11)
    person_ids = [f"p{i // 2:02d}" for i in range(60)]
    matrix = rng.normal(0, 0.1, (60, EMBEDDING_DIM)).astype(np.float32)
    gallery = Gallery.from_arrays(person_ids, matrix)
    probe = matrix[4] + rng.normal(0, 0.005, EMBEDDING_DIM).astype(np.float32)
    result = gallery.search(probe)
    assert result is not None and result.person_id == "p02"
    d = np.linalg.norm(matrix.astype(np.float64) - probe.astype(np.float64), axis=1)
    per_person = {pid: min(d[i] for i in range(60) if person_ids[i] == pid) for pid in person_ids}
    others = sorted(v for k, v in per_person.items() if k != "p02")[:COHORT_SIZE]
    assert abs(result.cohort_distance - float(np.mean(others))) < 1e-4
    assert result.cohort_distance > result.runner_up_distance >= result.distance
    [batch] = gallery.search_many(probe[None, :])
    assert batch is not None and abs(batch.cohort_distance - result.cohort_distance) < 1e-4
    single = Gallery.from_arrays(["a"], matrix[:1]).search(probe)
    assert single is not None and single.cohort_distance == float("inf")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), gallery_data=galleries())
def test_mean_templates_search_equals_brute_force_over_samples_and_means(
    data: st.DataObject, gallery_data: tuple[list[str], np.ndarray]
) -> None:
    person_ids, matrix = gallery_data
    gallery = Gallery.from_arrays(person_ids, matrix, mean_templates=True)
    # The reference: each person with two or more samples gains their float32 mean.
    ids, rows = list(person_ids), list(matrix)
    for pid in sorted(set(person_ids)):
        own = matrix[[i for i, p in enumerate(person_ids) if p == pid]]
        if len(own) >= 2:
            ids.append(pid)
            rows.append(own.astype(np.float64).mean(axis=0).astype(np.float32))
    assert len(gallery) == len(rows)
    probe = data.draw(probes_for(np.stack(rows)))
    expected = brute_force(ids, np.stack(rows), probe)
    result = gallery.search(probe)
    assert result is not None
    ranked = sorted(expected.items(), key=lambda kv: (kv[1], kv[0]))
    assert close(result.distance, ranked[0][1])
    if len(ranked) > 1:
        assert close(result.distance + result.margin, ranked[1][1])
    [batch] = gallery.search_many(probe[None])
    assert batch is not None and close(batch.distance, result.distance)


def test_mean_template_is_the_average_of_a_persons_samples() -> None:
    a1 = np.zeros(EMBEDDING_DIM, np.float32)
    a1[0] = 0.4
    a2 = np.zeros(EMBEDDING_DIM, np.float32)
    a2[1] = 0.4
    b = np.full(EMBEDDING_DIM, 0.05, np.float32)
    plain = Gallery.from_arrays(["a", "a", "b"], [a1, a2, b], ["a1", "a2", "b1"])
    gallery = Gallery.from_arrays(
        ["a", "a", "b"], [a1, a2, b], ["a1", "a2", "b1"], mean_templates=True
    )
    # One extra row for "a" (two samples); none for "b" (one sample).
    assert (len(plain), len(gallery)) == (3, 4)
    assert gallery.templates_of("b").shape == (1, EMBEDDING_DIM)
    assert np.allclose(gallery.templates_of("a")[-1], (a1 + a2) / 2)
    # A probe halfway between a's samples is 0.28 from each but lies on the mean.
    probe = (a1 + a2) / 2
    before, after = plain.search(probe), gallery.search(probe)
    assert before is not None and after is not None
    assert math.isclose(before.distance, 0.4 / math.sqrt(2), rel_tol=1e-6)
    assert after.person_id == "a" and after.distance < 1e-6 and after.template_id == "mean"
    # Building from Template objects passes the option through.
    built = Gallery.build(
        [Template("a", a1, "a1"), Template("a", a2, "a2"), Template("b", b, "b1")],
        mean_templates=True,
    )
    assert len(built) == 4 and built.row_persons.count("a") == 3


@settings(max_examples=100, deadline=None)
@given(data=st.data(), gallery_data=galleries())
def test_look_alikes_equal_brute_force(
    data: st.DataObject, gallery_data: tuple[list[str], np.ndarray]
) -> None:
    person_ids, matrix = gallery_data
    closest: dict[tuple[str, str], float] = {}
    for i, (a, u) in enumerate(zip(person_ids, matrix, strict=True)):
        for b, v in zip(person_ids[i + 1 :], matrix[i + 1 :], strict=True):
            if a != b:
                key = (min(a, b), max(a, b))
                d = math.sqrt(float(((u.astype(np.float64) - v.astype(np.float64)) ** 2).sum()))
                closest[key] = min(closest.get(key, math.inf), d)
    # A cut among the real pair distances, so some pairs fall on each side.
    cut = data.draw(st.sampled_from(sorted(closest.values()) or [0.5]))
    block = data.draw(st.integers(1, 8))  # blocks smaller than the gallery too
    got = look_alikes(person_ids, matrix, cut, block=block)
    want = sorted((a, b, d) for (a, b), d in closest.items() if d <= cut)
    assert sorted((a, b) for a, b, _ in got) == [(a, b) for a, b, _ in want]
    assert all(close(d, closest[(a, b)]) for a, b, d in got)
    assert [d for _, _, d in got] == sorted(d for _, _, d in got)  # closest first
    assert all(a < b for a, b, _ in got)


def test_look_alikes_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="one person per row"):
        look_alikes(["a"], np.zeros((2, EMBEDDING_DIM), np.float32), 0.5)
    with pytest.raises(ValueError, match="max_distance"):
        look_alikes(["a"], np.zeros((1, EMBEDDING_DIM), np.float32), -1.0)
    assert look_alikes([], np.zeros((0, EMBEDDING_DIM), np.float32), 0.5) == []
