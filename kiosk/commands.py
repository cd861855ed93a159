"""Commands of the kiosk package: ``kiosk``, ``fingerprint-enroll``, ``lookalikes``,
``screenshots``, ``bench-kiosk``.

Top-level imports stay light; Qt and the engine load inside ``run``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from hadir.command import (
    Command,
    CommandError,
    add_config_argument,
    add_data_dir_argument,
    config_from_args,
)
from hadir.config import HadirConfig
from kiosk.enroll_photos import ENROLL_COMMAND, ENROLL_FOLDER_COMMAND
from kiosk.templates_cmd import TEMPLATES_COMMAND


def _offscreen_without_display() -> None:
    """Headless machines (CI) have no display: render offscreen there."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _shared_data() -> Path | None:
    here = Path(__file__).resolve().parent.parent
    path = Path(os.environ.get("HADIR_SHARED", here.parent / "shared")) / "data"
    return path if path.is_dir() else None


def _screenshots_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder for the PNG files")
    p.add_argument(
        "--language",
        choices=("id", "en"),
        default="id",
        help="language of the screens: id (Bahasa Indonesia, default) or en",
    )


def _screenshots_run(args: argparse.Namespace) -> int:
    _offscreen_without_display()
    from kiosk.qtlog import install_qt_log

    install_qt_log()
    from kiosk.screenshots import render_all

    try:
        paths = render_all(args.out_dir, args.language, _shared_data())
    except OSError as exc:
        raise CommandError(str(exc)) from None
    print(f"{len(paths)} screenshots in {args.out_dir}")
    return 0


def _kiosk_args(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="kiosk data directory (default: [device] data_dir in the config; with --demo: "
        "a temporary folder removed at exit, or this folder, kept)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="no camera, no server: temporary data, demo roster, a clip or image folder",
    )
    p.add_argument("--source", type=Path, default=None, help="video file or image folder")
    p.add_argument(
        "--exit-after", type=float, default=None, metavar="SECONDS", help="quit after SECONDS"
    )
    p.add_argument("--windowed", action="store_true", help="a window instead of full screen")


def _kiosk_run(args: argparse.Namespace) -> int:
    from kiosk.app import run_kiosk

    return run_kiosk(args)


def _bench_args(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder in which the benchmark makes its temporary kiosk stores (default: the "
        "system's temporary folder); they are removed at the end",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--video", type=Path, default=None, help="clip of a person walking up")
    p.add_argument(
        "--challenge-video",
        type=Path,
        default=None,
        help="clip of a person turning the head (for the runs with a challenge)",
    )
    p.add_argument(
        "--templates",
        type=int,
        default=10_000,
        help="templates in the store of the memory and start-up run (default 10000)",
    )


def _bench_run(args: argparse.Namespace) -> int:
    _offscreen_without_display()
    from kiosk.qtlog import install_qt_log

    install_qt_log()
    from kiosk.bench import run_bench

    return run_bench(args)


def _finger_args(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    add_data_dir_argument(p)
    p.add_argument("nip", help="18-digit NIP of the employee whose finger is enrolled")
    p.add_argument("--port", help="serial port (default: [fingerprint] port of the config)")
    p.add_argument("--actor", default="cli", help="who enrolls (audit log)")


def _finger_run(args: argparse.Namespace) -> int:
    from attendance.db import StoreError
    from attendance.fingerprints import FingerprintSlots
    from attendance.ids import validate_nip
    from attendance.store import Store
    from kiosk.fingerprint import enroll_finger
    from kiosk.i18n import Catalogue
    from recognition.fingerprint import FingerprintError, FingerprintModule, open_serial

    cfg = config_from_args(args, HadirConfig)
    section = cfg.fingerprint
    port = args.port or section.port
    if not port:
        raise CommandError("no sensor: give --port or set [fingerprint] port in config.toml")
    try:
        validate_nip(args.nip)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    try:
        store = Store.from_config(cfg, create=False)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    try:
        if store.employees.get(args.nip) is None:
            raise CommandError(f"no employee with NIP {args.nip} on this kiosk")
        module = FingerprintModule(open_serial(port, section.baudrate), password=section.password)
        cat = Catalogue(cfg.device.language)
        slot = enroll_finger(
            module,
            FingerprintSlots(store.state, section.capacity),
            store.audit,
            args.nip,
            args.actor,
            on_step=lambda step: print(cat.text(f"enroll.finger.{step}"), flush=True),
        )
    except (FingerprintError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()
    print(f"finger of {args.nip} enrolled in slot {slot}")
    return 0


def _lookalike_args(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    add_data_dir_argument(p)
    p.add_argument(
        "--max-distance",
        type=float,
        default=None,
        help="report pairs at most this far apart (default: [recognition.match] threshold)",
    )
    p.add_argument("--actor", default="cli", help="who asked (audit log)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _lookalike_run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from attendance.db import StoreError
    from attendance.store import Store
    from recognition.gallery import look_alikes
    from recognition.modelinfo import model_info

    cfg = config_from_args(args, HadirConfig)
    match = cfg.recognition.match
    limit = match.threshold if args.max_distance is None else args.max_distance
    if not 0.0 <= limit <= 2.0:
        raise CommandError(f"--max-distance must be between 0 and 2, got {limit}")
    scope = cfg.device.opd_code if match.gallery_scope == "opd" else None
    try:
        store = Store.from_config(cfg, create=False)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    try:
        info = model_info(cfg.recognition.model)
        rows = store.templates.all_for_scope(scope, info.name, info.version)
        matrix = np.array([v for _, _, v in rows], dtype=np.float32).reshape(-1, info.dim)
        pairs = look_alikes([nip for nip, _, _ in rows], matrix, limit)
        people = len({nip for nip, _, _ in rows})
        named = {nip for a, b, _ in pairs for nip in (a, b)}  # one lookup per person listed
        names = {nip: (e.name if (e := store.employees.get(nip)) else "") for nip in named}
        store.audit.record(args.actor, "look_alikes", "", f"pairs={len(pairs)} max={limit}")
    finally:
        store.close()
    out = {
        "templates": len(rows),
        "people": people,
        "max_distance": limit,
        "pairs": [
            {"distance": round(d, 4), "a": a, "a_name": names[a], "b": b, "b_name": names[b]}
            for a, b, d in pairs
        ],
    }
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{len(rows)} templates of {people} people in this kiosk's gallery")
    if not pairs:
        print(f"no two people closer than {limit}")
        return 0
    print(f"{len(pairs)} pairs of people closer than {limit} (they may be taken for each other):")
    for a, b, d in pairs:
        print(f"  {d:.3f}  {a} {names[a]}  ~  {b} {names[b]}")
    print(
        "Check their punches' snapshots, prefer a fingerprint for them, or lower "
        "[recognition.match] max_runner_up_ratio (see README, accuracy)."
    )
    return 0


def _setup_args(p: argparse.ArgumentParser) -> None:
    from kiosk.setup import add_setup_arguments

    add_config_argument(p)
    add_data_dir_argument(p)
    add_setup_arguments(p)


def _setup_run(args: argparse.Namespace) -> int:
    from kiosk.setup import run_setup

    return run_setup(args)


COMMANDS: dict[str, Command] = {
    "enroll": ENROLL_COMMAND,
    "enroll-photos": ENROLL_FOLDER_COMMAND,
    "templates": TEMPLATES_COMMAND,
    "kiosk": Command("run the attendance kiosk (PySide6)", _kiosk_args, _kiosk_run),
    "setup": Command(
        "set up a new kiosk: admin PIN, registration with the server (OPD, sync on), camera check",
        _setup_args,
        _setup_run,
    ),
    "fingerprint-enroll": Command(
        "enroll an employee's finger into the kiosk's fingerprint module",
        _finger_args,
        _finger_run,
    ),
    "lookalikes": Command(
        "list enrolled people whose faces are close enough to be taken for each other",
        _lookalike_args,
        _lookalike_run,
    ),
    "screenshots": Command(
        "render every kiosk screen at 800x480 and 1024x600 to PNG",
        _screenshots_args,
        _screenshots_run,
    ),
    "bench-kiosk": Command(
        "kiosk latency (face to confirmation), memory with 10,000 templates, start to ready",
        _bench_args,
        _bench_run,
    ),
}
