"""``hadir bench-kiosk [--json]``: the kiosk's own targets, measured.

* ``latency_median_s`` / ``latency_challenge_median_s``: from the capture of
  the first frame in which the face was found to the success card on
  screen, through the real engine, liveness, recorder and controller, on a
  clip of a person in front of the camera played at its own frame rate.
  Without an active challenge (policy ``never``: passive check only) and
  with a head-turn challenge (policy ``always``) on a clip in which the
  person turns the head. Each run uses a fresh store.
* ``rss_mb`` / ``peak_rss_mb``: resident memory of a ``hadir kiosk`` process
  with ``--templates`` (default 10,000) enrolled templates after recognising
  frames for a few seconds; ``start_to_ready_s``: that process's time from
  process start to the ready screen (models, store, gallery, camera).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hadir.command import CommandError, config_from_args
from hadir.config import HadirConfig

log = logging.getLogger(__name__)

ROSTER_NIP = "198503122010011002"
RUNS = 3
RUN_TIMEOUT_S = 15.0


def _shared() -> Path:
    here = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("HADIR_SHARED", here.parent / "shared"))


def _clip(args: argparse.Namespace) -> Path:
    if args.video is not None:
        if not args.video.is_file():
            raise CommandError(f"--video {args.video} is not a file")
        return Path(args.video)
    from kiosk.demo import demo_clip_candidates

    for clip in demo_clip_candidates():
        if clip.is_file():
            return clip
    looked = ", ".join(str(c) for c in demo_clip_candidates())
    raise CommandError(f"no clip given and none at {looked}; pass --video FILE")


def _challenge_clip(args: argparse.Namespace, clip: Path) -> Path:
    """A clip in which the person turns the head (the man in the default clip does not)."""
    if args.challenge_video is not None:
        if not args.challenge_video.is_file():
            raise CommandError(f"--challenge-video {args.challenge_video} is not a file")
        return Path(args.challenge_video)
    turning = _shared() / "data" / "video" / "head-pose-face-detection-female.mp4"
    return turning if turning.is_file() else clip


class _FirstFace:
    """Wraps a recognizer and notes the capture time of the first frame with a face."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.first_face: float | None = None

    def analyse(self, frame: Any, now: float) -> Any:
        result = self.inner.analyse(frame, now)
        if result.box is not None and self.first_face is None:
            self.first_face = now
        return result

    def reset(self) -> None:
        self.inner.reset()


def _enroll_vectors(engine: Any, clip: Path, count: int) -> list[np.ndarray]:
    """Templates from the end of the clip (the runs start at its beginning)."""
    from recognition.frames import open_source
    from recognition.images import to_rgb

    frames = []
    with open_source("video", path=str(clip), loop=False, realtime=False) as src:
        while (frame := src.read()) is not None:
            frames.append(frame.image)
    vectors: list[np.ndarray] = []
    for image in reversed(frames):
        result = engine.analyze(to_rgb(image))
        if result.embedding is not None:
            vectors.append(result.embedding)
            if len(vectors) >= count:
                break
    if not vectors:
        raise CommandError(f"no usable face in {clip}")
    return vectors


def _one_run(cfg: Any, clip: Path, engine: Any, vectors: list[np.ndarray], seed: int) -> float:
    from PySide6.QtWidgets import QApplication

    from attendance.store import EmployeeRecord, Store
    from kiosk.app import build_kiosk
    from recognition.frames import open_source

    app = QApplication.instance() or QApplication(["hadir-bench"])
    # Inside the bench's own temporary folder, removed when the bench ends.
    data = Path(tempfile.mkdtemp(prefix="run-", dir=cfg.device.data_dir))
    cfg = cfg.model_copy(update={"device": cfg.device.model_copy(update={"data_dir": str(data)})})
    with Store.from_config(cfg) as store:
        store.employees.upsert(
            EmployeeRecord(ROSTER_NIP, "Pegawai Uji", cfg.device.opd_code, "PNS")
        )
        for v in vectors:
            store.templates.add(
                ROSTER_NIP, v, engine.models.model_name, engine.models.model_version
            )
    source = open_source("video", path=str(clip), loop=True, realtime=True)
    kiosk = build_kiosk(cfg, source, engine=engine)
    kiosk.recognizer.rng = random.Random(seed)
    probe = _FirstFace(kiosk.controller.recognizer)
    kiosk.controller.recognizer = probe
    done: list[float] = []

    def seen() -> None:
        result = kiosk.controller.attendance.result
        if result is not None and result.kind == "success" and not done:
            done.append(time.monotonic())

    kiosk.controller.subscribe(seen)
    kiosk.window.resize(800, 480)
    kiosk.window.show()
    kiosk.start()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while not done and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)
    finally:
        kiosk.stop()
        kiosk.window.close()
        # Delete the Qt objects while Qt still runs: leaving several kiosks'
        # widgets to interpreter shutdown crashed PySide6 in garbage collection.
        kiosk.tick_timer.deleteLater()
        kiosk.window.deleteLater()
        app.processEvents()
    if not done or probe.first_face is None:
        return float("nan")
    return done[0] - probe.first_face


def _latencies(cfg: Any, clip: Path, policy: str) -> tuple[list[float], int]:
    from kiosk.app import build_engine, close_engine

    rec = cfg.recognition
    # A clip cannot blink on cue: the challenge runs use the head-turn challenges.
    kinds = ("turn_left", "turn_right") if policy == "always" else rec.liveness.challenges
    liveness = rec.liveness.model_copy(update={"challenge": policy, "challenges": kinds})
    cfg = cfg.model_copy(
        update={
            "recognition": rec.model_copy(update={"liveness": liveness}),
            "sync": cfg.sync.model_copy(update={"enabled": False}),
            "kiosk": cfg.kiosk.model_copy(update={"sound": False, "fullscreen": False}),
        }
    )
    engine = build_engine(cfg)
    try:
        vectors = _enroll_vectors(engine, clip, 5)
        values = [_one_run(cfg, clip, engine, vectors, seed) for seed in range(RUNS)]
    finally:
        close_engine(engine)
    ok = [v for v in values if v == v]
    return ok, len(values) - len(ok)


def _memory_and_start(cfg_text: str, clip: Path, templates: int, workdir: Path) -> dict[str, float]:
    """A real ``hadir kiosk`` process over a store with ``templates`` templates."""
    from attendance.store import EmployeeRecord, Store
    from hadir.config import load_config
    from recognition.modelinfo import model_info

    root = Path(tempfile.mkdtemp(prefix="mem-", dir=workdir))
    cfg_path = root / "config.toml"
    cfg_path.write_text(cfg_text.replace("@DATA@", str(root / "data")), encoding="utf-8")
    cfg = load_config(cfg_path)
    people = max(1, templates // 5)
    rng = np.random.default_rng(7)
    began = time.monotonic()
    with Store.from_config(cfg) as store:
        nips = [f"19900101{i:06d}1{i % 1000:03d}"[:18] for i in range(people)]
        store.employees.upsert_many(
            [
                EmployeeRecord(n, f"Pegawai {i}", cfg.device.opd_code, "PNS")
                for i, n in enumerate(nips)
            ]
        )
        info = model_info(cfg.recognition.model)
        vectors = rng.normal(0, 0.09, (templates, info.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for i in range(templates):
            store.templates.add(nips[i % people], vectors[i], info.name, info.version)
    log.info("store with %d templates prepared in %.0f s", templates, time.monotonic() - began)
    cmd = [
        sys.executable, "-m", "hadir.cli", "kiosk", "--config", str(cfg_path),
        "--source", str(clip), "--windowed", "--exit-after", "8",
    ]  # fmt: skip
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    text = proc.stderr
    ready = re.search(r"kiosk ready [\d.]+ s after building began, ([\d.]+) s after process", text)
    mem = re.search(
        r"resident memory (\d+) MB \(peak (\d+) MB\), embedding helper (\d+) MB, (\d+) frames",
        text,
    )
    if proc.returncode != 0 or ready is None or mem is None:
        raise CommandError(f"the kiosk process failed (exit {proc.returncode}):\n{text[-2000:]}")
    return {
        "start_to_ready_s": float(ready.group(1)),
        "rss_mb": float(mem.group(1)),
        "peak_rss_mb": float(mem.group(2)),
        "helper_rss_mb": float(mem.group(3)),
        "total_rss_mb": float(mem.group(1)) + float(mem.group(3)),
        "frames_recognised": float(mem.group(4)),
    }


def _config_text(cfg: Any) -> str:
    det = cfg.recognition.detector
    return (
        "[device]\n"
        'data_dir = "@DATA@"\n'
        "[recognition]\n"
        f'model = "{cfg.recognition.model}"\n'
        "[recognition.detector]\n"
        f'backend = "{det.backend}"\n'
        f'yunet_model = "{det.yunet_model}"\n'
        f"detect_width = {det.detect_width}\n"
        f"upsample = {det.upsample}\n"
        "[recognition.quality]\n"
        f"min_eye_distance = {cfg.recognition.quality.min_eye_distance}\n"
        f"min_sharpness = {cfg.recognition.quality.min_sharpness}\n"
        "[kiosk]\n"
        "fullscreen = false\n"
        "sound = false\n"
    )


def run_bench(args: argparse.Namespace) -> int:
    from kiosk.demo import demo_config

    clip = _clip(args)
    base = config_from_args(args, HadirConfig)
    log.info("load average at start: %.2f", os.getloadavg()[0])
    # The sample clips are 480x270 with small faces: use the demo's detector settings.
    parent = getattr(args, "data_dir", None)
    if parent is not None:
        Path(parent).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="hadir-bench-", dir=parent))
    try:
        cfg = demo_config(base, workdir, small_faces=True)
        turn_clip = _challenge_clip(args, clip)
        plain, plain_failed = _latencies(cfg, clip, "never")
        challenge, challenge_failed = _latencies(cfg, turn_clip, "always")
        proc = _memory_and_start(_config_text(cfg), clip, args.templates, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out: dict[str, Any] = {
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "clip": clip.name,
        "challenge_clip": turn_clip.name,
        "detector": cfg.recognition.detector.backend,
        "runs": RUNS,
        "latency_median_s": round(statistics.median(plain), 3) if plain else None,
        "latency_runs_s": [round(v, 3) for v in plain],
        "latency_failed_runs": plain_failed,
        "latency_challenge_median_s": round(statistics.median(challenge), 3) if challenge else None,
        "latency_challenge_runs_s": [round(v, 3) for v in challenge],
        "latency_challenge_failed_runs": challenge_failed,
        "templates": args.templates,
        **proc,
    }
    import gc

    gc.collect()
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:32} {value}")
    return 0
