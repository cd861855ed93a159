"""The ``[kiosk]`` section of ``config.toml``, owned by ``kiosk/`` (no Qt here)."""

from __future__ import annotations

from pydantic import Field

from hadir.configfile import Section


class KioskSection(Section):
    fullscreen: bool = True
    width: int = Field(800, ge=320, le=7680)
    height: int = Field(480, ge=240, le=4320)
    result_seconds: float = Field(4.0, ge=1.0, le=60.0)
    sound: bool = True
    review_wait_seconds: float = Field(1.2, ge=0.0, le=30.0)
    admin_idle_seconds: float = Field(120.0, ge=10.0, le=3600.0)
