"""``hadir server adms-devices`` / ``adms-approve``: a pending machine approved from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hadir.cli import main
from hadir.config import load_config
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


def test_zk_pull_from_the_command_line(
    _isolated_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import datetime

    from server.zk_fake import FakeRecord, FakeZkMachine

    app = create_app(settings_from_config(load_config(_isolated_config)))
    client = TestClient(app)
    admin = {"Authorization": f"Bearer {app.state.services.admin_token}"}
    nip = "198703152010011002"
    r = client.post(
        "/api/v1/admin/employees/import",
        content=f"nip,name,opd,type,schedule_group,adms_pin\n{nip},Siti,DISKOMINFO,PNS,default,5\n",
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert r.status_code == 200 and r.json()["errors"] == []
    now = datetime.now()
    records = [FakeRecord("5", now.replace(microsecond=0), punch=0, verify=15)]
    try:
        with FakeZkMachine(serial="OLDZK9", records=records) as zk:
            argv = ["server", "zk-pull", "--host", "127.0.0.1", "--port", str(zk.port)]
            assert main([*argv, "--json", "--clear"]) == 0
            got = json.loads(capsys.readouterr().out)
            assert (got["serial"], got["stored"], got["cleared"]) == ("OLDZK9", 1, True)
            assert zk.records == []
        assert main(["server", "zk-pull", "--host", "127.0.0.1", "--port", "1"]) == 2
        assert "cannot connect" in capsys.readouterr().err
        assert main(["server", "zk-pull", "--configured"]) == 2
        assert "zk_machines is empty" in capsys.readouterr().err
        r = client.get("/api/v1/admin/punches", params={"source": "zk"}, headers=admin)
        assert [(p["nip"], p["verify_mode"]) for p in r.json()["punches"]] == [(nip, "face")]
    finally:
        app.state.services.db.dispose()
