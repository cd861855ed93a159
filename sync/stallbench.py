"""How much memory stalled uploads cost the central server (``hadir stall-bench``).

Starts ``hadir server`` on a loopback port (``HADIR_SERVER_COMMAND`` runs
another build, e.g. an older checkout, for a before/after comparison), then
opens ``uploads`` connections that each announce a body just under the
server's limit, send most of it and stall. Reports the server's resident
memory (``VmRSS`` of the process) idle and with the uploads stalled, and
how many connections the server answered (refused) instead of buffering.
Loopback only, bounded: every socket is closed at the end.
"""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from sync.serverproc import AdminApi, ServerProcess

ANNOUNCED = 3_990_000
CHUNK = 65_536


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for process {pid}")


def _stall(port: int, token: str | None, send_bytes: int) -> socket.socket:
    """Open one upload and send up to ``send_bytes`` of its body (less if refused)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    auth = f"Authorization: Bearer {token}\r\n".encode() if token else b""
    s.sendall(
        b"POST /api/v1/punches HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n"
        + auth
        + f"Content-Length: {ANNOUNCED}\r\n\r\n".encode()
    )
    s.setblocking(False)
    sent = 0
    block = b"x" * CHUNK
    deadline = time.monotonic() + 10
    while sent < send_bytes and time.monotonic() < deadline:
        try:
            sent += s.send(block[: min(CHUNK, send_bytes - sent)])
        except BlockingIOError:
            time.sleep(0.002)
        except OSError:  # the server answered and closed: it did not buffer us
            break
    return s


def _answered(s: socket.socket) -> bool:
    """True if the server has sent an answer (or closed) on this connection."""
    s.settimeout(0.05)
    try:
        s.recv(16, socket.MSG_PEEK)  # data (the answer) or b"" (closed): answered
        return True
    except TimeoutError:
        return False
    except OSError:
        return True


def run_stall_bench(uploads: int, send_bytes: int, *, authenticated: bool) -> dict[str, Any]:
    if not 1 <= uploads <= 1000:
        raise ValueError("uploads must be 1-1000")
    with (
        tempfile.TemporaryDirectory(prefix="hadir-stall-") as tmp,
        ServerProcess(Path(tmp) / "server") as srv,
    ):
        pid = srv.pid
        assert pid is not None
        token = "not-a-device-token"  # noqa: S105 - deliberately wrong
        if authenticated:
            from sync.simkiosk import SimKiosk

            admin = AdminApi(srv.url, srv.admin_token())
            sim = SimKiosk.create(Path(tmp) / "kiosk", "stall-kiosk", people=1)
            try:
                creds = sim.register(srv.url, admin.enrollment_code())
            finally:
                sim.close()
            token = creds.token
        time.sleep(0.5)
        idle = rss_mb(pid)
        socks: list[socket.socket] = []
        started = time.monotonic()
        try:
            for _ in range(uploads):
                socks.append(_stall(srv.port, token, send_bytes))
            time.sleep(1.0)
            peak = rss_mb(pid)
            answered = sum(1 for s in socks if _answered(s))
        finally:
            for s in socks:
                s.close()
        time.sleep(1.0)
        after = rss_mb(pid)
    return {
        "uploads": uploads,
        "bytes_sent_each": send_bytes,
        "authenticated": authenticated,
        "rss_idle_mb": idle,
        "rss_stalled_mb": peak,
        "rss_growth_mb": round(peak - idle, 1),
        "rss_after_close_mb": after,
        "answered_before_body": answered,
        "seconds": round(time.monotonic() - started, 1),
    }
