"""ZKTeco ADMS (iclock) ingest of the central server, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

from test_server import (  # fixtures, re-exported for pytest
    NIP,
    NIP2,
    Server,
    database_url,
    make_server,
    server,
)

from server.adms import ADMS_NAMESPACE, adms_punch_id, parse_attlog_line

__all__ = ["database_url", "make_server", "server"]

SN = "CQZ7232260123"


def _roster(server: Server) -> None:
    result = server.import_csv(
        "nip,name,opd,type,schedule_group,adms_pin\n"
        f"{NIP},Siti Aminah,DISKOMINFO,PNS,default,1001\n"
        f"{NIP2},Budi Santoso,DISKOMINFO,PPPK,default,\n"
    )
    assert result["errors"] == []


def test_handshake_lists_the_options_and_unknown_serials_are_refused(server: Server) -> None:
    r = server.client.get(f"/iclock/cdata?SN={SN}&options=all&pushver=2.4.1")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "date" in {k.lower() for k in r.headers}
    lines = r.text.splitlines()
    assert lines[0] == f"GET OPTION FROM: {SN}"
    options = dict(line.split("=", 1) for line in lines[1:])
    assert options["TimeZone"] == "7"
    assert options["Realtime"] == "1"
    assert options["TransFlag"] == "TransData AttLog\tOpLog\tEnrollUser"
    for key in ("ATTLOGStamp", "OPERLOGStamp", "ErrorDelay", "Delay", "TransTimes", "Encrypt"):
        assert key in options
    for url in ("/iclock/cdata?SN=EVIL123&options=all", "/iclock/cdata", "/iclock/getrequest?SN=X"):
        assert server.client.get(url).status_code == 403
    r = server.client.post(
        "/iclock/cdata?SN=EVIL123&table=ATTLOG", content="1001\t2026-11-28 07:12:03\t0\t1\n"
    )
    assert r.status_code == 403
    assert server.punch_total() == 0


def test_attlog_lines_become_punches_in_utc_idempotently(server: Server) -> None:
    _roster(server)
    body = (
        "1001\t2026-11-28 07:12:03\t0\t1\t0\t0\t0\n"
        f"{NIP2}\t2026-11-28 16:05:00\t1\t15\t0\t0\t0\n"
        "9999\t2026-11-28 07:20:00\t0\t1\t0\t0\t0\n"
        "garbage line\n"
        "1001\t2026-13-45 07:12:03\t0\t1\n"
        "\n"
    )
    r = server.client.post(f"/iclock/cdata?SN={SN}&table=ATTLOG&Stamp=9999", content=body)
    assert r.status_code == 200
    assert r.text == "OK: 3"
    r = server.client.get("/api/v1/admin/punches", params={"source": "adms"}, headers=server.admin)
    punches = {p["nip"]: p for p in r.json()["punches"]}
    assert set(punches) == {NIP, NIP2}
    siti = punches[NIP]
    assert siti["utc"] == "2026-11-28T00:12:03.000000Z"  # 07:12:03 WIB
    assert siti["local_offset_minutes"] == 420
    assert siti["direction"] == "masuk" and siti["verify_mode"] == "fingerprint"
    assert siti["device_id"] == SN and siti["seq"] is None
    assert siti["id"] == adms_punch_id(SN, "1001", "2026-11-28 07:12:03")
    assert punches[NIP2]["direction"] == "pulang" and punches[NIP2]["verify_mode"] == "face"
    again = server.client.post(f"/iclock/cdata?SN={SN}&table=ATTLOG&Stamp=9999", content=body)
    assert again.text == "OK: 3"
    assert server.punch_total(source="adms") == 2


def test_operlog_user_lines_are_recorded_for_the_device(server: Server) -> None:
    body = (
        "USER PIN=1001\tName=Siti Aminah\tPri=0\tPasswd=1234\tCard=\tGrp=1\n"
        "USER PIN=1002\tName=Admin\tPri=14\n"
        "FP PIN=1001\tFID=6\tSize=1024\tValid=1\tTMP=AAAA\n"
        "OPLOG 4\t0\t2026-11-28 07:00:00\t0\t0\t0\t0\n"
    )
    r = server.client.post(f"/iclock/cdata?SN={SN}&table=OPERLOG&Stamp=1", content=body)
    assert r.status_code == 200 and r.text == "OK: 4"
    server.client.post(
        f"/iclock/cdata?SN={SN}&table=OPERLOG", content="USER PIN=1001\tName=Siti A.\tPri=0\n"
    )
    r = server.client.get(f"/api/v1/admin/adms/{SN}", headers=server.admin)
    assert r.status_code == 200
    assert r.json()["users"] == [
        {"pin": "1001", "name": "Siti A.", "privilege": "0"},
        {"pin": "1002", "name": "Admin", "privilege": "14"},
    ]
    assert "1234" not in r.text  # the device password is never kept


def test_getrequest_answers_ok_or_queued_commands_and_devicecmd_records_results(
    server: Server,
) -> None:
    r = server.client.get(f"/iclock/getrequest?SN={SN}")
    assert r.status_code == 200 and r.text == "OK"
    r = server.client.post(
        f"/api/v1/admin/adms/{SN}/commands",
        json={"command": "DATA UPDATE USERINFO PIN=1001\tName=Siti"},
        headers=server.admin,
    )
    assert r.status_code == 200
    cid = r.json()["id"]
    r = server.client.get(f"/iclock/getrequest?SN={SN}")
    assert r.text == f"C:{cid}:DATA UPDATE USERINFO PIN=1001\tName=Siti\n"
    assert server.client.get(f"/iclock/getrequest?SN={SN}").text == "OK"
    r = server.client.post(f"/iclock/devicecmd?SN={SN}", content=f"ID={cid}&Return=0&CMD=DATA\n")
    assert r.status_code == 200 and r.text == "OK"
    commands = server.client.get(f"/api/v1/admin/adms/{SN}", headers=server.admin).json()[
        "commands"
    ]
    assert commands == [
        {
            "id": cid,
            "command": "DATA UPDATE USERINFO PIN=1001\tName=Siti",
            "status": "done",
            "return_code": "0",
        }
    ]
    r = server.client.post(
        "/api/v1/admin/adms/UNKNOWN/commands", json={"command": "CHECK"}, headers=server.admin
    )
    assert r.status_code == 404
    r = server.client.post(
        f"/api/v1/admin/adms/{SN}/commands", json={"command": "A\nB"}, headers=server.admin
    )
    assert r.status_code == 422


def test_attlog_parser_and_ids() -> None:
    line = parse_attlog_line("1001\t2026-11-28 07:12:03\t1\t15\t0\t0\t0")
    assert (line.pin, line.local_time, line.status, line.verify) == (
        "1001",
        "2026-11-28 07:12:03",
        "1",
        "15",
    )
    assert parse_attlog_line("7\t2026-11-28 07:12:03").status == "0"
    for bad in (
        "",
        "1001",
        "10 01\t2026-11-28 07:12:03",
        "1001\t28-11-2026 07:12",
        "1\t2026-02-30 07:00:00",
    ):
        try:
            parse_attlog_line(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")
    assert adms_punch_id("A", "1", "2026-11-28 07:12:03") == str(
        uuid.uuid5(ADMS_NAMESPACE, "A|1|2026-11-28 07:12:03")
    )
