"""Commands that put Hadir into service: ``install-service``, ``backup``, ``restore``.

``hadir install-service kiosk|server`` fills in the systemd units of
``assets/systemd`` (this installation's ``hadir``, the config file, the user
to run as) and writes them to ``/etc/systemd/system``, then reloads systemd
and enables the unit (it starts on the next boot, or now with ``systemctl
start``). Top-level imports stay light.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from hadir.command import (
    Command,
    CommandError,
    add_config_argument,
    add_data_dir_argument,
    config_from_args,
)

UNITS = {"kiosk": "hadir-kiosk.service", "server": "hadir-server.service"}
SYSTEMD_DIR = Path("/etc/systemd/system")


def assets_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "assets"


def hadir_executable() -> Path:
    """The ``hadir`` script of this installation (the venv's, not one on PATH)."""
    beside = Path(sys.executable).parent / "hadir"
    if beside.is_file():
        return beside
    found = shutil.which("hadir")
    if found is None:
        raise CommandError("cannot find the hadir executable of this installation")
    return Path(found)


def render_unit(
    kind: str, *, user: str, config: Path, workdir: Path, hadir: Path, workers: int
) -> str:
    template = (assets_dir() / "systemd" / UNITS[kind]).read_text(encoding="utf-8")
    fields = {
        "@USER@": user,
        "@CONFIG@": str(config),
        "@WORKDIR@": str(workdir),
        "@HADIR@": str(hadir),
        "@WORKERS@": str(workers),
    }
    for key, value in fields.items():
        if any(c.isspace() for c in value):
            raise CommandError(f"{key.strip('@').lower()} must not contain spaces: {value!r}")
        template = template.replace(key, value)
    return template


def _install_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=sorted(UNITS), help="which half this machine runs")
    p.add_argument(
        "--user",
        default=os.environ.get("SUDO_USER") or None,
        help="account the service runs as (default: the user who ran sudo); not root",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=Path("/etc/hadir/config.toml"),
        help="config file the service reads (default /etc/hadir/config.toml)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=max(2, os.cpu_count() or 2),
        help="server: uvicorn worker processes (default: one per CPU core, at least 2)",
    )
    p.add_argument(
        "--dest",
        type=Path,
        default=SYSTEMD_DIR,
        help=f"folder for the unit file (default {SYSTEMD_DIR})",
    )
    p.add_argument(
        "--no-enable",
        action="store_true",
        help="only write the unit file; do not run systemctl daemon-reload and enable",
    )


def _install_run(args: argparse.Namespace) -> int:
    import pwd

    user = args.user
    if not user:
        raise CommandError("give --user ACCOUNT (the service must not run as root)")
    if user == "root":
        raise CommandError("the service must not run as root: give --user ACCOUNT")
    try:
        home = Path(pwd.getpwnam(user).pw_dir)
    except KeyError:
        raise CommandError(
            f"no account {user!r}: create it first (adduser --system --group {user})"
        ) from None
    if args.workers < 1:
        raise CommandError(f"--workers must be at least 1, got {args.workers}")
    if not args.config.is_file():
        print(f"note: {args.config} does not exist yet; create it before starting", flush=True)
    if args.kind == "kiosk" and not Path("/usr/bin/cage").exists():
        print("note: /usr/bin/cage is missing: apt install cage", flush=True)
    workdir = home if home.is_dir() else Path("/")
    text = render_unit(
        args.kind,
        user=user,
        config=args.config.resolve(),
        workdir=workdir,
        hadir=hadir_executable(),
        workers=args.workers,
    )
    name = UNITS[args.kind]
    try:
        args.dest.mkdir(parents=True, exist_ok=True)
        (args.dest / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot write {args.dest / name}: {exc} (run with sudo)") from None
    print(f"wrote {args.dest / name}")
    if args.no_enable:
        return 0
    for cmd in (["systemctl", "daemon-reload"], ["systemctl", "enable", name]):
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise CommandError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    print(f"enabled {name}: it starts on boot; start it now with: systemctl start {name}")
    if args.kind == "kiosk":
        print("the kiosk needs the graphical target: systemctl set-default graphical.target")
    else:
        print("put TLS in front of it: assets/systemd/Caddyfile (apt install caddy)")
    return 0


def _backup_common(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    add_data_dir_argument(p)
    p.add_argument(
        "--server",
        action="store_true",
        help="the central server's database and admin token (default: this kiosk's data)",
    )
    p.add_argument(
        "--database-url",
        default=None,
        help="server: SQLAlchemy URL (default: [server] database_url, or SQLite in <data_dir>)",
    )


def _backup_args(p: argparse.ArgumentParser) -> None:
    _backup_common(p)
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="backup file to write (a .tar.gz, owner-only: it holds the keys)",
    )
    p.add_argument(
        "--snapshots",
        action="store_true",
        help="kiosk: also the punch snapshots (personal data; large)",
    )


def _server_settings(args: argparse.Namespace) -> tuple[str, Path]:
    from server.config import ServerConfig
    from server.settings import settings_from_config

    cfg = config_from_args(args, ServerConfig, data_dir_key="server.data_dir")
    settings = settings_from_config(cfg)
    return args.database_url or settings.database_url, settings.admin_token_file


def _backup_run(args: argparse.Namespace) -> int:
    from attendance.config import AttendanceConfig
    from attendance.store import key_dir_for
    from hadir.backup import BackupError, backup_kiosk, backup_server

    try:
        if args.server:
            url, token = _server_settings(args)
            summary = backup_server(url, token, args.out)
        else:
            cfg = config_from_args(args, AttendanceConfig)
            summary = backup_kiosk(
                cfg.data_dir,
                key_dir_for(cfg.data_dir, cfg.store),
                args.out,
                snapshots=args.snapshots,
            )
    except (BackupError, OSError) as exc:
        raise CommandError(str(exc)) from None
    size = summary.path.stat().st_size
    print(f"{summary.kind} backup written to {summary.path} ({size} bytes):")
    for name, n in summary.members.items():
        print(f"  {name} ({n} bytes)")
    print("keep it off this machine and owner-only: it holds the keys")
    return 0


def _restore_args(p: argparse.ArgumentParser) -> None:
    _backup_common(p)
    p.add_argument("file", type=Path, help="a backup file written by hadir backup")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an existing database (a kiosk's files are moved aside, not deleted)",
    )


def _restore_run(args: argparse.Namespace) -> int:
    from attendance.config import AttendanceConfig
    from attendance.db import StoreError
    from hadir.backup import BackupError, restore_kiosk, restore_server

    try:
        if args.server:
            url, token = _server_settings(args)
            restore_server(args.file, url, token, force=args.force)
            print(f"server restored from {args.file}")
            return 0
        from attendance.integrity import load_public_key
        from attendance.store import Store, key_dir_for
        from attendance.verify import verify_log

        cfg = config_from_args(args, AttendanceConfig)
        aside = restore_kiosk(
            args.file, cfg.data_dir, key_dir_for(cfg.data_dir, cfg.store), force=args.force
        )
        # Opening checks that the keys belong to the database (and migrates an
        # older schema); then the whole chain is verified.
        with Store.from_config(cfg, create=False) as store:
            report = verify_log(store.db, load_public_key(store.keys.public_key))
    except (BackupError, StoreError, OSError) as exc:
        raise CommandError(str(exc)) from None
    if aside is not None:
        print(f"the replaced files are in {aside}")
    verdict = "OK" if report.ok else f"{len(report.problems)} problem(s)"
    print(f"kiosk restored into {cfg.data_dir}: {report.punches} punches checked: {verdict}")
    return 0 if report.ok else 1


COMMANDS: dict[str, Command] = {
    "backup": Command(
        "back up this kiosk (database, keys, device token) or the server (pg_dump or SQLite, "
        "admin token) into one file",
        _backup_args,
        _backup_run,
    ),
    "restore": Command(
        "restore a backup made by hadir backup, then verify the punch log",
        _restore_args,
        _restore_run,
    ),
    "install-service": Command(
        "write and enable the systemd unit of the kiosk (full screen under cage, watchdog) "
        "or the server (uvicorn workers behind TLS)",
        _install_args,
        _install_run,
    ),
}
