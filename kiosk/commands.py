"""Commands of the kiosk package: ``kiosk``, ``screenshots``, ``bench-kiosk``.

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
    p.add_argument("--language", choices=("id", "en"), default="id")


def _screenshots_run(args: argparse.Namespace) -> int:
    _offscreen_without_display()
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
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--video", type=Path, default=None, help="clip of a person walking up")
    p.add_argument(
        "--challenge-video",
        type=Path,
        default=None,
        help="clip of a person turning the head (for the runs with a challenge)",
    )
    p.add_argument("--templates", type=int, default=10_000)


def _bench_run(args: argparse.Namespace) -> int:
    _offscreen_without_display()
    from kiosk.bench import run_bench

    return run_bench(args)


def _finger_args(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    add_data_dir_argument(p)
    p.add_argument("nip", help="18-digit NIP of the employee whose finger is enrolled")
    p.add_argument("--port", help="serial port (default: [fingerprint] port of the config)")
    p.add_argument("--actor", default="cli", help="who enrolls (audit log)")


def _finger_run(args: argparse.Namespace) -> int:
    from attendance.fingerprints import FingerprintSlots
    from attendance.ids import validate_nip
    from attendance.store import Store
    from kiosk.fingerprint import enroll_finger
    from kiosk.i18n import Catalogue
    from recognition.fingerprint import FingerprintError, FingerprintModule, open_serial

    cfg = config_from_args(args)
    section = cfg.fingerprint
    port = args.port or section.port
    if not port:
        raise CommandError("no sensor: give --port or set [fingerprint] port in config.toml")
    try:
        validate_nip(args.nip)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    store = Store.from_config(cfg)
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


COMMANDS: dict[str, Command] = {
    "kiosk": Command("run the attendance kiosk (PySide6)", _kiosk_args, _kiosk_run),
    "fingerprint-enroll": Command(
        "enroll an employee's finger into the kiosk's fingerprint module",
        _finger_args,
        _finger_run,
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
