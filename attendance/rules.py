"""Punch rules of ASN working time: duplicate window, masuk/pulang, TL/PSW.

Pure functions over injected instants: no clock, no I/O, no logging.

How a caller records a punch (the :class:`PunchRecorder` does this)::

    start, end = rules.query_range(group, now_utc)
    earlier = store.punch_times(employee, start, end)   # UTC, aware
    decision = rules.decide(group, now_utc, earlier)
    if decision.duplicate_of is None:
        store the punch with decision.direction
    show describe(decision, lang)

Rules (all times local to the office time zone, minutes counted on the
punch's minute, i.e. seconds are dropped: 07:30:59 is on time, 07:31:00 is
1 minute late; leaving at 15:59:59 with a 16:00 end is 1 minute early):

- *Work date*: the group's ``day_start`` decides which work date an instant
  belongs to (see :mod:`attendance.schedule`); a night shift belongs to the
  date it starts on.
- *Duplicate*: a stored punch within ``duplicate_window_minutes`` (either
  side, to survive a small clock step back) makes this punch a duplicate; it
  is not to be stored. The decision then describes the punch already
  recorded (its direction and minutes) and ``duplicate_of`` gives its time.
- *Direction*: the first punch of a work date is ``masuk``, unless it falls
  after the check-in window and inside the check-out window (the person
  forgot to check in): then it is ``pulang``. Every later punch is a
  ``pulang`` candidate; the last one wins (:meth:`PunchRules.summarize`).
- *Lateness*: ``masuk`` minutes after the scheduled start -> TL band;
  ``pulang`` minutes before the scheduled end -> PSW band, from the band
  table valid on the work date (no table: minutes without a category).
- *Non-working days*: weekends/days off of the group, and calendar holidays
  (libur nasional, cuti bersama) for groups that observe them, have no
  schedule, no minutes and no window check.
- *Windows*: ``outside_window`` is set when a ``masuk`` falls outside the
  check-in window or a ``pulang`` outside the check-out window (edges
  inclusive to the minute). It informs; it never refuses a punch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from attendance.config import RulesSection
from attendance.schedule import DayPlan, HolidayCalendar, ScheduleBook

Direction = Literal["masuk", "pulang"]
_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class RuleDecision:
    """What the rules say about one punch (or, for a duplicate, the recorded one).

    ``scheduled_start``/``scheduled_end`` and ``at_local`` are aware local
    datetimes; ``duplicate_of`` is an aware UTC datetime.
    """

    duplicate_of: datetime | None
    direction: Direction
    work_date: date
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    late_minutes: int
    early_minutes: int
    category: str | None  # "TL1".."TL4" for masuk, "PSW1".."PSW4" for pulang, None if on time
    is_workday: bool
    holiday_name: str | None
    outside_window: bool
    at_local: datetime  # the punch being decided, local time
    schedule_group: str  # the group actually applied ("default" when the asked one is unknown)
    variant: str | None = None  # the dated variant that set the shift, e.g. "Ramadan 1447 H"

    @property
    def local_offset_minutes(self) -> int:
        offset = self.at_local.utcoffset()
        return 0 if offset is None else int(offset.total_seconds() // 60)


@dataclass(frozen=True)
class DaySummary:
    """A work date of one person: first punch is masuk, the last is pulang.

    A missing masuk (or pulang) on a working day gets the highest TL (PSW)
    band ("no punch at all") with minutes ``None``.
    """

    work_date: date
    is_workday: bool
    holiday_name: str | None
    masuk: datetime | None  # UTC
    pulang: datetime | None  # UTC
    late_minutes: int | None
    early_minutes: int | None
    tl: str | None
    psw: str | None


class PunchRules:
    """The rules of one kiosk: config, schedules, calendar and office time zone."""

    def __init__(
        self,
        rules: RulesSection,
        book: ScheduleBook,
        calendar: HolidayCalendar,
        tz: ZoneInfo,
    ) -> None:
        self.rules = rules
        self.book = book
        self.calendar = calendar
        self.tz = tz
        self.duplicate_window = timedelta(minutes=rules.duplicate_window_minutes)

    # ------------------------------------------------------------------ periods

    def plan_at(self, schedule_group: str, at_utc: datetime) -> DayPlan:
        """The schedule of the work date ``at_utc`` belongs to."""
        local = _aware(at_utc, "at_utc").astimezone(self.tz)
        group = self.book.group(schedule_group).name
        return self.book.plan(group, self.book.work_date_of(group, local), self.tz)

    def work_period(self, schedule_group: str, at_utc: datetime) -> tuple[datetime, datetime]:
        """UTC ``[start, end)`` of the work date that ``at_utc`` belongs to."""
        plan = self.plan_at(schedule_group, at_utc)
        return plan.period_start.astimezone(UTC), plan.period_end.astimezone(UTC)

    def query_range(self, schedule_group: str, at_utc: datetime) -> tuple[datetime, datetime]:
        """UTC ``[start, end)`` of the stored punches :meth:`decide` needs.

        The work period, widened at its start by the duplicate window so a
        double punch across the day boundary is still caught. Load the
        person's punches with ``start <= utc < end``.
        """
        start, end = self.work_period(schedule_group, at_utc)
        return start - self.duplicate_window, end

    # ------------------------------------------------------------------ decide

    def decide(
        self,
        schedule_group: str,
        at_utc: datetime,
        earlier_today_utc: Sequence[datetime],
    ) -> RuleDecision:
        """Decide a punch at ``at_utc`` given the person's stored punches of :meth:`query_range`."""
        at = _aware(at_utc, "at_utc").astimezone(UTC)
        stored = sorted(_aware(p, "earlier_today_utc").astimezone(UTC) for p in earlier_today_utc)
        duplicate = self._duplicate_of(at, stored)
        if duplicate is None:
            return self._assess(schedule_group, at, stored, at, None)
        before = [p for p in stored if p < duplicate]
        return self._assess(schedule_group, duplicate, before, at, duplicate)

    def summarize(
        self,
        schedule_group: str,
        work_date: date,
        punches_utc: Sequence[datetime],
        plan: DayPlan | None = None,
    ) -> DaySummary:
        """Masuk/pulang and TL/PSW of one work date from all of a person's punches.

        Punches outside the work date's period are ignored; the last punch
        (after the first) is the pulang. ``plan`` may pass in
        ``book.plan(group, work_date, tz)`` when the caller summarizes many
        people of one group and date (the server's ledger does).
        """
        group = self.book.group(schedule_group).name
        if plan is None or plan.group != group or plan.work_date != work_date:
            plan = self.book.plan(group, work_date, self.tz)
        start = plan.period_start.astimezone(UTC)
        end = plan.period_end.astimezone(UTC)
        inside = sorted(
            p
            for p in (_aware(x, "punches_utc").astimezone(UTC) for x in punches_utc)
            if start <= p < end
        )
        holiday = self._holiday(group, work_date)
        is_workday = plan.shift is not None and holiday is None
        masuk: datetime | None = None
        pulang: datetime | None = None
        if inside:
            first_dir = self._first_direction(
                plan, _minute(inside[0].astimezone(self.tz)), is_workday
            )
            if first_dir == "masuk":
                masuk = inside[0]
                pulang = inside[-1] if len(inside) > 1 else None
            else:
                pulang = inside[-1]
        late = early = None
        tl = psw = None
        if is_workday:
            bands = self.book.bands_on(work_date)
            assert plan.scheduled_start is not None and plan.scheduled_end is not None
            if masuk is not None:
                late = _late(_minute(masuk.astimezone(self.tz)), plan.scheduled_start)
                tl = bands.category(late, "TL") if bands else None
            elif bands:
                tl = f"TL{len(bands.tl)}"
            if pulang is not None:
                early = _early(_minute(pulang.astimezone(self.tz)), plan.scheduled_end)
                psw = bands.category(early, "PSW") if bands else None
            elif bands:
                psw = f"PSW{len(bands.psw)}"
        return DaySummary(
            work_date=work_date,
            is_workday=is_workday,
            holiday_name=holiday,
            masuk=masuk,
            pulang=pulang,
            late_minutes=late,
            early_minutes=early,
            tl=tl,
            psw=psw,
        )

    # ------------------------------------------------------------------ internals

    def _duplicate_of(self, at: datetime, stored: Sequence[datetime]) -> datetime | None:
        if self.duplicate_window <= timedelta(0):
            return None
        near = [p for p in stored if abs(at - p) < self.duplicate_window]
        return min(near, key=lambda p: (abs(at - p), -p.timestamp())) if near else None

    def _holiday(self, group: str, work_date: date) -> str | None:
        if not self.book.group(group).observe_holidays:
            return None
        holiday = self.calendar.get(work_date)
        return holiday.name if holiday else None

    @staticmethod
    def _first_direction(plan: DayPlan, minute: datetime, is_workday: bool) -> Direction:
        if is_workday and minute > plan.checkin_end and minute >= plan.checkout_start:
            return "pulang"
        return "masuk"

    def _assess(
        self,
        schedule_group: str,
        instant: datetime,
        stored: Sequence[datetime],
        at: datetime,
        duplicate_of: datetime | None,
    ) -> RuleDecision:
        plan = self.plan_at(schedule_group, instant)
        period_start = plan.period_start.astimezone(UTC)
        period_end = plan.period_end.astimezone(UTC)
        in_period = [p for p in stored if period_start <= p < period_end]
        holiday = self._holiday(plan.group, plan.work_date)
        is_workday = plan.shift is not None and holiday is None
        minute = _minute(instant.astimezone(self.tz))
        direction: Direction = (
            "pulang" if in_period else self._first_direction(plan, minute, is_workday)
        )
        late = early = 0
        category: str | None = None
        outside = False
        if is_workday:
            assert plan.scheduled_start is not None and plan.scheduled_end is not None
            bands = self.book.bands_on(plan.work_date)
            if direction == "masuk":
                late = _late(minute, plan.scheduled_start)
                category = bands.category(late, "TL") if bands else None
                outside = not plan.checkin_start <= minute <= plan.checkin_end
            else:
                early = _early(minute, plan.scheduled_end)
                category = bands.category(early, "PSW") if bands else None
                outside = not plan.checkout_start <= minute <= plan.checkout_end
        return RuleDecision(
            duplicate_of=duplicate_of,
            direction=direction,
            work_date=plan.work_date,
            scheduled_start=plan.scheduled_start if is_workday else None,
            scheduled_end=plan.scheduled_end if is_workday else None,
            late_minutes=late,
            early_minutes=early,
            category=category,
            is_workday=is_workday,
            holiday_name=holiday,
            outside_window=outside,
            at_local=at.astimezone(self.tz),
            schedule_group=plan.group,
            variant=plan.variant if is_workday else None,
        )


# --------------------------------------------------------------------------- text


_TEXT = {
    "id": {
        "duplicate": "Sudah tercatat pukul {time}",
        "late": "Terlambat {n} menit",
        "early": "Pulang cepat {n} menit",
        "on_time": "Tepat waktu",
        "holiday": "Hari libur: {name}",
        "day_off": "Bukan hari kerja",
        "outside": "di luar jam absen",
        "masuk": "Masuk",
        "pulang": "Pulang",
    },
    "en": {
        "duplicate": "Already recorded at {time}",
        "late": "Late {n} {minutes}",
        "early": "Left early {n} {minutes}",
        "on_time": "On time",
        "holiday": "Holiday: {name}",
        "day_off": "Not a working day",
        "outside": "outside punch hours",
        "masuk": "Check-in",
        "pulang": "Check-out",
    },
}


def describe(decision: RuleDecision, lang: str = "id") -> str:
    """Short UI text: "Terlambat 12 menit (TL1)", "Pulang cepat 20 menit (PSW1)", ...

    ``lang`` is "id" (Bahasa Indonesia) or "en".
    """
    if lang not in _TEXT:
        raise ValueError(f"lang must be one of {', '.join(sorted(_TEXT))}, got {lang!r}")
    t = _TEXT[lang]
    if decision.duplicate_of is not None:
        local = decision.duplicate_of.astimezone(decision.at_local.tzinfo)
        return t["duplicate"].format(time=f"{local:%H:%M}")
    if not decision.is_workday:
        if decision.holiday_name:
            return t["holiday"].format(name=decision.holiday_name)
        return t["day_off"]
    n = decision.late_minutes if decision.direction == "masuk" else decision.early_minutes
    minutes = "minute" if n == 1 else "minutes"
    if n > 0:
        key = "late" if decision.direction == "masuk" else "early"
        text = t[key].format(n=n, minutes=minutes)
        if decision.category:
            text += f" ({decision.category})"
    else:
        text = t["on_time"]
    if decision.outside_window:
        text += f", {t['outside']}"
    return text


def direction_label(decision: RuleDecision, lang: str = "id") -> str:
    """ "Masuk" / "Pulang" (or "Check-in" / "Check-out")."""
    if lang not in _TEXT:
        raise ValueError(f"lang must be one of {', '.join(sorted(_TEXT))}, got {lang!r}")
    return _TEXT[lang][decision.direction]


# --------------------------------------------------------------------------- helpers


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (UTC), got naive {value!r}")
    return value


def _minute(local: datetime) -> datetime:
    return local.replace(second=0, microsecond=0)


def _late(minute: datetime, scheduled_start: datetime) -> int:
    return max(0, (minute.astimezone(UTC) - scheduled_start.astimezone(UTC)) // _MINUTE)


def _early(minute: datetime, scheduled_end: datetime) -> int:
    return max(0, (scheduled_end.astimezone(UTC) - minute.astimezone(UTC)) // _MINUTE)
