"""Registering a kiosk with the central server (``hadir sync register``, ``hadir setup``).

The one-time enrollment code is exchanged for the device token, which is
saved owner-only in the key folder, and sync is switched on in the device
state: the kiosk syncs from then on without editing ``[sync] enabled``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from attendance.store import Store
from sync.client import NativeClient
from sync.credentials import Credentials, save_credentials
from sync.worker import SYNC_ENABLED_KEY


@dataclass(frozen=True)
class Registered:
    device_id: str
    opd_code: str
    token_file: Path


def register_kiosk(
    store: Store, key_dir: Path, url: str, code: str, timeout: float, ca_file: str = ""
) -> Registered:
    """Raises ValueError for a bad address (plain http:// to another machine included),
    ``sync.retry.SyncError`` when the server refuses or cannot be reached.

    The server's public key learnt here verifies the change feed and the
    punch acknowledgements from then on (see SECURITY.md)."""
    client = NativeClient(url, timeout=timeout, ca_file=ca_file)
    try:
        reg = client.register(code, store.device_id, store.keys.public_key)
    finally:
        client.close()
    path = save_credentials(
        key_dir,
        Credentials(url, reg.device_id, reg.token, reg.opd_code, reg.server_public_key),
    )
    store.state.set(SYNC_ENABLED_KEY, "1")  # the kiosk syncs from now on
    store.audit.record("cli", "sync_register", reg.device_id, f"server={url}")
    return Registered(reg.device_id, reg.opd_code, path)
