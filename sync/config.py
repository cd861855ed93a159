"""The ``[sync]`` section of ``config.toml``, owned by ``sync/``.

A frozen pydantic model (see :class:`hadir.configfile.Section`); the field
constraints are the allowed values. ``hadir/config.py`` composes it with the
other packages' sections.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from attendance.config import AttendanceConfig
from hadir.configfile import Section


class SyncSection(Section):
    enabled: bool = False
    protocol: Literal["native", "adms"] = "native"
    server_url: str = Field("", description="e.g. https://absensi.okikab.go.id")
    batch_size: int = Field(500, ge=1, le=5000)
    timeout_seconds: float = Field(10.0, ge=0.5, le=300.0)
    interval_seconds: float = Field(15.0, ge=0.5, le=3600.0)
    max_backoff_seconds: float = Field(300.0, ge=1.0, le=86400.0)
    adms_serial: str = Field("", description="serial number presented in ADMS mode")
    adms_pin_file: str = Field(
        "", description="CSV with nip and adms_pin columns (PINs of 1-9 digits)"
    )
    max_in_flight: int = Field(2, ge=1, le=8, description="punch batches under way at once")
    ca_file: str = Field(
        "",
        description="PEM of the CA or the server's own certificate to trust; empty = system CAs",
    )


class SyncConfig(AttendanceConfig):
    """What ``sync/`` reads of the whole file: attendance's sections and ``[sync]``."""

    sync: SyncSection = Field(default_factory=SyncSection)
