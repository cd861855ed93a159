"""The ``[server]`` section of ``config.toml``, owned by ``server/``.

A frozen pydantic model (see :class:`hadir.configfile.Section`); the field
constraints are the allowed values. :func:`server.settings.settings_from_config`
turns it into the running server's settings.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from attendance.config import AttendanceConfig
from hadir.configfile import Section, default_data_dir


def _server_data_dir() -> str:
    return str(default_data_dir("server"))


class ServerSection(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    data_dir: str = Field(
        default_factory=_server_data_dir,
        description="the server's data folder (SQLite database, admin token, server-keys/, "
        "attachments); default "
        "/var/lib/hadir/server as root, else $XDG_DATA_HOME/hadir/server",
    )
    database_url: str = Field("", description="empty = SQLite in <data_dir>/server.db")
    admin_token_file: str = Field("", description="empty = <data_dir>/admin-token")
    max_batch: int = Field(1000, ge=1, le=100000)
    max_body_bytes: int = Field(4_000_000, ge=1024, le=1_000_000_000)
    adms_serials: list[str] = Field(default_factory=list)
    max_future_seconds: int = Field(3600, ge=0, le=31_536_000)
    max_age_days: int = Field(400, ge=1, le=36500)
    rate_limit_per_second: float = Field(10.0, ge=0.0, le=100000.0, description="0 = no limit")
    rate_limit_burst: int = Field(40, ge=1, le=100000)
    adms_max_pending: int = Field(20, ge=0, le=10000, description="unknown serials kept pending")
    adms_requests_per_second: float = Field(2.0, ge=0.0, le=10000.0, description="0 = no limit")
    adms_request_burst: int = Field(30, ge=1, le=100000)
    adms_max_lines_per_hour: int = Field(20000, ge=1, le=10_000_000)
    adms_pin_burst: int = Field(8, ge=1, le=1000)
    adms_pin_burst_minutes: int = Field(10, ge=1, le=1440)
    zk_machines: list[str] = Field(
        default_factory=list, description="HOST[:PORT] of ZKTeco machines pulled over TCP"
    )
    zk_pull_minutes: int = Field(15, ge=1, le=1440)
    body_timeout_seconds: float = Field(30.0, ge=1.0, le=3600.0)
    source_rate_limit_per_second: float = Field(
        20.0, ge=0.0, le=100000.0, description="0 = no limit"
    )
    source_rate_limit_burst: int = Field(400, ge=1, le=100000)
    auth_failures_per_minute: int = Field(30, ge=1, le=100000)
    tls_certfile: str = Field("", description="PEM certificate chain; with tls_keyfile = HTTPS")
    tls_keyfile: str = Field("", description="PEM private key of tls_certfile")
    close_month_after_day: int = Field(5, ge=1, le=28)
    discipline_hours_per_day: float = Field(7.5, ge=1.0, le=24.0)
    max_attachment_bytes: int = Field(2_000_000, ge=1024, le=50_000_000)
    single_punch_tl: str = Field(
        "", pattern=r"^(TL[1-9])?$", description="empty = the last TL band"
    )
    single_punch_psw: str = Field(
        "", pattern=r"^(PSW[1-9])?$", description="empty = the last PSW band"
    )


class ServerConfig(AttendanceConfig):
    """What ``server/`` reads of the whole file: attendance's sections and ``[server]``."""

    server: ServerSection = Field(default_factory=ServerSection)

    @property
    def server_data_dir(self) -> Path:
        return Path(self.server.data_dir)
