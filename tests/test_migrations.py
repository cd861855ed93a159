"""Alembic migrations of the kiosk store: from empty, from every earlier revision."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from attendance.db import (
    DB_FILENAME,
    SCHEMA_HEAD,
    Database,
    DatabaseRefusedError,
    _migration_config,
    head_revision,
    open_database,
    upgrade,
)
from attendance.models import APPLICATION_ID, Base

NIP = "198703152010011002"
REPO = Path(__file__).resolve().parent.parent


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(_migration_config(None))  # type: ignore[arg-type]
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _schema_diff(db: Database) -> list[object]:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))


def test_at_least_two_revisions_in_a_line() -> None:
    revs = _revisions()
    assert len(revs) >= 2
    assert revs[-1] == head_revision() == SCHEMA_HEAD


@pytest.mark.slow
def test_an_up_to_date_database_opens_without_alembic(tmp_path: Path) -> None:
    open_database(tmp_path).dispose()  # created and migrated
    code = (
        "import sys; from pathlib import Path; from attendance.db import open_database; "
        f"open_database(Path({str(tmp_path)!r})).dispose(); "
        "print('alembic' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "False"


def test_from_empty_matches_the_models(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    try:
        assert _schema_diff(db) == []
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA application_id").scalar() == APPLICATION_ID
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            busy_timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            assert busy_timeout is not None and busy_timeout >= 1000
    finally:
        db.dispose()


@pytest.mark.parametrize("start", _revisions()[:-1])
def test_from_each_earlier_revision_keeps_data(tmp_path: Path, start: str) -> None:
    db = open_database(tmp_path, migrate_to=start)
    with db.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO employees (nip, name, opd_code, employee_type, updated_at) "
            "VALUES (?, 'Siti Aminah', 'DISKOMINFO', 'PNS', '2026-01-01T00:00:00.000000Z')",
            (NIP,),
        )
        conn.exec_driver_sql(
            "INSERT INTO face_templates (id, nip, sealed, model, model_version, quality, source, "
            "created_at) VALUES ('7b1f0c5e-0000-4000-8000-000000000001', ?, x'00', 'm', '1', 0.9, "
            "'server', '2026-01-01T00:00:00.000000Z')",
            (NIP,),
        )
    db.dispose()
    db = open_database(tmp_path)  # what start-up does
    try:
        with db.read() as conn:
            rev = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            assert rev == head_revision()
            assert conn.exec_driver_sql("SELECT name FROM employees").scalar() == "Siti Aminah"
            uploaded = conn.exec_driver_sql("SELECT uploaded_at FROM face_templates").scalar()
            if start == "0001":
                assert uploaded is not None  # 0002 marks old templates as known to the server
        assert _schema_diff(db) == []
    finally:
        db.dispose()


def _schema(path: Path) -> list[tuple[str, str, str]]:
    """Every table, index and trigger with its SQL, and the Alembic revision."""
    with sqlite3.connect(path / DB_FILENAME) as conn:
        rows = conn.execute(
            "SELECT type, name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    return [*rows, ("alembic_version", "version_num", ",".join(v[0] for v in version))]


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    first = _schema(tmp_path)
    assert ("alembic_version", "version_num", head_revision()) in first
    assert any(kind == "table" and name == "punches" for kind, name, _ in first)
    upgrade(db)
    upgrade(db)
    assert _schema_diff(db) == []
    db.dispose()
    open_database(tmp_path).dispose()
    assert _schema(tmp_path) == first


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    open_database(tmp_path).dispose()
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(DatabaseRefusedError, match=r"9999.*newer"):
        open_database(tmp_path)


def test_script_location_is_inside_the_package() -> None:
    import attendance.migrations

    folder = Path(attendance.migrations.__file__).parent
    assert (folder / "env.py").is_file()
    assert sorted(p.name for p in (folder / "versions").glob("0*.py"))[:3] == [
        "0001_initial.py",
        "0002_offices_corrections_snapshots.py",
        "0003_punch_boot_index.py",
    ]
    assert _migration_config(None).get_main_option("script_location") == "attendance:migrations"  # type: ignore[arg-type]
