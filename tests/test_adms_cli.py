"""``hadir server adms-devices`` / ``adms-approve``: a pending machine approved from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from attendance.config import load_config
from hadir.cli import main
from server.app import create_app
from server.settings import settings_from_config


def test_a_pending_machine_is_listed_and_approved_from_the_command_line(
    _isolated_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings_from_config(load_config(_isolated_config)))
    client = TestClient(app, client=("192.168.10.5", 40000))
    try:
        assert client.get("/iclock/cdata?SN=NEWSN1&options=all").status_code == 200
        assert main(["server", "adms-devices", "--json"]) == 0
        (dev,) = json.loads(capsys.readouterr().out)["devices"]
        assert (dev["serial"], dev["status"], dev["last_address"]) == (
            "NEWSN1",
            "pending",
            "192.168.10.5",
        )
        argv = ["server", "adms-approve", "NEWSN1", "--network", "192.168.10.0/24"]
        assert main(argv) == 0
        assert "approved (network 192.168.10.0/24)" in capsys.readouterr().out
        assert main(["server", "adms-approve", "NEWSN1", "--network", "nope"]) == 2
        assert "allowed_network" in capsys.readouterr().err
        assert main(["server", "adms-approve", "NOSUCH"]) == 2
        elsewhere = TestClient(app, client=("10.0.0.9", 40000))
        assert elsewhere.get("/iclock/getrequest?SN=NEWSN1").status_code == 403
        assert client.get("/iclock/getrequest?SN=NEWSN1").text == "OK"
    finally:
        app.state.services.db.dispose()
