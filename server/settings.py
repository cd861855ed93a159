"""The server's settings, built from ``config.toml`` by the composition root."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from server.config import ServerConfig

SERVER_DB_FILENAME = "server.db"
ADMIN_TOKEN_FILENAME = "admin-token"  # noqa: S105 - a file name
KEY_DIR_NAME = "server-keys"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ServerSettings:
    """Everything :func:`server.app.create_app` needs; nothing is read from globals."""

    database_url: str
    admin_token_file: Path
    timezone: str = "Asia/Jakarta"
    host: str = "127.0.0.1"
    port: int = 8080
    max_batch: int = 1000
    max_body_bytes: int = 4_000_000
    adms_serials: tuple[str, ...] = ()
    max_future_seconds: int = 3600
    max_age_days: int = 400
    max_templates: int = 500
    enrollment_code_hours: int = 72
    rate_limit_per_second: float = 10.0
    rate_limit_burst: int = 40
    adms_max_pending: int = 20
    adms_requests_per_second: float = 2.0
    adms_request_burst: int = 30
    adms_max_lines_per_hour: int = 20000
    adms_pin_burst: int = 8
    adms_pin_burst_minutes: int = 10
    zk_machines: tuple[str, ...] = ()
    zk_pull_minutes: int = 15
    # Where the server's signing and template keys live; None = beside the admin token.
    key_dir: Path | None = None
    body_timeout_seconds: float = 30.0
    source_rate_limit_per_second: float = 20.0
    source_rate_limit_burst: int = 400
    auth_failures_per_minute: int = 30
    tls_certfile: str = ""
    tls_keyfile: str = ""
    max_connections: int = 2000
    # The ledger (server.ledger): the [rules] section (schedules, calendar,
    # windows) as a plain dict, the data directory (attachments), closing and
    # discipline settings.
    rules: dict[str, Any] = field(default_factory=dict)
    data_dir: str = ""
    close_month_after_day: int = 5
    discipline_hours_per_day: float = 7.5
    max_attachment_bytes: int = 2_000_000
    single_punch_tl: str = ""
    single_punch_psw: str = ""
    # Injected for tests (timestamp sanity, code expiry); the wall clock otherwise.
    clock: Callable[[], datetime] = field(default=utc_now, compare=False)

    @property
    def server_key_dir(self) -> Path:
        return self.key_dir or self.admin_token_file.parent / KEY_DIR_NAME


def settings_from_config(cfg: ServerConfig) -> ServerSettings:
    section = cfg.server
    data_dir = cfg.server_data_dir
    database_url = section.database_url or f"sqlite:///{data_dir / SERVER_DB_FILENAME}"
    token_file = (
        Path(section.admin_token_file)
        if section.admin_token_file
        else data_dir / ADMIN_TOKEN_FILENAME
    )
    return ServerSettings(
        database_url=database_url,
        admin_token_file=token_file,
        timezone=cfg.device.timezone,
        host=section.host,
        port=section.port,
        max_batch=section.max_batch,
        max_body_bytes=section.max_body_bytes,
        adms_serials=tuple(section.adms_serials),
        max_future_seconds=section.max_future_seconds,
        max_age_days=section.max_age_days,
        rate_limit_per_second=section.rate_limit_per_second,
        rate_limit_burst=section.rate_limit_burst,
        adms_max_pending=section.adms_max_pending,
        adms_requests_per_second=section.adms_requests_per_second,
        adms_request_burst=section.adms_request_burst,
        adms_max_lines_per_hour=section.adms_max_lines_per_hour,
        adms_pin_burst=section.adms_pin_burst,
        adms_pin_burst_minutes=section.adms_pin_burst_minutes,
        zk_machines=tuple(section.zk_machines),
        zk_pull_minutes=section.zk_pull_minutes,
        key_dir=data_dir / KEY_DIR_NAME,
        body_timeout_seconds=section.body_timeout_seconds,
        source_rate_limit_per_second=section.source_rate_limit_per_second,
        source_rate_limit_burst=section.source_rate_limit_burst,
        auth_failures_per_minute=section.auth_failures_per_minute,
        tls_certfile=section.tls_certfile,
        tls_keyfile=section.tls_keyfile,
        rules=cfg.rules.model_dump(),
        data_dir=str(data_dir),
        close_month_after_day=section.close_month_after_day,
        discipline_hours_per_day=section.discipline_hours_per_day,
        max_attachment_bytes=section.max_attachment_bytes,
        single_punch_tl=section.single_punch_tl,
        single_punch_psw=section.single_punch_psw,
    )


SETTINGS_ENV = "HADIR_SERVER_SETTINGS"


def settings_to_json(settings: ServerSettings) -> str:
    """The settings as JSON (without the clock), for worker processes."""
    data = {f.name: getattr(settings, f.name) for f in fields(settings) if f.name != "clock"}
    data["admin_token_file"] = str(settings.admin_token_file)
    data["adms_serials"] = list(settings.adms_serials)
    data["zk_machines"] = list(settings.zk_machines)
    data["key_dir"] = str(settings.key_dir) if settings.key_dir else None
    return json.dumps(data)


def settings_from_json(text: str) -> ServerSettings:
    data = json.loads(text)
    data["admin_token_file"] = Path(data["admin_token_file"])
    data["adms_serials"] = tuple(data["adms_serials"])
    data["zk_machines"] = tuple(data.get("zk_machines", ()))
    data["key_dir"] = Path(data["key_dir"]) if data.get("key_dir") else None
    return ServerSettings(**data)
