"""First start at the touch screen: with no admin PIN the keypad creates one, typed twice."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from attendance.admin import AdminGuard
from attendance.clock import ClockTrust, FakeClock
from attendance.config import AdminSection
from attendance.store import Store
from kiosk.controller import KioskController
from kiosk.i18n import Catalogue
from kiosk.ports import run_inline
from kiosk.screenshots import RenderOnlyServices
from kiosk.services import GalleryLoader, StoreAdmin
from kiosk.setup import first_pin_step
from kiosk.state import Screen
from recognition.gallery import GalleryHolder

T0 = datetime(2026, 11, 30, 0, 5, tzinfo=UTC)


def _kiosk(data: Path) -> tuple[KioskController, Store, AdminGuard]:
    store = Store.open(data, device_id="kiosk-01")
    clock = FakeClock(T0)
    guard = AdminGuard(store.admin_state, clock, AdminSection())
    admin = StoreAdmin(
        store,
        guard,
        GalleryLoader(store, GalleryHolder(), None),
        ZoneInfo("Asia/Jakarta"),
        ClockTrust(clock),
        lambda: True,
        lambda: None,
        "",
    )
    s = RenderOnlyServices()
    ctl = KioskController(
        catalogue=Catalogue("id"),
        opd_name="Dinas Kesehatan",
        timezone=ZoneInfo("Asia/Jakarta"),
        recognizer=s,
        punches=s,
        admin=admin,
        enrollment=s,
        sync=None,
        runner=run_inline,
        monotonic=lambda: 100.0,
        wall_clock=lambda: T0,
        result_seconds=3.0,
        admin_idle_seconds=60.0,
    )
    return ctl, store, guard


def screen_of(ctl: KioskController) -> Screen:
    """``ctl.screen`` as declared (mypy keeps a narrowing across calls otherwise)."""
    return ctl.screen


def _type(ctl: KioskController, digits: str) -> None:
    for d in digits:
        ctl.keypad_key(d)
    ctl.keypad_key("ok")


def test_the_first_admin_pin_is_made_at_the_keypad(tmp_path: Path) -> None:
    ctl, store, guard = _kiosk(tmp_path)
    try:
        ctl.open_admin()
        _type(ctl, "1111")  # no PIN yet: any entry leads to the set-up
        assert ctl.keypad.title == "Penyiapan awal"
        assert "buat PIN admin" in ctl.keypad.error
        _type(ctl, "12345")
        assert ctl.keypad.error == "PIN admin minimal 6 angka"
        _type(ctl, "246810")
        assert ctl.keypad.prompt == "Ulangi PIN admin"
        _type(ctl, "246811")
        assert ctl.keypad.error == "PIN tidak sama; ulangi dari awal"
        assert not guard.is_set()
        _type(ctl, "246810")
        _type(ctl, "246810")
        assert screen_of(ctl) == "admin_menu"
        assert guard.is_set() and guard.check("246810").ok
        assert "set_admin_pin" in [a["action"] for a in store.audit.recent(5)]
    finally:
        store.close()


def test_once_set_the_keypad_asks_for_the_pin(tmp_path: Path) -> None:
    ctl, store, guard = _kiosk(tmp_path)
    try:
        guard.set_pin("135790")
        ctl.open_admin()
        _type(ctl, "246810")
        assert ctl.keypad.title != "Penyiapan awal" and screen_of(ctl) == "admin_pin"
        _type(ctl, "135790")
        assert screen_of(ctl) == "admin_menu"
    finally:
        store.close()


def test_first_pin_steps() -> None:
    assert first_pin_step(None, "123") == ("short", None)
    assert first_pin_step(None, "123456") == ("repeat", "123456")
    assert first_pin_step("123456", "123457") == ("mismatch", None)
    assert first_pin_step("123456", "123456") == ("set", "123456")


def test_registration_from_the_device_page(tmp_path: Path) -> None:
    """Server address and enrollment code typed at the kiosk: registered, OPD named,
    sync switched on for the next start (a real server on loopback)."""
    from sync.registration import register_kiosk
    from sync.serverproc import AdminApi, ServerProcess
    from sync.worker import SYNC_ENABLED_KEY

    ctl, store, _ = _kiosk(tmp_path / "kiosk")
    admin = ctl.admin
    assert isinstance(admin, StoreAdmin)
    admin.registrar = lambda url, code: (
        register_kiosk(store, tmp_path / "kiosk" / "keys", url, code, 30.0).opd_code
    )
    try:
        with ServerProcess(tmp_path / "server") as server:
            code = AdminApi(server.url, server.admin_token()).enrollment_code("DINKES")
            ctl.device_register("  " + server.url, "WRONG")
            assert ctl.device.message.startswith("Pendaftaran gagal: ")
            assert store.state.get(SYNC_ENABLED_KEY) is None
            ctl.device_register(server.url, code + " ")
            assert ctl.device.message.startswith("Terdaftar untuk OPD DINKES")
            assert store.state.get(SYNC_ENABLED_KEY) == "1"
            assert any((tmp_path / "kiosk" / "keys").glob("*token*"))
    finally:
        store.close()
