"""The server on a real uvicorn on a loopback port: concurrency and the HTTP edges.

Many kiosks pushing at once, the same batch sent concurrently (the ON CONFLICT
path: only accepted + duplicates, never a 500), a lying Content-Length, and a
request that is not JSON at all.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import uvicorn
from test_server import FixedClock, Kiosk, database_url, make_settings

from attendance.integrity import public_key_bytes
from server.app import create_app

__all__ = ["database_url"]


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[tuple[str, str]]:
    """``(base_url, admin_token)`` of a server running in a thread."""
    clock = FixedClock(datetime.now(UTC))
    app = create_app(make_settings(tmp_path, database_url, clock))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # As `hadir server` starts it: the app sets the one Date header itself.
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", date_header=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app.state.services.admin_token
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _register(base: str, admin: dict[str, str], device_id: str) -> Kiosk:
    code = requests.post(
        f"{base}/api/v1/admin/enrollment-codes",
        json={"opd_code": "DISKOMINFO"},
        headers=admin,
        timeout=30,
    ).json()["code"]
    kiosk = Kiosk(device_id)
    r = requests.post(
        f"{base}/api/v1/devices/register",
        json={
            "code": code,
            "device_id": device_id,
            "public_key": public_key_bytes(kiosk.key).hex(),
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    kiosk.token = r.json()["token"]
    return kiosk


def test_concurrent_kiosks_and_concurrent_duplicates_over_real_http(
    live: tuple[str, str],
) -> None:
    base, token = live
    admin = {"Authorization": f"Bearer {token}"}
    at = datetime.now(UTC) - timedelta(minutes=30)
    kiosks = [_register(base, admin, f"kiosk-{i:02d}") for i in range(8)]
    batches = [(k, k.punches(60, at)) for k in kiosks]
    # Every kiosk sends its batch three times at once: one accepted per punch, the rest
    # duplicates, no error.
    jobs = [b for b in batches for _ in range(3)]

    def send(job: tuple[Kiosk, list[dict[str, object]]]) -> tuple[int, dict[str, int]]:
        kiosk, records = job
        r = requests.post(
            f"{base}/api/v1/punches",
            json={"punches": records},
            headers=kiosk.headers,
            timeout=120,
        )
        body = r.json()
        return r.status_code, {s: body.get(s, 0) for s in ("accepted", "duplicate", "rejected")}

    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(send, jobs))
    assert {status for status, _ in answers} == {200}
    assert sum(a["accepted"] for _, a in answers) == 8 * 60
    assert sum(a["duplicate"] for _, a in answers) == 2 * 8 * 60
    assert sum(a["rejected"] for _, a in answers) == 0
    total = requests.get(
        f"{base}/api/v1/admin/punches", params={"limit": 1}, headers=admin, timeout=30
    ).json()["total"]
    assert total == 8 * 60
    devices = requests.get(f"{base}/api/v1/admin/devices", headers=admin, timeout=30).json()
    assert all(d["gaps"] == [] and d["last_seq"] == 60 for d in devices["devices"])


def test_raw_http_edges_answer_4xx(live: tuple[str, str]) -> None:
    base, _token = live
    host, port = base.removeprefix("http://").split(":")

    def raw(request: bytes) -> bytes:
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall(request)
            s.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    huge = raw(
        b"POST /api/v1/punches HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 999999999\r\n\r\n{}"
    )
    assert huge.startswith(b"HTTP/1.1 413")
    r = requests.post(
        f"{base}/api/v1/punches",
        data=b"\x00\x01binary",
        headers={"Authorization": "Bearer x", "Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert 400 <= r.status_code < 500
    r = requests.get(f"{base}/openapi.json", timeout=30)
    assert r.status_code == 200 and "/api/v1/changes" in r.json()["paths"]


def test_one_date_header_over_real_http(live: tuple[str, str]) -> None:
    base, _ = live
    for path in ("/iclock/cdata?SN=CQZ7232260123&options=all", "/api/v1/time", "/nope"):
        r = requests.get(base + path, timeout=10)
        dates = [v for k, v in r.raw.headers.items() if k.lower() == "date"]
        assert len(dates) == 1, (path, dates)
