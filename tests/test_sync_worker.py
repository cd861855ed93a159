"""SyncWorker against a REAL `hadir server` on loopback (subprocess, temp data dir).

register + push, replay -> duplicates only, a rejected record is quarantined and
does not block the rest, 401 -> "perangkat belum terdaftar", roster and
templates pulled by cursor, templates pushed, clock offset, status.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from attendance.store import EmployeeRecord
from sync.client import NativeClient
from sync.credentials import Credentials, load_credentials
from sync.retry import UNREGISTERED_TEXT, UnauthorizedError
from sync.serverproc import AdminApi, ServerProcess
from sync.simkiosk import SimKiosk
from sync.worker import CURSOR_KEY, build_worker

# Integration tier (a real `hadir server` process per module):
# `uv run pytest -m "not slow"` leaves it out.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("server")) as srv:
        yield srv


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> AdminApi:
    return AdminApi(server.url, server.admin_token())


_counter = iter(range(10_000))


@pytest.fixture
def kiosk(tmp_path: Path, server: ServerProcess, admin: AdminApi) -> Iterator[SimKiosk]:
    k = SimKiosk.create(tmp_path / "kiosk", f"kiosk-w{next(_counter)}", people=20)
    k.register(server.url, admin.enrollment_code())
    yield k
    k.close()


def test_register_and_push_delivers_every_punch_once(kiosk: SimKiosk, admin: AdminApi) -> None:
    ids = kiosk.record(600)
    worker = kiosk.worker(batch_size=250)
    result = worker.run_once()
    assert result.delivered == 600 and result.duplicates == 0 and result.batches == 3
    found, missing = admin.lookup(ids)
    assert found == 600 and missing == []
    stats = kiosk.store.outbox.stats()
    assert stats.pending == 0 and stats.delivered == 600 and stats.quarantined == 0
    status = worker.status()
    assert status.state == "online" and status.pending == 0 and status.last_error is None
    assert status.last_success_utc is not None and status.text == "tersinkron"
    device = next(d for d in admin.devices() if d["device_id"] == kiosk.device_id)
    assert device["punches"] == 600 and device["gaps"] == []
    assert device["health"] is not None and device["health"]["queue_length"] == 0


def test_replayed_batch_yields_only_duplicates(kiosk: SimKiosk, admin: AdminApi) -> None:
    kiosk.record(50)
    worker = kiosk.worker(batch_size=100)
    assert worker.run_once().delivered == 50
    # Replay what the kiosk already sent (e.g. an answer lost on the way back).
    items_sql = "UPDATE outbox SET state = 'ready'"
    with kiosk.store.db.write() as conn:
        conn.exec_driver_sql(items_sql)
    again = worker.run_once()
    assert again.delivered == 0 and again.duplicates == 50
    device = next(d for d in admin.devices() if d["device_id"] == kiosk.device_id)
    assert device["punches"] == 50


def test_rejected_record_is_quarantined_and_does_not_block(
    kiosk: SimKiosk, admin: AdminApi
) -> None:
    ids = kiosk.record(30)
    # Alter one stored punch after signing: the server must reject its signature.
    with kiosk.store.db.write() as conn:
        conn.exec_driver_sql("UPDATE punches SET liveness = 'forged' WHERE id = ?", (ids[7],))
    worker = kiosk.worker(batch_size=10)
    result = worker.run_once()
    assert result.quarantined == 1 and result.delivered == 29
    assert kiosk.store.outbox.quarantined()[0][0] == ids[7]
    assert "signature" in kiosk.store.outbox.quarantined()[0][1]
    found, missing = admin.lookup(ids)
    assert found == 29 and missing == [ids[7]]
    assert worker.status().quarantined == 1 and worker.status().pending == 0


def test_whole_request_refusal_is_split_down_to_the_bad_record(
    kiosk: SimKiosk, admin: AdminApi
) -> None:
    ids = kiosk.record(16)
    # A record the server cannot even parse as a punch (seq as text) spoils the request;
    # the worker halves the batch until the record stands alone.
    with kiosk.store.db.write() as conn:
        conn.exec_driver_sql("UPDATE punches SET seq = 'x' WHERE id = ?", (ids[5],))
    worker = kiosk.worker(batch_size=16)
    result = worker.run_once()
    assert result.delivered == 15 and result.quarantined == 1
    assert [q[0] for q in kiosk.store.outbox.quarantined()] == [ids[5]]
    found, _ = admin.lookup(ids)
    assert found == 15


def test_revoked_device_stops_with_unregistered_status(kiosk: SimKiosk, admin: AdminApi) -> None:
    kiosk.record(5)
    admin.revoke(kiosk.device_id)
    worker = kiosk.worker()
    with pytest.raises(UnauthorizedError):
        worker.run_once()
    status = worker.status()
    assert status.state == "unregistered" and status.text == UNREGISTERED_TEXT
    assert status.last_error is not None and UNREGISTERED_TEXT in status.last_error
    assert status.pending == 5  # nothing marked delivered, nothing claimed
    assert kiosk.store.outbox.stats().claimed == 0


def test_unregistered_kiosk_says_so(tmp_path: Path) -> None:
    k = SimKiosk.create(tmp_path / "k", "kiosk-never", people=2)
    try:
        k.record(2)
        worker = k.worker()
        with pytest.raises(UnauthorizedError):
            worker.run_once()
        assert worker.status().text == UNREGISTERED_TEXT
        assert load_credentials(k.key_dir) is None
    finally:
        k.close()


def test_thread_loop_survives_outage_and_sync_now(
    kiosk: SimKiosk, server: ServerProcess, admin: AdminApi
) -> None:
    ids = kiosk.record(40)
    # Point the kiosk at a dead port first: offline, nothing lost, nothing claimed.
    creds = load_credentials(kiosk.key_dir)
    assert creds is not None
    from sync.credentials import Credentials, save_credentials
    from sync.serverproc import free_port

    save_credentials(
        kiosk.key_dir, Credentials(f"http://127.0.0.1:{free_port()}", creds.device_id, creds.token)
    )
    changed = threading.Event()
    worker = kiosk.worker(timeout=1.0, on_roster_changed=changed.set)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while worker.status().state != "offline" and time.monotonic() < deadline:
            time.sleep(0.05)
        status = worker.status()
        assert status.state == "offline" and status.pending == 40 and status.last_error
        assert status.text.startswith("offline")
        time.sleep(0.01)
        save_credentials(kiosk.key_dir, creds)  # the network is back
        worker.sync_now()
        deadline = time.monotonic() + 15
        while worker.status().pending and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.status().pending == 0
    finally:
        worker.stop()
    found, _ = admin.lookup(ids)
    assert found == 40


def test_roster_and_templates_flow_between_kiosks(
    tmp_path: Path, server: ServerProcess, admin: AdminApi
) -> None:
    a = SimKiosk.create(tmp_path / "a", "kiosk-ta", people=3)
    b = SimKiosk.create(tmp_path / "b", "kiosk-tb", people=1)
    try:
        a.register(server.url, admin.enrollment_code())
        b.register(server.url, admin.enrollment_code())
        nip = a.nips[0]
        csv = "nip,name,opd,type,schedule_group\n" + "".join(
            f"{n},Pegawai {i},DISKOMINFO,PNS,default\n" for i, n in enumerate(a.nips)
        )
        assert admin.import_employees(csv)["errors"] == []
        vec = np.linspace(-0.2, 0.2, 128).astype(np.float32)
        tid = a.store.templates.add(nip, vec, quality=0.9)
        changed: list[int] = []
        wa = a.worker(on_roster_changed=lambda: changed.append(1))
        ra = wa.run_once()
        assert ra.templates_uploaded == 1
        assert a.store.templates.pending_upload() == []
        wb = b.worker(on_roster_changed=lambda: changed.append(2))
        rb = wb.run_once()
        assert rb.changes_applied >= 4 and 2 in changed
        got = b.store.templates.for_person(nip)
        assert [info.template_id for info, _ in got] == [tid]
        assert np.allclose(got[0][1], vec)
        emp = b.store.employees.get(a.nips[2])
        assert emp is not None and emp.name == "Pegawai 2"
        cursor = int(b.store.state.get(CURSOR_KEY) or 0)
        assert cursor > 0
        assert wb.run_once().changes_applied == 0  # nothing new behind the cursor
        # stored encrypted: the raw bytes are not in the database
        raw = vec.astype("<f4").tobytes()
        assert raw not in (tmp_path / "b" / "hadir.db").read_bytes()
        assert base64.b64encode(raw) not in (tmp_path / "b" / "hadir.db").read_bytes()
        assert wb.clock_offset() is not None and abs(wb.clock_offset() or 0.0) < 5
    finally:
        a.close()
        b.close()


def test_native_client_against_real_server_time_and_errors(server: ServerProcess) -> None:
    client = NativeClient(server.url, timeout=5, token="not-a-real-token-000000")
    t = client.server_time()
    assert abs(t.unix_ms / 1000 - time.time()) < 5
    with pytest.raises(UnauthorizedError):
        client.push_punches([{"id": "x"}])
    raw = requests.post(server.url + "/api/v1/punches", data="{", timeout=5)
    assert raw.status_code in (400, 401)
    json.loads(raw.text)


def test_untrusted_clock_punches_get_a_server_time_estimate(
    kiosk: SimKiosk, admin: AdminApi
) -> None:
    from sqlalchemy import select

    from attendance.models import Correction

    kiosk.clock.synchronized = False  # no NTP: punches are "unsynced"
    ids = kiosk.record(5, step_seconds=60)
    assert kiosk.trust is not None
    worker = kiosk.worker(clock_trust=kiosk.trust)
    worker.run_once()
    offset = worker.clock_offset()
    assert offset is not None and 11 * 3600 < offset < 13 * 3600  # the fake clock is 12 h slow
    assert kiosk.trust.server_offset() is not None
    with kiosk.store.db.read() as conn:
        rows = conn.execute(
            select(
                Correction.punch_id, Correction.field, Correction.old_value, Correction.new_value
            )
        ).all()
    assert sorted(r[0] for r in rows) == sorted(ids)
    assert {r[1] for r in rows} == {"utc_estimate"}
    by_id = {r[0]: r for r in rows}
    from attendance.ids import parse_utc

    first, last = parse_utc(by_id[ids[0]][3]), parse_utc(by_id[ids[-1]][3])
    assert abs((last - first).total_seconds() - 240) < 1  # monotonic spacing kept
    assert abs(time.time() - last.timestamp()) < 30  # anchored on the server's clock
    # the signed punches are untouched and were accepted (flagged clock_untrusted)
    found, _ = admin.lookup(ids)
    assert found == 5
    worker.run_once()
    with kiosk.store.db.read() as conn:
        assert len(conn.execute(select(Correction.id)).all()) == 5  # flagged once only


def test_a_crash_inside_the_loop_is_reported_and_the_loop_goes_on(
    kiosk: SimKiosk, admin: AdminApi
) -> None:
    ids = kiosk.record(30)
    calls: list[int] = []

    def flaky_factory(creds: Credentials) -> NativeClient:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom: simulated bug")
        return NativeClient(creds.server_url, timeout=5, token=creds.token)

    worker = kiosk.worker(client_factory=flaky_factory, interval_seconds=0.2)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        seen_error = None
        while time.monotonic() < deadline:
            status = worker.status()
            if status.last_error and "internal error" in status.last_error:
                seen_error = status.last_error
            if seen_error and status.pending == 0 and status.state == "online":
                break
            time.sleep(0.02)
        assert seen_error is not None and "boom" in seen_error
        assert worker.status().pending == 0 and worker.status().state == "online"
    finally:
        worker.stop()
    assert admin.lookup(ids)[0] == 30


def test_corrupt_token_file_means_unregistered(kiosk: SimKiosk) -> None:
    (kiosk.key_dir / "server-token").write_text("{not json", encoding="utf-8")
    worker = kiosk.worker()
    with pytest.raises(UnauthorizedError, match="corrupt"):
        worker.run_once()
    assert worker.status().state == "unregistered"


def test_cli_register_now_and_status(
    tmp_path: Path, server: ServerProcess, admin: AdminApi
) -> None:
    import subprocess
    import sys

    data_dir = tmp_path / "cli-kiosk"
    k = SimKiosk.create(data_dir, "kiosk-cli", people=3)
    ids = k.record(7)
    k.close()
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f'[device]\nid = "kiosk-cli"\ndata_dir = "{data_dir}"\n', encoding="utf-8")

    def hadir(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hadir.cli", "sync", *args, "--config", str(cfg), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )

    bad = hadir("register", "--code", "WRONG-CODE-0000", "--server", server.url)
    assert bad.returncode == 2 and "enrollment_code_invalid" in bad.stderr
    ok = hadir("register", "--code", admin.enrollment_code(), "--server", server.url)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert json.loads(ok.stdout)["device_id"] == "kiosk-cli"
    now = hadir("now")
    assert now.returncode == 0, now.stderr[-2000:]
    assert json.loads(now.stdout)["delivered"] == 7
    status = json.loads(hadir("status").stdout)
    assert status["registered"] is True and status["pending"] == 0 and status["delivered"] == 7
    assert status["last_success_utc"] is not None
    # Registration kept the server's key: the feed and acks of `sync now` were verified.
    assert status["server_key_known"] is True and status["feed_refused"] is None
    assert admin.lookup(ids)[0] == 7


def test_build_worker_from_config(kiosk: SimKiosk, server: ServerProcess) -> None:

    from hadir.config import HadirConfig
    from sync.config import SyncSection

    base = HadirConfig()
    cfg = base.model_copy(
        update={
            "device": base.device.model_copy(
                update={"data_dir": str(kiosk.data_dir), "id": kiosk.device_id}
            )
        }
    )
    off = build_worker(cfg, kiosk.store)
    assert off.status().state == "disabled" and off.status().text == "sinkronisasi tidak aktif"
    on = cfg.model_copy(
        update={"sync": SyncSection(enabled=True, server_url=server.url, batch_size=7)}
    )
    worker = build_worker(on, kiosk.store)
    assert worker.batch_size == 7 and worker.max_in_flight == 2 and worker.adms is None
    kiosk.record(15)
    assert worker.run_once().batches == 3
    with pytest.raises(ValueError, match="adms_serial"):
        build_worker(
            on.model_copy(update={"sync": on.sync.model_copy(update={"protocol": "adms"})}),
            kiosk.store,
        )


def test_template_before_its_republished_employee_is_not_lost(
    tmp_path: Path, server: ServerProcess, admin: AdminApi
) -> None:
    a = SimKiosk.create(tmp_path / "a", "kiosk-oa", people=2)
    b = SimKiosk.create(tmp_path / "b", "kiosk-ob", people=1)
    try:
        a.register(server.url, admin.enrollment_code())
        b.register(server.url, admin.enrollment_code())
        nip = "197001012000031001"
        assert (
            admin.import_employees(f"{nip},Budi Santoso,DISKOMINFO,PNS,default\n")["errors"] == []
        )
        a.store.employees.upsert(
            EmployeeRecord(nip=nip, name="Budi Santoso", opd_code="DISKOMINFO", employee_type="PNS")
        )
        tid = a.store.templates.add(nip, np.full(128, 0.05, dtype=np.float32))
        assert a.worker().run_once().templates_uploaded == 1
        # Renamed later: the compacted feed now lists the template BEFORE the employee.
        assert (
            admin.import_employees(f"{nip},Budi Santoso S.Kom,DISKOMINFO,PNS,default\n")["updated"]
            == 1
        )
        creds = load_credentials(b.key_dir)
        assert creds is not None
        feed = NativeClient(server.url, timeout=10, token=creds.token).changes(0, limit=5000)
        seq = {(c.kind, c.key): c.seq for c in feed.changes}
        assert seq[("template", tid)] < seq[("employee", nip)]  # the order this test is about
        wb = b.worker(changes_page_size=1)  # every change on its own page
        wb.run_once()
        emp = b.store.employees.get(nip)
        assert emp is not None and emp.name == "Budi Santoso S.Kom"
        assert [info.template_id for info in b.store.templates.info(nip)] == [tid]
    finally:
        a.close()
        b.close()


def test_central_schedule_groups_and_calendars_reach_the_kiosk_rules(
    kiosk: SimKiosk, admin: AdminApi
) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from attendance.central import CentralDocuments
    from attendance.config import RulesSection
    from attendance.rules import PunchRules
    from attendance.schedule import HolidayCalendar, ScheduleBook

    rules = RulesSection()
    central = CentralDocuments(kiosk.store.state, rules)

    def decide(when: datetime) -> object:
        book, calendar = central.apply(ScheduleBook.builtin(rules), HolidayCalendar())
        return PunchRules(rules, book, calendar, ZoneInfo("Asia/Jakarta")).decide(
            "default", when, []
        )

    # Monday 4 January 2027, 08:00 WIB: an ordinary working day, 30 minutes late.
    monday = datetime(2027, 1, 4, 1, 0, tzinfo=UTC)
    before = decide(monday)
    assert before.is_workday and before.late_minutes == 30  # type: ignore[attr-defined]

    admin.put_document(
        "calendar",
        "oki-2027",
        {"days": [{"date": "2027-01-04", "name": "Libur daerah", "kind": "cuti bersama"}]},
    )
    week = {d: "08:00-15:00" for d in ("mon", "tue", "wed", "thu", "fri")}
    admin.put_document("schedule_group", "default", {**week, "sat": "off", "sun": "off"})
    # A document the kiosk cannot use is refused; it does not stop the others.
    admin.put_document("calendar", "broken", {"days": [{"date": "2027-02-30", "name": "x"}]})
    reloads: list[int] = []
    worker = kiosk.worker(central=central, on_rules_changed=lambda: reloads.append(1))
    worker.run_once()
    assert reloads == [1]
    held = central.load()
    assert sorted(held["calendar"]) == ["oki-2027"] and sorted(held["schedule_group"]) == [
        "default"
    ]
    after = decide(monday)
    assert not after.is_workday and after.holiday_name == "Libur daerah"  # type: ignore[attr-defined]
    tuesday = decide(datetime(2027, 1, 5, 1, 0, tzinfo=UTC))
    assert tuesday.is_workday and tuesday.late_minutes == 0  # type: ignore[attr-defined]

    # Nothing new: no reload. The holiday withdrawn centrally: gone at the kiosk.
    worker.run_once()
    assert reloads == [1]
    admin.delete_document("calendar", "oki-2027")
    worker.run_once()
    assert reloads == [1, 1] and central.load()["calendar"] == {}
    assert decide(monday).is_workday  # type: ignore[attr-defined]


def test_cli_requeue_sends_quarantined_punches_again_and_is_audited(
    tmp_path: Path, kiosk: SimKiosk, admin: AdminApi, capsys: pytest.CaptureFixture[str]
) -> None:
    from hadir.cli import main

    ids = kiosk.record(6)
    # The server refused two punches once (say, a roster bug since fixed there).
    for pid in ids[1:3]:
        kiosk.store.outbox.quarantine(pid, "server said: unknown_employee")
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(
        f'[device]\nid = "{kiosk.device_id}"\ndata_dir = "{kiosk.data_dir}"\n', encoding="utf-8"
    )

    def requeue(*args: str) -> tuple[int, dict[str, object]]:
        code = main(["sync", "requeue", *args, "--config", str(cfg), "--json"])
        return code, json.loads(capsys.readouterr().out)

    assert requeue("--id", ids[1], "--id", "no-such-punch", "--actor", "operator-1") == (
        1,
        {"requeued": 1, "not_quarantined": ["no-such-punch"]},
    )
    assert [q[0] for q in kiosk.store.outbox.quarantined()] == [ids[2]]
    assert requeue("--all") == (0, {"requeued": 1, "not_quarantined": []})
    assert kiosk.store.outbox.quarantined() == []
    audit = [e for e in kiosk.store.audit.recent() if e["action"] == "requeue_quarantined"]
    assert [(e["actor"], e["target"], e["detail"]) for e in reversed(audit)] == [
        ("operator-1", f"{ids[1]},no-such-punch", "punches=1"),
        ("cli", "all", "punches=1"),
    ]
    assert requeue("--all") == (0, {"requeued": 0, "not_quarantined": []})
    result = kiosk.worker().run_once()
    assert result.delivered == 6 and result.quarantined == 0
    assert admin.lookup(ids) == (6, [])
