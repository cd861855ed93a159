"""The device token this kiosk got at registration, kept beside the signing key.

The token is a credential: it lives in ``<key_dir>/server-token`` (owner-only,
written atomically), not in the database, and is never logged.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

TOKEN_FILE = "server-token"  # noqa: S105 - a file name, not a secret


class CredentialsError(Exception):
    """The token file is unreadable, corrupt or open to others; the message says what to do."""


@dataclass(frozen=True, repr=False)
class Credentials:
    server_url: str
    device_id: str
    token: str
    opd_code: str = ""
    # The server's Ed25519 key (hex), learnt at registration; empty for older registrations.
    server_public_key: str = ""

    def __repr__(self) -> str:  # never print the token
        return f"Credentials(server_url={self.server_url!r}, device_id={self.device_id!r})"


def token_path(key_dir: Path) -> Path:
    return key_dir / TOKEN_FILE


def load_credentials(key_dir: Path) -> Credentials | None:
    """The stored credentials, or None if this kiosk was never registered."""
    path = token_path(key_dir)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    if mode & 0o077:
        raise CredentialsError(
            f"token file {path} is readable by others (mode {mode:04o}); run `chmod 600 {path}` "
            "and consider revoking the device at the server and registering again"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        creds = Credentials(
            server_url=str(data["server_url"]),
            device_id=str(data["device_id"]),
            token=str(data["token"]),
            opd_code=str(data.get("opd_code", "")),
            server_public_key=str(data.get("server_public_key", "")),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CredentialsError(
            f"token file {path} is corrupt ({type(exc).__name__}); register the kiosk again "
            "with `hadir sync register --code CODE`"
        ) from None
    if not creds.token:
        return None
    return creds


def save_credentials(key_dir: Path, creds: Credentials) -> Path:
    """Write the token file atomically with mode 0600 (directory 0700)."""
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = token_path(key_dir)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    body = json.dumps(
        {
            "server_url": creds.server_url,
            "device_id": creds.device_id,
            "token": creds.token,
            "opd_code": creds.opd_code,
            "server_public_key": creds.server_public_key,
        }
    ).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    return path
