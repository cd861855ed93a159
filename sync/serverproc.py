"""Start the reference central server as a child process (for the loadtest and tests).

``sync`` must not import ``server``; it runs ``python -m hadir.cli server``
with a generated config on a free loopback port, waits until ``/api/v1/time``
answers, and reads the admin token the server wrote.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``hadir server`` in a subprocess on ``127.0.0.1:<port>`` with its own data dir.

    ``database_url`` empty = SQLite in the data dir. ``extra_server`` lines are
    appended to the ``[server]`` section (e.g. ``adms_serials = ["X1"]``).
    The port stays the same across :meth:`restart`.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        database_url: str = "",
        extra_server: str = "",
        extra_device: str = "",
        log_path: Path | None = None,
        workers: int = 1,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.database_url = database_url
        self.config_path = data_dir / "server-config.toml"
        self.log_path = log_path or data_dir / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None
        # HADIR_SERVER_COMMAND (space separated) replaces `python -m hadir.cli server`.
        override = os.environ.get("HADIR_SERVER_COMMAND", "").split()
        self.command_prefix = override or [
            sys.executable,
            "-m",
            "hadir.cli",
            "--log-level",
            "WARNING",
            "server",
        ]
        self.workers = workers
        # (certificate, key): the server speaks HTTPS; the certificate doubles as the CA.
        self.tls = tls
        if tls is not None:
            extra_server += f'\ntls_certfile = "{tls[0]}"\ntls_keyfile = "{tls[1]}"\n'
        data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "[device]\n"
            f"{extra_device}\n"
            "[server]\n"
            f'data_dir = "{data_dir}"\n'
            f"port = {self.port}\n"
            f'database_url = "{database_url}"\n'
            f"{extra_server}\n",
            encoding="utf-8",
        )

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        env = dict(os.environ)
        env["HADIR_CONFIG"] = str(self.config_path)
        with self.log_path.open("ab") as logf:
            self._proc = subprocess.Popen(
                [
                    *self.command_prefix,
                    "--config",
                    str(self.config_path),
                    *(["--workers", str(self.workers)] if self.workers > 1 else []),
                ],
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(
                    f"hadir server exited with {self._proc.returncode}; log:\n{self.log_tail()}"
                )
            try:
                verify: str | bool = str(self.tls[0]) if self.tls is not None else True
                answer = requests.get(self.url + "/api/v1/time", timeout=1, verify=verify)
                if answer.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"hadir server did not answer within {timeout:g} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def admin_token(self) -> str:
        path = self.data_dir / "admin-token"
        return path.read_text(encoding="utf-8").strip()

    def kill(self) -> None:
        """SIGKILL, no goodbye (a crash or a power cut)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(10)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        self._proc = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()


class AdminApi:
    """The few admin calls the loadtest and tests need."""

    def __init__(self, base_url: str, token: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def _json(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        resp = self.session.request(method, self.base_url + path, timeout=self.timeout, **kw)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:300]}")
        body = resp.json()
        if not isinstance(body, dict):
            raise RuntimeError(f"{method} {path}: reply is not an object")
        return body

    def enrollment_code(self, opd_code: str = "DISKOMINFO") -> str:
        body = self._json(
            "POST",
            "/api/v1/admin/enrollment-codes",
            json={"opd_code": opd_code, "expires_hours": 1},
        )
        return str(body["code"])

    def lookup(self, ids: list[str]) -> tuple[int, list[str]]:
        found = 0
        missing: list[str] = []
        for i in range(0, len(ids), 100_000):
            body = self._json(
                "POST", "/api/v1/admin/punches/lookup", json={"ids": ids[i : i + 100_000]}
            )
            found += int(body["found"])
            missing.extend(str(m) for m in body["missing"])
        return found, missing

    def devices(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/api/v1/admin/devices")["devices"])

    def revoke(self, device_id: str) -> None:
        self._json("POST", f"/api/v1/admin/devices/{device_id}/revoke")

    def put_document(self, kind: str, key: str, data: dict[str, Any]) -> int:
        """Publish a schedule group or calendar document; returns its feed sequence."""
        return int(self._json("PUT", f"/api/v1/admin/documents/{kind}/{key}", json=data)["seq"])

    def delete_document(self, kind: str, key: str) -> int:
        return int(self._json("DELETE", f"/api/v1/admin/documents/{kind}/{key}")["seq"])

    def import_employees(self, csv_text: str) -> dict[str, Any]:
        return self._json(
            "POST",
            "/api/v1/admin/employees/import",
            data=csv_text.encode(),
            headers={"Content-Type": "text/csv"},
        )
