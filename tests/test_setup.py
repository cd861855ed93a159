"""hadir setup: a new kiosk gets its admin PIN, registers (sync on) and checks its camera."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from attendance.store import Store
from hadir.cli import main
from hadir.config import load_config
from sync.serverproc import AdminApi, ServerProcess
from sync.worker import sync_enabled


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path / "server") as srv:
        yield srv


def test_setup_registers_and_sync_is_on_without_editing_config(
    tmp_path: Path,
    server: ServerProcess,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "kiosk"
    code = AdminApi(server.url, server.admin_token()).enrollment_code("DISKOMINFO")
    monkeypatch.setattr(sys, "stdin", io.StringIO("246810\n"))
    argv = ["setup", "--data-dir", str(data), "--pin-stdin", "--server", server.url]
    assert main([*argv, "--code", code, "--no-camera-check"]) == 0
    out = capsys.readouterr().out
    assert "2. admin PIN set" in out
    assert f"3. registered with {server.url}" in out and "for OPD DISKOMINFO" in out
    # [sync] enabled is false in the config (the default), yet the kiosk syncs.
    cfg = load_config()
    assert not cfg.sync.enabled
    assert main(["sync", "status", "--json", "--data-dir", str(data)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["registered"] is True and status["enabled"] is True
    assert status["server_url"] == server.url
    assert main(["demo-punches", "--data-dir", str(data), "--count", "3"]) == 0
    capsys.readouterr()
    assert main(["sync", "now", "--json", "--data-dir", str(data)]) == 0
    assert json.loads(capsys.readouterr().out)["delivered"] == 3
    with Store.open(data, device_id=cfg.device.id) as store:
        device = cfg.device.model_copy(update={"data_dir": str(data)})
        assert sync_enabled(cfg.model_copy(update={"device": device}), store)
        actions = [a["action"] for a in store.audit.recent(10)]
    assert "sync_register" in actions and "set_admin_pin" in actions


def test_setup_with_a_wrong_code_says_what_to_do(
    tmp_path: Path,
    server: ServerProcess,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("246810\n"))
    argv = ["setup", "--data-dir", str(tmp_path / "k"), "--pin-stdin", "--server", server.url]
    assert main([*argv, "--code", "WRONG-CODE", "--no-camera-check"]) == 2
    err = capsys.readouterr().err
    assert "registration failed" in err and "create-enrollment-code" in err


def test_setup_camera_check_from_the_demo_clip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = Path(__file__).resolve().parent.parent / "assets" / "demo"
    clip = next(clip.glob("*.mp4"))
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[device]\ndata_dir = "{tmp_path / "k"}"\n[camera]\nsource = "video"\npath = "{clip}"\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO("246810\n"))
    assert main(["setup", "--config", str(cfg), "--pin-stdin"]) == 0
    out = capsys.readouterr().out
    assert "3. not registered" in out and "4. camera ok:" in out and "480x270" in out
    cfg.write_text(
        f'[device]\ndata_dir = "{tmp_path / "k"}"\n[camera]\nsource = "video"\n'
        f'path = "{tmp_path / "missing.mp4"}"\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO("246810\n"))
    assert main(["setup", "--config", str(cfg), "--pin-stdin"]) == 2
    assert "camera:" in capsys.readouterr().err
