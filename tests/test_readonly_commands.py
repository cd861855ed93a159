"""Read-only and audit commands refuse a folder without a kiosk database.

Pointed at a mistyped folder they used to create a fresh database and new
signing keys, and ``verify-log`` then said "0 punches ... OK". Only the
commands that set a device up may create one.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from hadir.cli import main

NIP = "198503122010011002"

READ_ONLY: dict[str, list[str]] = {
    "verify-log": ["verify-log"],
    "export": ["export", "--from", "2026-01-01", "--to", "2026-01-31", "--out", "OUT"],
    "sync status": ["sync", "status"],
    "sync now": ["sync", "now"],
    "lookalikes": ["lookalikes"],
    "purge-snapshots": ["purge-snapshots"],
    "erase-person": ["erase-person", NIP],
    "fingerprint-enroll": ["fingerprint-enroll", NIP, "--port", "/dev/hadir-no-such-port"],
}


def _argv(name: str, data_dir: Path, tmp_path: Path) -> list[str]:
    argv = [str(tmp_path / "out.csv") if a == "OUT" else a for a in READ_ONLY[name]]
    return [*argv, "--data-dir", str(data_dir)]


@pytest.mark.parametrize("name", sorted(READ_ONLY))
@pytest.mark.parametrize("exists", [False, True], ids=["missing-folder", "empty-folder"])
def test_read_only_command_refuses_folder_without_database(
    name: str, exists: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "typo"
    if exists:
        data_dir.mkdir()
    code = main(_argv(name, data_dir, tmp_path))
    err = capsys.readouterr().err
    assert code != 0
    assert "no kiosk database" in err and str(data_dir) in err, err
    assert "nothing was created" in err
    if exists:
        assert list(data_dir.iterdir()) == []  # no database, no keys
    else:
        assert not data_dir.exists()
    assert not (tmp_path / "out.csv").exists()


def test_set_up_command_creates_and_then_read_only_commands_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "kiosk"
    monkeypatch.setattr(sys, "stdin", io.StringIO("246810\n"))
    assert main(["set-admin-pin", "--pin-stdin", "--data-dir", str(data_dir)]) == 0
    assert (data_dir / "hadir.db").is_file()
    capsys.readouterr()
    assert main(["verify-log", "--data-dir", str(data_dir)]) == 0
    assert "0 punches" in capsys.readouterr().out
    assert main(["purge-snapshots", "--data-dir", str(data_dir)]) == 0
