"""Simulated kiosks for the loadtest, drills and tests: the real store, recorder and sync.

A :class:`SimKiosk` is a kiosk data directory with a synthetic roster, the
real :class:`~attendance.recorder.PunchRecorder` (rules, signature, chain,
outbox) driven by a :class:`~attendance.clock.FakeClock`, and a
:class:`~sync.worker.SyncWorker` over the real native client. Nothing is
mocked: only the camera is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from attendance.clock import ClockTrust, FakeClock
from attendance.config import RulesSection
from attendance.recorder import PunchRecorder
from attendance.rules import PunchRules
from attendance.schedule import holiday_calendar_from_config, schedule_book_from_config
from attendance.store import EmployeeRecord, Store
from sync.client import NativeClient
from sync.credentials import Credentials, save_credentials
from sync.retry import RetryPolicy
from sync.worker import SyncWorker

OPD = "DISKOMINFO"


def synthetic_nips(n: int) -> list[str]:
    """``n`` distinct well-formed 18-digit NIPs for sample people."""
    return [f"1980010120050{(i // 1000) % 10}1{i % 1000:03d}" for i in range(n)]


@dataclass
class SimKiosk:
    device_id: str
    data_dir: Path
    store: Store
    recorder: PunchRecorder
    clock: FakeClock
    nips: list[str]
    trust: ClockTrust | None = None
    punch_ids: list[str] = field(default_factory=list)

    @property
    def key_dir(self) -> Path:
        return self.data_dir / "keys"

    @classmethod
    def create(
        cls,
        data_dir: Path,
        device_id: str,
        *,
        people: int = 50,
        start_utc: datetime | None = None,
    ) -> SimKiosk:
        store = Store.open(data_dir, device_id=device_id)
        nips = synthetic_nips(people)
        for i, nip in enumerate(nips):
            store.employees.upsert(
                EmployeeRecord(nip=nip, name=f"Pegawai Uji {i}", opd_code=OPD, employee_type="PNS")
            )
        start = start_utc or datetime.now(UTC) - timedelta(hours=12)
        clock = FakeClock(start, boot_id=f"boot-{device_id}")
        rules_cfg = RulesSection(duplicate_window_minutes=0)
        rules = PunchRules(
            rules_cfg,
            schedule_book_from_config(rules_cfg),
            holiday_calendar_from_config(rules_cfg),
            ZoneInfo("Asia/Jakarta"),
        )
        trust = ClockTrust(clock)
        recorder = PunchRecorder(store, rules, trust)
        return cls(device_id, data_dir, store, recorder, clock, nips, trust)

    def record(self, n: int, step_seconds: float = 1.0) -> list[str]:
        """Record ``n`` punches through the real recorder, round-robin over the roster."""
        ids: list[str] = []
        for i in range(n):
            self.clock.advance(step_seconds)
            nip = self.nips[(len(self.punch_ids) + i) % len(self.nips)]
            result = self.recorder.record(
                nip, "face", distance=0.31, margin=0.12, liveness="passed"
            )
            if result.punch_id is None:
                raise RuntimeError(f"sample punch for {nip} was not recorded ({result.kind})")
            ids.append(result.punch_id)
        self.punch_ids.extend(ids)
        return ids

    def register(
        self, server_url: str, code: str, timeout: float = 30.0, ca_file: str = ""
    ) -> Credentials:
        client = NativeClient(server_url, timeout=timeout, ca_file=ca_file)
        try:
            reg = client.register(code, self.device_id, self.store.keys.public_key)
        finally:
            client.close()
        creds = Credentials(
            server_url, reg.device_id, reg.token, reg.opd_code, reg.server_public_key
        )
        save_credentials(self.key_dir, creds)
        return creds

    def worker(self, *, batch_size: int = 500, timeout: float = 30.0, **kw: object) -> SyncWorker:
        policy = RetryPolicy(base_seconds=0.05, max_backoff_seconds=1.0)
        params: dict[str, object] = {
            "batch_size": batch_size,
            "timeout_seconds": timeout,
            "interval_seconds": 0.5,
            "policy": policy,
        }
        params.update(kw)
        return SyncWorker(self.store, self.key_dir, **params)  # type: ignore[arg-type]

    def close(self) -> None:
        self.store.close()
