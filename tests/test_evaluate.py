"""``hadir evaluate`` end to end on real faces, and its counting on synthetic embeddings.

The command runs in-process (``hadir.cli.main``) on small datasets of symlinks
to ``../shared/data/faces/yale`` built in a temp dir, with ``XDG_CACHE_HOME``
pointed at a temp dir so the user's embedding cache is never touched. One
dlib embedding costs 100-250 ms (more on a loaded machine), so the real-face
datasets are small and every command run is shared by the tests that read it.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from hadir.cli import main
from recognition.config import MatchSection
from recognition.embedcache import DatasetEmbeddings, PipelineSettings, embed_dataset
from recognition.evaluate import (
    Attempts,
    EvalSettings,
    collect_attempts,
    rank1,
    rates,
    report,
    sweep,
)
from recognition.gallery import Gallery, Template
from recognition.modelinfo import DLIB_NAME

KEYS = {
    "identities",
    "images",
    "fte",
    "genuine",
    "impostor",
    "threshold",
    "far",
    "frr",
    "rank1",
    "thresholds",
}


# -- synthetic embeddings: the right answer is known -------------------------


# The synthetic sets are laid out at dlib's distances, with dlib's operating point
# (the defaults are face-reidentification-retail-0095's).
DLIB_MATCH = MatchSection(
    threshold=0.50,
    review_threshold=0.58,
    min_margin=0.02,
    max_cohort_ratio=0.74,
    max_runner_up_ratio=0.80,
)


def _centres(n: int, rng: np.random.Generator) -> np.ndarray[Any, np.dtype[np.float32]]:
    """``n`` person centres on the unit sphere, pairwise about 1.4 apart (far beyond 0.6)."""
    c = rng.standard_normal((n, 128)).astype(np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    return c


def _dataset(
    people: dict[str, tuple[np.ndarray[Any, np.dtype[np.float32]], int]],
    rng: np.random.Generator,
    noise: float = 0.005,
    unusable: dict[str, int] | None = None,
) -> DatasetEmbeddings:
    """Per person: ``count`` samples around ``centre``; ``unusable`` adds NaN rows (no face)."""
    persons: list[str] = []
    rows: list[np.ndarray[Any, np.dtype[np.float32]]] = []
    for person, (centre, count) in people.items():
        for _ in range(count):
            persons.append(person)
            rows.append(centre + rng.normal(0.0, noise, 128).astype(np.float32))
        for _ in range((unusable or {}).get(person, 0)):
            persons.append(person)
            rows.append(np.full(128, np.nan, np.float32))
    paths = [f"{p}/{i}.png" for i, p in enumerate(persons)]
    return DatasetEmbeddings(persons, paths, np.stack(rows).astype(np.float32), DLIB_NAME)


def test_well_separated_people_give_no_errors() -> None:
    rng = np.random.default_rng(1)
    c = _centres(6, rng)
    data = _dataset({f"p{i}": (c[i], 4) for i in range(6)}, rng)
    attempts, enrolled = collect_attempts(data, EvalSettings(gallery_per_person=2, folds=3))
    # 3 folds of 2 held-out people: 4 enrolled per fold, 2 probes each (4 images - K).
    assert enrolled == 4
    assert len(attempts.genuine) == 3 * 4 * 2
    assert len(attempts.impostor) == 6 * 4  # every image once, when its person is held out
    r = rates(attempts, DLIB_MATCH)
    assert (r.far, r.frr, r.false_accepts, r.false_rejects, r.misidentified) == (0, 0, 0, 0, 0)
    assert rank1(attempts) == 1.0
    # Held-out people really are absent: each impostor's nearest person is someone else, far off.
    assert all(a is not None and a.distance > 0.9 for a in attempts.impostor)


def test_impostor_on_top_of_an_enrolled_person_is_a_false_accept() -> None:
    rng = np.random.default_rng(2)
    c = _centres(5, rng)
    # "twin" looks exactly like p0 (a look-alike, or a photo of p0 shown by someone else).
    people = {f"p{i}": (c[i], 4) for i in range(5)} | {"twin": (c[0], 4)}
    data = _dataset(people, rng)
    n = len(people)
    # As many folds as people: each fold holds out exactly one person.
    attempts, enrolled = collect_attempts(data, EvalSettings(gallery_per_person=2, folds=n))
    assert enrolled == n - 1
    assert len(attempts.impostor) == n * 4
    assert len(attempts.genuine) == n * (n - 1) * 2
    r = rates(attempts, DLIB_MATCH)
    # When twin is held out its 4 images match p0, and the other way round: 8 false accepts.
    assert r.false_accepts == 8
    assert r.far == pytest.approx(8 / (n * 4))
    # While both are enrolled (n - 2 folds) their genuine probes are close to two
    # people: the margin rule refuses them (2 people x 2 probes x (n - 2) folds),
    # and none is accepted as the wrong person.
    assert r.false_rejects == 2 * 2 * (n - 2)
    assert r.frr == pytest.approx(r.false_rejects / len(attempts.genuine))
    assert r.misidentified == 0
    # Without the margin and runner-up rules the twins are accepted, some as the other twin.
    loose = rates(
        attempts, DLIB_MATCH.model_copy(update={"min_margin": 0.0, "max_runner_up_ratio": 10.0})
    )
    assert loose.false_rejects == loose.misidentified > 0


def test_rates_counts_each_kind_of_attempt() -> None:
    rng = np.random.default_rng(3)
    c = _centres(3, rng)
    gallery = Gallery.build([Template("A", c[0]), Template("A", c[0] * 0.99), Template("B", c[1])])
    params = MatchSection(threshold=0.42, review_threshold=0.52, min_margin=0.06)

    def near(centre: np.ndarray[Any, np.dtype[np.float32]], distance: float) -> Any:
        step = rng.standard_normal(128).astype(np.float32)
        step -= np.dot(step, centre) * centre  # orthogonal to the centre
        step *= distance / np.linalg.norm(step)
        return gallery.search(centre + step)

    attempts = Attempts(
        genuine=[
            ("A", near(c[0], 0.2)),  # accepted
            ("B", near(c[1], 0.3)),  # accepted
            ("A", near(c[0], 0.47)),  # borderline: review, a false reject
            ("B", near(c[0], 0.1)),  # accepted as A: misidentified (and rejected for B)
            ("A", None),  # nobody enrolled: rejected
        ],
        impostor=[
            near(c[0], 0.05),  # on top of A: false accept
            near(c[2], 0.0),  # a stranger far from everyone
            near(c[1], 0.5),  # borderline: review, not an accept
            None,
        ],
    )
    r = rates(attempts, params)
    assert (r.false_accepts, r.false_rejects, r.misidentified) == (1, 3, 1)
    assert r.far == pytest.approx(1 / 4) and r.frr == pytest.approx(3 / 5)
    assert rank1(attempts) == pytest.approx(3 / 5)
    empty = rates(Attempts(), params)
    assert math.isnan(empty.far) and math.isnan(empty.frr)


def test_people_without_enough_usable_images_are_never_enrolled() -> None:
    rng = np.random.default_rng(4)
    c = _centres(4, rng)
    # p3 has only one usable face (and two images without one): too few for K=2.
    data = _dataset(
        {"p0": (c[0], 3), "p1": (c[1], 3), "p2": (c[2], 3), "p3": (c[3], 1)},
        rng,
        unusable={"p0": 1, "p3": 2},
    )
    attempts, _ = collect_attempts(data, EvalSettings(gallery_per_person=2, folds=4))
    assert {truth for truth, _ in attempts.genuine} == {"p0", "p1", "p2"}
    assert len(attempts.genuine) == 3 * 3 * 1  # 3 people, enrolled in 3 of 4 folds, 1 probe
    assert len(attempts.impostor) == 3 + 3 + 3 + 1  # usable images only
    out = report(data, EvalSettings(gallery_per_person=2, folds=4), DLIB_MATCH)
    assert (out["identities"], out["images"], out["fte"]) == (4, 13, 3)
    assert (out["genuine"], out["impostor"]) == (9, 10)
    assert out["far"] == 0.0 and out["frr"] == 0.0 and out["rank1"] == 1.0


def test_repeats_report_each_split_and_their_pool() -> None:
    rng = np.random.default_rng(5)
    c = _centres(12, rng) * 0.25
    data = _dataset({f"p{i}": (c[i], 5) for i in range(12)}, rng, noise=0.028)
    settings = EvalSettings(gallery_per_person=2, folds=4, seed=3)
    once = report(data, settings, NO_COHORT)
    out = report(data, settings, NO_COHORT, repeats=3)
    assert "splits" not in once and "pooled" not in once
    assert [s["seed"] for s in out["splits"]] == [3, 4, 5]
    # The first split is the single run; the others are really other splits.
    first = out["splits"][0]
    assert (first["far"], first["frr"]) == (once["far"], once["frr"]) == (out["far"], out["frr"])
    assert len({(s["false_accepts"], s["false_rejects"]) for s in out["splits"]}) > 1
    again = report(data, replace(settings, seed=4), NO_COHORT)
    assert (out["splits"][1]["far"], out["splits"][1]["frr"]) == (again["far"], again["frr"])
    pooled = out["pooled"]
    assert pooled["impostor"] == sum(s["impostor"] for s in out["splits"])
    assert pooled["far"] == sum(s["false_accepts"] for s in out["splits"]) / pooled["impostor"]
    rejects = sum(s["false_rejects"] for s in out["splits"])
    assert pooled["frr"] == rejects / sum(s["genuine"] for s in out["splits"])
    with pytest.raises(ValueError, match="repeats"):
        report(data, settings, NO_COHORT, repeats=0)


# The margin rule alone (no cohort normalisation), so the sweep moves both ways.
NO_COHORT = MatchSection(
    threshold=0.42,
    review_threshold=0.52,
    min_margin=0.06,
    max_cohort_ratio=10.0,
    max_runner_up_ratio=10.0,
)


def _assert_monotone(rows: Sequence[dict[str, float]]) -> None:
    ts = [row["threshold"] for row in rows]
    assert ts == sorted(ts) and len(set(ts)) == len(ts)
    for lo, hi in itertools.pairwise(rows):
        assert lo["far"] <= hi["far"], (lo, hi)
        assert lo["frr"] >= hi["frr"], (lo, hi)


def test_threshold_table_is_monotone_on_overlapping_people() -> None:
    rng = np.random.default_rng(5)
    c = _centres(12, rng) * 0.25  # centres ~0.35 apart, samples ~0.45 from each other
    data = _dataset({f"p{i}": (c[i], 5) for i in range(12)}, rng, noise=0.028)
    out = report(data, EvalSettings(gallery_per_person=2, folds=4), NO_COHORT)
    rows = out["thresholds"]
    assert 0.42 in [row["threshold"] for row in rows]
    _assert_monotone(rows)
    fars = [row["far"] for row in rows]
    frrs = [row["frr"] for row in rows]
    assert fars[0] < fars[-1] and frrs[0] > frrs[-1]  # the sweep really moves both ways
    settings = EvalSettings(gallery_per_person=2, folds=4)
    attempts, _ = collect_attempts(data, settings, mean_templates=NO_COHORT.mean_template)
    at = {r.threshold: r for r in sweep(attempts, NO_COHORT, [0.3, 0.42, 0.6])}
    assert at[0.42].far == out["far"] and at[0.42].frr == out["frr"]
    # Without the per-person mean template these samples (about 0.45 apart) are
    # mostly rejected; the mean lies nearer each person's other samples.
    plain, _ = collect_attempts(data, settings, mean_templates=False)
    without = {r.threshold: r for r in sweep(plain, NO_COHORT, [0.42])}[0.42]
    assert without.frr > at[0.42].frr + 0.3


# -- the command on real faces ------------------------------------------------

SUBJECTS = ("subject01", "subject02", "subject03", "subject05", "subject06")
PHOTOS = ("normal.png", "happy.png", "sad.png")


def _link_people(root: Path, yale: Path, subjects: Sequence[str]) -> None:
    for subject in subjects:
        (root / subject).mkdir(parents=True)
        for name in PHOTOS:
            (root / subject / name).symlink_to(yale / subject / name)


def _write_blank(path: Path) -> None:
    assert cv2.imwrite(str(path), np.full((240, 320, 3), 128, np.uint8))


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        def refuse(constant: str) -> None:
            raise AssertionError(f"--json printed {constant}, which is not valid JSON")

        data: dict[str, Any] = json.loads(self.out, parse_constant=refuse)
        return data


def _hadir(*argv: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def dataset(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 yale people x 3 photos, plus a folder of images without a usable face."""
    root = tmp_path_factory.mktemp("evaluate") / "faces"
    yale = shared_data / "faces" / "yale"
    _link_people(root, yale, SUBJECTS)
    bad = root / "zz-unusable"
    bad.mkdir()
    _write_blank(bad / "blank.png")  # an image with no face
    (bad / "broken.jpg").write_bytes(b"this is not a jpeg" * 20)  # unreadable
    (bad / "cut.png").write_bytes((yale / "subject04" / "normal.png").read_bytes()[:300])
    (bad / "notes.txt").write_text("not an image; ignored", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def no_cache_run(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    cache_home = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache_home))
        run = _hadir("evaluate", str(dataset), "--json", "--no-cache", "--workers", "1")
    return run, cache_home


@pytest.mark.slow
def test_evaluate_json_end_to_end(no_cache_run: tuple[Run, Path]) -> None:
    run, cache_home = no_cache_run
    assert run.code == 0, run.err
    out = run.json()
    assert out.keys() >= KEYS
    assert out["identities"] == len(SUBJECTS) + 1
    assert out["images"] == len(SUBJECTS) * len(PHOTOS) + 3  # notes.txt is not an image
    assert out["fte"] == 3  # blank, unreadable and truncated
    # Every identity is held out once (5 folds of 6): each usable image is one impostor
    # attempt; each person probes with 3 - K photos in the 4 folds it is enrolled in.
    assert out["impostor"] == out["images"] - out["fte"]
    assert out["genuine"] == len(SUBJECTS) * (len(PHOTOS) - 2) * 4
    assert out["threshold"] == MatchSection().threshold
    for key in ("far", "frr", "rank1"):
        assert 0.0 <= out[key] <= 1.0, key
    # Same-session photos of five people: no false accepts, and the right person first.
    assert out["far"] == 0.0
    assert out["rank1"] >= 0.9
    rows = out["thresholds"]
    assert len(rows) >= 5 and {"threshold", "far", "frr"} <= rows[0].keys()
    assert out["threshold"] in [row["threshold"] for row in rows]
    _assert_monotone(rows)
    assert all(0.0 <= row["far"] <= 1.0 and 0.0 <= row["frr"] <= 1.0 for row in rows)
    assert not (cache_home / "hadir").exists()  # --no-cache writes no cache either


@pytest.fixture(scope="module")
def cached(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A tiny dataset (2 people x 3 photos) with an embedding cache in a temp XDG_CACHE_HOME.

    Yields the dataset; XDG_CACHE_HOME stays set for the module's tests that use it.
    """
    base = tmp_path_factory.mktemp("evaluate-cached")
    root = base / "tiny"
    _link_people(root, shared_data / "faces" / "yale", SUBJECTS[:2])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(base / "xdg"))
        yield root


def _cache_files(cache_home: Path) -> list[Path]:
    return sorted((cache_home / "hadir" / "embeddings").glob("*.npz"))


@pytest.mark.slow
def test_cache_is_reused_and_invalidated_by_a_changed_file(cached: Path) -> None:
    cache_home = Path(os.environ["XDG_CACHE_HOME"])
    # The first run embeds in two worker processes (the command's default).
    first = _hadir("evaluate", str(cached), "--json", "--workers", "2")
    assert first.code == 0, first.err
    assert (first.json()["far"], first.json()["rank1"]) == (0.0, 1.0)
    files = _cache_files(cache_home)
    assert len(files) == 1
    cache = files[0]
    with np.load(cache, allow_pickle=False) as npz:
        paths = [cached / str(p) for p in npz["paths"]]
        vectors = npz["vectors"]
    assert sorted(paths) == sorted(cached.glob("*/*.png"))
    assert np.isfinite(vectors).all()
    # Each vector landed on its own image: same person close, other person far.
    for i, j in itertools.combinations(range(len(paths)), 2):
        same = paths[i].parent == paths[j].parent
        distance = float(np.linalg.norm(vectors[i] - vectors[j]))
        assert (distance < 0.85) if same else (distance > 0.95), (paths[i], paths[j], distance)
    before = (cache.stat().st_mtime_ns, cache.read_bytes())

    second = _hadir("evaluate", str(cached), "--json", "--workers", "1")
    assert second.code == 0, second.err
    assert second.json() == first.json()
    # Nothing was recomputed, so the cache was not rewritten.
    assert (cache.stat().st_mtime_ns, cache.read_bytes()) == before
    # The same folder spelled another way shares the cache.
    respelled = _hadir("evaluate", str(cached / ".." / cached.name), "--json", "--workers", "1")
    assert respelled.code == 0, respelled.err
    assert respelled.json()["frr"] == first.json()["frr"]
    assert (cache.stat().st_mtime_ns, cache.read_bytes()) == before

    # One photo is replaced by an image without a face: that file is embedded again.
    changed = cached / SUBJECTS[0] / PHOTOS[2]
    original = changed.readlink()
    changed.unlink()
    _write_blank(changed)
    blank_size = changed.stat().st_size
    try:
        third = _hadir("evaluate", str(cached), "--json", "--workers", "1")
    finally:  # other tests share the dataset
        changed.unlink()
        changed.symlink_to(original)
    assert third.code == 0, third.err
    assert first.json()["fte"] == 0 and third.json()["fte"] == 1
    assert _cache_files(cache_home) == [cache]
    with np.load(cache, allow_pickle=False) as npz:
        row = [str(p) for p in npz["paths"]].index(changed.relative_to(cached).as_posix())
        assert np.isnan(npz["vectors"][row]).all()
        assert int(str(npz["stamps"][row]).split(":")[0]) == blank_size


@pytest.mark.slow
def test_threshold_flag_and_human_readable_output(cached: Path) -> None:
    default = _hadir("evaluate", str(cached), "--json", "--workers", "1").json()
    strict = _hadir("evaluate", str(cached), "--json", "--workers", "1", "--threshold", "0.74")
    assert strict.code == 0, strict.err
    out = strict.json()
    assert out["threshold"] == 0.74 != default["threshold"]
    assert 0.74 in [row["threshold"] for row in out["thresholds"]]
    assert (out["genuine"], out["impostor"]) == (default["genuine"], default["impostor"])
    # The threshold's row of the table is the reported operating point.
    row = next(r for r in default["thresholds"] if r["threshold"] == 0.74)
    assert (out["far"], out["frr"]) == (row["far"], row["frr"])

    text = _hadir("evaluate", str(cached), "--workers", "1")
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    for label in (
        "identities",
        "images",
        "failures to enroll",
        "genuine attempts",
        "impostor attempts",
        "threshold",
        "false accept rate",
        "false reject rate",
        "rank-1",
    ):
        assert any(line.startswith(label) for line in lines), label
    assert any(line.split() == ["identities", str(default["identities"])] for line in lines)
    assert any(line.startswith(f"threshold          {MatchSection().threshold}") for line in lines)
    table = lines[lines.index("threshold      FAR        FRR") + 1 :]
    assert len(table) == len(default["thresholds"])
    assert all(line.strip().endswith("%") for line in table)

    repeated = _hadir("evaluate", str(cached), "--workers", "1", "--repeats", "3")
    assert repeated.code == 0, repeated.err
    lines = repeated.out.splitlines()
    splits = lines[lines.index("split (seed)   false accepts      FAR        FRR") + 1 :]
    assert [line.split()[0] for line in splits] == ["0", "1", "2", "pooled"]
    assert all(line.strip().endswith("%") for line in splits)


def test_json_stays_valid_when_a_rate_is_undefined(cached: Path) -> None:
    # K=3 enrolls all three photos of each person: no genuine probe is left,
    # so the false reject rate is undefined. It must still be valid JSON.
    run = _hadir("evaluate", str(cached), "--json", "--workers", "1", "--gallery-per-person", "3")
    assert run.code == 0, run.err
    out = run.json()
    assert out["genuine"] == 0
    assert out["frr"] is None


def test_missing_or_empty_dataset_is_a_clear_error(tmp_path: Path) -> None:
    missing = _hadir("evaluate", str(tmp_path / "nope"), "--no-cache")
    assert missing.code == 2 and missing.out == ""
    assert "not found" in missing.err and str(tmp_path / "nope") in missing.err
    assert "Traceback" not in missing.err

    empty = tmp_path / "empty"
    empty.mkdir()
    run = _hadir("evaluate", str(empty), "--no-cache", "--json")
    assert run.code == 2 and run.out == ""
    assert "no person folders with images" in run.err and "Traceback" not in run.err

    (empty / "someone").mkdir()
    (empty / "someone" / "readme.txt").write_text("no images here", encoding="utf-8")
    assert _hadir("evaluate", str(empty), "--no-cache").code == 2


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--gallery-per-person", "0"], "--gallery-per-person"),
        pytest.param(["--threshold", "-0.1"], "threshold"),
        pytest.param(["--threshold", "nan"], "threshold"),
        pytest.param(["--repeats", "0"], "--repeats"),
    ],
)
def test_bad_flags_are_clear_errors(tmp_path: Path, flags: list[str], message: str) -> None:
    (tmp_path / "p").mkdir()
    _write_blank(tmp_path / "p" / "a.png")
    run = _hadir("evaluate", str(tmp_path), "--no-cache", *flags)
    assert run.code == 2 and run.out == ""
    assert message in run.err


@pytest.mark.slow
def test_a_truncated_cache_file_is_ignored_and_rewritten(shared_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "one"
    (root / "p").mkdir(parents=True)
    (root / "p" / "a.png").symlink_to(shared_data / "faces" / "yale" / "subject01" / "normal.png")
    cache_dir = tmp_path / "cache"
    first = embed_dataset(root, PipelineSettings(), workers=1, cache_dir=cache_dir)
    (cache,) = cache_dir.glob("*.npz")
    good = cache.read_bytes()
    # A half-written file (disk full, a copy cut short): still starts like a zip.
    cache.write_bytes(good[:200])
    again = embed_dataset(root, PipelineSettings(), workers=1, cache_dir=cache_dir)
    np.testing.assert_array_equal(again.vectors, first.vectors)
    assert np.isfinite(again.vectors).all()
    with np.load(cache, allow_pickle=False) as npz:  # rewritten, readable again
        np.testing.assert_array_equal(npz["vectors"], first.vectors)
