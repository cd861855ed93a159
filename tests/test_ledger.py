"""The central ledger: a hand-checked month, incremental == rebuild, closing, adjustments.

Runs on SQLite and, with ``HADIR_TEST_POSTGRES_URL``, on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from test_server import FixedClock, database_url

from server.adms import AdmsService
from server.db import Database, open_database
from server.imports import import_absences_csv, import_punches_csv
from server.ingest import IngestLimits
from server.ledger import result_from_row
from server.ledger_api import LedgerServices, build_ledger_services
from server.ledger_models import LedgerDay
from server.roster import Roster
from server.settings import ServerSettings
from server.trust import load_server_keys

__all__ = ["database_url"]

NIP = "198703152010011002"
NIP2 = "199001012015032001"
NIP3 = "198501012010011003"
SERIAL = "CQZ7232260123"
ROSTER = (
    "nip,name,opd,type,schedule_group,adms_pin\n"
    f"{NIP},Siti Aminah,DISKOMINFO,PNS,default,1001\n"
    f"{NIP2},Budi Santoso,DISKOMINFO,PPPK,default,1002\n"
    f"{NIP3},Rina Wati,DINKES,PPPK_PW,default,1003\n"
)
IMLEK = {"days": [{"date": "2026-02-17", "name": "Tahun Baru Imlek", "kind": "libur nasional"}]}


def wib(text: str) -> datetime:
    """``YYYY-MM-DD HH:MM`` in WIB as aware UTC."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC) - timedelta(hours=7)


@dataclass
class Env:
    db: Database
    clock: FixedClock
    settings: ServerSettings
    svc: LedgerServices
    roster: Roster

    def punches(self, *lines: str) -> dict[str, Any]:
        body = "nip,local_time,source\n" + "".join(f"{line}\n" for line in lines)
        return import_punches_csv(self.db, body.encode(), self.svc.ledger.tz, self.clock())

    def rows(self, first: date, last: date) -> dict[tuple[str, date], Any]:
        with self.db.read() as conn:
            return {
                (r.nip, r.work_date): result_from_row(r)
                for r in conn.execute(
                    select(LedgerDay).where(LedgerDay.work_date.between(first, last))
                )
            }


def make_env(tmp_path: Path, url: str, now: datetime, **kw: Any) -> Env:
    clock = FixedClock(now)
    settings = ServerSettings(
        **kw,
        database_url=url,
        admin_token_file=tmp_path / "admin-token",
        clock=clock,
        adms_serials=(SERIAL,),
        data_dir=str(tmp_path),
        max_attachment_bytes=4096,
    )
    db = open_database(url)
    roster = Roster(db, load_server_keys(settings.server_key_dir, db))
    result = roster.import_csv(ROSTER.encode(), now)
    assert result["errors"] == []
    svc = build_ledger_services(db, settings)
    svc.org.put_opd("DISKOMINFO", "Dinas Komunikasi dan Informatika", head_name="Drs. H. Ahmad")
    svc.org.put_opd("DINKES", "Dinas Kesehatan")
    return Env(db, clock, settings, svc, roster)


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> Iterator[Env]:
    e = make_env(tmp_path, database_url, wib("2026-02-01 08:00"))
    yield e
    e.db.dispose()


# The hand-checked month: Siti Aminah (PNS, DISKOMINFO, Mon-Thu 07:30-16:00,
# Fri 07:30-16:30), February 2026, Imlek (17th) a holiday: 19 working days.
SITI_PUNCHES = (
    "2026-02-02 07:25:00",  # on time
    "2026-02-02 16:05:00",
    "2026-02-03 07:45:00",  # TL1, 15 min
    "2026-02-03 16:00:00",
    "2026-02-04 08:40:00",  # TL3, 70 min
    "2026-02-04 15:20:00",  # PSW2, 40 min
    "2026-02-05 07:30:59",  # on time (the minute counts)
    "2026-02-05 16:00:00",
    "2026-02-06 07:20:00",
    "2026-02-06 16:10:00",  # Friday ends 16:30: PSW1, 20 min
    # 9-11 cuti tahunan; 12 nothing: TK
    "2026-02-13 07:10:00",  # single punch: PSW4, no minutes
    "2026-02-16 07:29:00",  # kiosk; an ADMS punch at 07:31 too (below)
    "2026-02-16 16:01:00",
    "2026-02-18 16:02:00",  # lupa absen in the morning: correction 07:28
    "2026-02-19 07:35:00",  # TL1, 5 min
    "2026-02-19 16:00:00",
    # 20 sakit
    *(f"2026-02-{d} 07:15:00" for d in (23, 24, 25, 26, 27)),
    *(f"2026-02-{d} 16:45:00" for d in (23, 24, 25, 26, 27)),
    "2026-02-28 08:00:00",  # Saturday: a day off with a punch, not a working day
)
SITI_EXPECTED = {
    "nip": NIP,
    "name": "Siti Aminah",
    "employment_type": "PNS",
    "working_days": 19,
    "present_days": 14,
    "tl": {"TL1": 2, "TL2": 0, "TL3": 1, "TL4": 0},
    "tl_minutes": 90,
    "psw": {"PSW1": 1, "PSW2": 1, "PSW3": 0, "PSW4": 1},
    "psw_minutes": 60,
    "tk_days": 1,
    "absences": {"cuti_tahunan": 3, "sakit": 1},
    "single_punch_days": 1,
    # TL1 2 x 0.5 + TL3 1.5 + PSW1 0.5 + PSW2 1 + PSW4 2 + TK 4
    "tpp_deduction_percent": 10.0,
    "tpp_adjustment_percent": 0.0,
    "adjustments": [],
}


def enter_siti_month(e: Env) -> None:
    e.svc.ledger.catch_up()  # 1 Feb: the horizon starts here
    e.roster.put_document("calendar", "2026", IMLEK, e.clock())
    e.clock.now = wib("2026-03-02 09:00")
    result = e.punches(*(f"{NIP},{t},mesin-lama" for t in SITI_PUNCHES))
    assert result["errors"] == [] and result["created"] == len(SITI_PUNCHES)
    adms = AdmsService(
        e.db, (SERIAL,), "Asia/Jakarta", IngestLimits(timedelta(hours=1), timedelta(days=400))
    )
    assert (
        adms.attlog(
            adms.access(SERIAL, "127.0.0.1", e.clock()),
            "1001\t2026-02-16 07:31:00\t0\t1\t0\n",
            e.clock(),
        )
        == 1
    )
    cuti = e.svc.absences.create(
        NIP, "Cuti Tahunan", date(2026, 2, 9), date(2026, 2, 11), "operator", "urusan keluarga"
    )
    e.svc.absences.decide(cuti["id"], "disetujui", "kepala")
    imported = import_absences_csv(
        e.svc.absences, f"nip,kind,from,to\n{NIP},sakit,2026-02-20,2026-02-20\n".encode()
    )
    assert imported == {"created": 1, "unchanged": 0, "errors": []}
    fix = e.svc.corrections.create(
        NIP, datetime(2026, 2, 18, 7, 28), "lupa absen", "lupa absen pagi", "operator"
    )
    e.svc.corrections.decide(fix["id"], "disetujui", "kepala")


def test_hand_checked_month(env: Env) -> None:
    enter_siti_month(env)
    recap = env.svc.recaps.monthly("DISKOMINFO", "2026-02")
    assert recap["opd"] == "DISKOMINFO" and recap["month"] == "2026-02"
    assert recap["closed"] is False
    siti = next(e for e in recap["employees"] if e["nip"] == NIP)
    assert siti == SITI_EXPECTED
    # Budi never punched: every working day is TK, 19 x 4 % = 76 %.
    budi = next(e for e in recap["employees"] if e["nip"] == NIP2)
    assert budi["tk_days"] == 19 and budi["tpp_deduction_percent"] == 76.0
    # Rina (PPPK paruh waktu) is in the other OPD's recap, with the same rules.
    dinkes = env.svc.recaps.monthly("DINKES", "2026-02")
    assert [e["employment_type"] for e in dinkes["employees"]] == ["PPPK_PARUH_WAKTU"]
    days = {
        d["work_date"]: d for d in env.svc.ledger.day_rows(NIP, date(2026, 2, 1), date(2026, 2, 28))
    }
    assert "2026-02-17" not in days  # holiday, no punch
    assert days["2026-02-28"]["status"] == "libur" and days["2026-02-28"]["working"] is False
    assert days["2026-02-18"]["masuk_utc"] == "2026-02-18T00:28:00Z"  # the correction
    assert days["2026-02-16"]["masuk_utc"] == "2026-02-16T00:29:00Z"  # kiosk before ADMS


def test_rebuild_equals_incremental_for_the_month(env: Env) -> None:
    enter_siti_month(env)
    env.svc.ledger.catch_up()
    first, last = date(2026, 2, 1), date(2026, 3, 2)
    before = env.rows(first, last)
    with env.db.write() as conn:
        conn.execute(delete(LedgerDay))
    env.svc.ledger.rebuild(first, last)
    assert env.rows(first, last) == before


def test_mutasi_splits_the_month(env: Env) -> None:
    enter_siti_month(env)
    env.svc.org.assign(NIP, date(2026, 2, 16), "DINKES", "default", "PNS")
    kominfo = env.svc.recaps.monthly("DISKOMINFO", "2026-02")
    dinkes = env.svc.recaps.monthly("DINKES", "2026-02")
    a = next(e for e in kominfo["employees"] if e["nip"] == NIP)
    b = next(e for e in dinkes["employees"] if e["nip"] == NIP)
    # 2-13 Feb: 10 working days; 16-27 Feb without Imlek: 9.
    assert (a["working_days"], b["working_days"]) == (10, 9)
    assert a["working_days"] + b["working_days"] == SITI_EXPECTED["working_days"]
    assert a["tk_days"] == 1 and b["absences"] == {"sakit": 1}
    assert env.svc.recaps.monthly_all("2026-02") == [dinkes, kominfo]


def test_closed_month_is_frozen_and_later_changes_are_adjustments(env: Env) -> None:
    enter_siti_month(env)
    recaps = env.svc.recaps
    with pytest.raises(Exception, match="month: 2026-02 can be closed from 2026-03-05"):
        recaps.close_month("2026-02", "bkpsdm")
    env.clock.now = wib("2026-03-06 09:00")
    closed = recaps.close_month("2026-02", "bkpsdm")
    assert closed["closed"] is True
    frozen = recaps.monthly("DISKOMINFO", "2026-02")
    assert frozen["closed"] is True
    with pytest.raises(Exception, match="month: 2026-02 is already closed"):
        recaps.close_month("2026-02", "bkpsdm")
    # Entering leave inside a closed month is refused, naming the field.
    with pytest.raises(Exception, match="date_from: month 2026-02 is closed"):
        env.svc.absences.create(NIP, "izin", date(2026, 2, 12), date(2026, 2, 12), "operator")
    # A kiosk that was offline delivers the TK day's punches late.
    env.punches(f"{NIP},2026-02-12 07:20:00,kiosk", f"{NIP},2026-02-12 16:00:00,kiosk")
    assert recaps.monthly("DISKOMINFO", "2026-02") == frozen  # never silently altered
    march = recaps.monthly("DISKOMINFO", "2026-03")
    siti = next(e for e in march["employees"] if e["nip"] == NIP)
    assert [a["work_date"] for a in siti["adjustments"]] == ["2026-02-12"]
    adj = siti["adjustments"][0]
    assert adj["before"]["status"] == "tk" and adj["after"]["status"] == "hadir"
    assert adj["tpp_delta_percent"] == -4.0 and siti["tpp_adjustment_percent"] == -4.0
    # Closing March books the adjustment: April no longer shows it.
    env.clock.now = wib("2026-04-06 09:00")
    recaps.close_month("2026-03", "bkpsdm")
    april = recaps.monthly("DISKOMINFO", "2026-04")
    assert all(e["adjustments"] == [] for e in april["employees"])


def test_roll_call_today(env: Env) -> None:
    env.svc.ledger.catch_up()
    env.clock.now = wib("2026-02-02 09:00")
    env.punches(f"{NIP},2026-02-02 07:50:00,kiosk")
    call = env.svc.recaps.roll_call("DISKOMINFO")
    assert call["counts"] == {"present": 0, "late": 1, "not_yet": 1, "on_leave": 0}
    assert call["late"][0]["nip"] == NIP and call["late"][0]["tl"] == "TL1"
    assert call["not_yet"][0]["nip"] == NIP2


def test_discipline_year_levels_and_streak_warning(env: Env) -> None:
    env.svc.ledger.catch_up()
    env.clock.now = wib("2026-02-14 09:00")  # Budi: TK 2-13 Feb = 10 working days
    env.punches(*(f"{NIP},2026-02-{d:02d} 07:20:00,kiosk" for d in range(2, 14)))
    report = env.svc.recaps.discipline(2026)
    budi = next(e for e in report["employees"] if e["nip"] == NIP2)
    assert budi["tk_days"] == 10 and budi["longest_tk_streak"] == 10
    assert budi["level"] == "pemberhentian"
    # Siti never checked out: PSW4 each day (no minutes), no TK: nothing to report.
    assert all(e["nip"] != NIP for e in report["employees"])
    comparison = env.svc.recaps.comparison("2026-02")
    assert {o["opd"] for o in comparison["opds"]} == {"DISKOMINFO", "DINKES"}


def test_document_change_recomputes_affected_days(env: Env) -> None:
    enter_siti_month(env)
    env.svc.ledger.catch_up()
    env.roster.put_document("calendar", "2026", {"days": []}, env.clock())  # Imlek withdrawn
    siti = next(
        e for e in env.svc.recaps.monthly("DISKOMINFO", "2026-02")["employees"] if e["nip"] == NIP
    )
    assert siti["working_days"] == 20 and siti["tk_days"] == 2


def test_roster_change_is_a_transfer_from_today(env: Env) -> None:
    enter_siti_month(env)
    env.svc.ledger.catch_up()
    moved = ROSTER.replace(f"{NIP},Siti Aminah,DISKOMINFO", f"{NIP},Siti Aminah,DINKES")
    assert env.roster.import_csv(moved.encode(), env.clock())["updated"] == 1
    env.svc.ledger.catch_up()
    feb = env.svc.recaps.monthly("DISKOMINFO", "2026-02")
    assert next(e for e in feb["employees"] if e["nip"] == NIP) == SITI_EXPECTED
    history = env.svc.org.assignments(NIP)
    assert [(a["valid_to"], a["opd_code"]) for a in history] == [
        ("2026-03-01", "DISKOMINFO"),
        (None, "DINKES"),
    ]
    today = env.svc.ledger.day_rows(NIP, date(2026, 3, 2), date(2026, 3, 2))
    assert today == [] or today[0]["opd_code"] == "DINKES"


def test_single_punch_band_is_configurable(tmp_path: Path) -> None:
    e = make_env(
        tmp_path, f"sqlite:///{tmp_path}/s.db", wib("2026-02-01 08:00"), single_punch_psw="PSW2"
    )
    try:
        enter_siti_month(e)
        recap = e.svc.recaps.monthly("DISKOMINFO", "2026-02")
        siti = next(r for r in recap["employees"] if r["nip"] == NIP)
        assert siti["psw"] == {"PSW1": 1, "PSW2": 2, "PSW3": 0, "PSW4": 0}
        assert siti["tpp_deduction_percent"] == 9.0  # PSW4 2 % became PSW2 1 %
    finally:
        e.db.dispose()


def test_ramadan_variant_and_night_shift_from_the_schedules_file(tmp_path: Path) -> None:
    book = Path(__file__).resolve().parent.parent / "assets" / "schedules.example.toml"
    e = make_env(
        tmp_path,
        f"sqlite:///{tmp_path}/s.db",
        wib("2026-02-01 08:00"),
        rules={"schedules_file": str(book)},
    )
    try:
        e.svc.ledger.catch_up()
        e.svc.org.assign(NIP2, date(2026, 2, 1), "DISKOMINFO", "shift-malam", "PPPK")
        e.clock.now = wib("2026-02-21 12:00")
        e.punches(
            f"{NIP},2026-02-18 07:50:00,kiosk",  # before Ramadan: 07:30 start, TL1
            f"{NIP},2026-02-18 16:00:00,kiosk",
            f"{NIP},2026-02-19 07:50:00,kiosk",  # Ramadan 1447 H: 08:00-15:00, on time
            f"{NIP},2026-02-19 15:00:00,kiosk",
            f"{NIP2},2026-02-19 22:10:00,kiosk",  # night shift 22:00-06:00: TL1
            f"{NIP2},2026-02-20 06:05:00,kiosk",  # the next morning, same work date
        )
        e.svc.ledger.catch_up()
        rows = e.rows(date(2026, 2, 18), date(2026, 2, 20))
        assert rows[(NIP, date(2026, 2, 18))].tl == "TL1"
        ramadan = rows[(NIP, date(2026, 2, 19))]
        assert (ramadan.status, ramadan.tl, ramadan.psw) == ("hadir", None, None)
        night = rows[(NIP2, date(2026, 2, 19))]
        assert (night.tl, night.tl_minutes, night.psw, night.single_punch) == (
            "TL1",
            10,
            None,
            False,
        )
    finally:
        e.db.dispose()
