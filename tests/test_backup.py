"""hadir backup / restore: a kiosk and a server, restored and verified."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hadir.cli import main


def _kiosk(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-punches", "--data-dir", str(data), "--count", "25"]) == 0
    capsys.readouterr()


def test_kiosk_backup_restore_then_verify_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "kiosk"
    _kiosk(data, capsys)
    out = tmp_path / "backup" / "kiosk.tar.gz"
    assert main(["backup", "--data-dir", str(data), "--out", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds the keys
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
    assert {"manifest.json", "hadir.db", "keys/device-signing.key", "keys/template.key"} <= names
    capsys.readouterr()

    fresh = tmp_path / "new-kiosk"
    assert main(["restore", str(out), "--data-dir", str(fresh)]) == 0
    said = capsys.readouterr().out
    assert "25 punches checked: OK" in said
    assert (fresh / "keys" / "device-signing.key").read_bytes() == (
        data / "keys" / "device-signing.key"
    ).read_bytes()
    assert main(["verify-log", "--data-dir", str(fresh)]) == 0
    assert "25 punches" in capsys.readouterr().out
    # The restored kiosk continues the chain.
    assert main(["demo-punches", "--data-dir", str(fresh), "--count", "5"]) == 0
    assert main(["verify-log", "--data-dir", str(fresh)]) == 0
    assert "30 punches" in capsys.readouterr().out

    # An existing kiosk is not overwritten without --force; with it, moved aside.
    assert main(["restore", str(out), "--data-dir", str(fresh)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["restore", str(out), "--data-dir", str(fresh), "--force"]) == 0
    assert "25 punches checked: OK" in capsys.readouterr().out
    aside = [p for p in fresh.iterdir() if p.name.startswith("before-restore-")]
    assert len(aside) == 1 and (aside[0] / "hadir.db").is_file()


def test_damaged_or_foreign_backups_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "kiosk"
    _kiosk(data, capsys)
    good = tmp_path / "kiosk.tar.gz"
    assert main(["backup", "--data-dir", str(data), "--out", str(good)]) == 0
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(good) as src, tarfile.open(bad, "w:gz") as dst:
        for member in src.getmembers():
            body = src.extractfile(member)
            assert body is not None
            raw = body.read()
            if member.name == "hadir.db":
                raw = raw[:-10] + b"x" * 10
            dst.addfile(member, io.BytesIO(raw))
    capsys.readouterr()
    target = tmp_path / "target"
    assert main(["restore", str(bad), "--data-dir", str(target)]) == 2
    assert "hadir.db is damaged" in capsys.readouterr().err
    assert not (target / "hadir.db").exists()
    assert main(["restore", str(good), "--server", "--data-dir", str(target)]) == 2
    assert "is a kiosk backup, not a server backup" in capsys.readouterr().err
    assert main(["backup", "--data-dir", str(tmp_path / "typo"), "--out", str(bad)]) == 2
    assert "no kiosk database" in capsys.readouterr().err


def test_server_sqlite_backup_and_restore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "server"
    assert main(["server", "create-enrollment-code", "--opd", "OPD1", "--data-dir", str(data)]) == 0
    assert main(["server", "admin-token", "--data-dir", str(data)]) == 0
    capsys.readouterr()
    out = tmp_path / "server.tar.gz"
    assert main(["backup", "--server", "--data-dir", str(data), "--out", str(out)]) == 0
    restored = tmp_path / "restored"
    assert main(["restore", str(out), "--server", "--data-dir", str(restored)]) == 0
    assert (restored / "admin-token").read_bytes() == (data / "admin-token").read_bytes()
    engine = create_engine(f"sqlite:///{restored / 'server.db'}")
    with engine.connect() as conn:
        tables = conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'")).all()
    engine.dispose()
    assert len(tables) > 3


@pytest.mark.postgres
def test_server_postgres_backup_and_restore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = os.environ.get("HADIR_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("HADIR_TEST_POSTGRES_URL is not set")
    data = tmp_path / "server"
    common = ["--data-dir", str(data), "--database-url", url]
    assert main(["server", "create-enrollment-code", "--opd", "OPD1", *common]) == 0
    engine = create_engine(url)
    with engine.connect() as conn:
        tables = [
            r[0]
            for r in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))
        ]
        before = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar() for t in tables}
    capsys.readouterr()
    out = tmp_path / "pg.tar.gz"
    if main(["backup", "--server", *common, "--out", str(out)]) != 0:
        err = capsys.readouterr().err
        if "server version mismatch" in err or "not found" in err:
            pytest.skip(f"pg_dump cannot dump this server: {err.strip()[:200]}")
        pytest.fail(err)
    assert main(["server", "create-enrollment-code", "--opd", "OPD2", *common]) == 0
    assert main(["restore", str(out), "--server", *common]) == 2  # --force needed
    assert main(["restore", str(out), "--server", *common, "--force"]) == 0
    with engine.connect() as conn:
        after = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar() for t in tables}
    engine.dispose()
    assert after == before  # the code made after the backup is gone again
