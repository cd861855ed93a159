"""Commands of the attendance package (the kiosk's local store).

``hadir verify-log``, ``erase-person``, ``export``, ``demo-punches``,
``set-admin-pin``, ``purge-snapshots``, ``bench-store``. Every one takes ``--config`` and
``--data-dir``. Top-level imports stay light; the store is imported in ``run``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

from attendance.config import AttendanceConfig
from hadir.command import (
    Command,
    CommandError,
    add_config_argument,
    add_data_dir_argument,
    config_from_args,
)

if TYPE_CHECKING:
    from attendance.store import Store


def _common(parser: argparse.ArgumentParser, *, json_flag: bool = False) -> None:
    add_config_argument(parser)
    add_data_dir_argument(parser)
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print one JSON object")


def _open(cfg: AttendanceConfig, *, create: bool = False) -> Store:
    """The kiosk's store; only device set-up commands pass ``create=True``."""
    from attendance.db import StoreError
    from attendance.store import Store

    try:
        return Store.from_config(cfg, create=create)
    except StoreError as exc:
        raise CommandError(str(exc)) from None


def _emit(obj: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, sort_keys=True))
    else:
        for key, value in obj.items():
            print(f"{key}: {value}")


# --------------------------------------------------------------------------- verify-log


def _verify_args(p: argparse.ArgumentParser) -> None:
    _common(p, json_flag=True)
    p.add_argument(
        "--sqlite-check",
        action="store_true",
        help="also run PRAGMA integrity_check on the database file",
    )


def _verify_run(args: argparse.Namespace) -> int:
    from attendance.integrity import load_public_key
    from attendance.verify import verify_log

    cfg = config_from_args(args, AttendanceConfig)
    store = _open(cfg)
    try:
        report = verify_log(store.db, load_public_key(store.keys.public_key))
        out = report.as_json()
        if args.sqlite_check:
            with store.db.read() as conn:
                rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
            out["sqlite_integrity"] = "ok" if rows == ["ok"] else "; ".join(rows[:20])
    finally:
        store.close()
    ok = report.ok and out.get("sqlite_integrity", "ok") == "ok"
    out["ok"] = ok
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        for problem in report.problems:
            print(problem.message)
        if "sqlite_integrity" in out:
            print(f"sqlite integrity: {out['sqlite_integrity']}")
        verdict = "OK" if ok else f"{len(report.problems)} problem(s)"
        print(f"{report.punches} punches of {len(report.devices)} device(s) checked: {verdict}")
    return 0 if ok else 1


# --------------------------------------------------------------------------- erase-person


def _erase_args(p: argparse.ArgumentParser) -> None:
    _common(p, json_flag=True)
    p.add_argument("nip", help="18-digit NIP of the person whose biometrics are erased")
    p.add_argument("--actor", default="cli", help="who asked for the erasure (audit log)")


def _erase_run(args: argparse.Namespace) -> int:
    from attendance.ids import validate_nip

    try:
        validate_nip(args.nip)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    store = _open(config_from_args(args, AttendanceConfig))
    try:
        if store.employees.get(args.nip) is None and not store.templates.info(args.nip):
            raise CommandError(f"no person with NIP {args.nip} on this kiosk")
        res = store.erase_person(args.nip, actor=args.actor)
    finally:
        store.close()
    _emit(
        {
            "nip": res.nip,
            "templates_deleted": res.templates_deleted,
            "snapshots_deleted": res.snapshots_deleted,
            "fingerprint_slots": list(res.fingerprint_slots),
        },
        args.json,
    )
    if res.fingerprint_slots:
        slots = ",".join(str(s) for s in res.fingerprint_slots)
        print(
            f"delete the fingers on the sensor too: hadir fingerprint PORT --delete {slots}",
            file=sys.stderr,
        )
    return 0


# --------------------------------------------------------------------------- export


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _export_args(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--from", dest="first", type=_date, required=True, help="first local date")
    p.add_argument("--to", dest="last", type=_date, required=True, help="last local date")
    p.add_argument("--out", dest="out_path", required=True, help="CSV file to write")


def _export_run(args: argparse.Namespace) -> int:
    from pathlib import Path
    from zoneinfo import ZoneInfo

    from attendance.export import export_csv

    cfg = config_from_args(args, AttendanceConfig)
    out = Path(args.out_path)
    if args.last < args.first:  # before the store: a bad range names the range
        raise CommandError(f"--to ({args.last}) is before --from ({args.first})")
    store = _open(cfg)
    try:
        n = export_csv(store.db, out, args.first, args.last, ZoneInfo(cfg.device.timezone))
        store.audit.record("cli", "export", None, f"{args.first}..{args.last} rows={n}")
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()
    print(f"{n} punches written to {out}")
    return 0


# --------------------------------------------------------------------------- demo-punches


def _demo_args(p: argparse.ArgumentParser) -> None:
    _common(p, json_flag=True)
    p.add_argument("--count", type=int, default=100, help="punches to record (default 100)")
    p.add_argument("--employees", type=int, default=20, help="sample employees (default 20)")


def _demo_run(args: argparse.Namespace) -> int:
    from attendance.bench import demo_punches

    if args.count < 1 or args.employees < 1:
        raise CommandError("--count and --employees must be at least 1")
    cfg = config_from_args(args, AttendanceConfig)
    store = _open(cfg, create=True)  # fills a new sample kiosk
    try:
        results = demo_punches(store, cfg, args.count, employees=args.employees)
        stats = store.outbox.stats()
    finally:
        store.close()
    recorded = [r for r in results if r.kind == "recorded"]
    _emit(
        {
            "recorded": len(recorded),
            "duplicates": len(results) - len(recorded),
            "last_seq": recorded[-1].seq if recorded else None,
            "pending": stats.pending,
            "data_dir": str(cfg.data_dir),
        },
        args.json,
    )
    return 0


# --------------------------------------------------------------------------- set-admin-pin


def _pin_args(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument(
        "--pin-stdin",
        action="store_true",
        help="read the new PIN from the first line of standard input (scripts, drills)",
    )


def _pin_run(args: argparse.Namespace) -> int:
    from attendance.admin import AdminGuard, PinFormatError
    from attendance.clock import SystemClock

    if args.pin_stdin:
        pin = sys.stdin.readline().strip()
    else:
        pin = getpass.getpass("New admin PIN (4-12 digits): ")
        if getpass.getpass("Repeat the PIN: ") != pin:
            raise CommandError("the two PINs differ; nothing changed")
    cfg = config_from_args(args, AttendanceConfig)
    store = _open(cfg, create=True)  # setting up a kiosk
    try:
        guard = AdminGuard(store.admin_state, SystemClock(), cfg.admin)
        try:
            guard.set_pin(pin)
        except PinFormatError as exc:
            raise CommandError(str(exc)) from None
        store.audit.record("cli", "set_admin_pin")
    finally:
        store.close()
    print("admin PIN set")
    return 0


# --------------------------------------------------------------------------- purge-snapshots


def _purge_run(args: argparse.Namespace) -> int:
    store = _open(config_from_args(args, AttendanceConfig))
    try:
        res = store.purge_snapshots()
    finally:
        store.close()
    _emit(
        {
            "files_deleted": res.files_deleted,
            "bytes_freed": res.bytes_freed,
            "bytes_kept": res.bytes_kept,
        },
        args.json,
    )
    return 0


# --------------------------------------------------------------------------- bench-store


def _bench_args(p: argparse.ArgumentParser) -> None:
    _common(p, json_flag=True)
    p.add_argument("--records", type=int, default=1000, help="punches timed (default 1000)")
    p.add_argument(
        "--punches", type=int, default=1_000_000, help="size of the large store (default 1M)"
    )
    p.add_argument("--workdir", default=None, help="where the temporary stores go (default /tmp)")


def _bench_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from attendance.bench import bench_store

    cfg = config_from_args(args, AttendanceConfig)
    if args.records < 10 or args.punches < 1000:
        raise CommandError("--records must be >= 10 and --punches >= 1000")

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    res = bench_store(
        cfg,
        records=args.records,
        punches=args.punches,
        workdir=Path(args.workdir) if args.workdir else None,
        progress=None if args.json else say,
    )
    _emit(res.as_json(), args.json)
    return 0


COMMANDS: dict[str, Command] = {
    "verify-log": Command(
        "check every punch signature and the hash chain of the local store",
        _verify_args,
        _verify_run,
    ),
    "erase-person": Command(
        "erase the face templates and punch snapshots of one person (punches stay)",
        _erase_args,
        _erase_run,
    ),
    "export": Command("export punches between two local dates to CSV", _export_args, _export_run),
    "demo-punches": Command(
        "record sample punches of sample employees through the real recording path",
        _demo_args,
        _demo_run,
    ),
    "set-admin-pin": Command("set the kiosk's admin PIN", _pin_args, _pin_run),
    "purge-snapshots": Command(
        "delete punch snapshots past [store] retention or above the disk cap (run daily)",
        lambda p: _common(p, json_flag=True),
        _purge_run,
    ),
    "bench-store": Command(
        "benchmark punch recording and a store of a million punches", _bench_args, _bench_run
    ),
}
