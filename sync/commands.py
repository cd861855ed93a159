"""Commands of the sync package: ``hadir sync status|now|register|requeue`` and ``hadir loadtest``.

Top-level imports stay light; the store and the clients are imported in ``run``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hadir.command import (
    Command,
    CommandError,
    add_config_argument,
    add_data_dir_argument,
    config_from_args,
)
from sync.config import SyncConfig


def _sync_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (
        ("status", "show the queue, last success and last error"),
        ("now", "run one sync round now and print what it did"),
        ("register", "register this kiosk with the central server using an enrollment code"),
        (
            "requeue",
            "send quarantined punches again (after the server was fixed); audit logged",
        ),
    ):
        p = sub.add_parser(name, help=text, description=text)
        add_config_argument(p)
        add_data_dir_argument(p)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        if name == "register":
            p.add_argument("--code", required=True, help="one-time enrollment code from the admin")
            p.add_argument("--server", default=None, help="server URL (default: [sync] server_url)")
        if name == "requeue":
            which = p.add_mutually_exclusive_group(required=True)
            which.add_argument(
                "--id",
                action="append",
                dest="ids",
                metavar="PUNCH_ID",
                help="a quarantined punch to send again (repeat for several)",
            )
            which.add_argument("--all", action="store_true", help="every quarantined punch")
            p.add_argument("--actor", default="cli", help="who decided it (audit log)")


def _print(obj: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, sort_keys=True))
        return
    for key, value in obj.items():
        print(f"{key:>22}: {value}")


def _run_sync(args: argparse.Namespace) -> int:
    from attendance.db import StoreError
    from attendance.store import Store, key_dir_for
    from sync.credentials import CredentialsError, load_credentials

    cfg = config_from_args(args, SyncConfig)
    key_dir = key_dir_for(cfg.data_dir, cfg.store)
    try:
        # Registering sets a kiosk up; status and now only read an existing one.
        store = Store.from_config(cfg, create=args.action == "register")
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    try:
        if args.action == "register":
            return _register(
                args,
                cfg.sync.server_url,
                cfg.sync.timeout_seconds,
                store,
                key_dir,
                cfg.sync.ca_file,
            )
        if args.action == "requeue":
            return _requeue(args, store)
        try:
            creds = load_credentials(key_dir)
        except CredentialsError as exc:
            raise CommandError(str(exc)) from None
        if args.action == "status":
            stats = store.outbox.stats()
            from sync.worker import (
                CURSOR_KEY,
                FEED_REFUSED_KEY,
                LAST_SUCCESS_KEY,
                sync_enabled,
            )

            _print(
                {
                    "registered": creds is not None,
                    "enabled": sync_enabled(cfg, store),
                    "server_url": creds.server_url if creds else cfg.sync.server_url,
                    "device_id": store.device_id,
                    "pending": stats.pending,
                    "oldest_pending_utc": stats.oldest_pending_utc,
                    "delivered": stats.delivered,
                    "quarantined": stats.quarantined,
                    "last_success_utc": store.state.get(LAST_SUCCESS_KEY),
                    "changes_cursor": int(store.state.get(CURSOR_KEY) or 0),
                    "server_key_known": bool(creds and creds.server_public_key),
                    "feed_refused": json.loads(store.state.get(FEED_REFUSED_KEY) or "null"),
                },
                args.json,
            )
            return 0
        return _now(args, cfg, store, key_dir)
    finally:
        store.close()


def _register(
    args: argparse.Namespace,
    default_url: str,
    timeout: float,
    store: Any,
    key_dir: Any,
    ca_file: str = "",
) -> int:
    from sync.registration import register_kiosk
    from sync.retry import SyncError

    url = args.server or default_url
    if not url:
        raise CommandError("no server address: pass --server URL or set [sync] server_url")
    try:
        reg = register_kiosk(store, key_dir, url, args.code, timeout, ca_file)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    except SyncError as exc:
        raise CommandError(f"registration failed: {exc}") from None
    _print(
        {
            "registered": True,
            "device_id": reg.device_id,
            "opd_code": reg.opd_code,
            "token_file": str(reg.token_file),
            "sync_enabled": True,
        },
        args.json,
    )
    return 0


def _requeue(args: argparse.Namespace, store: Any) -> int:
    """Quarantined punches go back to ``ready``; the next round sends them again."""
    quarantined = [pid for pid, _reason in store.outbox.quarantined()]
    wanted = quarantined if args.all else list(dict.fromkeys(args.ids))
    unknown = sorted(set(wanted) - set(quarantined))
    requeued = store.outbox.requeue_quarantined(wanted) if wanted else 0
    if requeued:
        target = "all" if args.all else ",".join(wanted) if len(wanted) <= 20 else None
        store.audit.record(args.actor, "requeue_quarantined", target, f"punches={requeued}")
    _print({"requeued": requeued, "not_quarantined": unknown}, args.json)
    return 1 if unknown else 0


def _now(args: argparse.Namespace, cfg: Any, store: Any, key_dir: Any) -> int:
    from sync.retry import SyncError
    from sync.worker import build_worker

    try:
        worker = build_worker(cfg, store)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    try:
        worker.recover(everything=True)  # a killed earlier run's claims go again
        result = worker.run_once()
    except SyncError as exc:
        status = worker.status()
        _print(
            {"ok": False, "state": status.state, "error": str(exc), "pending": status.pending},
            args.json,
        )
        return 1
    status = worker.status()
    _print(
        {
            "ok": True,
            "delivered": result.delivered,
            "duplicates": result.duplicates,
            "quarantined": result.quarantined,
            "batches": result.batches,
            "changes_applied": result.changes_applied,
            "templates_uploaded": result.templates_uploaded,
            "pending": status.pending,
            "clock_offset_seconds": worker.clock_offset(),
        },
        args.json,
    )
    return 0


def _loadtest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kiosks", type=int, default=1, help="simulated kiosks (default 1)")
    parser.add_argument("--punches", type=int, default=10_000, help="punches in total")
    parser.add_argument("--server", default=None, help="existing server URL (default: start one)")
    parser.add_argument("--admin-token", default=None, help="admin token of --server")
    parser.add_argument(
        "--database-url", default="", help="database of the started server (default: SQLite)"
    )
    parser.add_argument(
        "--server-workers", type=int, default=1, help="worker processes of the started server"
    )
    parser.add_argument("--batch-size", type=int, default=1000, help="punches per request")
    parser.add_argument(
        "--naive-sample", type=int, default=300, help="punches sent one per request (default 300)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _run_loadtest(args: argparse.Namespace) -> int:
    from sync.loadtest import LoadtestOptions, run_loadtest

    if args.kiosks < 1 or args.punches < args.kiosks:
        raise CommandError("--kiosks must be >= 1 and --punches >= --kiosks")
    if args.batch_size < 1 or args.naive_sample < 1:
        raise CommandError("--batch-size and --naive-sample must be >= 1")
    if args.server and not args.admin_token:
        raise CommandError("--server needs --admin-token (hadir server admin-token prints it)")
    opts = LoadtestOptions(
        kiosks=args.kiosks,
        punches=args.punches,
        server_url=args.server,
        admin_token=args.admin_token,
        batch_size=args.batch_size,
        naive_sample=args.naive_sample,
        database_url=args.database_url,
        server_workers=args.server_workers,
    )
    try:
        result = run_loadtest(opts)
    except (RuntimeError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    if not args.json:
        print(
            f"{result['kiosks']} kiosks, {result['punches']} punches in {result['seconds']} s "
            f"= {result['punches_per_s']} punches/s (naive one-per-request: "
            f"{result['naive_punches_per_s']}/s on {result['naive_sample']} punches, "
            f"speedup {result['speedup']}x)",
            file=sys.stdout,
        )
    _print(result, args.json)
    return 0 if result["exactly_once"] else 1


def _stall_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uploads", type=int, default=150, help="stalled uploads (default 150)")
    parser.add_argument(
        "--send-bytes", type=int, default=3_900_000, help="body bytes each sends before stalling"
    )
    parser.add_argument(
        "--authenticated", action="store_true", help="use a valid device token (default: none)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _run_stall(args: argparse.Namespace) -> int:
    from sync.stallbench import run_stall_bench

    try:
        result = run_stall_bench(args.uploads, args.send_bytes, authenticated=args.authenticated)
    except (RuntimeError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    _print(result, args.json)
    return 0


COMMANDS: dict[str, Command] = {
    "sync": Command(
        help="kiosk side of sync: status, now, register, requeue",
        add_arguments=_sync_arguments,
        run=_run_sync,
    ),
    "loadtest": Command(
        help="simulate kiosks pushing punches; check exactly-once delivery and throughput",
        add_arguments=_loadtest_arguments,
        run=_run_loadtest,
    ),
    "stall-bench": Command(
        help="server memory with many stalled uploads on loopback (before/after the gate)",
        add_arguments=_stall_arguments,
        run=_run_stall,
    ),
}
