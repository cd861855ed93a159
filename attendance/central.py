"""Schedule groups and holiday calendars published by the central server.

The server's change feed carries two kinds of opaque documents next to the
roster and templates (see ``server.roster``):

- ``schedule_group``, key = the group name, data = the keys of a
  ``[groups.<name>]`` table of the schedules file (``mon`` ... ``sun``,
  ``day_start``, ``checkin``, ``checkout``, ``observe_holidays``);
- ``calendar``, any key (e.g. ``"2026"``), data =
  ``{"days": [{"date": "2026-03-21", "name": "...", "kind": "libur nasional"}]}``.

A kiosk keeps the ones it received in its own database (``device_state``), so
they survive restarts and apply while offline, and lays them over its local
files: a central group replaces the local group of the same name, a central
holiday is added to (or replaces, on the same date) the local calendar. A
document that does not validate is refused with the reason and not stored;
the previous version of it stays in force.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Any, Literal

from attendance.config import RulesSection
from attendance.configfile import ConfigError
from attendance.schedule import (
    Holiday,
    HolidayCalendar,
    ScheduleBook,
    ScheduleGroup,
    parse_calendar_document,
    parse_group_document,
)
from attendance.store import DeviceStateStore

log = logging.getLogger(__name__)

DocumentKind = Literal["schedule_group", "calendar"]
DOCUMENT_KINDS: tuple[DocumentKind, ...] = ("schedule_group", "calendar")
#: ``device_state`` key holding every received document as one JSON object.
STATE_KEY = "central_documents"


class CentralDocuments:
    """The central documents this kiosk holds, validated against its ``[rules]``."""

    def __init__(self, state: DeviceStateStore, rules: RulesSection) -> None:
        self._state = state
        self.rules = rules
        self._lock = threading.Lock()

    def load(self) -> dict[str, dict[str, Any]]:
        """``{kind: {key: data}}`` of every stored document."""
        raw = self._state.get(STATE_KEY)
        docs = json.loads(raw) if raw else {}
        return {kind: dict(docs.get(kind, {})) for kind in DOCUMENT_KINDS}

    def put(self, kind: str, key: str, data: Any) -> None:
        """Validate and store one document; ConfigError (nothing stored) if it is invalid."""
        self.validate(kind, key, data)
        with self._lock:
            docs = self.load()
            docs[kind][key] = data
            self._state.set(STATE_KEY, json.dumps(docs, ensure_ascii=False, sort_keys=True))

    def delete(self, kind: str, key: str) -> bool:
        """Forget one document; False if it was not held."""
        _check_kind(kind)
        with self._lock:
            docs = self.load()
            if docs[kind].pop(key, None) is None:
                return False
            self._state.set(STATE_KEY, json.dumps(docs, ensure_ascii=False, sort_keys=True))
            return True

    def validate(self, kind: str, key: str, data: Any) -> None:
        _check_kind(kind)
        where = f"central {kind} {key!r}"
        if kind == "schedule_group":
            parse_group_document(key, data, self.rules)
        else:
            parse_calendar_document(data, where)

    def apply(
        self, book: ScheduleBook, calendar: HolidayCalendar
    ) -> tuple[ScheduleBook, HolidayCalendar]:
        """``book`` and ``calendar`` with the stored documents laid over them."""
        return apply_documents(book, calendar, self.load(), self.rules)


def apply_documents(
    book: ScheduleBook,
    calendar: HolidayCalendar,
    docs: Mapping[str, Mapping[str, Any]],
    rules: RulesSection,
) -> tuple[ScheduleBook, HolidayCalendar]:
    """``book`` and ``calendar`` with ``docs`` (``{kind: {key: data}}``) laid over them.

    The one place that merges central documents: the kiosk (through
    :meth:`CentralDocuments.apply`) and the server's ledger use it, so both
    apply the same schedules and holidays.
    """
    held = {kind: dict(docs.get(kind, {})) for kind in DOCUMENT_KINDS}
    groups: dict[str, ScheduleGroup] = dict(book.groups)
    days: dict[date, Holiday] = dict(calendar.days)
    # A stored document that no longer validates (the local [rules] changed
    # since) is left out with a warning rather than stopping the kiosk.
    for name, data in sorted(held["schedule_group"].items()):
        try:
            groups[name] = parse_group_document(name, data, rules)
        except ConfigError as exc:
            log.warning("central schedule group %r left out: %s", name, exc)
    for key, data in sorted(held["calendar"].items()):
        try:
            days.update(parse_calendar_document(data, f"central calendar {key!r}"))
        except ConfigError as exc:
            log.warning("central calendar %r left out: %s", key, exc)
    if held["schedule_group"]:
        book = replace(book, groups=groups, source=f"{book.source} + central")
    if held["calendar"]:
        calendar = HolidayCalendar(days=days, source=f"{calendar.source} + central")
    return book, calendar


def _check_kind(kind: str) -> None:
    if kind not in DOCUMENT_KINDS:
        raise ConfigError(f"document kind must be one of {', '.join(DOCUMENT_KINDS)}, got {kind!r}")
