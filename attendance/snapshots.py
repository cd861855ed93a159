"""Face snapshots of punches: small JPEG files under ``<data_dir>/snapshots``.

Files are named ``<YYYY-MM-DD UTC>/<punch id>.jpg`` and written (and
fsync'd) before the punch commits, so a committed punch never points at a
missing file; a file whose punch did not commit is removed by the recorder or,
after a crash, by :meth:`SnapshotStore.purge` (once it is an hour old). Retention is by age and by a
disk cap (oldest first); the punch row keeps ``snapshot = NULL`` afterwards.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from attendance.batches import chunked
from attendance.db import Database, StoreError
from attendance.models import Punch

log = logging.getLogger(__name__)

MAX_SNAPSHOT_BYTES = 512 * 1024
_JPEG_SOI = b"\xff\xd8\xff"


class SnapshotError(StoreError):
    """A snapshot is not a JPEG, too large, or cannot be written."""


@dataclass(frozen=True)
class PurgeResult:
    files_deleted: int
    bytes_freed: int
    bytes_kept: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SnapshotStore:
    def __init__(self, root: Path, retention_days: int, max_bytes: int) -> None:
        self.root = root
        self.retention_days = retention_days
        self.max_bytes = max_bytes

    def save(self, punch_id: str, at_utc: datetime, jpeg: bytes) -> str:
        """Write the file durably; returns the path relative to :attr:`root`."""
        if not jpeg.startswith(_JPEG_SOI):
            raise SnapshotError("a punch snapshot must be a JPEG image")
        if len(jpeg) > MAX_SNAPSHOT_BYTES:
            raise SnapshotError(
                f"a punch snapshot must be at most {MAX_SNAPSHOT_BYTES} bytes, got {len(jpeg)}"
            )
        day = at_utc.strftime("%Y-%m-%d")
        rel = f"{day}/{punch_id}.jpg"
        folder = self.root / day
        new_dir = not folder.exists()
        if not self.root.exists():
            self.root.mkdir(parents=True, mode=0o700)  # faces: owner only
        folder.mkdir(mode=0o700, exist_ok=True)
        path = self.root / rel
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(jpeg)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)
        _fsync_dir(folder)
        if new_dir:
            _fsync_dir(self.root)
        return rel

    def path(self, rel: str) -> Path:
        path = (self.root / rel).resolve()
        if self.root.resolve() not in path.parents:
            raise SnapshotError(f"snapshot path escapes the snapshot folder: {rel!r}")
        return path

    def read(self, rel: str) -> bytes | None:
        path = self.path(rel)
        return path.read_bytes() if path.exists() else None

    def remove(self, rel: str) -> int:
        path = self.path(rel)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def _files(self) -> list[tuple[str, int]]:
        """(relative path, size) of every snapshot, oldest day first."""
        out: list[tuple[str, int]] = []
        if not self.root.exists():
            return out
        for day in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for f in sorted(day.glob("*.jpg")):
                out.append((f"{day.name}/{f.name}", f.stat().st_size))
        return out

    def purge(self, db: Database, now: datetime) -> PurgeResult:
        """Delete snapshots of uncommitted punches, those older than the retention, and then
        the oldest above the cap. Run it daily and at start-up."""
        self.remove_orphans(db, now)
        cutoff = (now - timedelta(days=self.retention_days)).strftime("%Y-%m-%d")
        files = self._files()
        total = sum(size for _, size in files)
        doomed: list[str] = []
        freed = 0
        for rel, size in files:
            if rel.split("/", 1)[0] < cutoff or total - freed > self.max_bytes:
                doomed.append(rel)
                freed += size
        for rel in doomed:
            self.remove(rel)
        self._clear_references(db, doomed)
        for day in self.root.iterdir() if self.root.exists() else []:
            if day.is_dir() and not any(day.iterdir()):
                day.rmdir()
        if doomed:
            log.info("purged %d snapshot(s), %d bytes", len(doomed), freed)
        return PurgeResult(files_deleted=len(doomed), bytes_freed=freed, bytes_kept=total - freed)

    def _clear_references(self, db: Database, rels: Iterable[str]) -> None:
        ids = [rel.rsplit("/", 1)[-1].removesuffix(".jpg") for rel in rels]
        for chunk in chunked(ids):
            with db.write() as conn:
                conn.execute(update(Punch).where(Punch.id.in_(chunk)).values(snapshot=None))

    def remove_orphans(self, db: Database, now: datetime, min_age_seconds: float = 3600) -> int:
        """Delete files no committed punch refers to (left by a crash before commit).

        Only files older than ``min_age_seconds`` are considered, so a snapshot whose
        punch is committing right now is never touched.
        """
        removed = 0
        cutoff = now.timestamp() - min_age_seconds
        with db.read() as conn:
            for rel, _ in self._files():
                path = self.root / rel
                try:
                    if path.stat().st_mtime > cutoff:
                        continue
                except FileNotFoundError:
                    continue
                pid = rel.rsplit("/", 1)[-1].removesuffix(".jpg")
                ref = conn.execute(select(Punch.snapshot).where(Punch.id == pid)).first()
                if ref is None or ref[0] != rel:
                    self.remove(rel)
                    removed += 1
        if removed:
            log.info("removed %d snapshot(s) of punches that never committed", removed)
        return removed
