"""The central server through its HTTP API (FastAPI TestClient), on SQLite and PostgreSQL.

Every test runs against SQLite; with ``HADIR_TEST_POSTGRES_URL`` set (``.ci/run``
sets it) the same tests also run against PostgreSQL, each in its own schema.
"""

from __future__ import annotations

import base64
import os
import struct
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from attendance.integrity import GENESIS_HASH, public_key_bytes, record_hash, sign
from server.app import create_app
from server.settings import ServerSettings

NIP = "198703152010011002"
NIP2 = "199001012015032001"
PG_ENV = "HADIR_TEST_POSTGRES_URL"


def utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FixedClock:
    """The server's clock, set by the test."""

    def __init__(self, at: datetime) -> None:
        self.now = at

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'server.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} not set: PostgreSQL tests run in CI (.ci/run)")
    schema = f"hadir_test_{uuid.uuid4().hex[:12]}"
    admin_engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin_engine.dispose()


@dataclass
class Kiosk:
    """A signing kiosk as the server sees it: key, chain state, token."""

    device_id: str
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    token: str = ""
    seq: int = 0
    prev: str = GENESIS_HASH

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def punch(self, at: datetime, nip: str = NIP, **changes: Any) -> dict[str, Any]:
        """The next chained, signed record (``changes`` applied before signing)."""
        self.seq += 1
        rec: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "device_id": self.device_id,
            "seq": self.seq,
            "prev_hash": self.prev,
            "nip": nip,
            "utc": utc_text(at),
            "local_offset_minutes": 420,
            "clock_state": "synced",
            "boot_id": "boot-1",
            "monotonic_ns": 123456789 + self.seq,
            "verify_mode": "face",
            "direction": "masuk",
            "distance": 0.31,
            "margin": 0.12,
            "liveness": "passed:blink:0.93",
        }
        rec.update(changes)
        rec["signature"] = sign(rec, self.key)
        self.prev = record_hash(rec)
        return rec

    def punches(self, n: int, at: datetime) -> list[dict[str, Any]]:
        return [self.punch(at + timedelta(seconds=i)) for i in range(n)]


@dataclass
class Server:
    client: TestClient
    clock: FixedClock
    admin_token: str
    settings: ServerSettings

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def code(self, opd: str = "DISKOMINFO") -> str:
        r = self.client.post(
            "/api/v1/admin/enrollment-codes", json={"opd_code": opd}, headers=self.admin
        )
        assert r.status_code == 201, r.text
        return str(r.json()["code"])

    def register(self, device_id: str) -> Kiosk:
        kiosk = Kiosk(device_id)
        r = self.client.post(
            "/api/v1/devices/register",
            json={
                "code": self.code(),
                "device_id": device_id,
                "public_key": public_key_bytes(kiosk.key).hex(),
            },
        )
        assert r.status_code == 201, r.text
        kiosk.token = r.json()["token"]
        return kiosk

    def push(self, kiosk: Kiosk, records: list[dict[str, Any]]) -> dict[str, Any]:
        r = self.client.post("/api/v1/punches", json={"punches": records}, headers=kiosk.headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def punch_total(self, **filters: str) -> int:
        r = self.client.get("/api/v1/admin/punches", params=filters, headers=self.admin)
        assert r.status_code == 200, r.text
        return int(r.json()["total"])

    def device(self, device_id: str) -> dict[str, Any]:
        r = self.client.get("/api/v1/admin/devices", headers=self.admin)
        assert r.status_code == 200
        (dev,) = [d for d in r.json()["devices"] if d["device_id"] == device_id]
        return dict(dev)

    def import_csv(self, text_body: str) -> dict[str, Any]:
        r = self.client.post(
            "/api/v1/admin/employees/import",
            content=text_body.encode(),
            headers={**self.admin, "Content-Type": "text/csv"},
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def changes(self, kiosk: Kiosk, since: int = 0, limit: int = 1000) -> dict[str, Any]:
        r = self.client.get(
            "/api/v1/changes", params={"since": since, "limit": limit}, headers=kiosk.headers
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


NOW = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


def make_settings(tmp_path: Path, url: str, clock: FixedClock, **kw: Any) -> ServerSettings:
    return ServerSettings(
        database_url=url,
        admin_token_file=tmp_path / "admin-token",
        clock=clock,
        adms_serials=("CQZ7232260123",),
        **kw,
    )


@pytest.fixture
def make_server(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Server]]:
    clients: list[TestClient] = []

    def factory(**kw: Any) -> Server:
        clock = FixedClock(NOW)
        settings = make_settings(tmp_path, database_url, clock, **kw)
        app = create_app(settings)
        client = TestClient(app)
        clients.append(client)
        return Server(client, clock, app.state.services.admin_token, settings)

    yield factory
    for c in clients:
        c.app.state.services.db.dispose()  # type: ignore[attr-defined]


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server()


ROSTER = (
    "nip,name,opd,type,schedule_group\n"
    f"{NIP},Siti Aminah,DISKOMINFO,PNS,default\n"
    f"{NIP2},Budi Santoso,DISKOMINFO,PPPK,default\n"
)


# -- registration -------------------------------------------------------------------


def test_registration_gives_a_token_and_the_code_is_one_time(server: Server) -> None:
    code = server.code("BAPPEDA")
    key = Ed25519PrivateKey.generate()
    body = {
        "code": code.lower(),
        "device_id": "kiosk-01",
        "public_key": public_key_bytes(key).hex(),
    }
    r = server.client.post("/api/v1/devices/register", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["opd_code"] == "BAPPEDA"
    assert len(r.json()["token"]) >= 32
    again = server.client.post("/api/v1/devices/register", json={**body, "device_id": "kiosk-02"})
    assert again.status_code == 403
    assert again.json()["error"] == "enrollment_code_invalid"
    dev = server.device("kiosk-01")
    assert dev["status"] == "active" and dev["opd_code"] == "BAPPEDA"


def test_registration_refuses_expired_or_unknown_codes_and_bad_keys(server: Server) -> None:
    key_hex = public_key_bytes(Ed25519PrivateKey.generate()).hex()
    code = server.code()
    server.clock.now = NOW + timedelta(hours=73)
    r = server.client.post(
        "/api/v1/devices/register",
        json={"code": code, "device_id": "k1", "public_key": key_hex},
    )
    assert r.status_code == 403
    r = server.client.post(
        "/api/v1/devices/register",
        json={"code": "AAAA-BBBB-CCCC", "device_id": "k1", "public_key": key_hex},
    )
    assert r.status_code == 403
    r = server.client.post(
        "/api/v1/devices/register",
        json={"code": server.code(), "device_id": "k1", "public_key": "zz" * 32},
    )
    assert r.status_code == 422
    r = server.client.post(
        "/api/v1/devices/register",
        json={"code": server.code(), "device_id": "bad id!", "public_key": key_hex},
    )
    assert r.status_code == 422


def test_active_device_id_cannot_be_taken_but_a_revoked_one_can_re_register(
    server: Server,
) -> None:
    first = server.register("kiosk-01")
    key_hex = public_key_bytes(Ed25519PrivateKey.generate()).hex()
    r = server.client.post(
        "/api/v1/devices/register",
        json={"code": server.code(), "device_id": "kiosk-01", "public_key": key_hex},
    )
    assert r.status_code == 409
    r = server.client.post("/api/v1/admin/devices/kiosk-01/revoke", headers=server.admin)
    assert r.status_code == 200
    again = server.register("kiosk-01")
    assert again.token != first.token
    old = server.client.get("/api/v1/changes", headers=first.headers)
    assert old.status_code == 401
    assert server.client.get("/api/v1/changes", headers=again.headers).status_code == 200


# -- punch ingest ------------------------------------------------------------------


def test_batch_answers_each_record_and_a_replay_is_all_duplicates(server: Server) -> None:
    kiosk = server.register("kiosk-01")
    good = kiosk.punches(3, NOW - timedelta(minutes=10))
    bad_nip = kiosk.punch(NOW, nip="12345")
    batch = [*good, bad_nip]
    reply = server.push(kiosk, batch)
    assert [r["status"] for r in reply["results"]] == ["accepted"] * 3 + ["rejected"]
    assert [r["id"] for r in reply["results"]] == [p["id"] for p in batch]
    assert reply["results"][3]["reason"] == "nip_format"
    assert (reply["accepted"], reply["duplicate"], reply["rejected"]) == (3, 0, 1)
    replay = server.push(kiosk, good)
    assert [r["status"] for r in replay["results"]] == ["duplicate"] * 3
    assert server.punch_total() == 3


def test_tampered_record_is_rejected_signature_and_not_stored(server: Server) -> None:
    kiosk = server.register("kiosk-01")
    rec = kiosk.punch(NOW)
    tampered = dict(rec, utc=utc_text(NOW - timedelta(hours=2)))
    reply = server.push(kiosk, [tampered])
    assert reply["results"][0]["status"] == "rejected"
    assert reply["results"][0]["reason"] == "signature"
    no_sig = {k: v for k, v in rec.items() if k != "signature"}
    assert server.push(kiosk, [no_sig])["results"][0]["reason"] == "malformed"
    assert server.punch_total() == 0
    assert server.push(kiosk, [rec])["results"][0]["status"] == "accepted"


def test_forged_device_id_is_refused(server: Server) -> None:
    victim = server.register("kiosk-01")
    attacker = server.register("kiosk-02")
    forged = Kiosk("kiosk-01", key=attacker.key).punch(NOW)
    reply = server.push(attacker, [forged])
    assert reply["results"][0]["reason"] == "device_mismatch"
    # Signed with the victim's key, sent with the attacker's token: still refused.
    stolen = victim.punch(NOW)
    assert server.push(attacker, [stolen])["results"][0]["reason"] == "device_mismatch"
    assert server.punch_total() == 0


def test_unknown_or_revoked_device_gets_401_and_nothing_is_stored(server: Server) -> None:
    kiosk = server.register("kiosk-01")
    records = kiosk.punches(2, NOW)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic x"}):
        r = server.client.post("/api/v1/punches", json={"punches": records}, headers=headers)
        assert r.status_code == 401
        assert r.json()["error"] == "unauthorized"
    server.client.post("/api/v1/admin/devices/kiosk-01/revoke", headers=server.admin)
    r = server.client.post("/api/v1/punches", json={"punches": records}, headers=kiosk.headers)
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]
    assert (
        server.client.post(
            "/api/v1/heartbeat", json={"queue_length": 1}, headers=kiosk.headers
        ).status_code
        == 401
    )
    assert server.punch_total() == 0


def test_gap_is_flagged_listed_in_health_and_closed_when_filled(server: Server) -> None:
    server.import_csv(ROSTER)
    kiosk = server.register("kiosk-01")
    records = kiosk.punches(6, NOW - timedelta(hours=1))
    reply = server.push(kiosk, records[:2] + records[4:])
    assert [r["status"] for r in reply["results"]] == ["accepted"] * 4
    assert reply["results"][2]["flags"] == ["gap"]
    assert reply["results"][3]["flags"] == []
    dev = server.device("kiosk-01")
    assert dev["gaps"] == [[3, 4]]
    assert dev["last_seq"] == 6 and dev["punches"] == 4 and dev["flagged"] == 1
    server.push(kiosk, records[2:4])
    dev = server.device("kiosk-01")
    assert dev["gaps"] == [] and dev["flagged"] == 0  # the gap flag is cleared once filled
    r = server.client.get("/api/v1/admin/punches", headers=server.admin)
    assert all(p["flags"] == [] for p in r.json()["punches"])


def test_chain_mismatch_and_seq_conflict_are_accepted_but_flagged(server: Server) -> None:
    server.import_csv(ROSTER)
    kiosk = server.register("kiosk-01")
    first = kiosk.punch(NOW)
    server.push(kiosk, [first])
    kiosk.prev = "ab" * 32  # a forked chain (restored backup)
    second = kiosk.punch(NOW + timedelta(seconds=5))
    reply = server.push(kiosk, [second])
    assert reply["results"][0]["status"] == "accepted"
    assert reply["results"][0]["flags"] == ["chain_mismatch"]
    kiosk.seq = 1  # the same seq again with a new id
    again = kiosk.punch(NOW + timedelta(seconds=9))
    flags = server.push(kiosk, [again])["results"][0]["flags"]
    assert "seq_conflict" in flags
    r = server.client.get("/api/v1/admin/punches", headers=server.admin)
    assert sorted(f for p in r.json()["punches"] for f in p["flags"]) == sorted(
        ["chain_mismatch", "chain_mismatch", "seq_conflict"]
    )


def test_same_id_with_other_content_is_a_conflict(server: Server) -> None:
    kiosk = server.register("kiosk-01")
    rec = kiosk.punch(NOW)
    server.push(kiosk, [rec])
    other = kiosk.punch(NOW + timedelta(minutes=1), id=rec["id"])
    reply = server.push(kiosk, [other, other])
    assert [r["reason"] for r in reply["results"]] == ["conflict", "conflict"]
    fresh = kiosk.punch(NOW + timedelta(minutes=2))
    assert [r["status"] for r in server.push(kiosk, [fresh, fresh])["results"]] == [
        "accepted",
        "duplicate",
    ]


def test_timestamp_sanity_and_field_checks_reject_single_records(server: Server) -> None:
    server.import_csv(ROSTER)
    kiosk = server.register("kiosk-01")
    future = kiosk.punch(NOW + timedelta(hours=2))
    ancient = kiosk.punch(NOW - timedelta(days=500))
    bad_clock = kiosk.punch(NOW, clock_state="maybe")
    nan = kiosk.punch(NOW, distance=float("nan"))
    bool_seq = dict(kiosk.punch(NOW), seq=True)
    upper_id = kiosk.punch(NOW, id=str(uuid.uuid4()).upper())
    unsynced = kiosk.punch(NOW, clock_state="unsynced")
    records: list[Any] = [future, ancient, bad_clock, bool_seq, upper_id, "text", 5, unsynced]
    reply = server.push(kiosk, records)
    reasons = [r["reason"] for r in reply["results"]]
    assert reasons == [
        "timestamp",
        "timestamp",
        "malformed",
        "malformed",
        "malformed",
        "malformed",
        "malformed",
        None,
    ]
    assert reply["results"][-1]["flags"] == ["clock_untrusted", "gap"]
    # NaN cannot even be sent as strict JSON; as a raw body it is refused per record.
    raw = b'{"punches": [' + _json_with_nan(nan) + b"]}"
    r = server.client.post(
        "/api/v1/punches",
        content=raw,
        headers={**kiosk.headers, "Content-Type": "application/json"},
    )
    assert r.status_code in (200, 400)
    if r.status_code == 200:
        assert r.json()["results"][0]["status"] == "rejected"
    assert server.punch_total() == 1


def _json_with_nan(rec: dict[str, Any]) -> bytes:
    import json

    return json.dumps(rec, allow_nan=True).encode()


def test_request_limits_and_malformed_bodies_are_4xx(make_server: Callable[..., Server]) -> None:
    server = make_server(max_batch=5, max_body_bytes=20_000)
    kiosk = server.register("kiosk-01")
    r = server.client.post(
        "/api/v1/punches", json={"punches": kiosk.punches(6, NOW)}, headers=kiosk.headers
    )
    assert r.status_code == 413 and r.json()["error"] == "batch_too_large"
    huge = {"punches": [{"id": "x" * 30_000}]}
    r = server.client.post("/api/v1/punches", json=huge, headers=kiosk.headers)
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    h = {**kiosk.headers, "Content-Type": "application/json"}
    for body, status in (
        (b"{not json", 400),
        (b"[1,2]", 422),
        (b'{"punches": 7}', 422),
        (b'{"punches": [], "extra": 1}', 422),
        (b"", 422),
    ):
        r = server.client.post("/api/v1/punches", content=body, headers=h)
        assert r.status_code == status, (body, r.text)
        assert "error" in r.json()

    def chunks() -> Iterator[bytes]:
        yield b'{"punches": ['
        for _ in range(30):
            yield b'"' + b"y" * 1000 + b'",'
        yield b"1]}"

    r = server.client.post("/api/v1/punches", content=chunks(), headers=h)
    assert r.status_code == 413
    assert server.punch_total() == 0


# -- roster, templates, feed -----------------------------------------------------------


def _template(nip: str = NIP, value: float = 0.1) -> dict[str, Any]:
    vec = struct.pack("<128f", *([value] * 128))
    return {
        "template_id": str(uuid.uuid4()),
        "nip": nip,
        "model_name": "dlib_face_recognition_resnet_model_v1",
        "model_version": "1",
        "template": base64.b64encode(vec).decode(),
        "created_utc": utc_text(NOW),
    }


def test_csv_import_reports_bad_lines_and_applies_good_ones(server: Server) -> None:
    csv_text = (
        "\ufeffNIP;Nama;OPD;Type;Schedule_Group;adms_pin\n"
        f"{NIP};Siti Aminah;DISKOMINFO;PNS;default;1001\n"
        "12345;Too Short;DISKOMINFO;PNS;default;\n"
        f"{NIP2};Budi;DISKOMINFO;honorer;default;\n"
        "\n"
        f"{NIP2};Budi Santoso;DISKOMINFO;PPPK Paruh Waktu;shift-a;\n"
        f"{NIP};Siti Again;DISKOMINFO;PNS;default;\n"
        f"199202022020121003;Dewi;;PNS;default;\n"
    )
    result = server.import_csv(csv_text)
    assert (result["created"], result["updated"], result["unchanged"]) == (2, 0, 0)
    errors = {e["line"]: e["error"] for e in result["errors"]}
    assert set(errors) == {3, 4, 7, 8}
    assert errors[3].startswith("nip")
    assert errors[4].startswith("type")
    assert "line 2" in errors[7]
    assert errors[8].startswith("opd")
    r = server.client.get("/api/v1/admin/employees", headers=server.admin)
    emps = {e["nip"]: e for e in r.json()["employees"]}
    assert emps[NIP]["adms_pin"] == "1001"
    assert emps[NIP2]["employee_type"] == "PPPK_PARUH_WAKTU"
    assert emps[NIP2]["adms_pin"] == NIP2
    again = server.import_csv(ROSTER)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 2, 0)
    assert server.import_csv(ROSTER)["unchanged"] == 2
    bad_header = server.import_csv("nip,name,opd\n")
    assert bad_header["errors"][0]["line"] == 1
    r = server.client.post(
        "/api/v1/admin/employees/import",
        content=b"\xff\xfe\x00bad",
        headers={**server.admin, "Content-Type": "text/csv"},
    )
    assert r.status_code == 400


def test_changes_feed_pages_with_a_cursor_and_compacts(server: Server) -> None:
    kiosk = server.register("kiosk-01")
    rows = "".join(
        f"1990010120150320{i:02d},Person {i},DISKOMINFO,PNS,default\n" for i in range(25)
    )
    server.import_csv("nip,name,opd,type,schedule_group\n" + rows)
    seen: list[dict[str, Any]] = []
    cursor = 0
    pages = 0
    while True:
        page = server.changes(kiosk, cursor, limit=10)
        seen.extend(page["changes"])
        assert page["next_cursor"] >= cursor
        cursor = page["next_cursor"]
        pages += 1
        if not page["has_more"]:
            break
    assert pages == 3
    assert len(seen) == 25
    assert [c["seq"] for c in seen] == sorted(c["seq"] for c in seen)
    assert {c["kind"] for c in seen} == {"employee"}
    assert server.changes(kiosk, cursor)["changes"] == []
    # An update supersedes the old change: a fresh kiosk sees one document per person.
    server.import_csv(
        "nip,name,opd,type,schedule_group\n199001012015032000,Renamed,DISKOMINFO,PNS,default\n"
    )
    tail = server.changes(kiosk, cursor)["changes"]
    assert [(c["key"], c["data"]["name"]) for c in tail] == [("199001012015032000", "Renamed")]
    everything = server.changes(kiosk, 0, limit=5000)["changes"]
    assert len(everything) == 25
    r = server.client.put(
        "/api/v1/admin/documents/schedule_group/shift-a",
        json={"days": {"mon": ["07:30", "16:00"]}},
        headers=server.admin,
    )
    assert r.status_code == 200
    put_seq = r.json()["seq"]
    doc = server.changes(kiosk, everything[-1]["seq"])["changes"]
    assert doc[-1]["kind"] == "schedule_group" and doc[-1]["data"]["days"]["mon"][0] == "07:30"
    r = server.client.delete("/api/v1/admin/documents/schedule_group/shift-a", headers=server.admin)
    assert r.status_code == 200
    # The superseded change was the newest row: its successor still gets a larger seq
    # (SQLite AUTOINCREMENT), so a kiosk whose cursor is put_seq sees the delete.
    assert r.json()["seq"] > put_seq
    tail = server.changes(kiosk, put_seq)["changes"]
    assert [(c["key"], c["op"]) for c in tail] == [("shift-a", "delete")]
    assert (
        server.client.delete(
            "/api/v1/admin/documents/calendar/2026-12-25", headers=server.admin
        ).status_code
        == 404
    )
    for bad in ("?since=-1", "?limit=0", "?limit=99999", "?since=abc"):
        assert server.client.get("/api/v1/changes" + bad, headers=kiosk.headers).status_code == 422


def test_uploaded_template_reaches_other_kiosks_and_erasure_propagates(server: Server) -> None:
    server.import_csv(ROSTER)
    enrolling = server.register("kiosk-01")
    other = server.register("kiosk-02")
    start = server.changes(other)["next_cursor"]
    tpl = _template()
    stranger = _template(nip="199912312020121999")
    broken = dict(_template(), template="not base64!")
    odd = dict(_template(), template=base64.b64encode(b"abc").decode())
    r = server.client.post(
        "/api/v1/templates",
        json={"templates": [tpl, stranger, broken, odd, tpl]},
        headers=enrolling.headers,
    )
    assert r.status_code == 200, r.text
    assert [(x["status"], x["reason"]) for x in r.json()["results"]] == [
        ("accepted", None),
        ("rejected", "unknown_nip"),
        ("rejected", "malformed"),
        ("rejected", "malformed"),
        ("duplicate", None),
    ]
    feed = server.changes(other, start)["changes"]
    assert len(feed) == 1
    data = feed[0]["data"]
    assert feed[0]["kind"] == "template" and feed[0]["op"] == "upsert"
    assert data["template"] == tpl["template"] and data["nip"] == NIP
    assert data["source_device"] == "kiosk-01"
    cursor = feed[0]["seq"]

    r = server.client.post(f"/api/v1/admin/employees/{NIP}/erase-biometrics", headers=server.admin)
    assert r.status_code == 200 and r.json()["templates_deleted"] == 1
    erased = server.changes(other, cursor)["changes"]
    assert [(c["kind"], c["key"], c["op"]) for c in erased] == [
        ("template", tpl["template_id"], "delete")
    ]
    assert erased[0]["data"]["nip"] == NIP
    # A fresh kiosk sees only the tombstone, and the erased template cannot come back.
    assert [c["op"] for c in server.changes(other)["changes"] if c["kind"] == "template"] == [
        "delete"
    ]
    r = server.client.post("/api/v1/templates", json={"templates": [tpl]}, headers=other.headers)
    assert r.json()["results"][0]["reason"] == "erased"
    r = server.client.post(
        "/api/v1/admin/employees/199912312020121999/erase-biometrics", headers=server.admin
    )
    assert r.status_code == 404


# -- time, heartbeat, admin --------------------------------------------------------------


def test_time_and_heartbeat_are_stored_as_device_health(server: Server) -> None:
    r = server.client.get("/api/v1/time")
    assert r.json() == {"utc": utc_text(NOW), "unix_ms": int(NOW.timestamp() * 1000)}
    kiosk = server.register("kiosk-01")
    beat = {
        "queue_length": 12,
        "oldest_undelivered_utc": utc_text(NOW - timedelta(hours=3)),
        "clock_state": "synced",
        "clock_offset_seconds": -0.25,
        "version": "0.1.0",
        "disk_free_bytes": 123456789,
        "camera": "ok",
    }
    r = server.client.post("/api/v1/heartbeat", json=beat, headers=kiosk.headers)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    health = server.device("kiosk-01")["health"]
    assert health["queue_length"] == 12 and health["camera"] == "ok"
    assert health["received_utc"] == utc_text(NOW)
    assert server.device("kiosk-01")["last_seen_utc"] == utc_text(NOW)
    for bad in (
        {"queue_length": -1},
        {"queue_length": "many"},
        {},
        {"queue_length": 1, "x": "y" * 5000},
    ):
        r = server.client.post("/api/v1/heartbeat", json=bad, headers=kiosk.headers)
        assert 400 <= r.status_code < 500, bad


def test_admin_api_needs_the_admin_token(server: Server) -> None:
    kiosk = server.register("kiosk-01")
    for headers in ({}, kiosk.headers, {"Authorization": "Bearer wrong"}):
        assert server.client.get("/api/v1/admin/devices", headers=headers).status_code == 401
        r = server.client.post(
            "/api/v1/admin/enrollment-codes", json={"opd_code": "X"}, headers=headers
        )
        assert r.status_code == 401
    token_file = server.settings.admin_token_file
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert token_file.read_text().strip() == server.admin_token
    assert (
        server.client.post("/api/v1/admin/devices/nope/revoke", headers=server.admin).status_code
        == 404
    )


def test_admin_lists_punches_with_filters_and_looks_up_ids(server: Server) -> None:
    a = server.register("kiosk-01")
    b = server.register("kiosk-02")
    # 2026-11-27 23:30 UTC is 2026-11-28 06:30 WIB.
    day1 = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    recs_a = [a.punch(day1), a.punch(day1 + timedelta(hours=1), nip=NIP2)]
    recs_b = [b.punch(day1 - timedelta(days=1))]
    server.push(a, recs_a)
    server.push(b, recs_b)
    assert server.punch_total() == 3
    assert server.punch_total(device_id="kiosk-01") == 2
    assert server.punch_total(nip=NIP2) == 1
    assert server.punch_total(date_from="2026-11-28", date_to="2026-11-28") == 2
    assert server.punch_total(date_to="2026-11-27") == 1
    r = server.client.get(
        "/api/v1/admin/punches",
        params={"date_from": "2026-11-28", "date_to": "2026-11-01"},
        headers=server.admin,
    )
    assert r.status_code == 422
    r = server.client.get("/api/v1/admin/punches", params={"limit": 1}, headers=server.admin)
    assert len(r.json()["punches"]) == 1 and r.json()["total"] == 3
    p = r.json()["punches"][0]
    assert p["source"] == "native" and p["utc"].endswith("Z")
    missing = str(uuid.uuid4())
    r = server.client.post(
        "/api/v1/admin/punches/lookup",
        json={"ids": [recs_a[0]["id"], missing, recs_b[0]["id"]]},
        headers=server.admin,
    )
    assert r.json() == {"found": 2, "missing": [missing]}


def test_unknown_routes_and_methods_answer_json_4xx(server: Server) -> None:
    r = server.client.get("/api/v1/nothing")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = server.client.get("/api/v1/punches")
    assert r.status_code == 405
    assert server.client.get("/openapi.json").json()["paths"]["/api/v1/punches"]


def test_schema_migrates_once_and_a_second_app_reuses_the_database(
    make_server: Callable[..., Server],
) -> None:
    first = make_server()
    kiosk = first.register("kiosk-01")
    first.push(kiosk, kiosk.punches(2, NOW))
    second = make_server()
    assert second.admin_token == first.admin_token
    assert second.punch_total() == 2


def test_settings_from_config_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    from server.config import ServerConfig, ServerSection
    from server.settings import settings_from_config

    settings = settings_from_config(ServerConfig(server=ServerSection(data_dir=str(tmp_path))))
    assert settings.database_url == f"sqlite:///{tmp_path / 'server.db'}"
    assert settings.admin_token_file == tmp_path / "admin-token"
    assert settings.max_batch == 1000


def test_edge_values_answer_4xx_not_5xx(server: Server) -> None:
    """Calendar ends, NUL characters (PostgreSQL refuses them in text), odd templates."""
    server.import_csv(ROSTER)
    kiosk = server.register("kiosk-01")
    for query in (
        "date_to=9999-12-31",
        "date_from=0001-01-01",
        "date_from=0001-01-01&date_to=9999-12-31",
    ):
        r = server.client.get(f"/api/v1/admin/punches?{query}", headers=server.admin)
        assert r.status_code == 200, (query, r.text)
    for query in ("nip=%00", "device_id=a%00b"):
        r = server.client.get(f"/api/v1/admin/punches?{query}", headers=server.admin)
        assert r.status_code == 422, query
    r = server.client.post(
        "/api/v1/admin/punches/lookup", json={"ids": ["ab\x00"]}, headers=server.admin
    )
    assert r.status_code == 422
    result = server.import_csv(
        f"nip,name,opd,type,schedule_group\n{NIP},Si\x00ti,DISKOMINFO,PNS,default\n"
    )
    assert result["errors"][0]["line"] == 2
    odd = [
        dict(_template(), model_name="dlib\x00"),
        dict(_template(), created_utc="0001-01-01T00:00:00Z"),
        dict(_template(), created_utc="9999-01-01T00:00:00Z"),
    ]
    r = server.client.post("/api/v1/templates", json={"templates": odd}, headers=kiosk.headers)
    assert r.status_code == 200
    assert [x["reason"] for x in r.json()["results"]] == ["malformed"] * 3
    r = server.client.put(
        "/api/v1/admin/documents/calendar/2026-12-25",
        json={"name": "Natal\x00", "libur": True},
        headers=server.admin,
    )
    assert r.status_code == 200
    r = server.client.post(
        "/api/v1/admin/adms/CQZ7232260123/commands",
        json={"command": "CHECK\x00"},
        headers=server.admin,
    )
    assert r.status_code == 422
    sn = "CQZ7232260123"
    r = server.client.post(
        f"/iclock/cdata?SN={sn}&table=ATTLOG",
        content=f"{NIP}\t0001-01-01 00:00:00\t0\t1\n{NIP}\t9999-12-31 23:59:59\t0\t1\x00\n",
    )
    assert r.status_code == 200
    r = server.client.post(
        f"/iclock/cdata?SN={sn}&table=ATTLOG", content="77\t2026-11-28 07:00:00\t0\t1\t\x00x\n"
    )
    assert r.status_code == 200 and r.text == "OK: 1"
    r = server.client.post(
        f"/iclock/cdata?SN={sn}&table=OPERLOG", content="USER PIN=5\tName=Bu\x00di\tPri=0\n"
    )
    assert r.status_code == 200
    r = server.client.post(f"/iclock/devicecmd?SN={sn}", content="ID=1&Return=\x00\nID=99999")
    assert r.status_code == 200


def test_a_device_over_its_rate_gets_429_with_retry_after(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(rate_limit_per_second=0.5, rate_limit_burst=3)
    busy, other = server.register("kiosk-busy"), server.register("kiosk-other")
    codes = [
        server.client.get("/api/v1/changes", headers=busy.headers).status_code for _ in range(3)
    ]
    assert codes == [200, 200, 200]
    r = server.client.get("/api/v1/changes", headers=busy.headers)
    assert r.status_code == 429
    assert r.json()["error"] == "rate_limited" and "kiosk-busy" in r.json()["detail"]
    assert 1 <= int(r.headers["Retry-After"]) <= 2
    # Pushing punches is limited the same way, and nothing is stored from a 429.
    refused = server.client.post(
        "/api/v1/punches", json={"punches": busy.punches(1, NOW)}, headers=busy.headers
    )
    assert refused.status_code == 429 and server.punch_total() == 0
    # Other devices and the admin API are not affected.
    assert server.client.get("/api/v1/changes", headers=other.headers).status_code == 200
    assert server.client.get("/api/v1/admin/devices", headers=server.admin).status_code == 200
