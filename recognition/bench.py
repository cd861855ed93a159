"""``hadir bench``: per-stage latency of the per-frame step, and the naive way.

Frames come from the clips in ``../shared/data/video`` (or files given),
centre-cropped to 4:3 and scaled to the kiosk's 640x480, as a kiosk camera
framing the person at arm's length would see them (the clips are 480x270).
Our step: detect on a 320-px copy, 5-point landmarks, quality gate,
embedding only when the gate passed, 1:N search.
The naive step is what public face-attendance scripts do on every frame:
``face_recognition.face_locations(frame)`` (HOG, one upsampling, full
frame) then ``face_recognition.face_encodings``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from recognition.faces import FaceEngine
from recognition.gallery import Gallery, bench_search
from recognition.images import to_rgb


@dataclass(frozen=True)
class BenchSettings:
    width: int = 640
    height: int = 480
    max_frames_per_clip: int = 24
    naive_frames: int = 12


def kiosk_framing(bgr: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    """Centre-crop to the target aspect ratio, then scale to ``width`` x ``height``."""
    h, w = bgr.shape[:2]
    target = width / height
    if w / h > target:
        cw = round(h * target)
        x = (w - cw) // 2
        bgr = bgr[:, x : x + cw]
    else:
        ch = round(w / target)
        y = (h - ch) // 2
        bgr = bgr[y : y + ch]
    return np.asarray(cv2.resize(bgr, (width, height), interpolation=cv2.INTER_LINEAR), np.uint8)


def read_frames(
    clip: Path, settings: BenchSettings
) -> tuple[list[npt.NDArray[np.uint8]], list[float]]:
    """Decode up to ``max_frames_per_clip`` frames (spread over the clip)."""
    cap = cv2.VideoCapture(str(clip))
    if not cap.isOpened():
        raise ValueError(f"cannot open video {clip}")
    frames: list[npt.NDArray[np.uint8]] = []
    decode_ms: list[float] = []
    try:
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or settings.max_frames_per_clip
        step = max(1, total // settings.max_frames_per_clip)
        i = 0
        while len(frames) < settings.max_frames_per_clip:
            t0 = time.perf_counter()
            ok, frame = cap.read()
            decode_ms.append((time.perf_counter() - t0) * 1000)
            if not ok or frame is None:
                break
            if i % step == 0:
                frames.append(
                    kiosk_framing(np.asarray(frame, np.uint8), settings.width, settings.height)
                )
            i += 1
    finally:
        cap.release()
    return frames, decode_ms


def _median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 2) if values else float("nan")


def run_bench(
    engine: FaceEngine,
    clips: Sequence[Path],
    settings: BenchSettings,
    gallery: Gallery,
    *,
    naive: bool = True,
) -> dict[str, Any]:
    stages: dict[str, list[float]] = {
        "decode": [],
        "detect": [],
        "landmarks": [],
        "quality": [],
        "embedding": [],
        "search": [],
    }
    frame_ms: list[float] = []
    gated_ms: list[float] = []
    faces_frames: list[npt.NDArray[np.uint8]] = []
    frames_seen = 0
    for clip in clips:
        frames, decode = read_frames(clip, settings)
        if not frames:
            raise ValueError(f"{clip}: no frame could be decoded")
        stages["decode"] += decode
        for bgr in frames:
            frames_seen += 1
            t0 = time.perf_counter()
            rgb = to_rgb(bgr)
            result = engine.analyze(rgb)
            if result.embedding is not None:
                t1 = time.perf_counter()
                gallery.search(result.embedding)
                stages["search"].append((time.perf_counter() - t1) * 1000)
            total = (time.perf_counter() - t0) * 1000
            for key, ms in result.timings_ms.items():
                stages[key].append(ms)
            # The target is the whole step on a frame with one face, embedding
            # and search included (frames the gate stops early are cheaper and
            # reported apart).
            if len(result.detections) == 1:
                if result.embedding is not None:
                    frame_ms.append(total)
                    faces_frames.append(rgb)
                else:
                    gated_ms.append(total)
    out: dict[str, Any] = {
        "clips": [c.name for c in clips],
        "frames": frames_seen,
        "frames_with_one_face": len(frame_ms) + len(gated_ms),
        "frames_embedded": len(frame_ms),
        "frame_gated_ms": _median(gated_ms),
        "frame_size": f"{settings.width}x{settings.height}",
        "frame_ms": _median(frame_ms),
        "gallery_size": len(gallery),
    }
    for key, values in stages.items():
        out[f"{key}_ms"] = _median(values)
    model = gallery.model_name
    out["search_dim"] = gallery.dim
    out["search_10k_ms"] = round(
        bench_search(10_000, repeats=50, rng=np.random.default_rng(1), model_name=model), 3
    )
    out["search_100k_ms"] = round(
        bench_search(100_000, repeats=30, rng=np.random.default_rng(2), model_name=model), 3
    )
    if naive and faces_frames:
        sample = faces_frames[:: max(1, len(faces_frames) // settings.naive_frames)]
        sample = sample[: settings.naive_frames]
        # Each sample frame through our step and the naive one back to back, so
        # a host that slows down or speeds up meanwhile (a shared VM does)
        # changes both sides of each ratio alike.
        naive_one = naive_step()
        ours: list[float] = []
        naive_ms: list[float] = []
        for rgb in sample:
            t0 = time.perf_counter()
            result = engine.analyze(rgb)
            if result.embedding is not None:
                gallery.search(result.embedding)
            ours.append((time.perf_counter() - t0) * 1000)
            naive_ms.append(naive_one(rgb))
        out["naive_frames"] = len(sample)
        out["naive_frame_ms"] = _median(naive_ms)
        out["paired_frame_ms"] = _median(ours)
        out["speedup"] = round(
            statistics.median(n / o for n, o in zip(naive_ms, ours, strict=True)), 2
        )
    return out


def naive_step() -> Callable[[npt.NDArray[np.uint8]], float]:
    """face_recognition's defaults on one full frame, returning its milliseconds
    (the import loads its models, so it happens here, outside any timing)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition

    def step(rgb: npt.NDArray[np.uint8]) -> float:
        t0 = time.perf_counter()
        locations = face_recognition.face_locations(rgb)
        face_recognition.face_encodings(rgb, locations)
        return (time.perf_counter() - t0) * 1000

    return step


def naive_step_ms(frames: Sequence[npt.NDArray[np.uint8]]) -> list[float]:
    """:func:`naive_step` on each frame."""
    step = naive_step()
    return [step(rgb) for rgb in frames]
