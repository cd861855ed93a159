"""``hadir sync`` names an unreachable server in a plain sentence, not urllib3's repr."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from attendance.store import Store
from hadir.cli import main
from sync.credentials import Credentials, save_credentials


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_sync_now_with_the_server_down(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    data = tmp_path / "kiosk"
    Store.open(data, device_id="kiosk-01").close()
    save_credentials(data / "keys", Credentials(url, "kiosk-01", "t" * 32, "OPD1"))
    assert main(["sync", "now", "--json", "--data-dir", str(data)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False
    assert f"cannot reach the server at {url}: connection refused" in out["error"]
    assert "HTTPConnectionPool" not in out["error"] and "Max retries" not in out["error"]


def test_sync_register_with_the_server_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    argv = ["sync", "register", "--code", "ABCD-1234", "--server", url]
    assert main([*argv, "--data-dir", str(tmp_path / "kiosk")]) == 2
    err = capsys.readouterr().err
    assert (
        f"registration failed: POST /api/v1/devices/register: cannot reach the server at {url}"
        in err
    )
    assert "HTTPConnectionPool" not in err
