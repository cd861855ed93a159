"""The server's settings, built from ``config.toml`` by the composition root."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attendance.config import HadirConfig

SERVER_DB_FILENAME = "server.db"
ADMIN_TOKEN_FILENAME = "admin-token"  # noqa: S105 - a file name


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


def settings_from_config(cfg: HadirConfig) -> ServerSettings:
    section = cfg.server
    data_dir = cfg.data_dir
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
        rules=dataclasses.asdict(cfg.rules),
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
    return json.dumps(data)


def settings_from_json(text: str) -> ServerSettings:
    data = json.loads(text)
    data["admin_token_file"] = Path(data["admin_token_file"])
    data["adms_serials"] = tuple(data["adms_serials"])
    return ServerSettings(**data)
