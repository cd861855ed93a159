from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance.config import RulesSection
from attendance.rules import PunchRules, describe, direction_label
from attendance.schedule import (
    HolidayCalendar,
    ScheduleBook,
    load_holiday_calendar,
    load_schedule_book,
)

REPO = Path(__file__).resolve().parent.parent
WIB = ZoneInfo("Asia/Jakarta")
# 2026-11-30 is a Monday, 2026-12-04 a Friday, 2026-12-05 a Saturday.
MON = "2026-11-30"
FRI = "2026-12-04"


def at(local: str) -> datetime:
    """'2026-11-30 07:31:00' in WIB -> aware UTC."""
    return datetime.fromisoformat(local).replace(tzinfo=WIB).astimezone(UTC)


@pytest.fixture
def rules() -> PunchRules:
    book = load_schedule_book(REPO / "assets" / "schedules.example.toml")
    calendar = load_holiday_calendar(REPO / "assets" / "calendar-2026.example.csv")
    return PunchRules(RulesSection(), book, calendar, WIB)


def test_0730_59_is_on_time_and_0731_is_one_minute_late(rules: PunchRules) -> None:
    d = rules.decide("default", at(f"{MON} 07:30:59.999"), [])
    assert d.direction == "masuk" and d.late_minutes == 0 and d.category is None
    assert d.is_workday and d.duplicate_of is None and not d.outside_window
    assert d.scheduled_start == datetime(2026, 11, 30, 7, 30, tzinfo=WIB)
    assert d.scheduled_end == datetime(2026, 11, 30, 16, 0, tzinfo=WIB)
    assert describe(d) == "Tepat waktu"
    d = rules.decide("default", at(f"{MON} 07:31:00"), [])
    assert d.late_minutes == 1 and d.category == "TL1"
    assert describe(d) == "Terlambat 1 menit (TL1)"
    assert describe(d, "en") == "Late 1 minute (TL1)"


@pytest.mark.parametrize(
    ("clock", "minutes", "category"),
    [
        ("07:42:10", 12, "TL1"),
        ("08:00:59", 30, "TL1"),
        ("08:01:00", 31, "TL2"),
        ("08:30:00", 60, "TL2"),
        ("08:31:00", 61, "TL3"),
        ("09:00:30", 90, "TL3"),
        ("09:01:00", 91, "TL4"),
    ],
)
def test_tl_band_edges(rules: PunchRules, clock: str, minutes: int, category: str) -> None:
    d = rules.decide("default", at(f"{MON} {clock}"), [])
    assert (d.direction, d.late_minutes, d.category) == ("masuk", minutes, category)
    assert describe(d) == f"Terlambat {minutes} menit ({category})"


@pytest.mark.parametrize(
    ("clock", "minutes", "category"),
    [
        ("16:00:00", 0, None),
        ("17:30:00", 0, None),
        ("15:59:59", 1, "PSW1"),
        ("15:40:00", 20, "PSW1"),
        ("15:30:00", 30, "PSW1"),
        ("15:29:00", 31, "PSW2"),
        ("15:00:00", 60, "PSW2"),
        ("14:59:00", 61, "PSW3"),
        ("14:30:00", 90, "PSW3"),
        ("14:29:00", 91, "PSW4"),
    ],
)
def test_psw_band_edges(rules: PunchRules, clock: str, minutes: int, category: str | None) -> None:
    d = rules.decide("default", at(f"{MON} {clock}"), [at(f"{MON} 07:20:00")])
    assert (d.direction, d.early_minutes, d.late_minutes, d.category) == (
        "pulang",
        minutes,
        0,
        category,
    )


def test_friday_ends_at_1630(rules: PunchRules) -> None:
    masuk = [at(f"{FRI} 07:25:00")]
    d = rules.decide("default", at(f"{FRI} 16:10:00"), masuk)
    assert d.early_minutes == 20 and d.category == "PSW1"
    assert describe(d) == "Pulang cepat 20 menit (PSW1)"
    assert describe(d, "en") == "Left early 20 minutes (PSW1)"
    assert d.scheduled_end == datetime(2026, 12, 4, 16, 30, tzinfo=WIB)
    d = rules.decide("default", at(f"{FRI} 16:30:00"), masuk)
    assert d.early_minutes == 0 and describe(d) == "Tepat waktu"


def test_duplicate_within_window_reports_the_recorded_punch(rules: PunchRules) -> None:
    first = at(f"{MON} 07:12:40")
    d = rules.decide("default", at(f"{MON} 07:15:00"), [first])
    assert d.duplicate_of == first
    assert d.direction == "masuk"  # what was recorded at 07:12
    assert describe(d) == "Sudah tercatat pukul 07:12"
    assert describe(d, "en") == "Already recorded at 07:12"
    # Exactly the window apart is a new punch (a pulang candidate).
    d = rules.decide("default", at(f"{MON} 07:17:40"), [first])
    assert d.duplicate_of is None and d.direction == "pulang"


def test_duplicate_of_a_pulang_is_described_as_pulang(rules: PunchRules) -> None:
    stored = [at(f"{MON} 07:20:00"), at(f"{MON} 16:02:00")]
    d = rules.decide("default", at(f"{MON} 16:04:00"), stored)
    assert d.duplicate_of == stored[1] and d.direction == "pulang" and d.early_minutes == 0
    assert direction_label(d) == "Pulang" and direction_label(d, "en") == "Check-out"


def test_duplicate_window_zero_disables_it() -> None:
    rules = PunchRules(
        RulesSection(duplicate_window_minutes=0), ScheduleBook.builtin(), HolidayCalendar(), WIB
    )
    first = at(f"{MON} 07:12:00")
    d = rules.decide("default", at(f"{MON} 07:12:30"), [first])
    assert d.duplicate_of is None and d.direction == "pulang"


def test_first_punch_is_masuk_then_pulang_candidates(rules: PunchRules) -> None:
    stored: list[datetime] = []
    directions = []
    for clock in ("07:20:00", "12:00:00", "16:05:00"):
        d = rules.decide("default", at(f"{MON} {clock}"), stored)
        assert d.duplicate_of is None
        directions.append(d.direction)
        stored.append(at(f"{MON} {clock}"))
    assert directions == ["masuk", "pulang", "pulang"]
    # The midday pulang candidate is outside the check-out window.
    lunch = rules.decide("default", at(f"{MON} 12:00:00"), stored[:1])
    assert lunch.outside_window and lunch.early_minutes == 240 and lunch.category == "PSW4"
    assert describe(lunch).endswith(", di luar jam absen")


def test_last_punch_wins_in_the_day_summary(rules: PunchRules) -> None:
    punches = [at(f"{MON} 12:00:00"), at(f"{MON} 07:20:00"), at(f"{MON} 16:05:00")]
    s = rules.summarize("default", date(2026, 11, 30), punches)
    assert s.masuk == at(f"{MON} 07:20:00") and s.pulang == at(f"{MON} 16:05:00")
    assert (s.late_minutes, s.early_minutes, s.tl, s.psw) == (0, 0, None, None)
    s = rules.summarize("default", date(2026, 11, 30), punches[:2])
    assert s.pulang == at(f"{MON} 12:00:00") and s.psw == "PSW4" and s.early_minutes == 240
    # A punch of the next day does not belong to this work date.
    s = rules.summarize("default", date(2026, 11, 30), [*punches, at("2026-12-01 07:00:00")])
    assert s.pulang == at(f"{MON} 16:05:00")


def test_missing_punches_get_the_highest_band(rules: PunchRules) -> None:
    s = rules.summarize("default", date(2026, 11, 30), [at(f"{MON} 07:25:00")])
    assert s.masuk is not None and s.pulang is None
    assert s.psw == "PSW4" and s.early_minutes is None and s.tl is None
    s = rules.summarize("default", date(2026, 11, 30), [])
    assert (s.tl, s.psw) == ("TL4", "PSW4")


def test_first_punch_in_checkout_window_is_pulang(rules: PunchRules) -> None:
    d = rules.decide("default", at(f"{MON} 16:05:00"), [])
    assert d.direction == "pulang" and d.late_minutes == 0 and not d.outside_window
    s = rules.summarize("default", date(2026, 11, 30), [at(f"{MON} 16:05:00")])
    assert s.masuk is None and s.pulang is not None and s.tl == "TL4"
    # Late but before the check-out window: still masuk, outside the check-in window.
    d = rules.decide("default", at(f"{MON} 10:01:00"), [])
    assert d.direction == "masuk" and d.late_minutes == 151 and d.category == "TL4"
    assert d.outside_window
    assert describe(d, "en") == "Late 151 minutes (TL4), outside punch hours"


def test_weekend_is_not_a_working_day(rules: PunchRules) -> None:
    d = rules.decide("default", at("2026-12-05 09:45:00"), [])
    assert not d.is_workday and d.holiday_name is None
    assert d.direction == "masuk" and d.late_minutes == 0 and d.category is None
    assert d.scheduled_start is None and not d.outside_window
    assert describe(d) == "Bukan hari kerja"
    d2 = rules.decide("default", at("2026-12-05 11:00:00"), [at("2026-12-05 09:45:00")])
    assert d2.direction == "pulang" and d2.early_minutes == 0


def test_holiday_and_cuti_bersama(rules: PunchRules) -> None:
    d = rules.decide("default", at("2026-12-25 08:15:00"), [])  # a Friday
    assert not d.is_workday and d.holiday_name == "Hari Raya Natal" and d.category is None
    assert describe(d) == "Hari libur: Hari Raya Natal"
    assert describe(d, "en") == "Holiday: Hari Raya Natal"
    d = rules.decide("default", at("2026-12-24 08:15:00"), [])  # cuti bersama, Thursday
    assert not d.is_workday and d.holiday_name == "Hari Raya Natal"
    # A group that does not observe holidays works on them.
    d = rules.decide("pelayanan", at("2026-12-25 08:15:00"), [])
    assert d.is_workday and d.holiday_name is None and d.late_minutes == 45 and d.category == "TL2"


def test_ramadan_variant_starts_at_0800(rules: PunchRules) -> None:
    d = rules.decide("default", at("2026-02-23 08:00:30"), [])
    assert d.late_minutes == 0 and d.variant == "Ramadan 1447 H"
    assert d.scheduled_start == datetime(2026, 2, 23, 8, 0, tzinfo=WIB)
    d = rules.decide("default", at("2026-02-23 08:01:00"), [])
    assert d.late_minutes == 1 and d.category == "TL1"
    d = rules.decide("default", at("2026-02-23 15:00:00"), [at("2026-02-23 07:55:00")])
    assert d.early_minutes == 0
    d = rules.decide("default", at("2026-02-27 15:29:00"), [at("2026-02-27 07:55:00")])
    assert d.early_minutes == 1 and d.category == "PSW1"
    # The week after Ramadan is back to 07:30.
    d = rules.decide("default", at("2026-03-30 07:45:00"), [])
    assert d.late_minutes == 15 and d.variant is None


def test_midnight_shift_work_date_is_the_start_date(rules: PunchRules) -> None:
    masuk = rules.decide("shift-malam", at(f"{MON} 22:05:00"), [])
    assert masuk.direction == "masuk" and masuk.late_minutes == 5 and masuk.category == "TL1"
    assert masuk.work_date == date(2026, 11, 30)
    pulang = rules.decide("shift-malam", at("2026-12-01 05:50:00"), [at(f"{MON} 22:05:00")])
    assert pulang.direction == "pulang" and pulang.work_date == date(2026, 11, 30)
    assert pulang.early_minutes == 10 and pulang.category == "PSW1" and not pulang.outside_window
    assert pulang.scheduled_end == datetime(2026, 12, 1, 6, 0, tzinfo=WIB)
    start, end = rules.query_range("shift-malam", at("2026-12-01 05:50:00"))
    assert start == at(f"{MON} 12:00:00") - timedelta(minutes=5)
    assert end == at("2026-12-01 12:00:00")


def test_query_range_covers_the_work_date_and_the_duplicate_window(rules: PunchRules) -> None:
    start, end = rules.query_range("default", at(f"{MON} 07:31:00"))
    assert start == at(f"{MON} 00:00:00") - timedelta(minutes=5)
    assert end == at("2026-12-01 00:00:00")
    assert start.tzinfo is not None and start.utcoffset() == timedelta(0)
    assert rules.work_period("default", at(f"{MON} 07:31:00")) == (
        at(f"{MON} 00:00:00"),
        at("2026-12-01 00:00:00"),
    )


def test_punches_of_another_work_date_do_not_change_direction(rules: PunchRules) -> None:
    late_night = at(f"{MON} 23:58:30")
    d = rules.decide("default", at("2026-12-01 00:04:00"), [late_night])
    assert d.direction == "masuk" and d.duplicate_of is None
    assert d.work_date == date(2026, 12, 1)
    # The duplicate window still reaches across the day boundary (query_range widens it).
    d = rules.decide("default", at("2026-12-01 00:01:00"), [late_night])
    assert d.duplicate_of == late_night and d.work_date == date(2026, 11, 30)


def test_band_validity_changes_the_category(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(
        '[groups.default]\nmon = "07:30-16:00"\ntue = "07:30-16:00"\nwed = "07:30-16:00"\n'
        'thu = "07:30-16:00"\nfri = "07:30-16:30"\nsat = "off"\nsun = "off"\n'
        "[[bands]]\nvalid_from = 2026-01-01\nvalid_to = 2026-11-30\ntl = [1, 16, 31, 46]\n"
        "[[bands]]\nvalid_from = 2026-12-01\ntl = [1, 31, 61, 91]\n",
        encoding="utf-8",
    )
    rules = PunchRules(RulesSection(), load_schedule_book(p), HolidayCalendar(), WIB)
    assert rules.decide("default", at(f"{MON} 07:50:00"), []).category == "TL2"
    assert rules.decide("default", at("2026-12-01 07:50:00"), []).category == "TL1"


def test_no_band_table_gives_minutes_without_category(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(
        '[groups.default]\nmon = "07:30-16:00"\ntue = "07:30-16:00"\nwed = "07:30-16:00"\n'
        'thu = "07:30-16:00"\nfri = "07:30-16:30"\nsat = "off"\nsun = "off"\n'
        "[[bands]]\nvalid_from = 2027-01-01\n",
        encoding="utf-8",
    )
    rules = PunchRules(RulesSection(), load_schedule_book(p), HolidayCalendar(), WIB)
    d = rules.decide("default", at(f"{MON} 07:50:00"), [])
    assert d.late_minutes == 20 and d.category is None
    assert describe(d) == "Terlambat 20 menit"


def test_unknown_group_uses_default(rules: PunchRules) -> None:
    d = rules.decide("gone", at(f"{MON} 07:40:00"), [])
    assert d.schedule_group == "default" and d.late_minutes == 10


def test_local_offset_and_naive_input(rules: PunchRules) -> None:
    d = rules.decide("default", at(f"{MON} 07:40:00"), [])
    assert d.local_offset_minutes == 420
    assert d.at_local == datetime(2026, 11, 30, 7, 40, tzinfo=WIB)
    with pytest.raises(ValueError, match="timezone-aware"):
        rules.decide("default", datetime(2026, 11, 30, 0, 40), [])
    with pytest.raises(ValueError, match="earlier_today_utc"):
        rules.decide("default", at(f"{MON} 07:40:00"), [datetime(2026, 11, 30, 0, 10)])
    with pytest.raises(ValueError, match="lang"):
        describe(d, "fr")


@settings(max_examples=150, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=24 * 3600 - 1), min_size=1, max_size=12),
    window=st.integers(min_value=0, max_value=30),
)
def test_a_day_of_random_punches_keeps_the_invariants(offsets: list[int], window: int) -> None:
    rules = PunchRules(
        RulesSection(duplicate_window_minutes=window),
        ScheduleBook.builtin(),
        HolidayCalendar(),
        WIB,
    )
    midnight = at(f"{MON} 00:00:00")
    stored: list[datetime] = []
    directions = []
    for offset in sorted(offsets):
        now = midnight + timedelta(seconds=offset)
        start, end = rules.query_range("default", now)
        d = rules.decide("default", now, [p for p in stored if start <= p < end])
        assert d.work_date == date(2026, 11, 30)
        if d.duplicate_of is not None:
            assert abs(now - d.duplicate_of) < timedelta(minutes=window)
            continue
        stored.append(now)
        directions.append(d.direction)
        local = now.astimezone(WIB).replace(second=0, microsecond=0)
        assert d.scheduled_start is not None and d.scheduled_end is not None
        if d.direction == "masuk":
            expected = max(0, int((local - d.scheduled_start).total_seconds() // 60))
            assert d.late_minutes == expected and d.early_minutes == 0
        else:
            expected = max(0, int((d.scheduled_end - local).total_seconds() // 60))
            assert d.early_minutes == expected and d.late_minutes == 0
        assert (d.category is None) == (expected == 0)
    # Only the first stored punch may be masuk; stored punches are a window apart.
    assert "masuk" not in directions[1:]
    gaps = [b - a for a, b in itertools.pairwise(stored)]
    assert all(g >= timedelta(minutes=window) for g in gaps)
    summary = rules.summarize("default", date(2026, 11, 30), stored)
    assert summary.pulang == (stored[-1] if directions[-1] == "pulang" else None)
