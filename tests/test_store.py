"""The local store: refusing foreign files, templates at rest, outbox states, erasure."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from attendance.admin import AdminGuard, AdminState
from attendance.clock import FakeClock
from attendance.config import AdminSection
from attendance.db import DB_FILENAME, DatabaseRefusedError, open_database
from attendance.integrity import load_public_key, verify
from attendance.recorder import PunchRecorder
from attendance.store import EmployeeRecord, Store
from attendance.templates import TemplateError
from hadir.config import HadirConfig

NIP = "198703152010011002"
NIP2 = "199001012015022001"
NIP3 = "198512122010121003"
T0 = datetime(2026, 11, 30, 0, 10, tzinfo=UTC)  # Monday 07:10 WIB


def _store(path: Path) -> Store:
    store = Store.open(path, device_id="kiosk-01")
    store.employees.upsert_many(
        [
            EmployeeRecord(NIP, "Siti Aminah", "DISKOMINFO", "PNS"),
            EmployeeRecord(NIP2, "Budi Santoso", "BAPPEDA", "PPPK", extra_opds=("DISKOMINFO",)),
            EmployeeRecord(NIP3, "Rina Wati", "BAPPEDA", "PPPK_PW"),
        ]
    )
    return store


# --------------------------------------------------------------------------- refusals


def test_a_text_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / DB_FILENAME).write_text("hello, this is not a database\n" * 100)
    with pytest.raises(DatabaseRefusedError, match=r"not a Hadir database.*backup"):
        open_database(tmp_path)


def test_a_sqlite_file_of_another_application_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
    with pytest.raises(DatabaseRefusedError, match="another application"):
        Store.open(tmp_path, device_id="kiosk-01")
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:  # untouched
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["songs"]


def test_a_damaged_database_is_refused_clearly(tmp_path: Path) -> None:
    _store(tmp_path).close()
    path = tmp_path / DB_FILENAME
    raw = bytearray(path.read_bytes())
    page = 4096
    for i in range(page, len(raw)):  # overwrite everything after the header page
        raw[i] = 0xA5
    path.write_bytes(bytes(raw))
    for side in ("-wal", "-shm"):
        (tmp_path / (DB_FILENAME + side)).unlink(missing_ok=True)
    with pytest.raises(DatabaseRefusedError, match="corrupt"):
        Store.open(tmp_path, device_id="kiosk-01")


# --------------------------------------------------------------------------- templates


def test_templates_round_trip_and_scope(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    vecs = {nip: rng.normal(size=128).astype(np.float32) for nip in (NIP, NIP2, NIP3)}
    with _store(tmp_path) as store:
        ids = {nip: store.templates.add(nip, v, quality=0.8) for nip, v in vecs.items()}
        scoped = store.templates.all_for_scope("DISKOMINFO")
        everyone = store.templates.all_for_scope(None)
    assert sorted(n for n, _, _ in scoped) == sorted([NIP, NIP2])  # NIP2 via extra OPD
    assert len(everyone) == 3
    for nip, tid, vec in everyone:
        assert tid == ids[nip]
        assert vec.dtype == np.float32
        np.testing.assert_array_equal(vec, vecs[nip])


def test_templates_are_encrypted_at_rest(tmp_path: Path) -> None:
    vec = np.arange(128, dtype=np.float32)
    with _store(tmp_path) as store:
        store.templates.add(NIP, vec)
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        (sealed,) = conn.execute("SELECT sealed FROM face_templates").fetchone()
    assert len(sealed) == 12 + 512 + 16
    assert vec.tobytes()[:64] not in sealed


def test_sealed_template_moved_to_another_row_does_not_open(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        a = store.templates.add(NIP, np.ones(128, np.float32))
        b = store.templates.add(NIP, np.zeros(128, np.float32))
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        (sealed,) = conn.execute("SELECT sealed FROM face_templates WHERE id = ?", (a,)).fetchone()
        conn.execute("UPDATE face_templates SET sealed = ? WHERE id = ?", (sealed, b))
    with Store.open(tmp_path, device_id="kiosk-01") as store, pytest.raises(TemplateError):
        store.templates.all_for_scope(None)


@pytest.mark.parametrize(
    "bad",
    [np.ones(127, np.float32), np.ones((2, 128), np.float32), np.full(128, np.nan, np.float32)],
)
def test_bad_vectors_are_refused(tmp_path: Path, bad: np.ndarray) -> None:
    with _store(tmp_path) as store, pytest.raises(TemplateError):
        store.templates.add(NIP, bad)


def test_template_of_unknown_person_is_refused(tmp_path: Path) -> None:
    with _store(tmp_path) as store, pytest.raises(TemplateError, match="no employee"):
        store.templates.add("197001011990031001", np.ones(128, np.float32))


def test_server_template_upsert_is_idempotent(tmp_path: Path) -> None:
    tid = "5f0c1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b"
    with _store(tmp_path) as store:
        store.templates.add(NIP, np.ones(128, np.float32), source="server", template_id=tid)
        store.templates.add(NIP, np.full(128, 2, np.float32), source="server", template_id=tid)
        rows = store.templates.for_person(NIP)
        assert len(rows) == 1
        assert rows[0][0].uploaded_at is not None
        np.testing.assert_array_equal(rows[0][1], np.full(128, 2, np.float32))
        local = store.templates.add(NIP, np.ones(128, np.float32))
        assert [i.template_id for i, _ in store.templates.pending_upload()] == [local]
        store.templates.mark_uploaded([local], T0)
        assert store.templates.pending_upload() == []


# --------------------------------------------------------------------------- outbox


def _recorded(store: Store, n: int) -> list[str]:
    clock = FakeClock(T0)
    recorder = PunchRecorder.from_config(store, HadirConfig(), clock)
    ids = []
    for i in range(n):
        res = recorder.record((NIP, NIP2, NIP3)[i % 3], "face", 0.3, 0.1, "passed")
        assert res.punch_id is not None
        ids.append(res.punch_id)
        clock.advance(600 if i % 3 == 2 else 1)
    return ids


def test_outbox_claim_ack_quarantine_release(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        ids = _recorded(store, 6)
        first = store.outbox.claim(4, T0)
        assert [i.punch_id for i in first] == ids[:4]
        assert all(i.attempts == 1 for i in first)
        pub = load_public_key(store.keys.public_key)
        for item in first:
            verify(item.record, pub)
        assert [i.punch_id for i in store.outbox.claim(10, T0)] == ids[4:]
        assert store.outbox.claim(10, T0) == []
        assert store.outbox.ack(ids[:2]) == 2
        store.outbox.quarantine(ids[2], "rejected: bad_signature")
        assert store.outbox.release([ids[3]]) == 1
        stats = store.outbox.stats()
        assert (stats.ready, stats.claimed, stats.delivered, stats.quarantined) == (1, 2, 2, 1)
        assert store.outbox.quarantined() == [(ids[2], "rejected: bad_signature")]
        again = store.outbox.claim(10, T0)
        assert [i.punch_id for i in again] == [ids[3]]
        assert again[0].attempts == 2
        assert store.outbox.ack(ids[:2]) == 0  # already delivered: nothing changes
        assert store.outbox.pending_count() == 3


def test_stale_claims_go_back_to_ready(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        ids = _recorded(store, 3)
        store.outbox.claim(2, T0)
        assert store.outbox.release_stale(T0 - timedelta(seconds=1)) == 0
        assert store.outbox.release_stale(T0 + timedelta(seconds=60)) == 2
        assert [i.punch_id for i in store.outbox.claim(10, T0)] == ids


def test_concurrent_claims_never_share_a_row(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        _recorded(store, 60)
        seen: list[str] = []
        lock = threading.Lock()

        def worker() -> None:
            while batch := store.outbox.claim(3, T0):
                with lock:
                    seen.extend(i.punch_id for i in batch)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(seen) == 60
    assert len(set(seen)) == 60


# --------------------------------------------------------------------------- erasure, snapshots


def _jpeg(n: int = 2000) -> bytes:
    return b"\xff\xd8\xff\xe0" + bytes(n)


def test_erase_person_deletes_templates_and_snapshots_keeps_punches(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        store.templates.add(NIP, np.ones(128, np.float32))
        store.templates.add(NIP2, np.ones(128, np.float32))
        recorder = PunchRecorder.from_config(store, HadirConfig(), FakeClock(T0))
        mine = recorder.record(NIP, "face", 0.3, 0.1, None, _jpeg())
        other = recorder.record(NIP2, "face", 0.3, 0.1, None, _jpeg())
        files = sorted((tmp_path / "snapshots").rglob("*.jpg"))
        assert len(files) == 2
        res = store.erase_person(NIP, actor="admin")
        assert (res.templates_deleted, res.snapshots_deleted) == (1, 1)
        assert store.templates.info(NIP) == []
        assert len(store.templates.info(NIP2)) == 1
        left = sorted((tmp_path / "snapshots").rglob("*.jpg"))
        assert [p.stem for p in left] == [other.punch_id]
        assert store.punch_count() == 2  # punches stay
        audit = store.audit.recent(5)
        assert audit[0]["action"] == "erase_person"
        assert audit[0]["target"] == NIP
        assert mine.punch_id is not None


def test_snapshot_must_be_jpeg(tmp_path: Path) -> None:
    from attendance.snapshots import SnapshotError

    with _store(tmp_path) as store:
        recorder = PunchRecorder.from_config(store, HadirConfig(), FakeClock(T0))
        with pytest.raises(SnapshotError, match="JPEG"):
            recorder.record(NIP, "face", 0.3, 0.1, None, b"GIF89a....")
        assert store.punch_count() == 0  # nothing half-recorded


def test_snapshot_purge_by_age_and_by_cap(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        clock = FakeClock(T0)
        recorder = PunchRecorder.from_config(store, HadirConfig(), clock)
        ids = []
        for _day in range(5):
            res = recorder.record(NIP, "face", 0.3, 0.1, None, _jpeg(10_000))
            ids.append(res.punch_id)
            clock.advance(86400)
        store.snapshots.retention_days = 3
        store.snapshots.max_bytes = 10**9
        now = T0 + timedelta(days=5)
        purged = store.snapshots.purge(store.db, now)
        assert purged.files_deleted == 2  # days 0 and 1 are older than 3 days
        store.snapshots.max_bytes = 15_000  # room for one file only
        purged = store.snapshots.purge(store.db, now)
        assert purged.files_deleted == 2
        left = sorted(p.stem for p in (tmp_path / "snapshots").rglob("*.jpg"))
        assert left == [ids[-1]]
        with store.db.read() as conn:
            refs = (
                conn.exec_driver_sql("SELECT id FROM punches WHERE snapshot IS NOT NULL")
                .scalars()
                .all()
            )
        assert refs == [ids[-1]]


# --------------------------------------------------------------------------- admin, PINs


def test_admin_state_persists_in_sqlite(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    section = AdminSection(max_attempts=2, lockout_seconds=30.0)
    with _store(tmp_path) as store:
        guard = AdminGuard(store.admin_state, clock, section)
        guard.set_pin("2468")
        assert guard.check("1111").outcome == "wrong"
        assert guard.check("1111").outcome == "locked"
    with Store.open(tmp_path, device_id="kiosk-01") as store:  # a restart keeps the lockout
        guard = AdminGuard(store.admin_state, clock, section)
        assert guard.check("2468").outcome == "locked"
        clock.advance(31)
        assert guard.check("2468").ok
        state = store.admin_state.load()
        assert state == AdminState(failures=0, locked_until=None, pin_hash=state.pin_hash)
        assert state.pin_hash is not None and "2468" not in state.pin_hash


def test_employee_pin(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        assert not store.employees.verify_pin(NIP, "1234")  # no PIN yet
        store.employees.set_pin(NIP, "1234")
        assert store.employees.verify_pin(NIP, "1234")
        assert not store.employees.verify_pin(NIP, "4321")
        assert not store.employees.verify_pin("197001011990031001", "1234")
        emp = store.employees.get(NIP)
        assert emp is not None and emp.has_pin


def test_employee_validation(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        with pytest.raises(ValueError, match="18 digits"):
            store.employees.upsert(EmployeeRecord("12345", "X", "DISKOMINFO", "PNS"))
        with pytest.raises(ValueError, match="employee type"):
            store.employees.upsert(EmployeeRecord(NIP, "X", "DISKOMINFO", "HONORER"))
        assert [e.nip for e in store.employees.search("Budi")] == [NIP2]
        assert store.employees.get(NIP2) is not None
        assert store.employees.get(NIP2).extra_opds == ("DISKOMINFO",)  # type: ignore[union-attr]


def test_corrections_beside_a_punch(tmp_path: Path) -> None:
    from attendance.db import StoreError

    with _store(tmp_path) as store:
        (pid,) = _recorded(store, 1)
        store.add_correction(pid, "utc", None, "+2.5s", "server clock offset", "sync", at=T0)
        rows = store.corrections(pid)
        assert [(r["field"], r["new_value"], r["actor"]) for r in rows] == [
            ("utc", "+2.5s", "sync")
        ]
        with pytest.raises(StoreError, match="no punch"):
            store.add_correction("nope", "utc", None, "x", "reason", "sync")
        with pytest.raises(ValueError, match="reason"):
            store.add_correction(pid, "utc", None, "x", "", "sync")


def test_remove_employee_drops_templates_keeps_punches(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        _recorded(store, 3)
        store.templates.add(NIP, np.ones(128, np.float32))
        assert store.employees.remove(NIP)
        assert store.employees.get(NIP) is None
        assert store.templates.info(NIP) == []  # ON DELETE CASCADE (foreign keys on)
        assert store.punch_count() == 3
        assert store.purge_snapshots(T0).files_deleted == 0


def test_damage_deep_in_the_file_is_found_by_the_start_up_check(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        _recorded(store, 30)
    # Closing the last connection checkpointed the WAL into the file.
    path = tmp_path / DB_FILENAME
    with sqlite3.connect(path) as conn:
        root = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'ix_punches_nip_utc'"
        ).fetchone()[0]
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    raw = bytearray(path.read_bytes())
    start = (root - 1) * page
    raw[start + 8 : start + page] = b"\x5a" * (page - 8)  # wreck that index page
    path.write_bytes(bytes(raw))
    Store.open(tmp_path, device_id="kiosk-01").close()  # the light open does not read it
    with pytest.raises(DatabaseRefusedError, match="damaged"):
        Store.open(tmp_path, device_id="kiosk-01", quick_check=True)


def test_purge_removes_snapshots_of_punches_that_never_committed(tmp_path: Path) -> None:
    import os

    with _store(tmp_path) as store:
        recorder = PunchRecorder.from_config(store, HadirConfig(), FakeClock(T0))
        kept = recorder.record(NIP, "face", 0.3, 0.1, None, _jpeg())
        orphan = store.snapshots.save("01a229e4-f300-7000-8000-000000000000", T0, _jpeg())
        old = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
        for path in (tmp_path / "snapshots").rglob("*.jpg"):
            os.utime(path, (old, old))
        fresh = store.snapshots.save("01a229e4-f300-7000-8000-000000000001", T0, _jpeg())
        res = store.purge_snapshots(datetime.now(UTC))
        left = sorted(p.stem for p in (tmp_path / "snapshots").rglob("*.jpg"))
    assert orphan.split("/")[1][:-4] not in left
    assert left == sorted([str(kept.punch_id), fresh.split("/")[1][:-4]])
    assert res.files_deleted == 0  # retention and cap had nothing to do


def test_database_and_snapshots_are_owner_only(tmp_path: Path) -> None:
    import stat

    data = tmp_path / "new-kiosk"
    with _store(data) as store:
        recorder = PunchRecorder.from_config(store, HadirConfig(), FakeClock(T0))
        recorder.record(NIP, "face", 0.3, 0.1, None, _jpeg())
        wal = data / (DB_FILENAME + "-wal")
        assert wal.exists()
        paths = [data / DB_FILENAME, wal, *(data / "snapshots").rglob("*.jpg")]
        for path in paths:
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
        for folder in (data, data / "snapshots", *(data / "snapshots").iterdir()):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
