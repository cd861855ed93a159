"""The schema of ``config.toml``: one frozen dataclass per section.

Each package reads only its own section; the composition roots (``kiosk/``
and ``server/``) load the file once and pass sections in through
constructors. Defaults are those of an OKI office (WIB, Asia/Jakarta).
Adding a key: add the field here with ``setting(...)`` and a commented line
in the top-level ``config.toml`` (a test checks the two agree).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attendance.configfile import ConfigError, load_toml, setting


@dataclass(frozen=True)
class DeviceSection:
    id: str = setting("kiosk-01", pattern=r"[A-Za-z0-9._-]{1,64}", doc="device id")
    opd_code: str = setting("DISKOMINFO", pattern=r"[A-Za-z0-9._-]{1,32}")
    opd_name: str = setting("Dinas Komunikasi dan Informatika")
    timezone: str = setting("Asia/Jakarta")
    data_dir: str = setting("/var/lib/hadir")
    language: str = setting("id", choices=("id", "en"))

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                "device.timezone must be an IANA zone such as 'Asia/Jakarta', "
                f"got {self.timezone!r}"
            ) from None


@dataclass(frozen=True)
class CameraSection:
    source: Literal["camera", "video", "images"] = "camera"
    index: int = setting(0, min=0, max=63)
    device: str = setting("", doc="device path such as /dev/video0; overrides index")
    path: str = setting("", doc="video file or image folder for source = video/images")
    loop: bool = True
    width: int = setting(640, min=160, max=3840)
    height: int = setting(480, min=120, max=2160)
    fps: int = setting(15, min=1, max=60)
    reconnect_seconds: float = setting(2.0, min=0.1, max=300.0)


@dataclass(frozen=True)
class DetectorSection:
    backend: Literal["hog", "yunet"] = "yunet"
    yunet_model: str = setting("", doc="path to a YuNet ONNX file; empty = the shipped one")
    detect_width: int = setting(320, min=80, max=1920)
    upsample: int = setting(0, min=0, max=2)
    min_confidence: float = setting(0.7, min=0.0, max=1.0)


@dataclass(frozen=True)
class QualitySection:
    min_eye_distance: float = setting(28.0, min=4.0, max=1000.0)
    min_sharpness: float = setting(15.0, min=0.0, max=100000.0)
    min_brightness: float = setting(50.0, min=0.0, max=255.0)
    max_brightness: float = setting(210.0, min=0.0, max=255.0)
    max_yaw: float = setting(0.35, min=0.0, max=1.0)
    edge_margin: float = setting(0.02, min=0.0, max=0.5)
    second_face_ratio: float = setting(0.6, min=0.0, max=1.0)


@dataclass(frozen=True)
class MatchSection:
    threshold: float = setting(0.94, min=0.0, max=2.0)
    review_threshold: float = setting(1.02, min=0.0, max=2.0)
    min_margin: float = setting(0.0, min=0.0, max=2.0)
    max_cohort_ratio: float = setting(0.78, min=0.0, max=10.0)
    max_runner_up_ratio: float = setting(10.0, min=0.0, max=10.0)
    mean_template: bool = True
    frames_required: int = setting(3, min=1, max=30)
    track_timeout_seconds: float = setting(1.0, min=0.1, max=10.0)
    gallery_scope: Literal["opd", "all"] = "opd"


@dataclass(frozen=True)
class LivenessSection:
    challenge: Literal["always", "random", "unsure", "never"] = "unsure"
    random_share: float = setting(0.2, min=0.0, max=1.0)
    challenges: list[str] = setting(
        ["blink", "turn_left", "turn_right"], choices=("blink", "turn_left", "turn_right")
    )
    timeout_seconds: float = setting(6.0, min=1.0, max=30.0)
    passive_min_frames: int = setting(5, min=2, max=60)


@dataclass(frozen=True)
class EnrollmentSection:
    samples: int = setting(5, min=1, max=20)
    duplicate_threshold: float = setting(0.80, min=0.0, max=2.0)


@dataclass(frozen=True)
class MigrationSection:
    target_model: str = setting(
        "", choices=("", "face-reidentification-retail-0095"), doc="empty = no migration"
    )
    max_distance: float = setting(0.40, min=0.0, max=2.0)
    max_templates: int = setting(3, min=1, max=20)


@dataclass(frozen=True)
class RecognitionSection:
    # The face embedding model (recognition/modelinfo.py); templates of another
    # model are kept but not matched.
    model: str = setting(
        "face-reidentification-retail-0095",
        choices=("face-reidentification-retail-0095", "dlib_face_recognition_resnet_model_v1"),
    )
    detector: DetectorSection = field(default_factory=DetectorSection)
    quality: QualitySection = field(default_factory=QualitySection)
    match: MatchSection = field(default_factory=MatchSection)
    liveness: LivenessSection = field(default_factory=LivenessSection)
    enrollment: EnrollmentSection = field(default_factory=EnrollmentSection)
    migration: MigrationSection = field(default_factory=MigrationSection)


@dataclass(frozen=True)
class StoreSection:
    snapshot_retention_days: int = setting(60, min=1, max=3650)
    snapshot_max_mb: int = setting(500, min=1, max=100000)
    key_dir: str = setting("", doc="where the key files live; empty = <data_dir>/keys")


@dataclass(frozen=True)
class RulesSection:
    duplicate_window_minutes: int = setting(5, min=0, max=240)
    checkin_start: str = setting("06:00", pattern=r"([01]\d|2[0-3]):[0-5]\d")
    checkin_end: str = setting("10:00", pattern=r"([01]\d|2[0-3]):[0-5]\d")
    checkout_start: str = setting("14:00", pattern=r"([01]\d|2[0-3]):[0-5]\d")
    checkout_end: str = setting("18:00", pattern=r"([01]\d|2[0-3]):[0-5]\d")
    schedules_file: str = setting("", doc="TOML with schedule groups; empty = built-in")
    calendar_file: str = setting("", doc="holidays and cuti bersama; empty = none")


@dataclass(frozen=True)
class AdminSection:
    max_attempts: int = setting(5, min=1, max=100)
    lockout_seconds: float = setting(30.0, min=1.0, max=86400.0)
    max_lockout_seconds: float = setting(86400.0, min=1.0, max=604800.0)


@dataclass(frozen=True)
class SyncSection:
    enabled: bool = False
    protocol: Literal["native", "adms"] = "native"
    server_url: str = setting("", doc="e.g. https://absensi.okikab.go.id")
    batch_size: int = setting(500, min=1, max=5000)
    timeout_seconds: float = setting(10.0, min=0.5, max=300.0)
    interval_seconds: float = setting(15.0, min=0.5, max=3600.0)
    max_backoff_seconds: float = setting(300.0, min=1.0, max=86400.0)
    adms_serial: str = setting("", doc="serial number presented in ADMS mode")
    adms_pin_file: str = setting("", doc="CSV with nip and adms_pin columns (PINs of 1-9 digits)")
    max_in_flight: int = setting(2, min=1, max=8, doc="punch batches under way at once")
    ca_file: str = setting(
        "",
        doc="PEM of the CA or the server's own certificate to trust; empty = system CAs",
    )


@dataclass(frozen=True)
class ServerSection:
    host: str = "127.0.0.1"
    port: int = setting(8080, min=1, max=65535)
    database_url: str = setting("", doc="empty = SQLite in <data_dir>/server.db")
    admin_token_file: str = setting("", doc="empty = <data_dir>/admin-token")
    max_batch: int = setting(1000, min=1, max=100000)
    max_body_bytes: int = setting(4_000_000, min=1024, max=1_000_000_000)
    adms_serials: list[str] = setting([])
    max_future_seconds: int = setting(3600, min=0, max=31_536_000)
    max_age_days: int = setting(400, min=1, max=36500)
    rate_limit_per_second: float = setting(10.0, min=0.0, max=100000.0, doc="0 = no limit")
    rate_limit_burst: int = setting(40, min=1, max=100000)
    adms_max_pending: int = setting(20, min=0, max=10000, doc="unknown serials kept pending")
    adms_requests_per_second: float = setting(2.0, min=0.0, max=10000.0, doc="0 = no limit")
    adms_request_burst: int = setting(30, min=1, max=100000)
    adms_max_lines_per_hour: int = setting(20000, min=1, max=10_000_000)
    adms_pin_burst: int = setting(8, min=1, max=1000)
    adms_pin_burst_minutes: int = setting(10, min=1, max=1440)
    zk_machines: list[str] = setting([], doc="HOST[:PORT] of ZKTeco machines pulled over TCP")
    zk_pull_minutes: int = setting(15, min=1, max=1440)
    body_timeout_seconds: float = setting(30.0, min=1.0, max=3600.0)
    source_rate_limit_per_second: float = setting(20.0, min=0.0, max=100000.0, doc="0 = no limit")
    source_rate_limit_burst: int = setting(400, min=1, max=100000)
    auth_failures_per_minute: int = setting(30, min=1, max=100000)
    tls_certfile: str = setting("", doc="PEM certificate chain; with tls_keyfile = HTTPS")
    tls_keyfile: str = setting("", doc="PEM private key of tls_certfile")
    close_month_after_day: int = setting(5, min=1, max=28)
    discipline_hours_per_day: float = setting(7.5, min=1.0, max=24.0)
    max_attachment_bytes: int = setting(2_000_000, min=1024, max=50_000_000)
    single_punch_tl: str = setting("", pattern=r"(TL[1-9])?", doc="empty = the last TL band")
    single_punch_psw: str = setting("", pattern=r"(PSW[1-9])?", doc="empty = the last PSW band")


@dataclass(frozen=True)
class FingerprintSection:
    port: str = setting("", doc="empty = no fingerprint sensor")
    baudrate: int = setting(57600, min=9600, max=115200)
    password: int = setting(0, min=0, max=0xFFFFFFFF)
    capacity: int = setting(1000, min=1, max=65535)
    poll_seconds: float = setting(0.15, min=0.02, max=5.0)


@dataclass(frozen=True)
class KioskSection:
    fullscreen: bool = True
    width: int = setting(800, min=320, max=7680)
    height: int = setting(480, min=240, max=4320)
    result_seconds: float = setting(4.0, min=1.0, max=60.0)
    sound: bool = True
    review_wait_seconds: float = setting(1.2, min=0.0, max=30.0)
    admin_idle_seconds: float = setting(120.0, min=10.0, max=3600.0)


@dataclass(frozen=True)
class HadirConfig:
    device: DeviceSection = field(default_factory=DeviceSection)
    camera: CameraSection = field(default_factory=CameraSection)
    recognition: RecognitionSection = field(default_factory=RecognitionSection)
    store: StoreSection = field(default_factory=StoreSection)
    rules: RulesSection = field(default_factory=RulesSection)
    admin: AdminSection = field(default_factory=AdminSection)
    sync: SyncSection = field(default_factory=SyncSection)
    server: ServerSection = field(default_factory=ServerSection)
    kiosk: KioskSection = field(default_factory=KioskSection)
    fingerprint: FingerprintSection = field(default_factory=FingerprintSection)

    @property
    def data_dir(self) -> Path:
        return Path(self.device.data_dir)


def default_config_path() -> Path:
    """``$HADIR_CONFIG`` if set, else ``config.toml`` in the working directory."""
    return Path(os.environ.get("HADIR_CONFIG", "config.toml"))


def load_config(path: Path | None = None) -> HadirConfig:
    """Load and validate ``config.toml``; raises :class:`ConfigError` with file and key."""
    cfg = load_toml(HadirConfig, path or default_config_path())
    match = cfg.recognition.match
    if match.review_threshold < match.threshold:
        raise ConfigError(
            f"{path}: recognition.match.review_threshold ({match.review_threshold}) must be "
            f">= recognition.match.threshold ({match.threshold})"
        )
    return cfg
