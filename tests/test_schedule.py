from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from attendance.config import RulesSection
from attendance.schedule import (
    DEFAULT_GROUP,
    BandTable,
    ScheduleBook,
    Shift,
    holiday_calendar_from_config,
    load_holiday_calendar,
    load_schedule_book,
    schedule_book_from_config,
)
from hadir.configfile import ConfigError

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_BOOK = REPO / "assets" / "schedules.example.toml"
EXAMPLE_CALENDAR = REPO / "assets" / "calendar-2026.example.csv"
WIB = ZoneInfo("Asia/Jakarta")

WEEK = """
mon = "07:30-16:00"
tue = "07:30-16:00"
wed = "07:30-16:00"
thu = "07:30-16:00"
fri = "07:30-16:30"
sat = "off"
sun = "off"
"""


def write(tmp_path: Path, text: str, name: str = "schedules.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_builtin_book_is_the_perpres_week() -> None:
    book = ScheduleBook.builtin()
    g = book.group(DEFAULT_GROUP)
    assert g.days[0] == Shift(time(7, 30), time(16, 0))
    assert g.days[3] == Shift(time(7, 30), time(16, 0))
    assert g.days[4] == Shift(time(7, 30), time(16, 30))
    assert g.days[5] is None and g.days[6] is None
    assert (g.checkin.start, g.checkin.end) == (time(6, 0), time(10, 0))
    assert (g.checkout.start, g.checkout.end) == (time(14, 0), time(18, 0))
    assert book.bands_on(date(2026, 11, 30)) is not None


def test_builtin_windows_follow_the_rules_section() -> None:
    book = ScheduleBook.builtin(RulesSection(checkin_start="05:30", checkout_end="19:00"))
    g = book.group(DEFAULT_GROUP)
    assert g.checkin.start == time(5, 30) and g.checkout.end == time(19, 0)


def test_example_book_loads_with_its_groups_variant_and_bands() -> None:
    book = load_schedule_book(EXAMPLE_BOOK)
    assert book.group_names == {"default", "pelayanan", "shift-malam"}
    assert book.source == str(EXAMPLE_BOOK)
    # A Monday in Ramadan 1447 H (example dates) -> 08:00-15:00 from the variant.
    shift, variant = book.shift_on("default", date(2026, 2, 23))
    assert shift == Shift(time(8, 0), time(15, 0)) and variant == "Ramadan 1447 H"
    shift, variant = book.shift_on("default", date(2026, 2, 27))
    assert shift == Shift(time(8, 0), time(15, 30))
    # Saturday is not listed by the variant: the group's "off" stays.
    assert book.shift_on("default", date(2026, 2, 28)) == (None, None)
    # Outside the variant's dates the group's week applies; other groups are untouched.
    assert book.shift_on("default", date(2026, 3, 23))[0] == Shift(time(7, 30), time(16, 0))
    assert book.shift_on("pelayanan", date(2026, 2, 23))[1] is None


def test_unknown_group_falls_back_to_default() -> None:
    book = ScheduleBook.builtin()
    assert book.group("no-such-group").name == DEFAULT_GROUP


def test_midnight_shift_belongs_to_its_start_date() -> None:
    book = load_schedule_book(EXAMPLE_BOOK)
    monday = date(2026, 11, 30)
    plan = book.plan("shift-malam", monday, WIB)
    assert plan.scheduled_start == datetime(2026, 11, 30, 22, 0, tzinfo=WIB)
    assert plan.scheduled_end == datetime(2026, 12, 1, 6, 0, tzinfo=WIB)
    assert plan.checkout_start == datetime(2026, 12, 1, 5, 0, tzinfo=WIB)
    assert plan.period_start == datetime(2026, 11, 30, 12, 0, tzinfo=WIB)
    assert plan.period_end == datetime(2026, 12, 1, 12, 0, tzinfo=WIB)
    # 05:50 on Tuesday is still Monday's work date for this group, not for "default".
    tuesday_morning = datetime(2026, 12, 1, 5, 50, tzinfo=WIB)
    assert book.work_date_of("shift-malam", tuesday_morning) == monday
    assert book.work_date_of("default", tuesday_morning) == date(2026, 12, 1)


@pytest.mark.parametrize(
    ("minutes", "tl", "psw"),
    [
        (0, None, None),
        (1, "TL1", "PSW1"),
        (30, "TL1", "PSW1"),
        (31, "TL2", "PSW2"),
        (60, "TL2", "PSW2"),
        (61, "TL3", "PSW3"),
        (90, "TL3", "PSW3"),
        (91, "TL4", "PSW4"),
        (480, "TL4", "PSW4"),
    ],
)
def test_default_band_edges(minutes: int, tl: str | None, psw: str | None) -> None:
    table = BandTable(valid_from=date(2020, 1, 1), valid_to=None)
    assert table.category(minutes, "TL") == tl
    assert table.category(minutes, "PSW") == psw


def test_band_tables_apply_by_validity_date(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "[groups.default]"
        + WEEK
        + """
[[bands]]
valid_from = 2025-01-01
valid_to = 2025-12-31
tl = [1, 16, 31, 46]
psw = [1, 16, 31, 46]

[[bands]]
valid_from = 2026-01-01
tl = [1, 31, 61, 91]
""",
    )
    book = load_schedule_book(p)
    old = book.bands_on(date(2025, 6, 2))
    new = book.bands_on(date(2026, 6, 1))
    assert old is not None and new is not None
    assert old.category(20, "TL") == "TL2"
    assert new.category(20, "TL") == "TL1"
    assert new.category(45, "PSW") == "PSW2"  # psw left out -> the default bounds
    assert book.bands_on(date(2024, 12, 31)) is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[groups.default]" + WEEK + "lunch = 1\n", "unknown key groups.default.lunch"),
        ("[groups.default]" + WEEK.replace('"07:30-16:30"', '"7:30-16:30"'), "groups.default.fri"),
        ("[groups.default]" + WEEK.replace('sun = "off"', ""), "groups.default.sun is missing"),
        ("[groups.default]" + WEEK.replace('sat = "off"', "sat = 0"), "groups.default.sat"),
        ("[groups.kantor]" + WEEK, "groups.default is missing"),
        (
            "[groups.default]" + WEEK + '[[variants]]\nname = "x"\ngroups = ["nope"]\n'
            'from = 2026-02-18\nto = 2026-03-19\nmon = "08:00-15:00"\n',
            "unknown group 'nope'",
        ),
        (
            "[groups.default]" + WEEK + '[[variants]]\nname = "x"\ngroups = ["default"]\n'
            'from = 2026-03-19\nto = 2026-02-18\nmon = "08:00-15:00"\n',
            "variants[0].to",
        ),
        (
            "[groups.default]" + WEEK + '[[variants]]\nname = "x"\ngroups = ["default"]\n'
            'from = "2026-02-18"\nto = 2026-03-19\nmon = "08:00-15:00"\n',
            "variants[0].from",
        ),
        (
            "[groups.default]" + WEEK + '[[variants]]\nname = "a"\ngroups = ["default"]\n'
            'from = 2026-02-18\nto = 2026-03-19\nmon = "08:00-15:00"\n'
            '[[variants]]\nname = "b"\ngroups = ["default"]\n'
            'from = 2026-03-01\nto = 2026-03-30\ntue = "08:00-15:00"\n',
            "overlaps variants[0]",
        ),
        (
            "[groups.default]" + WEEK + "[[bands]]\nvalid_from = 2026-01-01\ntl = [1, 31, 31]\n",
            "bands[0].tl must start at >= 1 and strictly increase",
        ),
        (
            "[groups.default]" + WEEK + "[[bands]]\nvalid_from = 2026-01-01\ntl = [0, 31]\n",
            "bands[0].tl",
        ),
        (
            "[groups.default]" + WEEK + "[[bands]]\nvalid_from = 2026-01-01\n"
            "[[bands]]\nvalid_from = 2026-06-01\n",
            "bands[1] overlaps bands[0]",
        ),
        ("[groups.default]" + WEEK + "[[bands]]\ntl = [1]\n", "bands[0].valid_from is missing"),
        (
            "[groups.default]" + WEEK.replace('"07:30-16:00"', '"11:00-16:00"', 1),
            "groups.default.mon: shift 11:00-16:00 starts outside the check-in window",
        ),
        (
            "[groups.default]" + WEEK.replace('sat = "off"', 'sat = "22:00-06:00"'),
            "groups.default.sat: shift 22:00-06:00 ends after the next work date begins",
        ),
        ('[windows]\ncheckin = ["06:00"]\n[groups.default]' + WEEK, "windows.checkin"),
        ("[groups.default]" + WEEK + 'day_start = "25:00"\n', "groups.default.day_start"),
        ("[groups.default\n", "not valid TOML"),
    ],
)
def test_bad_schedule_files_name_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_schedule_book(p)
    msg = str(err.value)
    assert str(p) in msg
    assert fragment in msg


def test_night_shift_group_needs_its_own_windows_and_day_start(tmp_path: Path) -> None:
    night = WEEK.replace('"07:30-16:00"', '"22:00-06:00"').replace('"07:30-16:30"', '"22:00-06:00"')
    p = write(tmp_path, "[groups.default]" + WEEK + '[groups.malam]\nday_start = "12:00"' + night)
    with pytest.raises(ConfigError, match="starts outside the check-in window"):
        load_schedule_book(p)
    p = write(
        tmp_path,
        "[groups.default]"
        + WEEK
        + '[groups.malam]\nday_start = "12:00"\ncheckin = ["20:00", "23:00"]\n'
        + 'checkout = ["05:00", "09:00"]'
        + night,
    )
    book = load_schedule_book(p)
    night_shift = book.group("malam").days[0]
    assert night_shift == Shift(time(22, 0), time(6, 0))
    assert night_shift is not None and night_shift.crosses_midnight


def test_missing_schedule_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_schedule_book(tmp_path / "absent.toml")


def test_from_config_uses_builtin_or_file(tmp_path: Path) -> None:
    assert schedule_book_from_config(RulesSection()).source == "built-in"
    book = schedule_book_from_config(RulesSection(schedules_file=str(EXAMPLE_BOOK)))
    assert "shift-malam" in book.group_names
    assert len(holiday_calendar_from_config(RulesSection())) == 0
    cal = holiday_calendar_from_config(RulesSection(calendar_file=str(EXAMPLE_CALENDAR)))
    assert len(cal) > 10


def test_example_calendar_has_holidays_and_cuti_bersama() -> None:
    cal = load_holiday_calendar(EXAMPLE_CALENDAR)
    natal = cal.get(date(2026, 12, 25))
    assert natal is not None and natal.kind == "libur nasional" and "Natal" in natal.name
    cuti = cal.get(date(2026, 12, 24))
    assert cuti is not None and cuti.kind == "cuti bersama"
    assert cal.get(date(2026, 12, 23)) is None


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ("date,name,kind\n2026-13-01,X,libur nasional\n", "line 2: date must be YYYY-MM-DD"),
        ("date,name,kind\n2026-01-01,X,libur daerah\n", "line 2: kind must be one of"),
        (
            "date,name,kind\n2026-01-01,X,cuti bersama\n2026-01-01,Y,cuti bersama\n",
            "line 3: date 2026-01-01 is listed twice",
        ),
        ("date,name\n2026-01-01,X\n", "line 1: header must be 'date,name,kind'"),
        ("date,name,kind\n2026-01-01,X\n", "line 2: expected 3 columns"),
        ("date,name,kind\n2026-01-01,,cuti bersama\n", "line 2: name is empty"),
        ("# only comments\n", "empty calendar"),
    ],
)
def test_bad_calendar_rows_name_file_and_line(tmp_path: Path, rows: str, fragment: str) -> None:
    p = write(tmp_path, rows, "calendar.csv")
    with pytest.raises(ConfigError) as err:
        load_holiday_calendar(p)
    assert str(p) in str(err.value) and fragment in str(err.value)


def test_example_calendar_is_the_2026_skb_list() -> None:
    # SKB 3 Menteri 1497/2025, 2/2025, 5/2025: 17 libur nasional, 8 cuti bersama.
    calendar = load_holiday_calendar(EXAMPLE_CALENDAR)
    kinds = [h.kind for h in calendar.days.values()]
    assert (kinds.count("libur nasional"), kinds.count("cuti bersama")) == (17, 8)
    assert {d.year for d in calendar.days} == {2026}
    # Idul Fitri 1447 H on Saturday-Sunday 21-22 March, cuti bersama around it.
    fitri = {d.day: h.kind for d, h in calendar.days.items() if d.month == 3 and d.day >= 20}
    assert fitri == {
        20: "cuti bersama",
        21: "libur nasional",
        22: "libur nasional",
        23: "cuti bersama",
        24: "cuti bersama",
    }
    # The Ramadan variant of the example schedule ends the day before Idul Fitri.
    book = load_schedule_book(EXAMPLE_BOOK)
    ramadan = [v for v in book.variants if v.name.startswith("Ramadan")]
    assert [v.end for v in ramadan] == [date(2026, 3, 20)]
