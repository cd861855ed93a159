"""The sections of ``config.toml`` that ``attendance/`` owns: device, store, rules, admin.

Each section is a frozen pydantic model whose field constraints are the
allowed values (see :class:`hadir.configfile.Section`). Defaults are those of
an OKI office (WIB, Asia/Jakarta). Adding a key: add the field here and a
commented line in the top-level ``config.toml`` (a test checks the two agree).
``hadir/config.py`` composes these with the other packages' sections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from hadir.configfile import Section, SectionView, default_data_dir

HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
Clock = Annotated[str, Field(pattern=HHMM)]


def _kiosk_data_dir() -> str:
    return str(default_data_dir("kiosk"))


class DeviceSection(Section):
    id: str = Field("kiosk-01", pattern=r"^[A-Za-z0-9._-]{1,64}$", description="device id")
    opd_code: str = Field("DISKOMINFO", pattern=r"^[A-Za-z0-9._-]{1,32}$")
    opd_name: str = "Dinas Komunikasi dan Informatika"
    timezone: str = "Asia/Jakarta"
    data_dir: str = Field(
        default_factory=_kiosk_data_dir,
        description="the kiosk's data folder; default /var/lib/hadir/kiosk as root, "
        "else $XDG_DATA_HOME/hadir/kiosk",
    )
    language: Literal["id", "en"] = "id"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"must be an IANA zone such as 'Asia/Jakarta', got {value!r}"
            ) from None
        return value


class StoreSection(Section):
    snapshot_retention_days: int = Field(60, ge=1, le=3650)
    snapshot_max_mb: int = Field(500, ge=1, le=100000)
    key_dir: str = Field("", description="where the key files live; empty = <data_dir>/keys")


class RulesSection(Section):
    duplicate_window_minutes: int = Field(5, ge=0, le=240)
    checkin_start: Clock = "06:00"
    checkin_end: Clock = "10:00"
    checkout_start: Clock = "14:00"
    checkout_end: Clock = "18:00"
    schedules_file: str = Field("", description="TOML with schedule groups; empty = built-in")
    calendar_file: str = Field("", description="holidays and cuti bersama; empty = none")


class AdminSection(Section):
    max_attempts: int = Field(5, ge=1, le=100)
    lockout_seconds: float = Field(30.0, ge=1.0, le=86400.0)
    max_lockout_seconds: float = Field(86400.0, ge=1.0, le=604800.0)


class AttendanceConfig(SectionView):
    """What ``attendance/`` reads of the whole file."""

    device: DeviceSection = Field(default_factory=DeviceSection)
    store: StoreSection = Field(default_factory=StoreSection)
    rules: RulesSection = Field(default_factory=RulesSection)
    admin: AdminSection = Field(default_factory=AdminSection)

    @property
    def data_dir(self) -> Path:
        return Path(self.device.data_dir)
