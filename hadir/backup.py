"""Backups of a kiosk or a server as one tar file, and their restore.

A kiosk's backup holds its database (copied with SQLite's online backup API,
so the kiosk keeps running), its key folder (the signing key continues the
hash chain, the template key decrypts the face templates, the device token
lets it sync: without them the database is of little use) and, if asked, the
punch snapshots. A server's holds its database (SQLite: the online backup
API; PostgreSQL: ``pg_dump --format=custom``) and its admin token file.
``manifest.json`` names the kind, the Hadir version, the time and a SHA-256
of every member; restore checks them before writing anything.

The file is written owner-only (mode 0600): it holds the keys.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

MANIFEST = "manifest.json"
FORMAT = 1


class BackupError(Exception):
    """The backup cannot be made or restored; the message says why."""


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    kind: str
    members: dict[str, int]  # name -> bytes


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sqlite_online_copy(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite database (WAL included)."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hadir")
    except PackageNotFoundError:
        return "unknown"


def _write_tar(out: Path, kind: str, files: dict[str, Path]) -> BackupSummary:
    """``files``: member name -> file on disk. Written atomically, mode 0600."""
    manifest = {
        "format": FORMAT,
        "kind": kind,
        "hadir_version": _version(),
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": {
            name: {"sha256": _sha256(p), "bytes": p.stat().st_size} for name, p in files.items()
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            body = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(body)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(body))
            for name, path in files.items():
                info = tar.gettarinfo(str(path), arcname=name)
                info.mode = 0o600
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with path.open("rb") as f:
                    tar.addfile(info, f)
            raw.flush()
            os.fsync(raw.fileno())
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return BackupSummary(out, kind, {n: p.stat().st_size for n, p in files.items()})


def _tree(root: Path, prefix: str) -> Iterator[tuple[str, Path]]:
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.endswith(".tmp"):
                yield f"{prefix}/{path.relative_to(root).as_posix()}", path


def backup_kiosk(
    data_dir: Path, key_dir: Path, out: Path, *, snapshots: bool = False
) -> BackupSummary:
    from attendance.db import DB_FILENAME, missing_store_message
    from attendance.store import SNAPSHOT_DIR

    db = data_dir / DB_FILENAME
    if not db.is_file():
        raise BackupError(missing_store_message(data_dir))
    with tempfile.TemporaryDirectory(prefix="hadir-backup-") as tmp:
        copy = Path(tmp) / DB_FILENAME
        sqlite_online_copy(db, copy)
        files: dict[str, Path] = {"hadir.db": copy}
        files.update(_tree(key_dir, "keys"))
        if not any(name.startswith("keys/") for name in files):
            raise BackupError(f"no key files in {key_dir}: the backup would be of little use")
        if snapshots:
            files.update(_tree(data_dir / SNAPSHOT_DIR, "snapshots"))
        return _write_tar(out, "kiosk", files)


def _pg_url(database_url: str) -> str:
    """libpq's form of a SQLAlchemy URL (``postgresql+psycopg://`` -> ``postgresql://``)."""
    scheme, sep, rest = database_url.partition("://")
    return "postgresql" + sep + rest if scheme.startswith("postgresql") else database_url


def _sqlite_path(database_url: str) -> Path | None:
    if database_url.startswith("sqlite:///"):
        return Path(database_url[len("sqlite:///") :])
    return None


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
            return str(candidate)
        raise BackupError(f"{name} not found: apt install postgresql-client")
    return found


def backup_server(database_url: str, admin_token_file: Path, out: Path) -> BackupSummary:
    with tempfile.TemporaryDirectory(prefix="hadir-backup-") as tmp:
        files: dict[str, Path] = {}
        path = _sqlite_path(database_url)
        if path is not None:
            if not path.is_file():
                raise BackupError(f"no server database at {path}")
            files["server.db"] = Path(tmp) / "server.db"
            sqlite_online_copy(path, files["server.db"])
        elif database_url.startswith("postgresql"):
            dump = Path(tmp) / "server.pgdump"
            proc = subprocess.run(
                [_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(dump),
                 "--dbname", _pg_url(database_url)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                raise BackupError(f"pg_dump failed: {proc.stderr.strip()[:500]}")
            files["server.pgdump"] = dump
        else:
            raise BackupError(f"cannot back up a database at {database_url.split(':', 1)[0]}")
        if admin_token_file.is_file():
            files["admin-token"] = admin_token_file
        return _write_tar(out, "server", files)


@dataclass(frozen=True)
class Archive:
    manifest: dict[str, object]
    files: dict[str, dict[str, object]]  # member name -> sha256, bytes
    root: Path  # extracted and checked members


def open_archive(path: Path, kind: str, into: Path) -> Archive:
    """Extract ``path`` into ``into`` after checking names, kind and checksums."""
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    try:
        with tarfile.open(path, "r:*") as tar:
            members = tar.getmembers()
            names = [m.name for m in members]
            if MANIFEST not in names:
                raise BackupError(f"{path} is not a Hadir backup (no {MANIFEST})")
            for m in members:
                p = PurePosixPath(m.name)
                if not m.isfile() or p.is_absolute() or ".." in p.parts:
                    raise BackupError(f"{path}: unexpected member {m.name!r}; not restored")
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{path} cannot be read as a backup: {exc}") from None
    manifest = json.loads((into / MANIFEST).read_text(encoding="utf-8"))
    if manifest.get("kind") != kind:
        raise BackupError(f"{path} is a {manifest.get('kind')} backup, not a {kind} backup")
    listed = manifest.get("files", {})
    for name, meta in listed.items():
        member = into / name
        if not member.is_file() or _sha256(member) != meta["sha256"]:
            raise BackupError(f"{path}: {name} is damaged (checksum differs); nothing restored")
    return Archive(manifest, listed, into)


def _move_aside(paths: list[Path], aside: Path) -> None:
    for p in paths:
        if p.exists():
            aside.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.move(str(p), aside / p.name)


def restore_kiosk(path: Path, data_dir: Path, key_dir: Path, *, force: bool = False) -> Path | None:
    """Restore a kiosk backup; returns the folder the replaced files went to (if any)."""
    from attendance.db import DB_FILENAME

    db = data_dir / DB_FILENAME
    if db.exists() and not force:
        raise BackupError(
            f"{data_dir} already has a kiosk database; give --force to replace it (the "
            "current files are moved aside, not deleted)"
        )
    with tempfile.TemporaryDirectory(prefix="hadir-restore-") as tmp:
        archive = open_archive(path, "kiosk", Path(tmp))
        aside: Path | None = None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        if db.exists() or key_dir.exists():
            aside = data_dir / f"before-restore-{stamp}"
            wal = [db.with_name(db.name + s) for s in ("-wal", "-shm")]
            _move_aside([db, *wal], aside)
            if key_dir.exists():
                shutil.move(str(key_dir), aside / "keys")
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name in archive.files:
            src = archive.root / name
            if name == "hadir.db":
                dst = db
            elif name.startswith("keys/"):
                dst = key_dir / name[len("keys/") :]
            elif name.startswith("snapshots/"):
                from attendance.store import SNAPSHOT_DIR

                dst = data_dir / SNAPSHOT_DIR / name[len("snapshots/") :]
            else:
                continue
            dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.copyfile(src, dst)
            dst.chmod(0o600)
        return aside


def restore_server(path: Path, database_url: str, admin_token_file: Path, *, force: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="hadir-restore-") as tmp:
        archive = open_archive(path, "server", Path(tmp))
        files = archive.files
        target = _sqlite_path(database_url)
        if "server.db" in files:
            if target is None:
                raise BackupError("the backup is of a SQLite server; the config names PostgreSQL")
            if target.exists() and not force:
                raise BackupError(f"{target} exists; give --force to replace it (moved aside)")
            if target.exists():
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                wal = [target.with_name(target.name + s) for s in ("-wal", "-shm")]
                _move_aside([target, *wal], target.parent / f"before-restore-{stamp}")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(archive.root / "server.db", target)
            target.chmod(0o600)
        elif "server.pgdump" in files:
            if not database_url.startswith("postgresql"):
                raise BackupError("the backup is of a PostgreSQL server; the config names SQLite")
            if not force:
                raise BackupError(
                    "restoring replaces every table of the PostgreSQL database: give --force"
                )
            proc = subprocess.run(
                [_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--exit-on-error",
                 "--dbname", _pg_url(database_url), str(archive.root / "server.pgdump")],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                raise BackupError(f"pg_restore failed: {proc.stderr.strip()[:500]}")
        if "admin-token" in files:
            admin_token_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(archive.root / "admin-token", admin_token_file)
            admin_token_file.chmod(0o600)
