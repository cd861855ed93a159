"""Pulling ZKTeco machines over TCP (pyzk) against a simulated machine on loopback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from test_server import NIP, NIP2, NOW, Server, database_url, make_server, server

from server.adms import AdmsService, adms_punch_id
from server.zk_fake import FakeRecord, FakeZkMachine
from server.zkpull import ZkPullError, parse_machine, pull_all, pull_machine, run_schedule

__all__ = ["database_url", "make_server", "server"]


def _adms(server: Server) -> AdmsService:
    svc: AdmsService = server.client.app.state.services.adms  # type: ignore[attr-defined]
    return svc


def _roster(server: Server) -> None:
    result = server.import_csv(
        "nip,name,opd,type,schedule_group,adms_pin\n"
        f"{NIP},Siti Aminah,DISKOMINFO,PNS,default,1001\n"
        f"{NIP2},Budi Santoso,DISKOMINFO,PPPK,default,1002\n"
    )
    assert result["errors"] == []


def _punches(server: Server) -> list[dict[str, Any]]:
    r = server.client.get("/api/v1/admin/punches", params={"source": "zk"}, headers=server.admin)
    assert r.status_code == 200, r.text
    return list(r.json()["punches"])


def _records() -> list[FakeRecord]:
    return [
        FakeRecord("1001", datetime(2026, 11, 28, 7, 12, 3), punch=0, verify=1),
        FakeRecord("1002", datetime(2026, 11, 28, 7, 20, 0), punch=0, verify=15),
        FakeRecord("1001", datetime(2026, 11, 27, 16, 5, 0), punch=1, verify=4),
        FakeRecord("7777", datetime(2026, 11, 28, 7, 30, 0)),  # no such employee
    ]


@pytest.mark.parametrize("record_size", [40, 16])
def test_pull_stores_punches_idempotently_and_like_adms(server: Server, record_size: int) -> None:
    _roster(server)
    with FakeZkMachine(serial="ZKOLD0001", records=_records(), record_size=record_size) as zk:
        got = pull_machine(_adms(server), "127.0.0.1", zk.port, now=NOW.astimezone())
        assert (got.serial, got.records, got.stored, got.unmatched) == ("ZKOLD0001", 4, 3, 1)
        assert got.cleared is False and zk.cleared == 0  # never cleared unless asked
        again = pull_machine(_adms(server), "127.0.0.1", zk.port, now=NOW.astimezone())
        assert (again.stored, again.duplicates) == (0, 3)
    by_time = {p["utc"]: p for p in _punches(server)}
    siti = by_time["2026-11-28T00:12:03.000000Z"]  # 07:12:03 WIB
    assert siti["nip"] == NIP and siti["verify_mode"] == "fingerprint"
    assert siti["direction"] == "masuk" and siti["flags"] == []
    # the same id as the machine pushing that line over ADMS
    assert siti["id"] == adms_punch_id("ZKOLD0001", "1001", "2026-11-28 07:12:03")
    assert by_time["2026-11-28T00:20:00.000000Z"]["verify_mode"] == "face"
    assert by_time["2026-11-27T09:05:00.000000Z"]["direction"] == "pulang"
    assert by_time["2026-11-27T09:05:00.000000Z"]["verify_mode"] == "card"
    r = server.client.post(
        "/iclock/cdata?SN=ZKOLD0001&table=ATTLOG", content="1001\t2026-11-28 07:12:03\t0\t1\n"
    )
    assert r.text == "OK: 1"
    assert len(_punches(server)) == 3  # the pushed line is the pulled punch


def test_corrupt_records_go_to_review_and_block_clearing(server: Server) -> None:
    _roster(server)
    records = [
        *_records(),
        FakeRecord("1002", (2026, 2, 30, 7, 0, 0)),  # 30 February
        FakeRecord("bad id!", datetime(2026, 11, 28, 7, 0, 0)),
    ]
    with FakeZkMachine(records=records) as zk:
        got = pull_machine(_adms(server), "127.0.0.1", zk.port, now=NOW.astimezone(), clear=True)
        assert (got.stored, got.for_review, got.cleared) == (3, 2, False)
        assert zk.cleared == 0
    review = server.client.get("/api/v1/admin/adms/review", headers=server.admin).json()["lines"]
    assert [x["reason"][:9] for x in review] == ["record 5:", "record 6:"]
    assert "day is out of range" in review[0]["reason"]
    assert all(x["table"] == "ZKPULL" and len(x["line"]) == 80 for x in review)


def test_the_log_is_cleared_only_after_storing_and_only_if_unchanged(server: Server) -> None:
    _roster(server)
    late = FakeRecord("1002", datetime(2026, 11, 28, 7, 59, 0))
    with FakeZkMachine(records=_records(), arrive_after_read=[late]) as zk:
        first = pull_machine(_adms(server), "127.0.0.1", zk.port, now=NOW.astimezone(), clear=True)
        assert first.stored == 3, first
        assert first.cleared is False and zk.cleared == 0 and len(zk.records) == 5
        later = (NOW + timedelta(minutes=15)).astimezone()
        second = pull_machine(_adms(server), "127.0.0.1", zk.port, now=later, clear=True)
        assert second.stored == 1 and second.cleared is True and zk.records == []
    assert len(_punches(server)) == 4


def test_unreachable_machines_and_the_schedule(server: Server) -> None:
    _roster(server)
    with FakeZkMachine(records=_records()) as zk:
        port = zk.port
        slept: list[float] = []
        machines = [f"127.0.0.1:{port}", "127.0.0.1:1"]
        rounds = run_schedule(
            _adms(server), machines, 15, lambda: NOW.astimezone(), rounds=2, sleep=slept.append
        )
        assert rounds == 2 and len(slept) == 1 and 0 < slept[0] <= 900
    assert len(_punches(server)) == 3
    results = pull_all(_adms(server), ["127.0.0.1:1"], NOW.astimezone(), timeout=2)
    assert "cannot connect" in results[0]["error"]
    with pytest.raises(ZkPullError):
        pull_machine(_adms(server), "127.0.0.1", 1, now=NOW.astimezone(), timeout=2)
    assert parse_machine("10.0.0.5") == ("10.0.0.5", 4370)
    with pytest.raises(ValueError, match="zk_machines"):
        parse_machine("10.0.0.5:port")


def test_far_clock_batches_are_quarantined(make_server: Callable[..., Server]) -> None:
    server = make_server()
    _roster(server)
    records = [FakeRecord("1001", datetime(2031, 1, 1, 7, 0, 0))]
    with FakeZkMachine(records=records) as zk:
        got = pull_machine(_adms(server), "127.0.0.1", zk.port, now=NOW.astimezone())
    assert got.held.startswith("quarantined")
    assert _punches(server)[0]["flags"][:2] == ["held", "quarantined"]
