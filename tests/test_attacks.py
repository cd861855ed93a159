"""The attack drill (issue #12): every known attack against a live ``hadir server`` on loopback.

The server runs as its own process over HTTPS with a self-signed certificate
made here; the kiosk side is the real sync code (``SimKiosk`` + ``SyncWorker``).
A man in the middle is a ``requests`` response hook that rewrites what the
server sent, as a proxy on the path would. Run alone with
``uv run pytest tests/test_attacks.py``; a regression in any control fails here.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from attendance.store import EmployeeRecord
from hadir.cli import main
from sync.client import NativeClient
from sync.credentials import load_credentials
from sync.retry import TransientError
from sync.serverproc import AdminApi, ServerProcess
from sync.simkiosk import SimKiosk

OTHER_NIP = "197501012000031003"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost that is its own CA (what a kiosk pins)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hadir test server")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "server.crt"
    key_path = directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("attack-server")
    tls = self_signed(root)
    with ServerProcess(root / "data", tls=tls, extra_server="body_timeout_seconds = 2.0\n") as srv:
        yield srv


@pytest.fixture(scope="module")
def admin(tls_server: ServerProcess) -> AdminApi:
    api = AdminApi(tls_server.url, tls_server.admin_token())
    api.session.trust_env = False  # else $REQUESTS_CA_BUNDLE overrides session.verify
    api.session.verify = str(ca_of(tls_server))
    return api


def ca_of(srv: ServerProcess) -> Path:
    assert srv.tls is not None
    return srv.tls[0]


def import_roster(admin: AdminApi, lines: list[str]) -> None:
    body = "nip,name,opd,type,schedule_group\n" + "".join(f"{line}\n" for line in lines)
    r = admin.session.post(
        admin.base_url + "/api/v1/admin/employees/import",
        data=body.encode(),
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    assert r.status_code == 200, r.text


def enrollment_code(admin: AdminApi, opd: str) -> str:
    r = admin.session.post(
        admin.base_url + "/api/v1/admin/enrollment-codes", json={"opd_code": opd}, timeout=30
    )
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


def template(nip: str, value: float = 0.1) -> dict[str, Any]:
    return {
        "template_id": str(uuid.uuid4()),
        "nip": nip,
        "model_name": "dlib_face_recognition_resnet_model_v1",
        "model_version": "1",
        "template": base64.b64encode(struct.pack("<128f", *([value] * 128))).decode(),
    }


def device(admin: AdminApi, device_id: str) -> dict[str, Any]:
    r = admin.session.get(admin.base_url + "/api/v1/admin/devices", timeout=30)
    (dev,) = [d for d in r.json()["devices"] if d["device_id"] == device_id]
    return dict(dev)


@pytest.fixture
def kiosk(tmp_path: Path, tls_server: ServerProcess, admin: AdminApi) -> Iterator[SimKiosk]:
    """A BAPPEDA kiosk registered over HTTPS, the server's key learnt at registration."""
    sim = SimKiosk.create(tmp_path / "kiosk", f"kiosk-{uuid.uuid4().hex[:6]}", people=3)
    import_roster(
        admin, [f"{nip},Pegawai {i},BAPPEDA,PNS,default" for i, nip in enumerate(sim.nips)]
    )
    import_roster(admin, [f"{OTHER_NIP},Orang Dinas Lain,DISKOMINFO,PNS,default"])
    sim.register(tls_server.url, enrollment_code(admin, "BAPPEDA"), ca_file=str(ca_of(tls_server)))
    yield sim
    sim.close()


def client_of(sim: SimKiosk, srv: ServerProcess) -> NativeClient:
    creds = load_credentials(sim.key_dir)
    assert creds is not None and creds.server_public_key
    return NativeClient(
        creds.server_url,
        timeout=30,
        token=creds.token,
        server_public_key=creds.server_public_key,
        device_id=creds.device_id,
        ca_file=str(ca_of(srv)),
    )


# -- sniffed network: TLS, pinning, plain http refused --------------------------------


def test_tls_with_a_pinned_certificate_and_no_plain_http(
    tls_server: ServerProcess, tmp_path: Path
) -> None:
    pinned = NativeClient(tls_server.url, timeout=10, ca_file=str(ca_of(tls_server)))
    assert pinned.server_time().unix_ms > 0
    # Another certificate (an impostor's, or the system CAs) is not trusted.
    other_cert, _ = self_signed(tmp_path)
    for ca in (str(other_cert), ""):
        with pytest.raises(TransientError, match="TLS certificate is not trusted"):
            NativeClient(tls_server.url, timeout=10, ca_file=ca).server_time()
    with pytest.raises(requests.ConnectionError):
        requests.get(tls_server.url.replace("https", "http") + "/api/v1/time", timeout=10)
    with pytest.raises(ValueError, match="unencrypted"):
        NativeClient("http://192.0.2.10:8080")


# -- stolen kiosk -------------------------------------------------------------------


def test_a_stolen_kiosk_acts_only_for_its_own_opd(
    kiosk: SimKiosk, tls_server: ServerProcess, admin: AdminApi
) -> None:
    client = client_of(kiosk, tls_server)
    results = client.upload_templates([template(OTHER_NIP), template(kiosk.nips[0])])
    assert [(r.status, r.reason) for r in results] == [
        ("rejected", "out_of_scope"),
        ("accepted", None),
    ]
    feed = client.changes(0, limit=5000)
    nips = {
        str(c.data.get("nip", c.key)) for c in feed.changes if c.kind in ("employee", "template")
    }
    assert OTHER_NIP not in nips and set(kiosk.nips) <= nips
    # Punches for people it does not serve are kept, but flagged for review.
    kiosk.record(2)
    worker = kiosk.worker(ca_file=str(ca_of(tls_server)))
    worker.run_once()
    assert worker.status().pending == 0
    r = admin.session.get(
        admin.base_url + "/api/v1/admin/audit", params={"action": "template_refused"}
    )
    assert any(e["subject"] == OTHER_NIP for e in r.json()["entries"])
    assert device(admin, kiosk.device_id)["reconciliation"]["state"] == "ok"


def test_unknown_nip_punches_are_listed_by_the_cli(
    tls_server: ServerProcess, capsys: pytest.CaptureFixture[str], tmp_path: Path, admin: AdminApi
) -> None:
    sim = SimKiosk.create(tmp_path / "k2", "kiosk-unknown", people=1)
    nip = "199912312020121999"  # known to this kiosk only, never imported at the server
    sim.store.employees.upsert(
        EmployeeRecord(nip=nip, name="Tidak Dikenal", opd_code="BAPPEDA", employee_type="PNS")
    )
    sim.nips = [nip]
    try:
        sim.register(
            tls_server.url, enrollment_code(admin, "BAPPEDA"), ca_file=str(ca_of(tls_server))
        )
        sim.record(1)
        sim.worker(ca_file=str(ca_of(tls_server))).run_once()
    finally:
        sim.close()
    assert (
        main(["server", "review-punches", "--config", str(tls_server.config_path), "--json"]) == 0
    )
    listed = json.loads(capsys.readouterr().out)
    mine = [p for p in listed["punches"] if p["device_id"] == "kiosk-unknown"]
    assert [(p["nip"], p["flags"]) for p in mine] == [(nip, ["unknown_nip"])]


# -- man in the middle: forged feed entries and forged acknowledgements ----------------


def test_forged_feed_entry_is_refused_and_reported_in_health(
    kiosk: SimKiosk, tls_server: ServerProcess, admin: AdminApi
) -> None:
    def tamper(resp: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if "/api/v1/changes" in resp.url and resp.status_code == 200:
            body = resp.json()
            for change in body["changes"]:
                if change["kind"] == "employee":
                    change["data"]["name"] = "Penyusup"  # pushed by the attacker
            resp._content = json.dumps(body).encode()
        return resp

    def factory(creds: Any) -> NativeClient:
        client = NativeClient(
            creds.server_url,
            timeout=30,
            token=creds.token,
            server_public_key=creds.server_public_key,
            device_id=creds.device_id,
            ca_file=str(ca_of(tls_server)),
        )
        client.session.hooks["response"].append(tamper)
        return client

    worker = kiosk.worker(client_factory=factory)
    worker.run_once()
    for nip in kiosk.nips:
        employee = kiosk.store.employees.get(nip)
        assert employee is not None and employee.name != "Penyusup"
    refused = worker.feed_refusals()
    assert refused is not None and refused["count"] >= 1
    health = device(admin, kiosk.device_id)["health"]
    assert health["feed_signature_failures"]["why"] == "bad server signature"


def test_forged_acknowledgement_marks_nothing_delivered(
    kiosk: SimKiosk, tls_server: ServerProcess
) -> None:
    def lie(resp: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if resp.url.endswith("/api/v1/punches"):
            body = resp.json()
            body["results"] = [dict(r, status="accepted", flags=[]) for r in body["results"]]
            body["results"][0]["status"] = "duplicate"
            resp._content = json.dumps(body).encode()
        return resp

    kiosk.record(3)
    client = client_of(kiosk, tls_server)
    client.session.hooks["response"].append(lie)
    worker = kiosk.worker(client_factory=lambda creds: client)
    with pytest.raises(TransientError, match="not signed by the server"):
        worker.run_once()
    assert worker.status().pending == 3


# -- surrogates, probing ------------------------------------------------------------


def test_lone_surrogate_and_device_id_probing_over_the_wire(
    kiosk: SimKiosk, tls_server: ServerProcess
) -> None:
    creds = load_credentials(kiosk.key_dir)
    assert creds is not None
    verify = str(ca_of(tls_server))
    body = b'{"templates": [{"template_id": "x", "nip": "1", "model_name": "\\ud800"}]}'
    r = requests.post(
        tls_server.url + "/api/v1/templates",
        data=body,
        headers={"Authorization": f"Bearer {creds.token}", "Content-Type": "application/json"},
        timeout=30,
        verify=verify,
    )
    assert r.status_code == 200 and r.json()["rejected"] == 1

    def probe(device_id: str) -> tuple[int, Any]:
        r = requests.post(
            tls_server.url + "/api/v1/devices/register",
            json={"code": "AAAA-BBBB-CCCC", "device_id": device_id, "public_key": "ab" * 32},
            timeout=30,
            verify=verify,
        )
        return r.status_code, r.json()

    assert probe(kiosk.device_id) == probe("kiosk-that-does-not-exist")


# -- resource exhaustion before authentication ------------------------------------------


def _stalled_upload(port: int, token: str, sent: int = 200_000) -> socket.socket:
    """A plain-TCP upload announcing 3.9 MB that sends ``sent`` bytes, then stalls."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(
        b"POST /api/v1/punches HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {token}\r\n".encode()
        + b"Content-Length: 3900000\r\n\r\n"
        + b" " * sent
    )
    return s


def test_stalled_uploads_are_refused_before_their_body_and_slow_senders_time_out(
    tmp_path: Path,
) -> None:
    # 5 s, not less: on a loaded host opening the nine uploads alone took over 2 s, and
    # the held ones timing out first turned the ninth's 429 into a 408.
    with ServerProcess(tmp_path / "srv", extra_server="body_timeout_seconds = 5.0\n") as srv:
        # Without a valid token the answer comes at once, before the body.
        socks = [_stalled_upload(srv.port, "wrong-token", sent=0) for _ in range(5)]
        for s in socks:
            assert s.recv(64).startswith(b"HTTP/1.1 401")
            s.close()
        # With a valid token, a sender that stalls is cut off after body_timeout.
        admin = AdminApi(srv.url, srv.admin_token())
        sim = SimKiosk.create(tmp_path / "k", "kiosk-slow", people=1)
        try:
            sim.register(srv.url, admin.enrollment_code("BAPPEDA"))
            creds = load_credentials(sim.key_dir)
            assert creds is not None
            started = time.monotonic()
            held = [_stalled_upload(srv.port, creds.token) for _ in range(8)]
            # A ninth body of the same device is not even read: at most 8 in memory.
            ninth = _stalled_upload(srv.port, creds.token)
            assert ninth.recv(64).startswith(b"HTTP/1.1 429")
            ninth.close()
            answers = [s.recv(64) for s in held]
            for s in held:
                s.close()
        finally:
            sim.close()
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers)
        assert 4.5 < time.monotonic() - started < 30


def test_wrong_tokens_and_iclock_floods_are_rate_limited(tmp_path: Path) -> None:
    with ServerProcess(
        tmp_path / "srv",
        extra_server=(
            "auth_failures_per_minute = 5\nsource_rate_limit_burst = 20\n"
            "source_rate_limit_per_second = 0.5\n"
        ),
    ) as srv:
        codes = [
            requests.get(
                srv.url + "/api/v1/changes", headers={"Authorization": "Bearer guess"}, timeout=10
            ).status_code
            for _ in range(7)
        ]
        assert codes == [401] * 5 + [429] * 2
        codes = [
            requests.get(srv.url + "/iclock/cdata", params={"SN": "X"}, timeout=10).status_code
            for _ in range(25)
        ]
        assert codes[-1] == 429 and 429 not in codes[:19]


def test_assignment_brings_a_person_to_the_kiosk_and_its_end_erases_them_there(
    kiosk: SimKiosk, tls_server: ServerProcess, admin: AdminApi
) -> None:
    worker = kiosk.worker(ca_file=str(ca_of(tls_server)))
    r = admin.session.put(
        admin.base_url + f"/api/v1/admin/employees/{OTHER_NIP}/assignments/BAPPEDA", timeout=30
    )
    assert r.status_code == 200
    worker.run_once()
    assert kiosk.store.employees.get(OTHER_NIP) is not None
    client = client_of(kiosk, tls_server)
    assert [r.status for r in client.upload_templates([template(OTHER_NIP, 0.4)])] == ["accepted"]
    worker.run_once()
    assert kiosk.store.templates.counts().get(OTHER_NIP) == 1
    r = admin.session.delete(
        admin.base_url + f"/api/v1/admin/employees/{OTHER_NIP}/assignments/BAPPEDA", timeout=30
    )
    assert r.status_code == 200
    worker.run_once()
    assert kiosk.store.templates.counts().get(OTHER_NIP) is None  # erased at this kiosk
    person = kiosk.store.employees.get(OTHER_NIP)
    assert person is not None and not person.active
