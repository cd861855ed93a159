"""``hadir bench`` on a real clip from ``../shared/data/video``, and its bad inputs.

The numbers themselves (the speed targets) are what the command prints for
a person to read; these tests check that it measures each stage, prints
them as one JSON object, and refuses unusable videos with a clear error.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hadir.cli import main
from recognition.bench import BenchSettings, kiosk_framing, naive_step_ms, read_frames, run_bench
from recognition.images import to_rgb

# Integration tier (benchmarks over real clips):
# `uv run pytest -m "not slow"` leaves it out.
pytestmark = pytest.mark.slow

CLIP = "head-pose-face-detection-female.mp4"  # one person, face visible throughout


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def _hadir(*argv: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Run(code, out.getvalue(), err.getvalue())


def _strict_json(text: str) -> dict[str, Any]:
    def refuse(constant: str) -> None:
        raise AssertionError(f"--json printed {constant}, which is not valid JSON")

    data: dict[str, Any] = json.loads(text, parse_constant=refuse)
    return data


@pytest.fixture(scope="module")
def clip(shared_data: Path) -> Path:
    path = shared_data / "video" / CLIP
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def bench_json(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
        run = _hadir("bench", str(clip), "--frames", "3", "--no-naive", "--json")
    assert run.code == 0, run.err
    return _strict_json(run.out)


def test_bench_json_has_every_stage(bench_json: dict[str, Any]) -> None:
    for key in ("frame_ms", "search_10k_ms", "search_100k_ms", "detect_ms", "embedding_ms"):
        value = bench_json[key]
        assert isinstance(value, float | int) and math.isfinite(value) and value > 0, key
    for key in ("decode_ms", "landmarks_ms", "quality_ms", "search_ms"):
        assert bench_json[key] >= 0, key
    assert bench_json["clips"] == [CLIP]
    assert bench_json["frames"] == 3
    assert 1 <= bench_json["frames_with_one_face"] <= 3
    assert bench_json["frame_size"] == "640x480"
    # --no-naive: no baseline was run, so no ratio is claimed.
    assert "naive_frame_ms" not in bench_json and "speedup" not in bench_json


def test_the_speedup_pairs_each_frame_with_the_naive_step(clip: Path) -> None:
    """Our step and the naive one run back to back on each sample frame; the
    speed-up is the median of those paired ratios."""
    from recognition.faces import FaceEngine, FaceModels, make_detector
    from recognition.gallery import Gallery

    models = FaceModels()
    engine = FaceEngine(make_detector("hog", "", 320, 0, 0.7), models)
    empty = Gallery.empty(models.model_name, models.model_version)
    out = run_bench(engine, [clip], BenchSettings(max_frames_per_clip=6, naive_frames=2),
                    empty)  # fmt: skip
    assert out["naive_frames"] == 2
    for key in ("naive_frame_ms", "paired_frame_ms", "speedup"):
        assert math.isfinite(out[key]) and out[key] > 0, key
    # The naive step upsamples the full frame: slower than ours on the same frames.
    assert out["naive_frame_ms"] > out["paired_frame_ms"]


def test_naive_step_on_one_real_frame(clip: Path) -> None:
    frames, decode_ms = read_frames(clip, BenchSettings(max_frames_per_clip=1))
    assert len(frames) == 1 and frames[0].shape == (480, 640, 3)
    assert decode_ms and all(ms >= 0 for ms in decode_ms)
    times = naive_step_ms([to_rgb(frames[0])])
    assert len(times) == 1 and times[0] > 0


def test_kiosk_framing_centre_crops_to_4_by_3() -> None:
    wide = np.zeros((270, 480, 3), np.uint8)
    wide[:, 60:420] = 255  # exactly the 4:3 centre (360 of 480 columns)
    framed = kiosk_framing(wide, 640, 480)
    assert framed.shape == (480, 640, 3) and framed.dtype == np.uint8
    assert framed[:, 2:-2].min() == 255  # the dark side bars were cropped away
    tall = np.zeros((600, 300, 3), np.uint8)
    tall[75:525] = 200  # the 4:3 centre rows
    assert kiosk_framing(tall, 640, 480)[2:-2].min() == 200


def _assert_clear_error(run: Run, *words: str) -> None:
    assert run.code == 2, (run.code, run.out, run.err)
    assert run.out == ""
    assert "Traceback" not in run.err
    for word in words:
        assert word in run.err, (word, run.err)


def test_missing_video_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    _assert_clear_error(_hadir("bench", str(missing), "--no-naive", "--json"), str(missing))


def test_corrupt_video_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).bytes(20_000))
    _assert_clear_error(
        _hadir("bench", str(junk), "--frames", "3", "--no-naive", "--json"), str(junk)
    )


def test_video_without_decodable_frames_is_a_clear_error(clip: Path, tmp_path: Path) -> None:
    # A real MP4 container (header and index intact) whose frame data is noise:
    # it opens, but no frame decodes. Measuring nothing must not look like success.
    data = bytearray(clip.read_bytes())
    index = data.rfind(b"moov")
    assert index > 1000
    start = data.find(b"mdat") + 8
    data[start : index - 8] = np.random.default_rng(1).bytes(index - 8 - start)
    garbled = tmp_path / "garbled.mp4"
    garbled.write_bytes(bytes(data))
    _assert_clear_error(
        _hadir("bench", str(garbled), "--frames", "3", "--no-naive", "--json"), str(garbled)
    )


@pytest.mark.parametrize("frames", ["0", "-2"])
def test_frames_must_be_positive(clip: Path, frames: str) -> None:
    _assert_clear_error(
        _hadir("bench", str(clip), "--frames", frames, "--no-naive", "--json"), "--frames"
    )
