"""``hadir server`` sub-commands and the schema migrations of the server database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import inspect
from test_server import NIP, database_url

from attendance.integrity import public_key_bytes
from hadir.cli import main
from hadir.config import load_config
from server.app import create_app
from server.db import VERSION_TABLE, head_revision, open_database
from server.models import Base
from server.settings import settings_from_config

__all__ = ["database_url"]


def _data_dir(config: Path) -> Path:
    return load_config(config).server_data_dir


def test_admin_token_is_created_owner_only_and_stable(
    _isolated_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["server", "admin-token"]) == 0
    token = capsys.readouterr().out.strip()
    path = _data_dir(_isolated_config) / "admin-token"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(token) >= 32
    assert main(["server", "admin-token", "--config", str(_isolated_config)]) == 0
    assert capsys.readouterr().out.strip() == token


def test_enrollment_code_from_the_command_registers_a_kiosk(
    _isolated_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["server", "create-enrollment-code", "--opd", "BAPPEDA", "--json"]) == 0
    issued = json.loads(capsys.readouterr().out)
    assert issued["opd_code"] == "BAPPEDA" and issued["expires_utc"].endswith("Z")
    app = create_app(settings_from_config(load_config(_isolated_config)))
    client = TestClient(app)
    key_hex = public_key_bytes(Ed25519PrivateKey.generate()).hex()
    r = client.post(
        "/api/v1/devices/register",
        json={"code": issued["code"], "device_id": "kiosk-07", "public_key": key_hex},
    )
    assert r.status_code == 201, r.text
    assert r.json()["opd_code"] == "BAPPEDA"
    assert main(["server", "revoke-device", "kiosk-07"]) == 0
    assert "revoked" in capsys.readouterr().out
    r = client.get("/api/v1/changes", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert r.status_code == 401
    assert main(["server", "revoke-device", "no-such-kiosk"]) == 2
    assert "no device" in capsys.readouterr().err
    assert main(["server", "create-enrollment-code", "--opd", "bad opd!"]) == 2
    app.state.services.db.dispose()


def test_import_employees_reports_bad_lines_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_file = tmp_path / "roster.csv"
    csv_file.write_text(
        f"nip,name,opd,type,schedule_group\n{NIP},Siti,DISKOMINFO,PNS,default\n123,X,Y,PNS,d\n",
        encoding="utf-8",
    )
    assert main(["server", "import-employees", str(csv_file)]) == 1
    out = capsys.readouterr().out
    assert "created 1" in out and f"{csv_file}:3: nip" in out
    assert main(["server", "import-employees", str(csv_file), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["unchanged"] == 1 and result["errors"][0]["line"] == 3
    assert main(["server", "import-employees", str(tmp_path / "missing.csv")]) == 2


def test_bad_database_url_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["server", "--database-url", "mysql://x@y/z", "create-enrollment-code", "--opd", "A"]
    )
    assert code == 2
    assert "unsupported database" in capsys.readouterr().err


def test_help_is_fast_and_lists_the_sub_commands() -> None:
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-m", "hadir.cli", "server", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    ).stdout
    for sub in ("create-enrollment-code", "revoke-device", "import-employees", "admin-token"):
        assert sub in out


def test_migrations_match_the_models(database_url: str) -> None:
    db = open_database(database_url)
    try:
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            assert ctx.get_current_revision() == head_revision()
            assert compare_metadata(ctx, Base.metadata) == []
            tables = set(inspect(conn).get_table_names())
        assert {"punches", "devices", "changes", "employees", "templates"} <= tables
        open_database(database_url).dispose()  # a second start is a no-op
    finally:
        db.dispose()


def test_every_log_call_of_the_server_formats_as_json() -> None:
    """``extra`` keys must not collide with LogRecord attributes (that raises KeyError)."""
    import ast
    import logging

    from server.logs import JsonFormatter

    reserved = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
    root = Path(__file__).resolve().parent.parent / "server"
    seen = 0
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"debug", "info", "warning", "error", "exception"}
            ):
                continue
            for kw in node.keywords:
                if kw.arg == "extra" and isinstance(kw.value, ast.Dict):
                    for key in kw.value.keys:
                        if isinstance(key, ast.Constant):
                            seen += 1
                            assert key.value not in reserved, f"{path.name}: {key.value!r}"
    assert seen > 20
    record = logging.makeLogRecord({"msg": "punch batch", "device_id": "k1", "accepted": 3})
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "punch batch" and line["device_id"] == "k1" and line["accepted"] == 3


@pytest.mark.slow
def test_hadir_server_serves_and_logs_json_lines(tmp_path: Path) -> None:
    import socket
    import time

    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "server.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path / "data"}"\nport = {port}\n', encoding="utf-8"
    )
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hadir.cli", "server", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                r = requests.get(f"http://127.0.0.1:{port}/api/v1/time", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
        assert r.status_code == 200
        assert requests.get(f"http://127.0.0.1:{port}/api/v1/changes", timeout=5).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    messages = {line["msg"] for line in lines}
    assert "server starting" in messages and "request" in messages
    request = next(line for line in lines if line["msg"] == "request")
    assert request["path"] == "/api/v1/time" and request["status"] == 200
    assert (tmp_path / "data" / "server.db").is_file()
    assert (tmp_path / "data" / "admin-token").stat().st_mode & 0o777 == 0o600
