"""The native client against a stdlib HTTP server that answers whatever the test scripts.

Checks strict reply validation: malformed, truncated or lying replies are
transient errors (retry), never crashes and never "delivered".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sync.client import MalformedReplyError, NativeClient
from sync.faultproxy import Fault, FaultProxy
from sync.retry import RejectedError, TransientError, UnauthorizedError

Answer = tuple[int, dict[str, str], bytes]


class Scripted:
    """Answers each request with the next scripted (status, headers, body)."""

    def __init__(self) -> None:
        self.answers: list[Callable[[dict[str, Any]], Answer]] = []
        self.requests: list[dict[str, Any]] = []


@pytest.fixture
def fake() -> Iterator[tuple[Scripted, str]]:
    script = Scripted()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            req = {
                "method": self.command,
                "path": self.path,
                "auth": self.headers.get("Authorization"),
                "body": json.loads(raw) if raw else None,
            }
            script.requests.append(req)
            status, headers, body = script.answers.pop(0)(req)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield script, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def js(status: int, body: Any, **headers: str) -> Callable[[dict[str, Any]], Answer]:
    return lambda _req: (
        status,
        {"Content-Type": "application/json", **headers},
        json.dumps(body).encode(),
    )


def records(n: int) -> list[dict[str, Any]]:
    return [{"id": f"id-{i}", "seq": i + 1} for i in range(n)]


def results_for(req: dict[str, Any], status: str = "accepted") -> Answer:
    res = [
        {"id": r["id"], "status": status, "reason": None, "flags": []}
        for r in req["body"]["punches"]
    ]
    return (
        200,
        {},
        json.dumps({"results": res, "server_time": "2026-11-28T00:00:00.000000Z"}).encode(),
    )


def test_push_sends_bearer_token_and_reads_per_record_results(fake: tuple[Scripted, str]) -> None:
    script, url = fake
    script.answers.append(results_for)
    client = NativeClient(url, timeout=2, token="t" * 32)
    reply = client.push_punches(records(3))
    assert [r.id for r in reply.results] == ["id-0", "id-1", "id-2"]
    assert all(r.delivered for r in reply.results)
    assert script.requests[0]["auth"] == "Bearer " + "t" * 32
    assert script.requests[0]["path"] == "/api/v1/punches"


@pytest.mark.parametrize(
    "reply",
    [
        {"results": []},  # too few
        {"results": "all good"},
        {"results": [{"id": "id-0", "status": "accepted"}, {"id": "id-9", "status": "accepted"}]},
        {"results": [{"id": "id-0", "status": "ok"}, {"id": "id-1", "status": "accepted"}]},
        {"results": [{"id": "id-0", "status": "rejected"}, {"id": "id-1", "status": "accepted"}]},
        {
            "results": [
                {"id": "id-0", "status": "accepted", "flags": "gap"},
                {"id": "id-1", "status": "accepted"},
            ]
        },
        ["not", "an", "object"],
    ],
)
def test_malformed_push_reply_is_transient(fake: tuple[Scripted, str], reply: Any) -> None:
    script, url = fake
    script.answers.append(js(200, reply))
    client = NativeClient(url, timeout=2, token="t" * 32)
    with pytest.raises(MalformedReplyError):
        client.push_punches(records(2))


def test_non_json_and_truncated_replies_are_transient(fake: tuple[Scripted, str]) -> None:
    script, url = fake
    script.answers.append(lambda _r: (200, {"Content-Type": "application/json"}, b'{"results": ['))
    client = NativeClient(url, timeout=2, token="t" * 32)
    with pytest.raises(MalformedReplyError):
        client.push_punches(records(1))
    # a body cut short of its Content-Length, through the fault proxy
    port = int(url.rsplit(":", 1)[1])
    script.answers.append(results_for)
    with FaultProxy(port, lambda _line: Fault.TRUNCATE) as proxy:
        client = NativeClient(proxy.url, timeout=2, token="t" * 32)
        with pytest.raises(TransientError):
            client.push_punches(records(5))


def test_statuses_map_to_error_kinds(fake: tuple[Scripted, str]) -> None:
    script, url = fake
    client = NativeClient(url, timeout=2, token="t" * 32)
    script.answers.append(js(401, {"error": "unauthorized", "detail": "unknown token"}))
    with pytest.raises(UnauthorizedError, match="unknown token"):
        client.push_punches(records(1))
    script.answers.append(js(503, {"detail": "busy"}, **{"Retry-After": "7"}))
    with pytest.raises(TransientError) as err:
        client.push_punches(records(1))
    assert err.value.retry_after == 7.0
    script.answers.append(js(413, {"error": "batch_too_large", "detail": "max 1000"}))
    with pytest.raises(RejectedError) as rej:
        client.push_punches(records(1))
    assert rej.value.status == 413 and "batch_too_large" in str(rej.value)
    script.answers.append(lambda _r: (500, {}, b"<html>oops</html>"))
    with pytest.raises(TransientError):
        client.push_punches(records(1))


def test_network_errors_and_timeouts_are_transient(fake: tuple[Scripted, str]) -> None:
    script, url = fake
    port = int(url.rsplit(":", 1)[1])
    with FaultProxy(port, lambda _line: Fault.DROP_BEFORE) as proxy, pytest.raises(TransientError):
        NativeClient(proxy.url, timeout=2, token="t" * 32).push_punches(records(1))
    with FaultProxy(port, lambda _line: Fault.DELAY, delay_seconds=1.5) as proxy:
        script.answers.append(results_for)
        with pytest.raises(TransientError, match="no answer within"):
            NativeClient(proxy.url, timeout=0.5, token="t" * 32).push_punches(records(1))
    with pytest.raises(TransientError):
        NativeClient("http://127.0.0.1:9", timeout=1, token="x" * 32).server_time()


def test_without_token_nothing_is_sent(fake: tuple[Scripted, str]) -> None:
    script, url = fake
    with pytest.raises(UnauthorizedError, match="register"):
        NativeClient(url, timeout=2).push_punches(records(1))
    assert script.requests == []


def test_register_stores_token_and_checks_reply(fake: tuple[Scripted, str]) -> None:
    script, url = fake
    ok = {
        "device_id": "kiosk-7",
        "token": "s" * 40,
        "opd_code": "DISKOMINFO",
        "server_time": "2026-11-28T00:12:03.123456Z",
    }
    script.answers.append(js(201, ok))
    client = NativeClient(url, timeout=2)
    reg = client.register("ABCD-EFGH", "kiosk-7", b"\x01" * 32)
    assert client.token == "s" * 40 and reg.opd_code == "DISKOMINFO"
    sent = script.requests[0]
    assert sent["auth"] is None and sent["body"]["public_key"] == "01" * 32
    script.answers.append(js(201, {**ok, "device_id": "kiosk-8"}))
    with pytest.raises(MalformedReplyError):
        NativeClient(url, timeout=2).register("ABCD-EFGH", "kiosk-7", b"\x01" * 32)
    script.answers.append(js(403, {"error": "enrollment_code_invalid", "detail": "used"}))
    with pytest.raises(UnauthorizedError, match="enrollment_code_invalid"):
        NativeClient(url, timeout=2).register("ABCD-EFGH", "kiosk-7", b"\x01" * 32)


def test_changes_must_grow_and_time_must_agree(fake: tuple[Scripted, str]) -> None:
    script, url = fake
    client = NativeClient(url, timeout=2, token="t" * 32)
    change = {"kind": "employee", "key": "1" * 18, "op": "upsert", "data": {"nip": "1" * 18}}
    script.answers.append(
        js(
            200,
            {
                "changes": [{**change, "seq": 3}, {**change, "seq": 5}],
                "next_cursor": 5,
                "has_more": False,
            },
        )
    )
    page = client.changes(2)
    assert [c.seq for c in page.changes] == [3, 5] and page.next_cursor == 5
    assert script.requests[-1]["path"] == "/api/v1/changes?since=2&limit=1000"
    script.answers.append(
        js(
            200,
            {
                "changes": [{**change, "seq": 5}, {**change, "seq": 4}],
                "next_cursor": 5,
                "has_more": False,
            },
        )
    )
    with pytest.raises(MalformedReplyError, match="does not grow"):
        client.changes(2)
    script.answers.append(js(200, {"changes": [], "next_cursor": 1, "has_more": False}))
    with pytest.raises(MalformedReplyError, match="backwards"):
        client.changes(2)
    script.answers.append(js(200, {"utc": "2026-11-28T00:12:03.123456Z", "unix_ms": 1795824723123}))
    assert client.server_time().unix_ms == 1795824723123
    script.answers.append(js(200, {"utc": "2026-11-28T00:12:03.123456Z", "unix_ms": 5}))
    with pytest.raises(MalformedReplyError, match="disagree"):
        client.server_time()


def test_bad_base_url_is_refused() -> None:
    with pytest.raises(ValueError, match="server_url"):
        NativeClient("absensi.okikab.go.id")
