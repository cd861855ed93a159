"""ADMS client mode against a tiny stdlib iclock server (and the line format on its own)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from sync.adms import AdmsClient, AdmsCommand, AdmsSync, attlog_line, parse_commands
from sync.retry import SyncError, TransientError
from sync.simkiosk import SimKiosk


class IclockServer:
    """Records what the device sent; answers like an ADMS server."""

    def __init__(self) -> None:
        self.attlog: list[str] = []
        self.commands: list[str] = []
        self.results: list[dict[str, list[str]]] = []
        self.fail_uploads = 0
        self.seen_serials: set[str] = set()


@pytest.fixture
def iclock() -> Iterator[tuple[IclockServer, str]]:
    state = IclockServer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, text: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            q = parse_qs(url.query)
            state.seen_serials.update(q.get("SN", []))
            if url.path == "/iclock/cdata":
                self._send(200, "GET OPTION FROM: SIM1\nATTLOGStamp=None\nDelay=10\nTimeZone=7\n")
            elif url.path == "/iclock/getrequest":
                text = "\n".join(state.commands) or "OK"
                state.commands = []
                self._send(200, text)
            else:
                self._send(404, "not found")

        def do_POST(self) -> None:
            url = urlparse(self.path)
            q = parse_qs(url.query)
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode()
            if url.path == "/iclock/cdata" and q.get("table") == ["ATTLOG"]:
                if state.fail_uploads:
                    state.fail_uploads -= 1
                    self._send(503, "busy")
                    return
                lines = [ln for ln in body.split("\n") if ln]
                state.attlog.extend(lines)
                self._send(200, f"OK: {len(lines)}")
            elif url.path == "/iclock/devicecmd":
                state.results.append(parse_qs(body))
                self._send(200, "OK")
            else:
                self._send(404, "not found")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


RECORD = {
    "nip": "198703152010011002",
    "utc": "2026-11-28T00:12:03.123456Z",
    "local_offset_minutes": 420,
    "direction": "masuk",
    "verify_mode": "face",
}


def test_attlog_line_has_local_time_status_and_verify_codes() -> None:
    assert attlog_line(RECORD) == "198703152010011002\t2026-11-28 07:12:03\t0\t15\t0\t0\t0"
    out = attlog_line({**RECORD, "direction": "pulang", "verify_mode": "fingerprint"})
    assert out.split("\t")[2:4] == ["1", "1"]
    assert attlog_line({**RECORD, "verify_mode": "pin"}, pin="77").split("\t")[0:4:3] == ["77", "0"]
    # crossing midnight in local time
    late = {**RECORD, "utc": "2026-11-28T17:30:00.000000Z"}
    assert attlog_line(late).split("\t")[1] == "2026-11-29 00:30:00"
    with pytest.raises(ValueError, match="direction"):
        attlog_line({**RECORD, "direction": "istirahat"})


def test_command_parsing() -> None:
    assert parse_commands("OK") == []
    cmds = parse_commands(
        "C:12:DATA UPDATE USERINFO PIN=1\tName=A\nC:13:DATA DELETE USERINFO PIN=1\n"
    )
    assert [c.id for c in cmds] == ["12", "13"] and cmds[1].kind == "DATA"
    with pytest.raises(TransientError):
        parse_commands("<html>proxy error</html>")


def test_adms_round_uploads_punches_and_applies_roster_commands(
    tmp_path: Path, iclock: tuple[IclockServer, str]
) -> None:
    state, url = iclock
    kiosk = SimKiosk.create(tmp_path / "k", "kiosk-adms", people=3)
    try:
        kiosk.record(25)
        newcomer = "199001012015032001"
        state.commands = [
            f"C:7:DATA UPDATE USERINFO PIN={newcomer}\tName=Rina Marlina\tPri=0",
            f"C:8:DATA DELETE USERINFO PIN={kiosk.nips[1]}",
            "C:9:DATA UPDATE USERINFO PIN=42\tName=Not A NIP",
            "C:10:REBOOT",
        ]
        sync = AdmsSync(
            kiosk.store, AdmsClient(url, "SIM1", timeout=5), opd_code="DISKOMINFO", batch_size=10
        )
        state.fail_uploads = 1
        with pytest.raises(TransientError):
            sync.run_once()
        assert kiosk.store.outbox.stats().claimed == 0 and kiosk.store.outbox.pending_count() == 25
        result = sync.run_once()
        assert result.delivered == 25 and result.commands == 4
        assert len(state.attlog) == 25 and kiosk.store.outbox.pending_count() == 0
        assert state.seen_serials == {"SIM1"}
        pins = {line.split("\t")[0] for line in state.attlog}
        assert pins == set(kiosk.nips)
        assert all(line.split("\t")[3] == "15" for line in state.attlog)
        emp = kiosk.store.employees.get(newcomer)
        assert emp is not None and emp.name == "Rina Marlina" and emp.active
        gone = kiosk.store.employees.get(kiosk.nips[1])
        assert gone is not None and not gone.active  # deactivated, punches kept
        returns = {r["ID"][0]: int(r["Return"][0]) for r in state.results}
        assert returns == {"7": 0, "8": 0, "9": -1, "10": -1}
        assert AdmsCommand("7", "DATA UPDATE USERINFO PIN=1").kind == "DATA"
    finally:
        kiosk.close()


@pytest.mark.slow
def test_adms_mode_pushes_into_the_reference_server(tmp_path: Path) -> None:
    """The kiosk in ADMS mode (through build_worker) against `hadir server`'s /iclock."""

    from hadir.config import HadirConfig
    from sync.config import SyncSection
    from sync.serverproc import AdminApi, ServerProcess
    from sync.worker import build_worker

    with ServerProcess(tmp_path / "srv", extra_server='adms_serials = ["HADIRSIM1"]') as srv:
        admin = AdminApi(srv.url, srv.admin_token())
        kiosk = SimKiosk.create(tmp_path / "k", "kiosk-adms2", people=4)
        try:
            csv = "nip,name,opd,type,schedule_group\n" + "".join(
                f"{n},Pegawai {i},DISKOMINFO,PNS,default\n" for i, n in enumerate(kiosk.nips)
            )
            assert admin.import_employees(csv)["errors"] == []
            kiosk.record(12)
            cfg = HadirConfig()
            cfg = cfg.model_copy(
                update={
                    "device": cfg.device.model_copy(
                        update={"data_dir": str(kiosk.data_dir), "id": kiosk.device_id}
                    ),
                    "sync": SyncSection(
                        enabled=True, protocol="adms", server_url=srv.url, adms_serial="HADIRSIM1"
                    ),
                }
            )
            worker = build_worker(cfg, kiosk.store)
            result = worker.run_once()
            assert result.delivered == 12 and worker.status().pending == 0
            again = worker.run_once()
            assert again.delivered == 0
            body = admin._json("GET", "/api/v1/admin/punches", params={"source": "adms"})
            assert body["total"] == 12
            got = sorted((p["nip"], p["direction"], p["verify_mode"]) for p in body["punches"])
            assert {g[0] for g in got} == set(kiosk.nips)
            assert {g[2] for g in got} == {"face"}
            # an unknown serial is refused and nothing is marked delivered
            kiosk.record(1)
            bad = cfg.model_copy(
                update={"sync": cfg.sync.model_copy(update={"adms_serial": "NOT-ALLOWED"})}
            )
            stranger = build_worker(bad, kiosk.store)
            with pytest.raises(SyncError):
                stranger.run_once()
            assert kiosk.store.outbox.pending_count() == 1
        finally:
            kiosk.close()
