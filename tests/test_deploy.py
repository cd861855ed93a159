"""install-service writes the systemd units; logs go to journald in its own format."""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hadir.cli import main
from hadir.logsetup import configure_logging, priority_of, stderr_is_journal


def test_install_service_writes_both_units(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "units"
    cfg = tmp_path / "config.toml"
    cfg.write_text("", encoding="utf-8")
    base = ["--user", "daemon", "--dest", str(dest), "--config", str(cfg), "--no-enable"]
    assert main(["install-service", "kiosk", *base]) == 0
    assert main(["install-service", "server", *base, "--workers", "4"]) == 0
    kiosk = (dest / "hadir-kiosk.service").read_text()
    server = (dest / "hadir-server.service").read_text()
    assert not re.search(r"@[A-Z]+@", kiosk + server)
    assert f"kiosk --config {cfg}" in kiosk and "ExecStart=/usr/bin/cage" in kiosk
    assert "Type=notify" in kiosk and "WatchdogSec=" in kiosk and "Restart=always" in kiosk
    assert "WantedBy=graphical.target" in kiosk and "User=daemon" in kiosk
    assert f"server --config {cfg} --host 127.0.0.1 --port 8000 --workers 4" in server
    assert "postgresql.service" in server
    hadir = kiosk.split("-- ", 1)[1].split()[0]
    assert os.access(hadir, os.X_OK), hadir
    verify = shutil.which("systemd-analyze")
    if verify is not None:
        for unit in ("hadir-kiosk.service", "hadir-server.service"):
            proc = subprocess.run(
                [verify, "verify", str(dest / unit)], capture_output=True, text=True
            )
            problems = [
                line
                for line in proc.stderr.splitlines()
                if "/usr/bin/cage" not in line and "Special user" not in line and line.strip()
            ]
            assert not problems, problems


@pytest.mark.parametrize(
    ("user", "said"), [("root", "not run as root"), ("hadir-no-such-user", "no account")]
)
def test_install_service_refuses(
    user: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["install-service", "server", "--user", user, "--dest", str(tmp_path), "--no-enable"]
    assert main(argv) == 2
    assert said in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_journal_format_under_systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "stream"
    with path.open("w+") as stream:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert stderr_is_journal(stream)
        root = logging.getLogger()
        saved = root.handlers[:]
        root.handlers.clear()
        try:
            handler = configure_logging("INFO", stream)
            logging.getLogger("hadir.test").warning("two\nlines")
            logging.getLogger("alembic.runtime").info("not shown")
        finally:
            root.handlers[:] = saved
            logging.getLogger("alembic").setLevel(logging.NOTSET)
        handler.flush()
    assert path.read_text() == "<4>hadir.test: two\n<4>lines\n"
    assert priority_of(logging.ERROR) == 3 and priority_of(logging.DEBUG) == 7


def test_terminal_format_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")
    assert not stderr_is_journal(io.StringIO())
