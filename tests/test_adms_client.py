"""ADMS client mode against a tiny stdlib iclock server (and the line format on its own)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from sync.adms import (
    STAMP_KEY,
    AdmsClient,
    AdmsCommand,
    AdmsSync,
    PinMap,
    attlog_line,
    parse_commands,
)
from sync.retry import TransientError
from sync.simkiosk import SimKiosk


class IclockServer:
    """Records what the device sent; answers like an ADMS server."""

    def __init__(self) -> None:
        self.attlog: list[str] = []
        self.commands: list[str] = []
        self.results: list[dict[str, list[str]]] = []
        self.fail_uploads = 0
        self.seen_serials: set[str] = set()
        # Scripted ATTLOG answers, in order: n = take the first n lines ("OK: n"),
        # None = take all and answer with an empty body.
        self.take: list[int | None] = []
        self.stamps: list[str] = []
        self.handshakes = 0
        self.result_bodies: list[str] = []


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
                state.handshakes += 1
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
                state.stamps.extend(q.get("Stamp", []))
                if state.take:
                    take = state.take.pop(0)
                    state.attlog.extend(lines if take is None else lines[:take])
                    self._send(200, "" if take is None else f"OK: {take}")
                    return
                state.attlog.extend(lines)
                self._send(200, f"OK: {len(lines)}")
            elif url.path == "/iclock/devicecmd":
                state.result_bodies.append(body)
                state.results.append(parse_qs(body.split("\n", 1)[0]))
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
        assert returns == {"7": 0, "8": 0, "9": -1, "10": 0}  # REBOOT acknowledged
        names = [r["CMD"][0] for r in state.results]
        assert names == [
            "DATA UPDATE USERINFO",
            "DATA DELETE USERINFO",
            "DATA UPDATE USERINFO",
            "REBOOT",
        ]
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
            # an unknown serial is taken as pending: stored, held, not counted
            kiosk.record(1)
            bad = cfg.model_copy(
                update={"sync": cfg.sync.model_copy(update={"adms_serial": "NOT-APPROVED"})}
            )
            stranger = build_worker(bad, kiosk.store)
            assert stranger.run_once().delivered == 1
            body = admin._json("GET", "/api/v1/admin/punches", params={"device_id": "NOT-APPROVED"})
            assert [p["flags"] for p in body["punches"]] == [["held", "device_pending"]]
        finally:
            kiosk.close()


def test_partial_acknowledgement_and_empty_answers_never_block_the_outbox(
    tmp_path: Path, iclock: tuple[IclockServer, str]
) -> None:
    state, url = iclock
    kiosk = SimKiosk.create(tmp_path / "k", "kiosk-adms", people=3)
    try:
        kiosk.record(10)
        sync = AdmsSync(
            kiosk.store, AdmsClient(url, "SIM1", timeout=5), opd_code="DISKOMINFO", batch_size=5
        )
        state.take = [3, 0, 0, None]
        first = sync.run_once()
        assert first.delivered == 3  # "OK: 3" of 5: three acknowledged, two go again
        assert kiosk.store.outbox.pending_count() == 7
        with pytest.raises(TransientError, match="took 0 of 5"):
            sync.run_once()  # "OK: 0" once: back off, nothing parked
        assert kiosk.store.outbox.quarantined() == []
        assert kiosk.store.outbox.stats().claimed == 0
        second = sync.run_once()  # "OK: 0" a third time for that line: it is parked
        assert second.delivered == 0
        assert len(kiosk.store.outbox.quarantined()) == 1
        assert "took 0 lines 3 times" in kiosk.store.outbox.quarantined()[0][1]
        third = sync.run_once()  # empty 200 body = OK (5 lines), then the last one
        assert third.delivered == 6 and kiosk.store.outbox.pending_count() == 0
        assert len(state.attlog) == 9 and len(set(state.attlog)) == 9
    finally:
        kiosk.close()


def test_stamp_survives_a_restart(tmp_path: Path, iclock: tuple[IclockServer, str]) -> None:
    state, url = iclock
    kiosk = SimKiosk.create(tmp_path / "k", "kiosk-adms", people=2)
    try:
        kiosk.record(4)
        sync = AdmsSync(
            kiosk.store, AdmsClient(url, "SIM1", timeout=5), opd_code="DISKOMINFO", batch_size=2
        )
        sync.run_once()
        assert state.stamps == ["1", "2"]
        assert kiosk.store.state.get(STAMP_KEY) == "2"
        kiosk.record(1)
        restarted = AdmsSync(
            kiosk.store, AdmsClient(url, "SIM1", timeout=5), opd_code="DISKOMINFO", batch_size=2
        )
        restarted.run_once()
        assert state.stamps == ["1", "2", "3"]
    finally:
        kiosk.close()


def test_pin_map_sends_short_pins_and_translates_commands(
    tmp_path: Path, iclock: tuple[IclockServer, str]
) -> None:
    state, url = iclock
    kiosk = SimKiosk.create(tmp_path / "k", "kiosk-adms", people=3)
    try:
        pin_file = tmp_path / "pins.csv"
        pin_file.write_text(
            f"nip,name,adms_pin\n{kiosk.nips[0]},Satu,101\n{kiosk.nips[1]},Dua,102\n",
            encoding="utf-8",
        )
        kiosk.record(9)
        state.commands = ["C:A7:DATA DELETE USERINFO PIN=102"]
        sync = AdmsSync(
            kiosk.store,
            AdmsClient(url, "SIM1", timeout=5),
            opd_code="DISKOMINFO",
            pin_file=str(pin_file),
        )
        result = sync.run_once()
        assert {line.split("\t")[0] for line in state.attlog} <= {"101", "102"}
        unmapped = kiosk.store.outbox.quarantined()
        assert result.delivered + len(unmapped) == 9
        assert all("no ADMS PIN" in reason for _, reason in unmapped)
        gone = kiosk.store.employees.get(kiosk.nips[1])
        assert gone is not None and not gone.active
        assert state.results[0]["ID"] == ["A7"]  # ids with letters
        # the file gone: the last copy kept in device_state still applies
        pin_file.unlink()
        assert PinMap.load(kiosk.store, str(pin_file)) is not None
    finally:
        kiosk.close()
    with pytest.raises(ValueError, match="1-9 digits"):
        PinMap.parse_csv("nip,adms_pin\n198703152010011002,198703152010011002\n")
    with pytest.raises(ValueError, match="already used on line 2"):
        PinMap.parse_csv("nip,adms_pin\n1,5\n2,5\n")


def test_server_commands_are_answered_with_their_full_name(
    tmp_path: Path, iclock: tuple[IclockServer, str]
) -> None:
    state, url = iclock
    kiosk = SimKiosk.create(tmp_path / "k", "kiosk-adms", people=2)
    try:
        kiosk.record(3)
        sync = AdmsSync(kiosk.store, AdmsClient(url, "SIM1", timeout=5), opd_code="DISKOMINFO")
        sync.run_once()
        assert len(state.attlog) == 3 and state.handshakes == 1
        walls = sorted(line.split("\t")[1] for line in state.attlog)
        state.commands = [
            f"C:1:DATA QUERY ATTLOG StartTime={walls[0]}\tEndTime={walls[1]}",
            "C:2:SET OPTION Delay=30",
            "C:3:INFO",
            "C:4:CHECK",
            "C:5:LOG",
            "C:6:REBOOT",
            "C:X7:CHECK",  # after REBOOT: still answered (the server marked it sent)
        ]
        result = sync.run_once()
        assert result.commands == 7
        got = {r["ID"][0]: (r["CMD"][0], int(r["Return"][0])) for r in state.results}
        assert got == {
            "1": ("DATA QUERY ATTLOG", 2),
            "2": ("SET OPTION", 0),
            "3": ("INFO", 0),
            "4": ("CHECK", 0),
            "5": ("LOG", 0),
            "6": ("REBOOT", 0),
            "X7": ("CHECK", 0),
        }
        assert len(state.attlog) == 5  # the two punches of the period, sent again
        assert state.handshakes == 3  # two CHECKs
        info = state.result_bodies[2].splitlines()
        assert "~SerialNumber=SIM1" in info and "TransactionCount=3" in info
        assert kiosk.store.state.get("adms_options") == '{"Delay": "30"}'
        sync.run_once()
        assert state.handshakes == 4  # the loop started over after REBOOT
    finally:
        kiosk.close()
