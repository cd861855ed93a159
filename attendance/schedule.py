"""Working-time schedules, TL/PSW band tables and the holiday calendar.

A :class:`ScheduleBook` holds the schedule *groups* (one shift or "off" per
weekday), dated *variants* that replace some weekdays of some groups for a
date range (Ramadan: 08:00 start), the TL/PSW *band tables* with their
validity ranges, and the check-in / check-out *windows*. It is loaded from a
TOML file (see ``assets/schedules.example.toml``) or built in
(:meth:`ScheduleBook.builtin`: Mon-Thu 07:30-16:00, Fri 07:30-16:30).

The timeline of a work date
---------------------------
Every group has a ``day_start`` (default ``00:00``): the work date ``D`` of a
group runs from ``D day_start`` to ``D+1 day_start`` local time. A time of
day ``T`` of that group (window edges, shift start) means its first
occurrence at or after ``D day_start``; a shift end is the first occurrence
after the shift start. So a night shift ``22:00-06:00`` with
``day_start = "12:00"`` starts on ``D`` and ends at 06:00 on ``D+1``, and its
work date is the start date; its check-out window ``["05:00", "09:00"]``
lies on ``D+1`` as well.

A :class:`HolidayCalendar` lists dates that are not working days (``libur
nasional`` and ``cuti bersama``), loaded from a CSV file (see
``assets/calendar-2026.example.csv``).

Errors in either file raise :class:`~hadir.configfile.ConfigError`
naming the file and the key (or line) and what is allowed.
"""

from __future__ import annotations

import csv
import itertools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal

from attendance.config import RulesSection
from hadir.configfile import ConfigError

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_GROUP = "default"
HolidayKind = Literal["libur nasional", "cuti bersama"]
HOLIDAY_KINDS: tuple[str, ...] = ("libur nasional", "cuti bersama")

_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_SHIFT = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")
_GROUP_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Shift:
    """Scheduled working time of one day; ``end <= start`` crosses midnight."""

    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Window:
    """A check-in or check-out window, inclusive of both edge minutes."""

    start: time
    end: time


@dataclass(frozen=True)
class ScheduleGroup:
    name: str
    days: tuple[Shift | None, ...]  # 7 entries, Monday first; None = day off
    checkin: Window
    checkout: Window
    day_start: time = time(0, 0)
    observe_holidays: bool = True


@dataclass(frozen=True)
class DatedVariant:
    """Replaces the listed weekdays of ``groups`` from ``start`` to ``end`` inclusive."""

    name: str
    groups: tuple[str, ...]
    start: date
    end: date
    days: Mapping[int, Shift | None]  # weekday (0 = Monday) -> shift or None (off)

    def covers(self, group: str, day: date) -> bool:
        return group in self.groups and self.start <= day <= self.end


@dataclass(frozen=True)
class BandTable:
    """TL/PSW categories valid from ``valid_from`` to ``valid_to`` (inclusive; None = open).

    ``tl`` and ``psw`` hold the lower bound in minutes of each category, in
    order: ``(1, 31, 61, 91)`` means TL1 1-30, TL2 31-60, TL3 61-90, TL4 91+.
    """

    valid_from: date
    valid_to: date | None
    tl: tuple[int, ...] = (1, 31, 61, 91)
    psw: tuple[int, ...] = (1, 31, 61, 91)

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def category(self, minutes: int, kind: Literal["TL", "PSW"]) -> str | None:
        """``"TL2"`` for 45 minutes late; None for 0 minutes (or below the first band)."""
        bounds = self.tl if kind == "TL" else self.psw
        found: str | None = None
        for i, lower in enumerate(bounds, start=1):
            if minutes >= lower:
                found = f"{kind}{i}"
        return found


DEFAULT_BANDS = BandTable(valid_from=date(2000, 1, 1), valid_to=None)


@dataclass(frozen=True)
class DayPlan:
    """What a group's schedule says about one work date (local, aware datetimes)."""

    group: str
    work_date: date
    period_start: datetime  # the work date begins (day_start)
    period_end: datetime  # the next work date begins
    shift: Shift | None
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    checkin_start: datetime
    checkin_end: datetime  # inclusive minute: punches up to checkin_end + 59 s are inside
    checkout_start: datetime
    checkout_end: datetime  # inclusive minute
    variant: str | None


@dataclass(frozen=True)
class ScheduleBook:
    """Groups, dated variants and band tables; build with :func:`load_schedule_book`."""

    groups: Mapping[str, ScheduleGroup]
    variants: tuple[DatedVariant, ...] = ()
    bands: tuple[BandTable, ...] = (DEFAULT_BANDS,)
    source: str = "built-in"

    @classmethod
    def builtin(cls, rules: RulesSection | None = None) -> ScheduleBook:
        """Group ``default``: Mon-Thu 07:30-16:00, Fri 07:30-16:30, weekend off."""
        rules = rules or RulesSection()
        day = Shift(time(7, 30), time(16, 0))
        fri = Shift(time(7, 30), time(16, 30))
        group = ScheduleGroup(
            name=DEFAULT_GROUP,
            days=(day, day, day, day, fri, None, None),
            checkin=Window(_hhmm(rules.checkin_start), _hhmm(rules.checkin_end)),
            checkout=Window(_hhmm(rules.checkout_start), _hhmm(rules.checkout_end)),
        )
        return cls(groups={DEFAULT_GROUP: group})

    @property
    def group_names(self) -> frozenset[str]:
        return frozenset(self.groups)

    def group(self, name: str) -> ScheduleGroup:
        """The named group, or ``default`` when the name is unknown (a punch must not fail)."""
        return self.groups.get(name) or self.groups[DEFAULT_GROUP]

    def shift_on(self, group: str, work_date: date) -> tuple[Shift | None, str | None]:
        """The shift of ``group`` on ``work_date`` and the name of the variant that set it."""
        g = self.group(group)
        weekday = work_date.weekday()
        for variant in self.variants:
            if variant.covers(g.name, work_date) and weekday in variant.days:
                return variant.days[weekday], variant.name
        return g.days[weekday], None

    def bands_on(self, work_date: date) -> BandTable | None:
        for table in self.bands:
            if table.covers(work_date):
                return table
        return None

    def work_date_of(self, group: str, local: datetime) -> date:
        """The work date a local (aware) instant belongs to for ``group``."""
        g = self.group(group)
        day = local.date()
        return day if local.time().replace(tzinfo=None) >= g.day_start else day - timedelta(1)

    def plan(self, group: str, work_date: date, tz: tzinfo) -> DayPlan:
        """Place the group's shift and windows of ``work_date`` on the local timeline."""
        g = self.group(group)
        shift, variant = self.shift_on(g.name, work_date)
        period_start = datetime.combine(work_date, g.day_start, tzinfo=tz)
        period_end = datetime.combine(work_date + timedelta(1), g.day_start, tzinfo=tz)

        def place(t: time) -> datetime:
            return _place(work_date, t, g.day_start, tz)

        start = end = None
        if shift is not None:
            start = place(shift.start)
            end = _after(start, shift.end)
        ci_start = place(g.checkin.start)
        co_start = place(g.checkout.start)
        return DayPlan(
            group=g.name,
            work_date=work_date,
            period_start=period_start,
            period_end=period_end,
            shift=shift,
            scheduled_start=start,
            scheduled_end=end,
            checkin_start=ci_start,
            checkin_end=_at_or_after(ci_start, g.checkin.end),
            checkout_start=co_start,
            checkout_end=_at_or_after(co_start, g.checkout.end),
            variant=variant,
        )


# --------------------------------------------------------------------------- calendar


@dataclass(frozen=True)
class Holiday:
    day: date
    name: str
    kind: HolidayKind


@dataclass(frozen=True)
class HolidayCalendar:
    """Dates that are not working days; empty when no calendar file is configured."""

    days: Mapping[date, Holiday] = field(default_factory=dict)
    source: str = "none"

    def get(self, day: date) -> Holiday | None:
        return self.days.get(day)

    def __len__(self) -> int:
        return len(self.days)


def load_holiday_calendar(path: Path) -> HolidayCalendar:
    """Read a CSV calendar: a header ``date,name,kind`` then one row per date.

    Lines starting with ``#`` are comments. ``kind`` is ``libur nasional`` or
    ``cuti bersama``. A malformed row, a repeated date or an unknown kind is
    refused with the file and line.
    """
    text = _read_text(path)
    rows = [
        (n, line)
        for n, line in enumerate(text.splitlines(), 1)
        if not line.lstrip().startswith("#")
    ]
    rows = [(n, line) for n, line in rows if line.strip()]
    if not rows:
        raise ConfigError(f"{path}: empty calendar (expected a header 'date,name,kind')")
    header_line, header = rows[0]
    cols = [c.strip().lower() for c in next(csv.reader([header]))]
    if cols != ["date", "name", "kind"]:
        raise ConfigError(
            f"{path}: line {header_line}: header must be 'date,name,kind', got {header.strip()!r}"
        )
    days: dict[date, Holiday] = {}
    for n, line in rows[1:]:
        cells = [c.strip() for c in next(csv.reader([line]))]
        where = f"{path}: line {n}"
        if len(cells) != 3:
            raise ConfigError(f"{where}: expected 3 columns (date,name,kind), got {len(cells)}")
        holiday = _holiday(cells[0], cells[1], cells[2], where)
        if holiday.day in days:
            raise ConfigError(f"{where}: date {holiday.day} is listed twice")
        days[holiday.day] = holiday
    return HolidayCalendar(days=days, source=str(path))


def _holiday(raw_day: object, name: object, kind: object, where: str) -> Holiday:
    if not isinstance(raw_day, str):
        raise ConfigError(f"{where}: date must be a string YYYY-MM-DD, got {raw_day!r}")
    try:
        day = date.fromisoformat(raw_day)
    except ValueError:
        raise ConfigError(f"{where}: date must be YYYY-MM-DD, got {raw_day!r}") from None
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: name is empty")
    if kind not in HOLIDAY_KINDS:
        allowed = ", ".join(repr(k) for k in HOLIDAY_KINDS)
        raise ConfigError(f"{where}: kind must be one of {allowed}, got {kind!r}")
    return Holiday(day, name.strip(), kind)  # type: ignore[arg-type]


def parse_calendar_document(raw: object, where: str) -> dict[date, Holiday]:
    """A calendar published by the central server: ``{"days": [{"date", "name", "kind"}]}``.

    The same fields and rules as a row of the CSV calendar; ``where`` names
    the document in errors.
    """
    table = _table(raw, where)
    _keys(table, where, ("days",))
    rows = table.get("days")
    if not isinstance(rows, list):
        raise ConfigError(f"{where}.days must be a list of {{date, name, kind}} objects")
    days: dict[date, Holiday] = {}
    for i, row in enumerate(rows):
        at = f"{where}.days[{i}]"
        cells = _table(row, at)
        _keys(cells, at, ("date", "name", "kind"))
        holiday = _holiday(cells.get("date"), cells.get("name"), cells.get("kind"), at)
        if holiday.day in days:
            raise ConfigError(f"{at}: date {holiday.day} is listed twice")
        days[holiday.day] = holiday
    return days


def parse_group_document(name: str, raw: object, rules: RulesSection) -> ScheduleGroup:
    """A schedule group published by the central server: the keys of a
    ``[groups.<name>]`` table of the schedules file. Windows not given default
    to ``[rules]`` of config.toml."""
    ci = Window(_hhmm(rules.checkin_start), _hhmm(rules.checkin_end))
    co = Window(_hhmm(rules.checkout_start), _hhmm(rules.checkout_end))
    return _parse_group(name, raw, ci, co)


# --------------------------------------------------------------------------- loading


def schedule_book_from_config(rules: RulesSection) -> ScheduleBook:
    """The book named by ``[rules] schedules_file``, or the built-in one when it is empty."""
    if not rules.schedules_file:
        return ScheduleBook.builtin(rules)
    return load_schedule_book(Path(rules.schedules_file), rules)


def holiday_calendar_from_config(rules: RulesSection) -> HolidayCalendar:
    """The calendar named by ``[rules] calendar_file``, or an empty one."""
    if not rules.calendar_file:
        return HolidayCalendar()
    return load_holiday_calendar(Path(rules.calendar_file))


def load_schedule_book(path: Path, rules: RulesSection | None = None) -> ScheduleBook:
    """Read and strictly validate a schedules TOML file.

    Windows not given in the file default to ``rules`` (``[rules] checkin_*``
    and ``checkout_*`` of config.toml). Without ``[[bands]]`` the default
    TL1-TL4 / PSW1-PSW4 table applies to every date.
    """
    rules = rules or RulesSection()
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        return _parse_book(data, rules, str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _parse_book(data: Mapping[str, Any], rules: RulesSection, source: str) -> ScheduleBook:
    _keys(data, "", ("windows", "groups", "variants", "bands"))
    windows = _table(data.get("windows", {}), "windows")
    _keys(windows, "windows", ("checkin", "checkout"))
    default_ci = (
        _window(windows["checkin"], "windows.checkin")
        if "checkin" in windows
        else Window(_hhmm(rules.checkin_start), _hhmm(rules.checkin_end))
    )
    default_co = (
        _window(windows["checkout"], "windows.checkout")
        if "checkout" in windows
        else Window(_hhmm(rules.checkout_start), _hhmm(rules.checkout_end))
    )

    raw_groups = _table(data.get("groups"), "groups")
    groups: dict[str, ScheduleGroup] = {}
    for name, raw in raw_groups.items():
        groups[name] = _parse_group(name, raw, default_ci, default_co)
    if DEFAULT_GROUP not in groups:
        raise ConfigError(
            f"groups.{DEFAULT_GROUP} is missing (every book needs a default group: "
            "it serves employees whose group is unknown)"
        )

    raw_variants = data.get("variants", [])
    if not isinstance(raw_variants, list):
        raise ConfigError(
            f"variants must be an array of tables ([[variants]]), got {raw_variants!r}"
        )
    variants = tuple(
        _parse_variant(raw, f"variants[{i}]", groups) for i, raw in enumerate(raw_variants)
    )
    for i, a in enumerate(variants):
        for j in range(i):
            b = variants[j]
            shared = set(a.groups) & set(b.groups)
            if shared and a.start <= b.end and b.start <= a.end:
                raise ConfigError(
                    f"variants[{i}] ({a.name!r}) overlaps variants[{j}] ({b.name!r}) "
                    f"for group {sorted(shared)[0]!r}"
                )

    raw_bands = data.get("bands")
    if raw_bands is None:
        bands: tuple[BandTable, ...] = (DEFAULT_BANDS,)
    else:
        if not isinstance(raw_bands, list) or not raw_bands:
            raise ConfigError(
                f"bands must be a non-empty array of tables ([[bands]]), got {raw_bands!r}"
            )
        bands = tuple(_parse_bands(raw, f"bands[{i}]") for i, raw in enumerate(raw_bands))
        for i, table in enumerate(bands):
            for j in range(i):
                other = bands[j]
                a_end = table.valid_to or date.max
                b_end = other.valid_to or date.max
                if table.valid_from <= b_end and other.valid_from <= a_end:
                    raise ConfigError(f"bands[{i}] overlaps bands[{j}] in its validity dates")
    return ScheduleBook(groups=groups, variants=variants, bands=bands, source=source)


def _parse_group(name: str, raw: Any, ci: Window, co: Window) -> ScheduleGroup:
    where = f"groups.{name}"
    if not _GROUP_NAME.fullmatch(name):
        raise ConfigError(f"{where}: group names use letters, digits, . _ - (1-64 characters)")
    table = _table(raw, where)
    _keys(table, where, (*WEEKDAYS, "day_start", "checkin", "checkout", "observe_holidays"))
    missing = [d for d in WEEKDAYS if d not in table]
    if missing:
        raise ConfigError(
            f"{where}.{missing[0]} is missing (give every weekday a shift 'HH:MM-HH:MM' or 'off')"
        )
    days = tuple(_shift(table[d], f"{where}.{d}") for d in WEEKDAYS)
    day_start = _hhmm_value(table.get("day_start", "00:00"), f"{where}.day_start")
    checkin = _window(table["checkin"], f"{where}.checkin") if "checkin" in table else ci
    checkout = _window(table["checkout"], f"{where}.checkout") if "checkout" in table else co
    observe = table.get("observe_holidays", True)
    if not isinstance(observe, bool):
        raise ConfigError(f"{where}.observe_holidays must be true or false, got {observe!r}")
    group = ScheduleGroup(name, days, checkin, checkout, day_start, observe)
    for d, shift in zip(WEEKDAYS, days, strict=True):
        if shift is not None:
            _check_shift_fits(group, shift, f"{where}.{d}")
    return group


def _parse_variant(raw: Any, where: str, groups: Mapping[str, ScheduleGroup]) -> DatedVariant:
    table = _table(raw, where)
    _keys(table, where, ("name", "groups", "from", "to", *WEEKDAYS))
    for key in ("name", "groups", "from", "to"):
        if key not in table:
            raise ConfigError(f"{where}.{key} is missing")
    name = table["name"]
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}.name must be a non-empty string, got {name!r}")
    names = table["groups"]
    if not isinstance(names, list) or not names or not all(isinstance(g, str) for g in names):
        raise ConfigError(f"{where}.groups must be a non-empty list of group names, got {names!r}")
    for g in names:
        if g not in groups:
            raise ConfigError(
                f"{where}.groups names unknown group {g!r} (known: {', '.join(sorted(groups))})"
            )
    start = _date(table["from"], f"{where}.from")
    end = _date(table["to"], f"{where}.to")
    if end < start:
        raise ConfigError(f"{where}.to ({end}) is before {where}.from ({start})")
    days: dict[int, Shift | None] = {}
    for i, d in enumerate(WEEKDAYS):
        if d in table:
            days[i] = _shift(table[d], f"{where}.{d}")
    if not days:
        raise ConfigError(f'{where} changes no weekday (add e.g. mon = "08:00-15:00")')
    for g in names:
        for i, shift in days.items():
            if shift is not None:
                _check_shift_fits(groups[g], shift, f"{where}.{WEEKDAYS[i]} (group {g!r})")
    return DatedVariant(name.strip(), tuple(names), start, end, days)


def _parse_bands(raw: Any, where: str) -> BandTable:
    table = _table(raw, where)
    _keys(table, where, ("valid_from", "valid_to", "tl", "psw"))
    if "valid_from" not in table:
        raise ConfigError(f"{where}.valid_from is missing")
    valid_from = _date(table["valid_from"], f"{where}.valid_from")
    valid_to = _date(table["valid_to"], f"{where}.valid_to") if "valid_to" in table else None
    if valid_to is not None and valid_to < valid_from:
        raise ConfigError(f"{where}.valid_to ({valid_to}) is before valid_from ({valid_from})")
    tl = _bounds(table.get("tl", list(DEFAULT_BANDS.tl)), f"{where}.tl")
    psw = _bounds(table.get("psw", list(DEFAULT_BANDS.psw)), f"{where}.psw")
    return BandTable(valid_from, valid_to, tl, psw)


def _bounds(value: Any, where: str) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ConfigError(
            f"{where} must be a non-empty list of whole minutes (lower bound of each band, "
            f"e.g. [1, 31, 61, 91]), got {value!r}"
        )
    if value[0] < 1 or any(b <= a for a, b in itertools.pairwise(value)):
        raise ConfigError(f"{where} must start at >= 1 and strictly increase, got {value!r}")
    return tuple(value)


def _check_shift_fits(group: ScheduleGroup, shift: Shift, where: str) -> None:
    """The shift must lie inside the group's work date and its windows."""
    day = date(2026, 1, 5)  # any date: the check is about times of day only
    if shift.start < group.day_start:
        raise ConfigError(
            f"{where}: shift {shift} starts before the group's day_start "
            f"{group.day_start:%H:%M} (the work date is the start date)"
        )
    start = datetime.combine(day, shift.start)
    end = _after(start, shift.end)
    period_end = datetime.combine(day + timedelta(1), group.day_start)
    if end > period_end:
        raise ConfigError(
            f"{where}: shift {shift} ends after the next work date begins "
            f"(day_start {group.day_start:%H:%M}); set day_start between the shift end and "
            "the next shift start"
        )
    ci_start = _place(day, group.checkin.start, group.day_start, None)
    ci_end = _at_or_after(ci_start, group.checkin.end)
    co_start = _place(day, group.checkout.start, group.day_start, None)
    co_end = _at_or_after(co_start, group.checkout.end)
    if not ci_start <= start <= ci_end:
        raise ConfigError(
            f"{where}: shift {shift} starts outside the check-in window "
            f"{group.checkin.start:%H:%M}-{group.checkin.end:%H:%M} (set checkin for the group)"
        )
    if not co_start <= end <= co_end:
        raise ConfigError(
            f"{where}: shift {shift} ends outside the check-out window "
            f"{group.checkout.start:%H:%M}-{group.checkout.end:%H:%M} (set checkout for the group)"
        )


# --------------------------------------------------------------------------- helpers


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _table(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        raise ConfigError(f"{where} is missing")
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table, got {value!r}")
    return value


def _keys(table: Mapping[str, Any], where: str, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown key {prefix}{unknown[0]} (allowed here: {', '.join(sorted(allowed))})"
        )


def _hhmm(text: str) -> time:
    m = _HHMM.fullmatch(text)
    if not m:
        raise ConfigError(f"time must be HH:MM (00:00-23:59), got {text!r}")
    return time(int(m[1]), int(m[2]))


def _hhmm_value(value: Any, where: str) -> time:
    if not isinstance(value, str) or not _HHMM.fullmatch(value):
        raise ConfigError(f"{where} must be a time 'HH:MM' (00:00-23:59), got {value!r}")
    return _hhmm(value)


def _shift(value: Any, where: str) -> Shift | None:
    if value == "off":
        return None
    m = _SHIFT.fullmatch(value) if isinstance(value, str) else None
    if not m:
        raise ConfigError(
            f"{where} must be 'HH:MM-HH:MM' (e.g. '07:30-16:00') or 'off', got {value!r}"
        )
    shift = Shift(time(int(m[1]), int(m[2])), time(int(m[3]), int(m[4])))
    if shift.start == shift.end:
        raise ConfigError(f"{where}: a shift cannot start and end at the same time, got {value!r}")
    return shift


def _window(value: Any, where: str) -> Window:
    if not isinstance(value, list) or len(value) != 2:
        raise ConfigError(f'{where} must be a pair ["HH:MM", "HH:MM"], got {value!r}')
    start = _hhmm_value(value[0], f"{where}[0]")
    end = _hhmm_value(value[1], f"{where}[1]")
    if start == end:
        raise ConfigError(f"{where} is empty (start equals end), got {value!r}")
    return Window(start, end)


def _date(value: Any, where: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ConfigError(f"{where} must be a date such as 2026-02-18 (unquoted), got {value!r}")
    return value


def _place(day: date, t: time, day_start: time, tz: tzinfo | None) -> datetime:
    """First occurrence of ``t`` at or after ``day day_start``."""
    dt = datetime.combine(day, t, tzinfo=tz)
    return dt + timedelta(1) if t < day_start else dt


def _at_or_after(anchor: datetime, t: time) -> datetime:
    dt = datetime.combine(anchor.date(), t, tzinfo=anchor.tzinfo)
    return dt if dt >= anchor else dt + timedelta(1)


def _after(anchor: datetime, t: time) -> datetime:
    dt = datetime.combine(anchor.date(), t, tzinfo=anchor.tzinfo)
    return dt if dt > anchor else dt + timedelta(1)
