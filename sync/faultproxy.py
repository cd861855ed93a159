"""A fault-injecting HTTP proxy for drills and tests (stdlib, threads).

Sits between a kiosk and the central server on loopback and, per request,
either passes it through or injects one :class:`Fault`:

* ``DROP_BEFORE`` - close the connection before the server sees the request.
* ``DROP_AFTER`` - forward, let the server commit, then close without an
  answer (the kiosk must replay and get duplicates, never lose or double).
* ``DELAY`` - hold the request for ``delay_seconds`` before forwarding
  (longer than the client's timeout = a timeout).
* ``ERROR_500`` / ``ERROR_503`` - answer 500 / 503 with ``Retry-After``
  without forwarding.
* ``TRUNCATE`` - forward, then send only part of the server's answer.
* ``GARBAGE`` - forward, then answer 200 with a body that is not the reply.

One request per connection: the proxy answers with ``Connection: close``. If
the server is down the proxy answers 502, like a real reverse proxy.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import random
import socket
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024


class Fault(enum.Enum):
    NONE = "none"
    DROP_BEFORE = "drop_before"
    DROP_AFTER = "drop_after"
    DELAY = "delay"
    ERROR_500 = "error_500"
    ERROR_503 = "error_503"
    TRUNCATE = "truncate"
    GARBAGE = "garbage"


FaultChooser = Callable[[str], Fault]


@dataclass
class RandomFaults:
    """Chooses a fault per request with the given probabilities (the rest pass).

    ``only_paths``: inject only into requests whose target starts with one of
    these prefixes (for example the punch push), pass everything else.
    """

    rates: Mapping[Fault, float]
    rng: random.Random = field(default_factory=random.Random)
    only_paths: tuple[str, ...] = ()
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        total = sum(self.rates.values())
        if total > 1.0 or any(r < 0 for r in self.rates.values()):
            raise ValueError(f"fault rates must be >= 0 and sum to <= 1, got {dict(self.rates)}")

    def __call__(self, request_line: str) -> Fault:
        parts = request_line.split(" ")
        target = parts[1] if len(parts) > 1 else ""
        if self.only_paths and not target.startswith(self.only_paths):
            return Fault.NONE
        with self._lock:
            x = self.rng.random()
        acc = 0.0
        for fault, rate in self.rates.items():
            acc += rate
            if x < acc:
                return fault
        return Fault.NONE


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """Read up to the blank line; returns (head, body bytes already read)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("peer closed before the end of the head")
        buf += chunk
        if len(buf) > MAX_HEAD_BYTES:
            raise ConnectionError("head too large")
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _with_close(head: bytes) -> bytes:
    lines = [
        ln
        for ln in head.split(b"\r\n")
        if ln.partition(b":")[0].strip().lower() not in (b"connection", b"keep-alive")
    ]
    lines.append(b"Connection: close")
    return b"\r\n".join(lines)


def _simple_response(status: int, reason: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    ).encode() + body


class FaultProxy:
    """``FaultProxy(upstream_port, chooser).start()`` then point the client at ``.url``."""

    def __init__(
        self,
        upstream_port: int,
        chooser: FaultChooser,
        *,
        upstream_host: str = "127.0.0.1",
        delay_seconds: float = 3.0,
        retry_after: str = "1",
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.chooser = chooser
        self.delay_seconds = delay_seconds
        self.retry_after = retry_after
        self.counts: Counter[Fault] = Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _count(self, fault: Fault) -> None:
        with self._lock:
            self.counts[fault] += 1

    def _forward(self, head: bytes, body: bytes) -> bytes | None:
        """Send the request upstream; the full raw answer, or None if the server is down."""
        try:
            with socket.create_connection(self.upstream, timeout=60) as up:
                up.sendall(_with_close(head) + b"\r\n\r\n" + body)
                chunks = []
                while True:
                    chunk = up.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
                return b"".join(chunks)
        except OSError:
            return None

    def _handle(self, client: socket.socket) -> None:
        try:
            head, body = _read_head(client)
            need = _content_length(head)
            while len(body) < need:
                chunk = client.recv(65536)
                if not chunk:
                    return
                body += chunk
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            fault = self.chooser(request_line)
            self._count(fault)
            if fault is Fault.DROP_BEFORE:
                return
            if fault is Fault.ERROR_500:
                client.sendall(_simple_response(500, "Internal Server Error", b'{"detail":"x"}'))
                return
            if fault is Fault.ERROR_503:
                client.sendall(
                    _simple_response(
                        503,
                        "Service Unavailable",
                        b'{"detail":"busy"}',
                        f"Retry-After: {self.retry_after}\r\n",
                    )
                )
                return
            if fault is Fault.DELAY:
                time.sleep(self.delay_seconds)
            answer = self._forward(head, body)
            if answer is None:
                client.sendall(_simple_response(502, "Bad Gateway", b'{"detail":"upstream down"}'))
                return
            if fault is Fault.DROP_AFTER:
                return
            if fault is Fault.GARBAGE:
                client.sendall(_simple_response(200, "OK", b'{"results": "not what you want"'))
                return
            resp_head, _, resp_body = answer.partition(b"\r\n\r\n")
            out = _with_close(resp_head) + b"\r\n\r\n" + resp_body
            if fault is Fault.TRUNCATE:
                keep = len(resp_head) + 4 + max(0, len(resp_body) // 2)
                client.sendall(out[:keep])
                return
            client.sendall(out)
        except (OSError, ValueError) as exc:
            log.debug("fault proxy connection ended: %s", exc)
        finally:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            client.close()
