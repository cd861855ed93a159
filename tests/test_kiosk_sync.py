"""The kiosk keeps recording while the server is down, then delivers (real server, loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attendance.store import EmployeeRecord, Store, key_dir_for
from hadir.config import HadirConfig, load_config
from recognition.frames import FakeFrameSource
from sync.client import NativeClient
from sync.credentials import Credentials, save_credentials
from sync.serverproc import AdminApi, ServerProcess

# Integration tier (a whole kiosk against a server process):
# `uv run pytest -m "not slow"` leaves it out.
pytestmark = pytest.mark.slow

pytest.importorskip("pytestqt")

NIP = "198807152019031007"
PIN = "5678"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path / "server") as srv:
        yield srv


def registered_config(server: ServerProcess) -> HadirConfig:
    cfg = load_config()
    cfg = cfg.model_copy(
        update={
            "kiosk": cfg.kiosk.model_copy(
                update={"fullscreen": False, "sound": False, "result_seconds": 1.0}
            ),
            "sync": cfg.sync.model_copy(
                update={
                    "enabled": True,
                    "server_url": server.url,
                    "interval_seconds": 0.5,
                    "timeout_seconds": 1.0,
                    "max_backoff_seconds": 1.0,
                }
            ),
        }
    )
    admin = AdminApi(server.url, server.admin_token())
    with Store.from_config(cfg) as store:
        store.employees.upsert(
            EmployeeRecord(
                nip=NIP, name="Ahmad Fauzi", opd_code=cfg.device.opd_code, employee_type="PNS"
            )
        )
        store.employees.set_pin(NIP, PIN)
        client = NativeClient(server.url, timeout=30)
        try:
            reg = client.register(admin.enrollment_code(), cfg.device.id, store.keys.public_key)
        finally:
            client.close()
        save_credentials(
            key_dir_for(cfg.data_dir, cfg.store),
            Credentials(server.url, reg.device_id, reg.token, reg.opd_code),
        )
    return cfg


def test_offline_punch_is_kept_then_delivered_when_the_server_returns(
    qtbot: Any, server: ServerProcess
) -> None:
    from kiosk.app import build_kiosk

    cfg = registered_config(server)
    server.stop()  # the network is down
    blank = np.full((480, 640, 3), 60, np.uint8)
    kiosk = build_kiosk(cfg, FakeFrameSource([blank], fps=15))
    qtbot.addWidget(kiosk.window)
    kiosk.window.show()
    kiosk.start()
    try:
        ctl = kiosk.controller
        qtbot.waitUntil(lambda: ctl.attendance.sync.mode == "offline", timeout=15000)
        ctl.open_pin()
        for key in (*NIP, "ok", *PIN, "ok"):
            ctl.keypad_key(key)
        qtbot.waitUntil(lambda: ctl.attendance.result is not None, timeout=10000)
        result = ctl.attendance.result
        assert result is not None and result.kind == "success"
        qtbot.waitUntil(
            lambda: ctl.attendance.sync.pending == 1 and ctl.attendance.sync.mode == "offline",
            timeout=10000,
        )
        assert "Offline" in kiosk.window.attendance.sync.text()
        assert "1 menunggu" in kiosk.window.attendance.sync.text()
        with kiosk.store.db.read() as conn:
            punch_id = conn.exec_driver_sql("SELECT id FROM punches").scalar_one()

        server.start()
        qtbot.waitUntil(
            lambda: ctl.attendance.sync.mode == "online" and ctl.attendance.sync.pending == 0,
            timeout=30000,
        )
        found, missing = AdminApi(server.url, server.admin_token()).lookup([punch_id])
        assert found == 1 and missing == []
    finally:
        kiosk.stop()
