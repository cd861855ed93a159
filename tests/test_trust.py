"""Trust boundaries of the central server (issue #12), through its HTTP API.

A stolen kiosk acts only for its own OPD; surrogates, probing for device ids
and plaintext templates are refused; every face template access is audited;
the feed and the acknowledgements are signed; the device list reconciles the
server's rows with the kiosk's chain. On SQLite and (when configured)
PostgreSQL, like ``test_server.py``.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from test_server import (
    NIP,
    NIP2,
    NOW,
    ROSTER,
    Kiosk,
    Server,
    _template,
    database_url,
    make_server,
    server,
)

from attendance.feedtrust import ack_bytes, feed_entry_bytes, signature_ok
from attendance.integrity import load_public_key, public_key_bytes
from server.app import create_app
from server.models import Template
from server.settings import ServerSettings
from sync.client import UntrustedReplyError, check_server_url, parse_changes, parse_push_reply

__all__ = ["database_url", "make_server", "server"]

NIP3 = "197501012000031003"
ROSTER_TWO_OPDS = ROSTER + f"{NIP3},Rahmat Hidayat,BAPPEDA,PNS,default\n"


def register(server: Server, device_id: str, opd: str) -> tuple[Kiosk, dict[str, Any]]:
    kiosk = Kiosk(device_id)
    r = server.client.post(
        "/api/v1/devices/register",
        json={
            "code": server.code(opd),
            "device_id": device_id,
            "public_key": public_key_bytes(kiosk.key).hex(),
        },
    )
    assert r.status_code == 201, r.text
    kiosk.token = r.json()["token"]
    return kiosk, dict(r.json())


def upload(server: Server, kiosk: Kiosk, templates: list[dict[str, Any]]) -> list[Any]:
    r = server.client.post(
        "/api/v1/templates", json={"templates": templates}, headers=kiosk.headers
    )
    assert r.status_code == 200, r.text
    return [(x["status"], x["reason"]) for x in r.json()["results"]]


def audit(server: Server, **params: str) -> list[dict[str, Any]]:
    r = server.client.get("/api/v1/admin/audit", params=params, headers=server.admin)
    assert r.status_code == 200, r.text
    return list(r.json()["entries"])


def feed_nips(server: Server, kiosk: Kiosk, since: int = 0) -> set[tuple[str, str]]:
    return {
        (c["kind"], str((c["data"] or {}).get("nip", c["key"])))
        for c in server.changes(kiosk, since, limit=5000)["changes"]
    }


# -- kiosks act for their own OPD only ------------------------------------------------


def test_template_upload_only_for_the_kiosks_own_opd_or_assigned_people(server: Server) -> None:
    server.import_csv(ROSTER_TWO_OPDS)
    bappeda, _ = register(server, "kiosk-bappeda", "BAPPEDA")
    foreign = _template(NIP)  # DISKOMINFO staff
    own = _template(NIP3, 0.2)
    assert upload(server, bappeda, [foreign, own]) == [
        ("rejected", "out_of_scope"),
        ("accepted", None),
    ]
    refused = audit(server, action="template_refused")
    assert [(e["actor"], e["subject"]) for e in refused] == [("device:kiosk-bappeda", NIP)]
    assert refused[0]["detail"]["why"] == "out_of_scope"
    assert [e["subject"] for e in audit(server, action="template_upload")] == [NIP3]
    # An admin assigns the DISKOMINFO employee to BAPPEDA as an extra office: now allowed.
    r = server.client.put(
        f"/api/v1/admin/employees/{NIP}/assignments/BAPPEDA", headers=server.admin
    )
    assert r.status_code == 200 and r.json()["opd_codes"] == ["BAPPEDA", "DISKOMINFO"]
    assert upload(server, bappeda, [foreign]) == [("accepted", None)]


def test_the_feed_of_a_kiosk_carries_only_its_people_and_their_erasures(server: Server) -> None:
    server.import_csv(ROSTER_TWO_OPDS)
    diskominfo = server.register("kiosk-dk")
    bappeda, _ = register(server, "kiosk-bp", "BAPPEDA")
    assert (
        upload(server, diskominfo, [_template(NIP), _template(NIP2, 0.3)])
        == [("accepted", None)] * 2
    )
    assert upload(server, bappeda, [_template(NIP3, 0.2)]) == [("accepted", None)]
    r = server.client.put(
        "/api/v1/admin/documents/calendar/2026", json={"days": []}, headers=server.admin
    )
    assert r.status_code == 200
    assert feed_nips(server, bappeda) == {
        ("employee", NIP3),
        ("template", NIP3),
        ("calendar", "2026"),
    }
    assert feed_nips(server, diskominfo) == {
        ("employee", NIP),
        ("employee", NIP2),
        ("template", NIP),
        ("template", NIP2),
        ("calendar", "2026"),
    }
    cursor = server.changes(bappeda)["next_cursor"]
    # Assigned to BAPPEDA: the person and their templates reach its kiosks, past the cursor.
    r = server.client.put(
        f"/api/v1/admin/employees/{NIP}/assignments/BAPPEDA", headers=server.admin
    )
    assert r.status_code == 200
    assert feed_nips(server, bappeda, cursor) == {("employee", NIP), ("template", NIP)}
    cursor = server.changes(bappeda)["next_cursor"]
    # Erasure of a person the kiosk serves reaches it; another OPD's erasure does not.
    server.client.post(f"/api/v1/admin/employees/{NIP2}/erase-biometrics", headers=server.admin)
    server.client.post(f"/api/v1/admin/employees/{NIP}/erase-biometrics", headers=server.admin)
    tail = server.changes(bappeda, cursor)["changes"]
    assert [(c["kind"], c["op"], c["data"]["nip"]) for c in tail] == [("template", "delete", NIP)]
    cursor = tail[-1]["seq"]
    # The assignment ends: the kiosks of BAPPEDA are told the person left their scope.
    r = server.client.delete(
        f"/api/v1/admin/employees/{NIP}/assignments/BAPPEDA", headers=server.admin
    )
    assert r.status_code == 200 and r.json()["opd_codes"] == ["DISKOMINFO"]
    tail = server.changes(bappeda, cursor)["changes"]
    assert [(c["kind"], c["data"]["nip"]) for c in tail] == [("scope_exit", NIP)]
    assert all(c["kind"] != "scope_exit" for c in server.changes(diskominfo)["changes"])


def test_moving_an_employee_to_another_opd_moves_their_templates(server: Server) -> None:
    server.import_csv(ROSTER_TWO_OPDS)
    diskominfo = server.register("kiosk-dk")
    bappeda, _ = register(server, "kiosk-bp", "BAPPEDA")
    upload(server, diskominfo, [_template(NIP)])
    cur_dk = server.changes(diskominfo)["next_cursor"]
    cur_bp = server.changes(bappeda)["next_cursor"]
    server.import_csv(
        ROSTER_TWO_OPDS.replace(f"{NIP},Siti Aminah,DISKOMINFO", f"{NIP},Siti Aminah,BAPPEDA")
    )
    assert feed_nips(server, bappeda, cur_bp) == {("employee", NIP), ("template", NIP)}
    assert [c["kind"] for c in server.changes(diskominfo, cur_dk)["changes"]] == ["scope_exit"]


def test_template_reads_by_the_feed_are_audited(server: Server) -> None:
    server.import_csv(ROSTER)
    kiosk = server.register("kiosk-01")
    upload(server, kiosk, [_template(NIP)])
    assert audit(server, action="template_read") == []
    server.changes(kiosk)
    (entry,) = audit(server, action="template_read")
    assert entry["actor"] == "device:kiosk-01"
    assert entry["detail"]["nips"] == [NIP] and entry["detail"]["templates"] == 1
    assert "change feed" in entry["detail"]["why"]
    server.client.post(f"/api/v1/admin/employees/{NIP}/erase-biometrics", headers=server.admin)
    assert [e["actor"] for e in audit(server, action="template_erase")] == ["admin"]


def test_punches_for_unknown_or_foreign_nips_are_stored_flagged_and_listed(
    server: Server,
) -> None:
    server.import_csv(ROSTER_TWO_OPDS)
    kiosk = server.register("kiosk-01")
    unknown = "199912312020121999"
    records = [
        kiosk.punch(NOW, nip=NIP),
        kiosk.punch(NOW + timedelta(seconds=1), nip=unknown),
        kiosk.punch(NOW + timedelta(seconds=2), nip=NIP3),
    ]
    reply = server.push(kiosk, records)
    assert [r["status"] for r in reply["results"]] == ["accepted"] * 3  # never lose a punch
    assert [r["flags"] for r in reply["results"]] == [[], ["unknown_nip"], ["out_of_scope"]]
    r = server.client.get("/api/v1/admin/punches/review", headers=server.admin)
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 2
    assert [(p["nip"], p["flags"]) for p in body["punches"]] == [
        (unknown, ["unknown_nip"]),
        (NIP3, ["out_of_scope"]),
    ]


# -- smaller holes ---------------------------------------------------------------------


def test_lone_surrogates_are_refused_per_record_never_500(server: Server) -> None:
    server.import_csv(ROSTER)
    kiosk = server.register("kiosk-01")
    good = kiosk.punch(NOW)
    bad = json.dumps(kiosk.punch(NOW + timedelta(seconds=1))).replace('"boot-1"', '"boot-\\ud800"')
    body = '{"punches": [' + json.dumps(good) + ", " + bad + "]}"
    r = server.client.post(
        "/api/v1/punches",
        content=body.encode(),
        headers={**kiosk.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted", "rejected"]
    assert results[1]["reason"] == "malformed" and "boot_id" in results[1]["detail"]
    # A surrogate in a punch id: the record is refused, its id not echoed.
    bad_id = json.dumps(kiosk.punch(NOW)).replace('"id": "', '"id": "\\udfff', 1)
    r = server.client.post(
        "/api/v1/punches",
        content=('{"punches": [' + bad_id + "]}").encode(),
        headers={**kiosk.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 200 and r.json()["results"][0]["id"] is None

    tpl = json.dumps(_template(NIP)).replace(
        '"dlib_face_recognition_resnet_model_v1"', '"dlib\\ud800"'
    )
    r = server.client.post(
        "/api/v1/templates",
        content=('{"templates": [' + tpl + ", " + json.dumps(_template(NIP2, 0.5)) + "]}").encode(),
        headers={**kiosk.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert [(x["status"], x["reason"]) for x in r.json()["results"]] == [
        ("rejected", "malformed"),
        ("accepted", None),
    ]
    r = server.client.put(
        "/api/v1/admin/documents/calendar/2027",
        content=b'{"days": [{"name": "Libur \\ud800"}]}',
        headers={**server.admin, "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and "days[0].name" in r.json()["detail"]


def test_registering_a_taken_device_id_with_a_bogus_code_looks_like_any_bad_code(
    server: Server,
) -> None:
    server.register("kiosk-01")
    key = public_key_bytes(Ed25519PrivateKey.generate()).hex()

    def attempt(device_id: str) -> tuple[int, Any]:
        r = server.client.post(
            "/api/v1/devices/register",
            json={"code": "AAAA-BBBB-CCCC", "device_id": device_id, "public_key": key},
        )
        return r.status_code, r.json()

    assert attempt("kiosk-01") == attempt("kiosk-99")
    assert attempt("kiosk-01")[0] == 403
    # With a valid code the taken id is still refused, and the code stays usable.
    code = server.code()
    r = server.client.post(
        "/api/v1/devices/register",
        json={"code": code, "device_id": "kiosk-01", "public_key": key},
    )
    assert r.status_code == 409
    r = server.client.post(
        "/api/v1/devices/register",
        json={"code": code, "device_id": "kiosk-02", "public_key": key},
    )
    assert r.status_code == 201


def test_database_files_and_keys_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    app = create_app(
        ServerSettings(
            database_url=f"sqlite:///{data / 'server.db'}",
            admin_token_file=data / "admin-token",
        )
    )
    try:
        client = TestClient(app)
        admin = {"Authorization": f"Bearer {app.state.services.admin_token}"}
        r = client.post(
            "/api/v1/admin/employees/import",
            content=ROSTER.encode(),
            headers={**admin, "Content-Type": "text/csv"},
        )
        assert r.status_code == 200  # a write: the WAL exists now
        for path in (data / "server.db", data / "server.db-wal", data / "admin-token"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE((data / "server-keys").stat().st_mode) == 0o700
    finally:
        app.state.services.db.dispose()


def test_templates_are_sealed_at_rest_and_legacy_rows_are_sealed_at_start(
    make_server: Callable[..., Server], database_url: str
) -> None:
    srv = make_server()
    srv.import_csv(ROSTER)
    kiosk = srv.register("kiosk-01")
    tpl = _template(NIP)
    upload(srv, kiosk, [tpl])
    import base64

    plain = base64.b64decode(tpl["template"])
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            vector, sealed_with = conn.execute(select(Template.vector, Template.sealed_with)).one()
            assert plain not in bytes(vector) and sealed_with
            data = conn.execute(text("SELECT data FROM changes WHERE kind = 'template'")).scalar()
            assert tpl["template"] not in str(data)  # the feed rows hold no vector either
            # A row from before encryption (plaintext, sealed_with NULL) ...
            conn.execute(text("UPDATE templates SET vector = :v, sealed_with = NULL"), {"v": plain})
            conn.commit()
        again = make_server()  # ... is sealed at the next start
        with engine.connect() as conn:
            vector, sealed_with = conn.execute(select(Template.vector, Template.sealed_with)).one()
            assert plain not in bytes(vector) and sealed_with
    finally:
        engine.dispose()
    feed = again.changes(kiosk)["changes"]
    assert [c["data"]["template"] for c in feed if c["kind"] == "template"] == [tpl["template"]]


# -- signed feed and verifiable acknowledgements -----------------------------------------


def test_feed_entries_and_acks_are_signed_with_the_key_given_at_registration(
    server: Server,
) -> None:
    server.import_csv(ROSTER)
    kiosk, reg = register(server, "kiosk-01", "DISKOMINFO")
    server_key = load_public_key(bytes.fromhex(reg["server_public_key"]))
    upload(server, kiosk, [_template(NIP)])
    body = server.changes(kiosk)
    assert body["changes"]
    for entry in body["changes"]:
        assert signature_ok(server_key, entry["signature"], feed_entry_bytes("kiosk-01", entry))
        # The same entry is not valid for another kiosk (no replay across kiosks).
        assert not signature_ok(server_key, entry["signature"], feed_entry_bytes("kiosk-02", entry))
    page = parse_changes(body, 0, server_key, "kiosk-01")
    assert page.refused is None and len(page.changes) == len(body["changes"])
    # A man in the middle swaps a template vector: the kiosk stops before that entry.
    forged = json.loads(json.dumps(body))
    victim = next(i for i, c in enumerate(forged["changes"]) if c["kind"] == "template")
    forged["changes"][victim]["data"]["template"] = _template(NIP, 0.9)["template"]
    page = parse_changes(forged, 0, server_key, "kiosk-01")
    assert page.refused == (forged["changes"][victim]["seq"], "bad server signature")
    assert len(page.changes) == victim and not page.has_more
    assert page.next_cursor == (forged["changes"][victim - 1]["seq"] if victim else 0)

    records = kiosk.punches(2, NOW)
    reply = server.push(kiosk, records)
    assert signature_ok(
        server_key,
        reply["ack_signature"],
        ack_bytes("kiosk-01", reply["server_time"], [(p["id"], "accepted") for p in records]),
    )
    ids = [p["id"] for p in records]
    assert len(parse_push_reply(reply, ids, server_key, "kiosk-01").results) == 2
    lie = json.loads(json.dumps(reply))
    lie["results"][1]["status"] = "duplicate"
    with pytest.raises(UntrustedReplyError):
        parse_push_reply(lie, ids, server_key, "kiosk-01")


def test_devices_api_reconciles_the_kiosks_chain_with_the_servers_rows(server: Server) -> None:
    server.import_csv(ROSTER)
    kiosk = server.register("kiosk-01")
    records = kiosk.punches(3, NOW)
    server.push(kiosk, records)
    from attendance.integrity import record_hash

    def report(count: int, seq: int, digest: str | None) -> str:
        r = server.client.post(
            "/api/v1/heartbeat",
            json={
                "queue_length": 0,
                "chain": {
                    "delivered_count": count,
                    "delivered_seq": seq,
                    "delivered_hash": digest,
                },
            },
            headers=kiosk.headers,
        )
        assert r.status_code == 200, r.text
        return str(server.device("kiosk-01")["reconciliation"]["state"])

    assert server.device("kiosk-01")["reconciliation"]["state"] == "unknown"
    assert report(3, 3, record_hash(records[2])) == "ok"
    assert report(3, 3, "ab" * 32) == "mismatch"  # the kiosk's punch 3 is not the server's
    assert report(5, 5, "cd" * 32) == "behind"  # acknowledged but not stored
    assert server.device("kiosk-01")["last_hash"] == record_hash(records[2])


# -- rate limits before authentication ------------------------------------------------


def test_wrong_tokens_registration_and_admin_are_rate_limited_per_address(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server(
        auth_failures_per_minute=3, source_rate_limit_per_second=0.01, source_rate_limit_burst=5
    )
    wrong = {"Authorization": "Bearer not-a-token"}
    codes = [
        srv.client.post("/api/v1/punches", json={"punches": []}, headers=wrong).status_code
        for _ in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]
    r = srv.client.post("/api/v1/punches", json={"punches": []}, headers=wrong)
    assert int(r.headers["Retry-After"]) >= 1
    # The admin token is refused from this address too while it is locked out.
    assert srv.client.get("/api/v1/admin/devices", headers=srv.admin).status_code == 429

    other = make_server(source_rate_limit_per_second=0.01, source_rate_limit_burst=3)
    key = public_key_bytes(Ed25519PrivateKey.generate()).hex()
    codes = [
        other.client.post(
            "/api/v1/devices/register",
            json={"code": "AAAA-BBBB-CCCC", "device_id": "k1", "public_key": key},
        ).status_code
        for _ in range(4)
    ]
    assert codes == [403, 403, 403, 429]


def test_kiosk_refuses_plain_http_except_to_loopback() -> None:
    for ok in ("https://absensi.okikab.go.id", "http://127.0.0.1:8080", "http://localhost/x"):
        check_server_url(ok)
    check_server_url("http://[::1]:8080")
    with pytest.raises(ValueError, match="unencrypted"):
        check_server_url("http://absensi.okikab.go.id")
    with pytest.raises(ValueError, match="unencrypted"):
        check_server_url("http://10.0.0.5:8080")


def test_ca_file_is_a_sync_setting_documented_in_config_toml() -> None:
    from sync.config import SyncSection

    assert SyncSection().ca_file == ""
    toml = (Path(__file__).parent.parent / "config.toml").read_text(encoding="utf-8")
    sync = toml.split("[sync]", 1)[1].split("\n[", 1)[0]
    assert 'ca_file = ""' in sync and "pin" in sync


def test_surrogates_elsewhere_never_break_a_request_or_a_later_listing(server: Server) -> None:
    kiosk = server.register("kiosk-01")
    r = server.client.post(
        "/api/v1/heartbeat",
        content=b'{"queue_length": 0, "note": "x\\ud800"}',
        headers={**kiosk.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and "heartbeat.note" in r.json()["detail"]
    assert server.client.get("/api/v1/admin/devices", headers=server.admin).status_code == 200
    key = public_key_bytes(Ed25519PrivateKey.generate()).hex()
    r = server.client.post(
        "/api/v1/devices/register",
        content=('{"code": "AB\\ud800", "device_id": "k9", "public_key": "' + key + '"}').encode(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422 and "body.code" in r.json()["detail"]  # named, never a 500
    r = server.client.post(
        "/api/v1/admin/adms/CQZ7232260123/commands",
        content=b'{"command": "INFO \\ud800"}',
        headers={**server.admin, "Content-Type": "application/json"},
    )
    assert r.status_code in (404, 422)


def test_the_admin_commands_also_create_the_database_owner_only(
    _isolated_config: Path, tmp_path: Path
) -> None:
    from hadir.cli import main
    from hadir.config import load_config

    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    assert main(["server", "import-employees", str(roster)]) == 0
    data = load_config(_isolated_config).server_data_dir
    assert stat.S_IMODE((data / "server.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
