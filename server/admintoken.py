"""The admin API token: a random secret in a file created owner-only at first start."""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)


class AdminTokenError(Exception):
    """The admin token file cannot be created or read; the message says what to fix."""


def load_or_create_admin_token(path: Path) -> str:
    """Read the token from ``path``, creating it (mode 0600) with a new secret if absent."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            token = secrets.token_urlsafe(32)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(token + "\n")
            log.info("admin token created", extra={"path": str(path)})
            return token
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning(
                "admin token file is readable by others; chmod 600 it",
                extra={"path": str(path), "mode": oct(mode)},
            )
        token = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AdminTokenError(f"admin token file {path}: {exc}") from None
    if len(token) < 16:
        raise AdminTokenError(
            f"admin token file {path} holds no usable token (need >= 16 characters); "
            "delete it to have a new one created"
        )
    return token


def token_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
