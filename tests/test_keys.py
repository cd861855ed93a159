"""Key files: owner-only, never silently replaced, refused when open, corrupt or foreign."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from attendance.keys import SIGNING_KEY_FILE, TEMPLATE_KEY_FILE, KeyFileError, load_keys
from attendance.store import EmployeeRecord, Store

NIP = "198703152010011002"


def _open(data: Path) -> Store:
    return Store.open(data, device_id="kiosk-01")


def _with_template(data: Path) -> None:
    with _open(data) as store:
        store.employees.upsert(EmployeeRecord(NIP, "Siti Aminah", "DISKOMINFO", "PNS"))
        store.templates.add(NIP, np.ones(128, np.float32))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_created_owner_only(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        assert store.keys.signing_fingerprint
    keys = tmp_path / "keys"
    assert _mode(keys) == 0o700
    assert _mode(keys / SIGNING_KEY_FILE) == 0o600
    assert _mode(keys / TEMPLATE_KEY_FILE) == 0o600
    assert "PRIVATE" not in repr(load_keys(keys, may_create=False))


def test_reopen_uses_the_same_keys(tmp_path: Path) -> None:
    _with_template(tmp_path)
    with _open(tmp_path) as store:
        rows = store.templates.all_for_scope(None)
    assert len(rows) == 1
    np.testing.assert_array_equal(rows[0][2], np.ones(128, np.float32))


@pytest.mark.parametrize("name", [SIGNING_KEY_FILE, TEMPLATE_KEY_FILE])
def test_missing_key_with_data_is_refused_never_recreated(tmp_path: Path, name: str) -> None:
    _with_template(tmp_path)
    (tmp_path / "keys" / name).unlink()
    with pytest.raises(KeyFileError, match=r"missing.*never"):
        _open(tmp_path)
    assert not (tmp_path / "keys" / name).exists()


def test_missing_key_dir_with_data_is_refused(tmp_path: Path) -> None:
    _with_template(tmp_path)
    shutil.rmtree(tmp_path / "keys")
    with pytest.raises(KeyFileError, match="Restore"):
        _open(tmp_path)
    assert not (tmp_path / "keys").exists()


def test_missing_key_of_an_empty_but_used_store_is_refused(tmp_path: Path) -> None:
    _open(tmp_path).close()  # fingerprints recorded: the signing key may be registered
    (tmp_path / "keys" / SIGNING_KEY_FILE).unlink()
    with pytest.raises(KeyFileError):
        _open(tmp_path)


@pytest.mark.parametrize("name", [SIGNING_KEY_FILE, TEMPLATE_KEY_FILE])
def test_key_readable_by_others_is_refused(tmp_path: Path, name: str) -> None:
    _open(tmp_path).close()
    (tmp_path / "keys" / name).chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        _open(tmp_path)


def test_key_dir_open_to_group_is_refused(tmp_path: Path) -> None:
    _open(tmp_path).close()
    (tmp_path / "keys").chmod(0o750)
    with pytest.raises(KeyFileError, match="chmod 700"):
        _open(tmp_path)


@pytest.mark.parametrize("name", [SIGNING_KEY_FILE, TEMPLATE_KEY_FILE])
def test_corrupt_key_is_refused(tmp_path: Path, name: str) -> None:
    _open(tmp_path).close()
    path = tmp_path / "keys" / name
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(KeyFileError, match="corrupt"):
        _open(tmp_path)


def test_key_of_another_kiosk_is_refused(tmp_path: Path) -> None:
    _with_template(tmp_path / "a")
    _open(tmp_path / "b").close()
    for name in (SIGNING_KEY_FILE, TEMPLATE_KEY_FILE):
        shutil.copy2(tmp_path / "b" / "keys" / name, tmp_path / "a" / "keys" / name)
    with pytest.raises(KeyFileError, match="does not belong"):
        _open(tmp_path / "a")


def test_separate_key_dir(tmp_path: Path) -> None:
    key_dir = tmp_path / "secure" / "keys"
    with Store.open(tmp_path / "data", device_id="k", key_dir=key_dir) as store:
        assert store.keys.template_fingerprint
    assert (key_dir / TEMPLATE_KEY_FILE).exists()
    assert not (tmp_path / "data" / "keys").exists()
