"""Property: whatever order inputs arrive in (punches late, leave decided, corrections
approved, schedule and calendar documents changed, days ending in between), the
incrementally kept ledger equals a rebuild from scratch.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from test_ledger import NIP, NIP2, NIP3, ROSTER, Env, make_env, wib

from server.ledger_models import LedgerDay

NIPS = (NIP, NIP2, NIP3)
FIRST = date(2026, 2, 2)  # a Monday
DAYS = 9  # through Tuesday of the next week
NIGHT = {
    "mon": "22:00-06:00",
    "tue": "22:00-06:00",
    "wed": "22:00-06:00",
    "thu": "22:00-06:00",
    "fri": "off",
    "sat": "off",
    "sun": "22:00-06:00",
    "day_start": "12:00",
    "checkin": ["20:00", "23:59"],
    "checkout": ["05:00", "09:00"],
}

punch = st.tuples(
    st.just("punch"),
    st.sampled_from(NIPS),
    st.integers(0, DAYS - 1),
    st.integers(5 * 60, 23 * 60 + 59),  # minute of the day
)
absence = st.tuples(
    st.just("absence"),
    st.sampled_from(NIPS),
    st.integers(0, DAYS - 1),
    st.integers(0, 2),
    st.sampled_from(["cuti_tahunan", "sakit", "dl", "wfh"]),
)
correction = st.tuples(
    st.just("correction"), st.sampled_from(NIPS), st.integers(0, DAYS - 1), st.integers(420, 480)
)
document = st.tuples(st.just("document"), st.sampled_from(["holiday", "night", "no_holiday"]))
transfer = st.tuples(st.just("transfer"), st.sampled_from(NIPS), st.integers(0, DAYS - 1))
roster = st.tuples(st.just("roster"), st.sampled_from(["DINKES", "DISKOMINFO"]))
tick = st.tuples(st.just("tick"), st.integers(1, 36))  # hours pass, the worker catches up
events = st.lists(
    st.one_of(punch, punch, punch, absence, correction, document, transfer, roster, tick),
    min_size=1,
    max_size=30,
)


def apply(e: Env, event: tuple[Any, ...]) -> None:
    kind = event[0]
    now = e.clock()
    if kind == "punch":
        _, nip, day, minute = event
        at = datetime.combine(FIRST + timedelta(days=day), datetime.min.time()) + timedelta(
            minutes=minute
        )
        if at.replace(tzinfo=e.svc.ledger.tz) <= now:
            e.punches(f"{nip},{at:%Y-%m-%d %H:%M:%S},kiosk")
    elif kind == "absence":
        _, nip, day, length, what = event
        start = FIRST + timedelta(days=day)
        try:
            a = e.svc.absences.create(nip, what, start, start + timedelta(days=length), "op")
            e.svc.absences.decide(a["id"], "disetujui", "head")
        except Exception as exc:  # an overlap is refused: fine, nothing was written
            assert "overlaps" in str(exc)
    elif kind == "correction":
        _, nip, day, minute = event
        at = datetime.combine(FIRST + timedelta(days=day), datetime.min.time()) + timedelta(
            minutes=minute
        )
        if at.replace(tzinfo=e.svc.ledger.tz) <= now:
            c = e.svc.corrections.create(nip, at, "mesin_rusak", "mesin mati", "op")
            e.svc.corrections.decide(c["id"], "disetujui", "head")
    elif kind == "document":
        what = event[1]
        if what == "night":
            e.roster.put_document("schedule_group", "default", NIGHT, now)
        else:
            days = (
                [{"date": "2026-02-05", "name": "Libur", "kind": "cuti bersama"}]
                if what == "holiday"
                else []
            )
            e.roster.put_document("calendar", "2026", {"days": days}, now)
    elif kind == "transfer":
        _, nip, day = event
        e.svc.org.assign(nip, FIRST + timedelta(days=day), "DINKES", "default", "PNS")
    elif kind == "roster":  # NIP2's OPD changes in the roster file
        body = ROSTER.replace(f"{NIP2},Budi Santoso,DISKOMINFO", f"{NIP2},Budi Santoso,{event[1]}")
        e.roster.import_csv(body.encode(), now)
    elif kind == "tick":
        e.clock.now = min(now + timedelta(hours=event[1]), END)
        e.svc.ledger.catch_up()
    if kind != "tick" and event[-1] == 0:
        e.svc.ledger.catch_up()


END = wib("2026-02-11 10:00")


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with the roster, copied for each example (migrating is slow)."""
    tmp = tmp_path_factory.mktemp("template")
    e = make_env(tmp, f"sqlite:///{tmp}/server.db", wib("2026-02-02 04:00"))
    e.db.dispose()
    return tmp / "server.db"


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(history=events)
def test_incremental_ledger_equals_rebuild(
    template_db: Path, history: list[tuple[Any, ...]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(template_db, Path(tmp) / "server.db")
        e = make_env(Path(tmp), f"sqlite:///{tmp}/server.db", wib("2026-02-02 04:00"))
        try:
            e.svc.ledger.catch_up()
            for event in history:
                apply(e, event)
            e.clock.now = END
            e.svc.ledger.catch_up()
            last = FIRST + timedelta(days=DAYS + 1)
            incremental = e.rows(FIRST - timedelta(days=1), last)
            with e.db.write() as conn:
                conn.execute(delete(LedgerDay))
            e.svc.ledger.rebuild(FIRST - timedelta(days=1), last)
            assert e.rows(FIRST - timedelta(days=1), last) == incremental
        finally:
            e.db.dispose()
