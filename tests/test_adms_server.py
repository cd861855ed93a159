"""ZKTeco ADMS (iclock) ingest of the central server, on SQLite and PostgreSQL.

Request bodies are literal, one per firmware layout seen on real machines.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_server import (  # fixtures, re-exported for pytest
    NIP,
    NIP2,
    NOW,
    Server,
    database_url,
    make_server,
    server,
)

from server.adms import ADMS_NAMESPACE, adms_punch_id
from server.adms_parse import LineError, parse_attlog_line, parse_offset, parse_user_line

__all__ = ["database_url", "make_server", "server"]

SN = "CQZ7232260123"
ATT = f"/iclock/cdata?SN={SN}&table=ATTLOG&Stamp=9999"


def _roster(server: Server) -> None:
    result = server.import_csv(
        "nip,name,opd,type,schedule_group,adms_pin\n"
        f"{NIP},Siti Aminah,DISKOMINFO,PNS,default,1001\n"
        f"{NIP2},Budi Santoso,DISKOMINFO,PPPK,default,1002\n"
    )
    assert result["errors"] == []


def _punches(server: Server, **params: str) -> list[dict[str, Any]]:
    r = server.client.get(
        "/api/v1/admin/punches", params={"source": "adms", **params}, headers=server.admin
    )
    assert r.status_code == 200, r.text
    return list(r.json()["punches"])


def _review(server: Server) -> list[dict[str, Any]]:
    r = server.client.get("/api/v1/admin/adms/review", headers=server.admin)
    assert r.status_code == 200, r.text
    return list(r.json()["lines"])


# -- what machines expect ------------------------------------------------------------------


def test_handshake_has_one_date_header_and_every_path_variant_answers_directly(
    server: Server,
) -> None:
    r = server.client.get(f"/iclock/cdata?SN={SN}&options=all&pushver=2.4.1")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert [k for k, _ in r.headers.multi_items() if k.lower() == "date"] == ["date"]
    assert r.headers["date"] == "Sat, 28 Nov 2026 01:00:00 GMT"  # the server clock
    lines = r.text.splitlines()
    assert lines[0] == f"GET OPTION FROM: {SN}"
    options = dict(line.split("=", 1) for line in lines[1:])
    assert options["TimeZone"] == "7"
    assert options["TransFlag"] == "TransData AttLog\tOpLog\tEnrollUser"
    for path in ("cdata", "cdata/", "cdata.aspx", "cdata.aspx/"):
        r = server.client.get(f"/iclock/{path}?SN={SN}&options=all", follow_redirects=False)
        assert r.status_code == 200 and r.text.startswith("GET OPTION FROM"), path
    for path in ("getrequest/", "getrequest.aspx", "ping", "ping/"):
        r = server.client.get(f"/iclock/{path}?SN={SN}", follow_redirects=False)
        assert (r.status_code, r.text) == (200, "OK"), path
    r = server.client.post(f"/iclock/cdata.aspx?SN={SN}&table=ATTLOG", content="")
    assert (r.status_code, r.text) == (200, "OK: 0")
    r = server.client.post(
        f"/iclock/registry?SN={SN}", content="DeviceType=att,~DeviceName=SpeedFace-V5L,FirmVer=8.0"
    )
    assert r.status_code == 200 and r.text.startswith("RegistryCode=")
    r = server.client.get(f"/iclock/push?SN={SN}")
    assert "TransTables=User Transaction" in r.text
    info = server.client.get(f"/api/v1/admin/adms/{SN}", headers=server.admin).json()
    assert info["info"]["DeviceName"] == "SpeedFace-V5L"
    assert info["push_version"] == "2.4.1"
    r = server.client.get("/iclock/cdata?options=all")  # no serial
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/plain")
    assert [k for k, _ in r.headers.multi_items() if k.lower() == "date"] == ["date"]
    for method, url, status in (
        ("GET", f"/iclock/cdata?SN={'X' * 65}", 400),
        ("GET", f"/iclock/nothing?SN={SN}", 404),
        ("DELETE", f"/iclock/cdata?SN={SN}", 405),
    ):
        r = server.client.request(method, url)
        assert r.status_code == status, url
        assert r.headers["content-type"].startswith("text/plain"), url


def test_half_hour_zones_are_sent_in_minutes(make_server: Callable[..., Server]) -> None:
    server = make_server(timezone="Asia/Kolkata")
    r = server.client.get(f"/iclock/cdata?SN={SN}&options=all")
    assert "TimeZone=330" in r.text.splitlines()


# -- every firmware's ATTLOG -------------------------------------------------------------

VARIANTS = {
    # layout: (body, PIN, wall time, status, verify)
    "7 fields": ("1001\t2026-11-28 07:12:03\t0\t1\t0\t0\t0\n", "07:12:03", "masuk", "fingerprint"),
    "4 fields": ("1001\t2026-11-28 07:12:04\t1\t15\n", "07:12:04", "pulang", "face"),
    "5 fields CRLF": ("1001\t2026-11-28 07:12:05\t0\t4\t0\r\n", "07:12:05", "masuk", "card"),
    "10 fields": (
        "1001\t2026-11-28 07:12:06\t0\t3\t0\t0\t0\t0\t0\t36.5\n",
        "07:12:06",
        "masuk",
        "password",
    ),
    "12 fields, no trailing newline": (
        "1001\t2026-11-28 07:12:07\t0\t2\t0\t0\t0\t0\t0\t0\t255\t1",
        "07:12:07",
        "masuk",
        "user_id",
    ),
    "ID first": (
        "73\t1001\t2026-11-28 07:12:08\t0\t1\t0\t0\t0\n",
        "07:12:08",
        "masuk",
        "fingerprint",
    ),
    "key=value push 3.x": (
        "PIN=1001\tTime=2026-11-28 07:12:09\tStatus=1\tVerifyMode=15\tWorkCode=0\n",
        "07:12:09",
        "pulang",
        "face",
    ),
    "space separated": ("1001 2026-11-28 07:12:10 0 0 0 0 0\n", "07:12:10", "masuk", "any"),
    "2 fields": ("1001\t2026-11-28 07:12:11\n", "07:12:11", "masuk", "any"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_attlog_layout_becomes_a_punch(server: Server, variant: str) -> None:
    _roster(server)
    body, wall, direction, mode = VARIANTS[variant]
    r = server.client.post(ATT, content=body)
    assert (r.status_code, r.text) == (200, "OK: 1")
    (punch,) = _punches(server)
    assert punch["nip"] == NIP
    assert punch["utc"] == f"2026-11-28T00:{wall[3:]}.000000Z"  # WIB = UTC+7
    assert punch["local_offset_minutes"] == 420
    assert (punch["direction"], punch["verify_mode"]) == (direction, mode)
    assert punch["id"] == adms_punch_id(SN, "1001", f"2026-11-28 {wall}")
    assert punch["flags"] == []
    # the same punch re-sent in another layout is a duplicate, not a second punch
    again = server.client.post(ATT, content=f"PIN=1001\tTime=2026-11-28 {wall}\n")
    assert again.text == "OK: 1"
    assert len(_punches(server)) == 1


def test_a_mixed_batch_keeps_every_line_and_counts_honestly(server: Server) -> None:
    _roster(server)
    body = (
        "1001\t2026-11-28 07:12:03\t0\t1\t0\t0\t0\r\n"
        "1002\t2026-11-28 16:05:00\t1\t15\t0\t0\t0\r\n"
        "9999\t2026-11-28 07:20:00\t0\t1\t0\t0\t0\r\n"
        "garbage line\r\n"
        "1001\t2026-13-45 07:12:03\t0\t1\r\n"
        "\x00\x01\x02\xff corrupt\r\n"
        "\r\n"
        "1002\t2026-11-28 07:31:00\t0\t1"
    )
    r = server.client.post(ATT, content=body.encode("latin-1"))
    assert r.status_code == 200
    assert r.text == "OK: 7"  # 3 punches, 1 unmatched PIN, 3 kept for review
    assert {p["nip"] for p in _punches(server)} == {NIP, NIP2}
    assert len(_punches(server)) == 3
    review = _review(server)
    assert [x["reason"] for x in review] == [
        "no field is a time YYYY-MM-DD HH:MM:SS",
        "time '2026-13-45 07:12:03': month must be in 1..12",
        "no field is a time YYYY-MM-DD HH:MM:SS",
    ]
    assert review[0]["line"] == "garbage line"
    assert review[0]["serial"] == SN and review[0]["received_utc"] == "2026-11-28T01:00:00.000000Z"
    assert review[0]["address"] == "testclient"
    again = server.client.post(ATT, content=body.encode("latin-1"))
    assert again.text == "OK: 7"
    assert len(_punches(server)) == 3


def test_the_lines_own_time_offset_wins_over_the_configured_zone(server: Server) -> None:
    _roster(server)
    body = (
        "PIN=1001\tTime=2026-11-28 08:12:03\tStatus=0\tVerifyMode=1\tTimeOffset=8\n"
        "1002\t2026-11-28 06:42:03\t0\t1\t0\t0\t0\tTimeOffset=+05:30\n"
    )
    assert server.client.post(ATT, content=body).text == "OK: 2"
    by_nip = {p["nip"]: p for p in _punches(server)}
    assert by_nip[NIP]["utc"] == "2026-11-28T00:12:03.000000Z"
    assert by_nip[NIP]["local_offset_minutes"] == 480
    assert by_nip[NIP2]["utc"] == "2026-11-28T01:12:03.000000Z"
    assert by_nip[NIP2]["local_offset_minutes"] == 330
    # the serial's own configured zone wins over the server's
    r = server.client.post(
        f"/api/v1/admin/adms/{SN}/approve", json={"timezone": "Asia/Jayapura"}, headers=server.admin
    )
    assert r.status_code == 200, r.text
    server.client.post(ATT, content="1001\t2026-11-28 09:12:03\t1\t1\n")
    later = [p for p in _punches(server) if p["direction"] == "pulang"]
    assert later[0]["utc"] == "2026-11-28T00:12:03.000000Z"  # WIT = UTC+9


# -- users ---------------------------------------------------------------------------------


def test_userinfo_and_biodata_users_are_stored(server: Server) -> None:
    body = (
        "USER PIN=1001\tName=Siti Aminah\tPri=0\tPasswd=1234\tCard=\tGrp=1\n"
        "USER PIN=1002\tName=Admin\tPri=14\n"
        "FP PIN=1001\tFID=6\tSize=1024\tValid=1\tTMP=AAAA\n"
        "OPLOG 4\t0\t2026-11-28 07:00:00\t0\t0\t0\t0\n"
    )
    r = server.client.post(f"/iclock/cdata?SN={SN}&table=OPERLOG&Stamp=1", content=body)
    assert r.status_code == 200 and r.text == "OK: 4"
    r = server.client.post(
        f"/iclock/cdata?SN={SN}&table=USERINFO", content="PIN=1003\tName=Budi Santoso\tPri=0"
    )
    assert r.text == "OK: 1"
    r = server.client.post(
        f"/iclock/cdata?SN={SN}&table=BIODATA",
        content="BIODATA Pin=1004\tNo=0\tIndex=0\tValid=1\tDuress=0\tType=9\tTmp=QUJD\r\n"
        "BIODATA No=0\tType=1\n",
    )
    assert r.text == "OK: 2"
    r = server.client.get(f"/api/v1/admin/adms/{SN}", headers=server.admin)
    assert r.json()["users"] == [
        {"pin": "1001", "name": "Siti Aminah", "privilege": "0", "biometrics": "fp:6"},
        {"pin": "1002", "name": "Admin", "privilege": "14", "biometrics": ""},
        {"pin": "1003", "name": "Budi Santoso", "privilege": "0", "biometrics": ""},
        {"pin": "1004", "name": "", "privilege": "0", "biometrics": "face:0"},
    ]
    assert "1234" not in r.text and "QUJD" not in r.text  # no password, no template
    assert [x["reason"] for x in _review(server)] == ["BIODATA line without PIN"]


# -- commands --------------------------------------------------------------------------


def test_commands_and_the_info_reply_is_kept_as_device_information(server: Server) -> None:
    assert server.client.get(f"/iclock/getrequest?SN={SN}").text == "OK"
    r = server.client.post(
        f"/api/v1/admin/adms/{SN}/commands", json={"command": "INFO"}, headers=server.admin
    )
    cid = r.json()["id"]
    assert server.client.get(f"/iclock/getrequest?SN={SN}").text == f"C:{cid}:INFO\n"
    body = (
        f"ID={cid}&Return=0&CMD=INFO\n~DeviceName=K40\nMAC=00:17:61:10:20:30\n"
        "TransactionCount=1234\nFWVersion=Ver 6.60 Apr 28 2017\n"
    )
    r = server.client.post(f"/iclock/devicecmd?SN={SN}", content=body)
    assert (r.status_code, r.text) == (200, "OK")
    dev = server.client.get(f"/api/v1/admin/adms/{SN}", headers=server.admin).json()
    assert dev["commands"][0]["status"] == "done"
    assert dev["info"]["DeviceName"] == "K40"
    assert dev["info"]["FWVersion"] == "Ver 6.60 Apr 28 2017"
    r = server.client.post(
        "/api/v1/admin/adms/NEVERSEEN/commands", json={"command": "CHECK"}, headers=server.admin
    )
    assert r.status_code == 404


# -- trust -------------------------------------------------------------------------------


def test_a_new_serial_is_pending_and_nothing_counts_until_approved(server: Server) -> None:
    _roster(server)
    new = "NEWSERIAL01"
    r = server.client.get(f"/iclock/cdata?SN={new}&options=all")
    assert r.status_code == 200  # answered, so the machine keeps its data and retries
    r = server.client.post(
        f"/iclock/cdata?SN={new}&table=ATTLOG", content="1001\t2026-11-28 07:00:00\t0\t1\n"
    )
    assert r.text == "OK: 1"
    (punch,) = _punches(server)
    assert punch["flags"] == ["held", "device_pending"]
    devices = server.client.get("/api/v1/admin/adms", headers=server.admin).json()["devices"]
    pending = {d["serial"]: d for d in devices}[new]
    assert pending["status"] == "pending" and pending["last_address"] == "testclient"
    assert pending["held_batches"] == 1
    # a pending machine gets no commands
    server.client.post(
        f"/api/v1/admin/adms/{new}/commands", json={"command": "REBOOT"}, headers=server.admin
    )
    assert server.client.get(f"/iclock/getrequest?SN={new}").text == "OK"
    r = server.client.post(
        f"/api/v1/admin/adms/{new}/approve",
        json={"release_pending": True, "allowed_network": "testclient"},
        headers=server.admin,
    )
    assert r.status_code == 422 and "allowed_network" in r.json()["detail"]
    r = server.client.post(
        f"/api/v1/admin/adms/{new}/approve", json={"release_pending": True}, headers=server.admin
    )
    assert r.status_code == 200 and r.json()["released_punches"] == 1
    (punch,) = _punches(server)
    assert "held" not in punch["flags"]


def test_an_approved_serial_is_tied_to_its_network(server: Server) -> None:
    _roster(server)
    r = server.client.post(
        f"/api/v1/admin/adms/{SN}/approve",
        json={"allowed_network": "10.1.0.0/16"},
        headers=server.admin,
    )
    assert r.status_code == 404  # never connected yet
    server.client.get(f"/iclock/cdata?SN={SN}&options=all")
    r = server.client.post(
        f"/api/v1/admin/adms/{SN}/approve",
        json={"allowed_network": "10.1.0.0/16"},
        headers=server.admin,
    )
    assert r.status_code == 200, r.text
    office = TestClient(server.client.app, client=("10.1.2.3", 40000))
    elsewhere = TestClient(server.client.app, client=("203.0.113.9", 40000))
    line = "1001\t2026-11-28 07:00:00\t0\t1\n"
    r = elsewhere.post(ATT, content=line)
    assert r.status_code == 403 and r.text == "address not allowed for this device"
    assert _punches(server) == []
    assert office.post(ATT, content=line).text == "OK: 1"
    dev = server.client.get(f"/api/v1/admin/adms/{SN}", headers=server.admin).json()
    assert dev["refused_address"] == "203.0.113.9" and dev["last_address"] == "10.1.2.3"


def test_implausible_batches_are_quarantined_for_review(server: Server) -> None:
    _roster(server)
    future = (NOW + timedelta(days=3) + timedelta(hours=7)).strftime("%Y-%m-%d %H:%M:%S")
    r = server.client.post(ATT, content=f"1001\t{future}\t0\t1\n1002\t2026-11-28 07:00:00\t0\t1\n")
    assert r.text == "OK: 2"
    assert all(p["flags"][:2] == ["held", "quarantined"] for p in _punches(server))
    burst = "".join(f"1001\t2026-11-28 07:0{i}:00\t0\t1\n" for i in range(9))
    assert server.client.post(ATT, content=burst).text == "OK: 9"
    held = server.client.get(
        "/api/v1/admin/adms/batches", params={"status": "held"}, headers=server.admin
    ).json()["batches"]
    assert [b["reason"][:40] for b in held] == [
        "quarantined: PIN 1001 punched more than ",
        "quarantined: 1 punch time(s) far from th",
    ]
    counted = [p for p in _punches(server) if "held" not in p["flags"]]
    assert counted == []
    r = server.client.post(
        f"/api/v1/admin/adms/batches/{held[0]['id']}/release", headers=server.admin
    )
    assert r.json()["released_punches"] == 9
    assert len([p for p in _punches(server) if "held" not in p["flags"]]) == 9
    r = server.client.post(
        f"/api/v1/admin/adms/batches/{held[1]['id']}/discard", headers=server.admin
    )
    assert r.status_code == 200
    assert (
        server.client.post(
            f"/api/v1/admin/adms/batches/{held[1]['id']}/release", headers=server.admin
        ).status_code
        == 404
    )


def test_a_burst_spread_over_small_uploads_is_still_quarantined(server: Server) -> None:
    _roster(server)
    for i in range(8):  # eight single-line uploads within 8 minutes: a busy door, not yet a burst
        r = server.client.post(ATT, content=f"1001\t2026-11-28 07:0{i}:00\t0\t1\n")
        assert r.text == "OK: 1"
    # the same lines again (a machine re-sending its log) are no burst either
    again = "".join(f"1001\t2026-11-28 07:0{i}:00\t0\t1\n" for i in range(8))
    assert server.client.post(ATT, content=again).text == "OK: 8"
    assert all("held" not in p["flags"] for p in _punches(server))
    assert server.client.post(ATT, content="1001\t2026-11-28 07:08:30\t0\t1\n").text == "OK: 1"
    ninth = [p for p in _punches(server) if p["utc"] == "2026-11-28T00:08:30.000000Z"]
    assert ninth[0]["flags"] == ["held", "quarantined"]
    assert len([p for p in _punches(server) if "held" not in p["flags"]]) == 8
    (held,) = server.client.get(
        "/api/v1/admin/adms/batches", params={"status": "held"}, headers=server.admin
    ).json()["batches"]
    server.client.post(f"/api/v1/admin/adms/batches/{held['id']}/release", headers=server.admin)
    # the burst, now released, does not taint later uploads of the same PIN
    later = "1001\t2026-11-28 06:55:00\t0\t1\n1001\t2026-11-28 07:50:00\t1\t1\n"
    assert server.client.post(ATT, content=later).text == "OK: 2"
    assert [p["flags"] for p in _punches(server) if "held" in p["flags"]] == []


def test_requests_beyond_the_per_serial_rate_get_429(make_server: Callable[..., Server]) -> None:
    server = make_server(adms_requests_per_second=0.001, adms_request_burst=2)
    for _ in range(2):
        assert server.client.get(f"/iclock/getrequest?SN={SN}").status_code == 200
    r = server.client.get(f"/iclock/getrequest?SN={SN}")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.headers["content-type"].startswith("text/plain")


def test_a_native_punch_cannot_take_an_adms_id(server: Server) -> None:
    _roster(server)
    kiosk = server.register("kiosk-evil")
    taken = adms_punch_id(SN, "1001", "2026-11-28 07:12:03")
    result = server.push(kiosk, [kiosk.punch(NOW, id=taken)])
    assert result["rejected"] == 1 and "version-5" in result["results"][0]["detail"]
    assert server.client.post(ATT, content="1001\t2026-11-28 07:12:03\t0\t1\n").text == "OK: 1"
    (punch,) = _punches(server)
    assert punch["id"] == taken and punch["device_id"] == SN


def test_an_id_already_held_by_a_native_row_is_kept_for_review(server: Server) -> None:
    """Rows stored before version-5 ids were refused: content is compared, not trusted."""
    from sqlalchemy import insert

    from server.models import Punch

    _roster(server)
    taken = adms_punch_id(SN, "1001", "2026-11-28 07:12:03")
    db = server.client.app.state.services.db  # type: ignore[attr-defined]
    with db.write() as conn:
        conn.execute(
            insert(Punch).values(
                id=taken,
                device_id="kiosk-old",
                source="native",
                seq=1,
                prev_hash=None,
                record_hash="0" * 64,
                nip=NIP2,
                utc=NOW.replace(tzinfo=None),
                local_offset_minutes=420,
                clock_state="synced",
                verify_mode="face",
                direction="masuk",
                flags="",
                signature=None,
                record="{}",
                received_utc=NOW.replace(tzinfo=None),
            )
        )
    r = server.client.post(ATT, content="1001\t2026-11-28 07:12:03\t0\t1\n")
    assert r.text == "OK: 1"
    (line,) = _review(server)
    assert line["reason"] == "punch id already held by another origin"
    assert line["line"].startswith("1001\t2026-11-28 07:12:03")


# -- the parser alone ------------------------------------------------------------------


def test_parser_layouts_and_refusals() -> None:
    line = parse_attlog_line("1001\t2026-11-28 07:12:03\t1\t15\t0\t0\t0")
    assert (line.pin, line.local_time, line.status, line.verify, line.layout) == (
        "1001",
        "2026-11-28 07:12:03",
        "1",
        "15",
        "tab",
    )
    assert parse_attlog_line("5 1001 2026/11/28 7:12 0 1").layout == "id_first"
    assert parse_attlog_line("5 1001 2026/11/28 7:12 0 1").local_time == "2026-11-28 07:12:00"
    kv = parse_attlog_line("PIN=7 Time=2026-11-28 07:12:03 Status=0 VerifyMode=4 TimeOffset=420")
    assert (kv.pin, kv.verify_mode, kv.offset_minutes) == ("7", "card", 420)
    assert parse_attlog_line("7\t2026-11-28 07:12:03\t0\t99").verify_mode == "other:99"
    assert [parse_offset(x) for x in ("7", "-3", "5.5", "+0530", "-03:30", "420")] == [
        420,
        -180,
        330,
        330,
        -210,
        420,
    ]
    for bad in (
        "",
        "1001",
        "10 01\t2026-11-28 07:12:03",
        "1001\t28-11-2026 07:12",
        "1\t2026-02-30 07:00:00",
        "x\ty\t2026-11-28 07:12:03",
        "PIN=1\tStatus=0",
        "1\t2026-11-28 07:00:00\tcheckin",
    ):
        with pytest.raises(LineError):
            parse_attlog_line(bad)
    assert parse_user_line("OPLOG 4\t0\t2026-11-28 07:00:00") is None
    assert adms_punch_id("A", "1", "2026-11-28 07:12:03") == str(
        uuid.uuid5(ADMS_NAMESPACE, "A|1|2026-11-28 07:12:03")
    )
