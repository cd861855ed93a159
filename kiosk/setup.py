"""``hadir setup``: a new kiosk's first start, step by step, from the command line.

1. the kiosk's database and keys (created here: setting up is what may create them);
2. the admin PIN (asked twice, or one line on stdin with ``--pin-stdin``);
3. the server address and the one-time enrollment code from the server's
   admin (``hadir server create-enrollment-code --opd OPD``): the kiosk
   registers, learns its OPD, and syncs from then on;
4. the camera: one frame must arrive within a few seconds.

Each step says what it did; a step that fails says why and what to do, and
the steps before it stay done (running ``hadir setup`` again is safe).
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time

from hadir.command import CommandError, config_from_args
from hadir.config import HadirConfig

CAMERA_WAIT_SECONDS = 8.0


def _ask(prompt: str, interactive: bool) -> str:
    if not interactive:
        return ""
    try:
        return input(prompt).strip()
    except EOFError:
        return ""


def _read_pin(args: argparse.Namespace) -> str:
    if args.pin_stdin:
        return sys.stdin.readline().strip()
    pin = getpass.getpass("Admin PIN for this kiosk (4-12 digits): ")
    if getpass.getpass("Repeat the PIN: ") != pin:
        raise CommandError("the two PINs differ; run hadir setup again")
    return pin


def camera_check(cfg: HadirConfig, seconds: float = CAMERA_WAIT_SECONDS) -> str:
    """Open the configured camera and wait for one frame; raises CommandError if none comes."""
    from recognition.frames import FrameSourceError, source_from_params

    try:
        source = source_from_params(cfg.camera, realtime=False)
        with source:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                frame = source.read()
                if frame is not None:
                    h, w = frame.image.shape[:2]
                    return f"{source.description}: {w}x{h}"
                time.sleep(0.1)
    except (FrameSourceError, OSError) as exc:
        raise CommandError(f"camera: {exc}. Check [camera] in the config and the cable") from None
    raise CommandError(
        f"camera: no picture within {seconds:g} s from {source.description}. Check [camera] "
        "in the config and the cable"
    )


def run_setup(args: argparse.Namespace) -> int:
    from attendance.admin import AdminGuard, PinFormatError
    from attendance.clock import SystemClock
    from attendance.db import StoreError
    from attendance.store import Store, key_dir_for
    from sync.registration import register_kiosk
    from sync.retry import SyncError

    cfg = config_from_args(args, HadirConfig)
    interactive = sys.stdin.isatty() and not args.pin_stdin
    try:
        store = Store.from_config(cfg, create=True)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    try:
        print(f"1. kiosk data in {cfg.data_dir} (device {store.device_id})", flush=True)
        guard = AdminGuard(store.admin_state, SystemClock(), cfg.admin)
        try:
            guard.set_pin(_read_pin(args))
        except PinFormatError as exc:
            raise CommandError(f"admin PIN: {exc}") from None
        store.audit.record("cli", "set_admin_pin", None, "setup")
        print("2. admin PIN set", flush=True)
        url = (
            args.server
            or cfg.sync.server_url
            or _ask("Server address (empty: later): ", interactive)
        )
        code = args.code or (_ask("Enrollment code: ", interactive) if url else "")
        if url and code:
            try:
                reg = register_kiosk(
                    store, key_dir_for(cfg.data_dir, cfg.store), url, code, cfg.sync.timeout_seconds
                )
            except ValueError as exc:
                raise CommandError(f"server address: {exc}") from None
            except SyncError as exc:
                raise CommandError(
                    f"registration failed: {exc}. Check the address and ask the server's admin "
                    "for a new code (hadir server create-enrollment-code --opd OPD)"
                ) from None
            print(
                f"3. registered with {url} as {reg.device_id} for OPD {reg.opd_code}; sync is on",
                flush=True,
            )
        else:
            print(
                "3. not registered (no server address or code): the kiosk works offline; "
                "later: hadir sync register --server URL --code CODE",
                flush=True,
            )
    finally:
        store.close()
    if args.no_camera_check:
        print("4. camera not checked (--no-camera-check)")
    else:
        print(f"4. camera ok: {camera_check(cfg)}", flush=True)
    print("Set up. Start the kiosk with: hadir kiosk (as a service: hadir install-service kiosk)")
    return 0


def add_setup_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pin-stdin",
        action="store_true",
        help="read the admin PIN from the first line of standard input (no questions asked)",
    )
    p.add_argument(
        "--server", default=None, help="central server address, e.g. https://hadir.example.go.id"
    )
    p.add_argument("--code", default=None, help="one-time enrollment code from the server's admin")
    p.add_argument("--no-camera-check", action="store_true", help="skip waiting for a camera frame")


# ---------------------------------------------------------------- first start on the touch screen


def first_pin_step(first: str | None, digits: str) -> tuple[str, str | None]:
    """One OK on the first-start keypad: (outcome, the first entry to keep).

    ``short``: fewer than 6 digits (asked again); ``repeat``: ask the same PIN
    again; ``mismatch``: the repeat differed (start over); ``set``: both agree.
    """
    if first is None:
        if len(digits) < FIRST_PIN_MIN:
            return "short", None
        return "repeat", digits
    if digits != first:
        return "mismatch", None
    return "set", first


FIRST_PIN_MIN = 6  # the kiosk's admin PIN guards erasure and export: longer than an employee's
