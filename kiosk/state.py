"""Qt-free view state of every kiosk screen.

Widgets render these frozen dataclasses and nothing else; the
:class:`kiosk.controller.KioskController` produces them. All text is already
translated and formatted here, so a widget never decides what to say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from kiosk.i18n import Catalogue

Screen = Literal["attendance", "pin", "admin_pin", "admin_menu", "enroll", "people", "device"]
GuidanceKind = Literal["info", "warn", "challenge", "error", "busy"]
SyncMode = Literal["online", "offline", "disabled", "unregistered"]
ResultKind = Literal["success", "duplicate", "not_recognised", "error"]
EnrollStep = Literal["search", "consent", "capture", "finger", "duplicate", "saved", "failed"]


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in frame pixels; ``ok`` when the quality gate passed it."""

    left: int
    top: int
    right: int
    bottom: int
    ok: bool = True


@dataclass(frozen=True)
class SyncIndicator:
    mode: SyncMode
    pending: int
    text: str


@dataclass(frozen=True)
class ResultState:
    kind: ResultKind
    title: str
    name: str = ""
    nip: str = ""
    time_text: str = ""
    direction_text: str = ""
    lateness_text: str = ""
    note: str = ""
    snapshot_jpeg: bytes | None = None
    offer_pin: bool = False
    # A borderline face's nearest person: the PIN keypad opens for this NIP
    # (never shown on the card; back on an empty PIN asks for another NIP).
    pin_nip: str = ""


@dataclass(frozen=True)
class AttendanceState:
    guidance_code: str
    guidance_text: str
    guidance_kind: GuidanceKind
    clock_text: str
    date_text: str
    opd_name: str
    sync: SyncIndicator
    face_box: FaceBox | None = None
    result: ResultState | None = None
    pin_button_text: str = ""


@dataclass(frozen=True)
class KeypadState:
    """A numeric entry: ``shown`` is what the display prints (PINs masked)."""

    title: str
    prompt: str
    shown: str
    error: str = ""
    ok_text: str = "OK"
    back_text: str = ""
    cancel_text: str = ""
    max_len: int = 18


@dataclass(frozen=True)
class PersonRow:
    nip: str
    name: str
    unit: str = ""
    template_count: int = 0
    enrolled_text: str = ""


@dataclass(frozen=True)
class EnrollState:
    step: EnrollStep
    title: str
    query: str = ""
    candidates: tuple[PersonRow, ...] = ()
    person: PersonRow | None = None
    body: str = ""
    done: int = 0
    total: int = 0
    prompt: str = ""
    quality: str = ""
    message: str = ""
    face_box: FaceBox | None = None


@dataclass(frozen=True)
class PeopleState:
    query: str = ""
    rows: tuple[PersonRow, ...] = ()
    pending_erase: str = ""
    message: str = ""


@dataclass(frozen=True)
class DeviceState:
    rows: tuple[tuple[str, str], ...] = ()
    export_path: str = ""
    message: str = ""


@dataclass(frozen=True)
class AdminMenuState:
    title: str
    items: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def format_clock(now: datetime) -> str:
    return now.strftime("%H:%M:%S")


def format_time(now: datetime) -> str:
    return now.strftime("%H:%M")


def format_date(now: datetime, cat: Catalogue) -> str:
    """``Sabtu, 28 November 2026`` (no locale database needed)."""
    weekday = cat.text(f"weekday.{now.weekday()}")
    month = cat.text(f"month.{now.month}")
    return f"{weekday}, {now.day} {month} {now.year}"


def mask_pin(digits: str) -> str:
    return "\u25cf" * len(digits)


def group_nip(digits: str) -> str:
    """NIP shown in its printed groups: 19850312 201001 1 002."""
    groups = (8, 6, 1, 3)
    out: list[str] = []
    pos = 0
    for size in groups:
        if pos >= len(digits):
            break
        out.append(digits[pos : pos + size])
        pos += size
    return " ".join(out)
