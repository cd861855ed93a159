"""Upgrading a kiosk: migrations run at start, with a copy to roll back to.

The first release's database (schema 0001, what the initial commit's
migrations made: there is no tagged release yet) is upgraded by simply
starting the new Hadir; a migration that fails half way puts the file back.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import attendance.db as dbmod
from attendance.db import (
    DB_FILENAME,
    SCHEMA_HEAD,
    Database,
    DatabaseRefusedError,
    open_database,
    pre_migration_copy_path,
)
from hadir.cli import main

FIRST_RELEASE = "0001"


def _first_release_db(data: Path) -> Path:
    open_database(data, migrate_to=FIRST_RELEASE).dispose()
    path = data / DB_FILENAME
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO device_state (key, value) VALUES ('upgrade-test', 'kept')")
    return path


def _revision(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0])


def _kept(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT value FROM device_state WHERE key = 'upgrade-test'").fetchone()
    return str(row[0])


def test_a_failed_migration_is_rolled_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _first_release_db(tmp_path)
    real_upgrade = dbmod.upgrade

    def fails_half_way(db: Database, revision: str = "head") -> None:
        real_upgrade(db, "0002")  # one step applied, then the next one breaks
        raise RuntimeError("injected failure in a migration")

    monkeypatch.setattr(dbmod, "upgrade", fails_half_way)
    with pytest.raises(DatabaseRefusedError) as err:
        open_database(tmp_path)
    assert "put back as it was (schema 0001" in str(err.value)
    assert "injected failure" in str(err.value)
    assert _revision(path) == FIRST_RELEASE and _kept(path) == "kept"
    monkeypatch.undo()

    # The next start (the bug fixed) upgrades; the copy from before stays.
    open_database(tmp_path).dispose()
    assert _revision(path) == SCHEMA_HEAD and _kept(path) == "kept"
    copy = pre_migration_copy_path(path, SCHEMA_HEAD)
    assert _revision(copy) == FIRST_RELEASE and oct(copy.stat().st_mode & 0o777) == "0o600"


def test_the_first_release_database_upgrades_on_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A kiosk of the first release: its next command migrates and works."""
    path = _first_release_db(tmp_path)
    assert main(["verify-log", "--data-dir", str(tmp_path)]) == 0
    assert "0 punches" in capsys.readouterr().out
    assert _revision(path) == SCHEMA_HEAD and _kept(path) == "kept"
    assert main(["demo-punches", "--data-dir", str(tmp_path), "--count", "3"]) == 0
    assert main(["verify-log", "--data-dir", str(tmp_path)]) == 0
    assert "3 punches" in capsys.readouterr().out
