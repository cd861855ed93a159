"""The kiosk's two secrets, kept in files outside the database.

* ``device-signing.key``: the Ed25519 key that signs every punch (PKCS#8 PEM).
* ``template.key``: the AES-256-GCM key that encrypts face templates at rest.

The key directory is created ``0700`` and the files ``0600``. A key is only
ever created for a database that holds nothing it protects: a missing key
next to existing punches or templates is refused, never replaced, because a
new template key would orphan every template and a new signing key would
break the chain the server trusts. The database records each key's
fingerprint, so a key file from another kiosk is refused too.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from attendance.db import StoreError
from attendance.integrity import public_key_bytes

SIGNING_KEY_FILE = "device-signing.key"
TEMPLATE_KEY_FILE = "template.key"
_TEMPLATE_KEY_MAGIC = "hadir-template-key-v1"


class KeyFileError(StoreError):
    """A key file is missing, open to others, corrupt or foreign; the message says what to do."""


@dataclass(frozen=True, repr=False)
class DeviceKeys:
    signing_key: Ed25519PrivateKey
    template_key: bytes

    def __repr__(self) -> str:  # never print key material
        return (
            f"DeviceKeys(signing={self.signing_fingerprint}, template={self.template_fingerprint})"
        )

    @property
    def public_key(self) -> bytes:
        return public_key_bytes(self.signing_key)

    @property
    def signing_fingerprint(self) -> str:
        return hashlib.sha256(self.public_key).hexdigest()[:16]

    @property
    def template_fingerprint(self) -> str:
        return hashlib.sha256(b"hadir-template-key-id" + self.template_key).hexdigest()[:16]


def _check_private(path: Path, *, is_dir: bool) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        fix = "chmod 700" if is_dir else "chmod 600"
        what = "key directory" if is_dir else "key file"
        raise KeyFileError(
            f"{what} {path} is readable by others (mode {mode:04o}); refusing to use it. "
            f"Run `{fix} {path}` (and check who else could have copied it)."
        )


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` (0600) atomically; never replace an existing key.

    The content is complete and on disk before the name appears; if another
    process created the key first, its key is kept (``os.link`` fails) and used.
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _template_key_text(key: bytes) -> bytes:
    check = hashlib.sha256(key).hexdigest()[:8]
    return f"{_TEMPLATE_KEY_MAGIC} {key.hex()} {check}\n".encode()


def _parse_template_key(path: Path, raw: bytes) -> bytes:
    parts = raw.decode("ascii", errors="replace").split()
    if len(parts) == 3 and parts[0] == _TEMPLATE_KEY_MAGIC:
        try:
            key = bytes.fromhex(parts[1])
        except ValueError:
            key = b""
        if len(key) == 32 and hashlib.sha256(key).hexdigest()[:8] == parts[2]:
            return key
    raise KeyFileError(
        f"template key file {path} is corrupt. Restore it from the kiosk's key backup; "
        "without it the stored face templates cannot be read (re-enrol or re-sync them)."
    )


def _parse_signing_key(path: Path, raw: bytes) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(raw, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(
            f"signing key file {path} is corrupt or not an Ed25519 key. Restore it from the "
            "kiosk's key backup; a new key would need a new registration at the server."
        )
    return key


def load_keys(key_dir: Path, *, may_create: bool) -> DeviceKeys:
    """Read both keys, creating missing ones only when ``may_create`` (an empty store).

    Raises :class:`KeyFileError` with the fix for a missing key of a store that
    has data, a directory or file open to group/others, or a corrupt file.
    """
    if not key_dir.exists():
        if not may_create:
            raise KeyFileError(
                f"key directory {key_dir} is missing but the database already holds punches "
                "or templates. Restore the key files from the kiosk's backup (or set "
                "[store] key_dir); Hadir never creates new keys for existing data, that would "
                "orphan every template and break the punch chain."
            )
        key_dir.mkdir(parents=True, mode=0o700)
        key_dir.chmod(0o700)
    _check_private(key_dir, is_dir=True)
    paths = {"signing": key_dir / SIGNING_KEY_FILE, "template": key_dir / TEMPLATE_KEY_FILE}
    for name, path in paths.items():
        if not path.exists() and not may_create:
            raise KeyFileError(
                f"{name} key file {path} is missing but the database already holds punches or "
                "templates. Restore it from the kiosk's key backup; Hadir never silently creates "
                "a new key (it would orphan every template and break the punch chain)."
            )
    if not paths["signing"].exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        _write_private(paths["signing"], pem)
    if not paths["template"].exists():
        _write_private(paths["template"], _template_key_text(os.urandom(32)))
    for path in paths.values():
        _check_private(path, is_dir=False)
    signing = _parse_signing_key(paths["signing"], paths["signing"].read_bytes())
    template = _parse_template_key(paths["template"], paths["template"].read_bytes())
    return DeviceKeys(signing_key=signing, template_key=template)
