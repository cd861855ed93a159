"""``hadir kiosk --demo``: the whole flow with no camera and no server.

A temporary data directory receives a demo roster (employee PIN and admin
PIN printed on start). The frame source is ``--source`` (a video file or an
image folder), else the clip of a person facing a camera from the shared test
data next to the checkout, else the same clip shipped in ``assets/demo``
(CC BY 4.0, see ``assets/demo/ATTRIBUTION.md``); the face found in its first
frames is enrolled as the first demo employee so the demo recognises someone.
Without any clip (a checkout with ``assets/demo`` removed) a blank scripted
camera runs, the places looked at are logged and printed, and the demo shows
the NIP + PIN flow.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hadir.config import HadirConfig
    from recognition.faces import FaceEngine
    from recognition.frames import FrameSource

log = logging.getLogger(__name__)

DEMO_PIN = "1234"
DEMO_ADMIN_PIN = "123456"
DEMO_ROSTER: tuple[tuple[str, str, str], ...] = (
    ("198503122010011002", "Siti Rahmawati, S.Kom.", "Bidang Aplikasi Informatika"),
    ("199001012015031004", "Budi Santoso, S.E.", "Sekretariat"),
    ("197812242006042001", "Dewi Lestari", "Bidang Statistik"),
    ("198807152019031007", "Ahmad Fauzi, S.T.", "Bidang Persandian"),
)
DEMO_CLIP = "head-pose-face-detection-female.mp4"
ENROLL_SAMPLES = 5
ENROLL_MAX_FRAMES = 40


@dataclass
class Demo:
    cfg: HadirConfig
    source: FrameSource
    engine: FaceEngine
    data_dir: Path
    enrolled: int
    summary: str


def assets_demo_dir() -> Path:
    """``assets/demo`` of the checkout: the demo clip that ships with Hadir."""
    return Path(__file__).resolve().parent.parent / "assets" / "demo"


def demo_clip_candidates() -> tuple[Path, ...]:
    """Where the demo looks for its clip, in order."""
    return (shared_dir() / "data" / "video" / DEMO_CLIP, assets_demo_dir() / DEMO_CLIP)


def shared_dir() -> Path:
    here = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("HADIR_SHARED", here.parent / "shared"))


def demo_config(
    cfg: HadirConfig, data_dir: Path, small_faces: bool, photos: bool = False
) -> HadirConfig:
    """The config with a temporary data dir, no sync, a window, (for the small
    faces of the sample clips) a detector that finds them, and (for a folder
    of photos, which can never pass a liveness check) the passive check only."""
    rec = cfg.recognition
    det = rec.detector
    quality = rec.quality
    liveness = rec.liveness.model_copy(update={"challenge": "never"}) if photos else rec.liveness
    if small_faces and not photos:
        # A clip cannot blink on cue, and its head turns come round once a
        # loop (4 s): a slow recognition loop may miss one, so wait for the next.
        liveness = liveness.model_copy(
            update={
                "challenges": ("turn_left", "turn_right"),
                "timeout_seconds": max(liveness.timeout_seconds, 15.0),
            }
        )
    if small_faces:
        # YuNet (the file shipped in recognition/models/) finds them at 480 px.
        det = det.model_copy(update={"backend": "yunet", "detect_width": 480})
        quality = quality.model_copy(update={"min_eye_distance": 20.0, "min_sharpness": 10.0})
    return cfg.model_copy(
        update={
            "device": cfg.device.model_copy(update={"data_dir": str(data_dir)}),
            "sync": cfg.sync.model_copy(update={"enabled": False}),
            "kiosk": cfg.kiosk.model_copy(update={"fullscreen": False}),
            "recognition": rec.model_copy(
                update={"detector": det, "quality": quality, "liveness": liveness}
            ),
        }
    )


def _demo_frames(path: Path | None) -> tuple[str, Path] | None:
    """(kind, path) of the demo's frames: ``--source`` or the shared clip, if any."""
    if path is not None:
        if not path.exists():
            from hadir.command import CommandError

            raise CommandError(f"--source {path} does not exist")
        return ("images" if path.is_dir() else "video"), path
    for clip in demo_clip_candidates():
        if clip.is_file():
            return "video", clip
    return None


def missing_clip_message() -> str:
    looked = ", ".join(str(p) for p in demo_clip_candidates())
    return (
        f"no demo clip found (looked at {looked}): the demo camera shows a blank frame "
        "and nobody is enrolled; give a video file or image folder with --source"
    )


def _enroll_from(source: FrameSource, engine: FaceEngine, limit: int) -> list[np.ndarray]:
    """Embeddings of the main face in the first frames that pass the quality gate."""
    from recognition.images import to_rgb

    vectors: list[np.ndarray] = []
    frames = 0
    with source:
        while len(vectors) < limit and frames < ENROLL_MAX_FRAMES:
            frame = source.read()
            if frame is None:
                break
            frames += 1
            result = engine.analyze(to_rgb(frame.image))
            if result.embedding is not None:
                vectors.append(result.embedding)
    return vectors


def prepare_demo(cfg: HadirConfig, source_path: Path | None, data_dir: Path | None = None) -> Demo:
    """The demo kiosk's config, frames and engine, its roster stored in ``data_dir``
    (default: a new temporary folder, which the kiosk removes when it exits)."""
    from attendance.admin import AdminGuard
    from attendance.clock import SystemClock
    from attendance.store import EmployeeRecord, Store
    from kiosk.app import build_engine
    from recognition.frames import FakeFrameSource, open_source

    frames = _demo_frames(source_path)
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="hadir-demo-"))
    photos = frames is not None and frames[0] == "images"
    cfg = demo_config(
        cfg, data_dir, small_faces=frames is not None and source_path is None, photos=photos
    )
    engine = build_engine(cfg)
    enrolled = 0
    with Store.from_config(cfg) as store:
        for nip, name, unit in DEMO_ROSTER:
            store.employees.upsert(
                EmployeeRecord(
                    nip=nip, name=name, opd_code=cfg.device.opd_code, employee_type="PNS", unit=unit
                )
            )
            store.employees.set_pin(nip, DEMO_PIN)
        AdminGuard(store.admin_state, SystemClock(), cfg.admin).set_pin(DEMO_ADMIN_PIN)
        if frames is not None:
            kind, path = frames
            probe = open_source(kind, path=str(path), loop=False, realtime=False)
            for vector in _enroll_from(probe, engine, ENROLL_SAMPLES):
                store.templates.add(
                    DEMO_ROSTER[0][0],
                    vector,
                    engine.models.model_name,
                    engine.models.model_version,
                    source="kiosk",
                )
                enrolled += 1
    source: FrameSource
    if frames is not None:
        source = open_source(frames[0], path=str(frames[1]), loop=True)
    else:
        log.warning("%s", missing_clip_message())
        blank = np.full((480, 640, 3), 60, np.uint8)
        source = FakeFrameSource([blank], fps=15, name="demo camera (no picture: no demo clip)")
    if frames is None:
        who = f"nobody ({missing_clip_message()})"
    elif enrolled:
        who = DEMO_ROSTER[0][1]
    else:
        who = "nobody (no face found in the demo frames)"
    summary = (
        f"Hadir demo: data in {data_dir}; frames from {source.description}; "
        f"{len(DEMO_ROSTER)} employees (PIN {DEMO_PIN}), face enrolled: {who}; "
        f"admin PIN {DEMO_ADMIN_PIN} (gear button, top right)."
        + (
            " Photos cannot pass a liveness challenge: the demo uses the passive check only."
            if photos
            else ""
        )
    )
    log.info("demo prepared: %d templates enrolled", enrolled)
    return Demo(cfg, source, engine, data_dir, enrolled, summary)
