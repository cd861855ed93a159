"""The server's own secrets and its trust bookkeeping: keys, sealed templates, audit log, scope.

* Keys: an Ed25519 key that signs the change feed and punch acknowledgements
  (kiosks learn the public half at registration) and an AES-256-GCM key that
  seals face templates at rest. Both live in ``<data dir>/server-keys``
  (``0700``, files ``0600``) and are created by the kiosk's own key code
  (:func:`attendance.keys.load_keys`), which also refuses a key directory
  open to others and never replaces an existing key.
* Templates are sealed as on the kiosk (:func:`attendance.templates.seal_bytes`,
  the template id as associated data); plaintext rows from before are sealed
  at start.
* The audit log records every read, upload, refusal and erasure of a face
  template: who (a device or the admin), what, and why.
* Scope: a kiosk serves the employees of its OPD plus those an admin assigned
  to that OPD as an extra office.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Select, func, insert, select, union, update

from attendance.integrity import public_key_bytes
from attendance.keys import KeyFileError, load_keys
from attendance.templates import open_bytes, seal_bytes
from server.db import Database
from server.models import AuditEntry, Employee, KioskAssignment, Template
from server.timeutil import format_utc, to_db

log = logging.getLogger(__name__)

KEY_DIR_NAME = "server-keys"
MAX_AUDIT_LISTED = 10_000


class ServerKeyError(Exception):
    """The server's key directory cannot be used; the message says what to fix."""


@dataclass(frozen=True, repr=False)
class ServerKeys:
    signing_key: Ed25519PrivateKey
    template_key: bytes
    template_key_id: str

    def __repr__(self) -> str:  # never print key material
        return f"ServerKeys(template={self.template_key_id})"

    @property
    def public_key_hex(self) -> str:
        return public_key_bytes(self.signing_key).hex()

    def aead(self) -> AESGCM:
        return AESGCM(self.template_key)


def load_server_keys(key_dir: Path, db: Database) -> ServerKeys:
    """The server's keys; created only while no sealed template depends on them."""
    with db.read() as conn:
        sealed = conn.execute(
            select(func.count()).select_from(Template).where(Template.sealed_with.is_not(None))
        ).scalar_one()
    try:
        keys = load_keys(key_dir, may_create=sealed == 0)
    except KeyFileError as exc:
        raise ServerKeyError(f"server keys: {exc}") from None
    return ServerKeys(keys.signing_key, keys.template_key, keys.template_fingerprint)


def seal_template(keys: ServerKeys, template_id: str, vector: bytes) -> bytes:
    return seal_bytes(keys.aead(), template_id, vector)


def open_template(
    keys: ServerKeys, template_id: str, sealed: bytes, sealed_with: str | None
) -> bytes:
    if sealed_with is None:  # a legacy row not sealed yet (sealed at the next start)
        return sealed
    return open_bytes(keys.aead(), template_id, sealed)


def seal_plaintext_templates(db: Database, keys: ServerKeys) -> int:
    """Seal the template rows stored in plaintext before encryption existed."""
    with db.write() as conn:
        rows = conn.execute(
            select(Template.template_id, Template.vector).where(Template.sealed_with.is_(None))
        ).all()
        for tid, vector in rows:
            conn.execute(
                update(Template)
                .where(Template.template_id == tid)
                .values(vector=seal_template(keys, tid, vector), sealed_with=keys.template_key_id)
            )
        if rows:
            audit(
                conn,
                datetime.now(UTC),
                "server",
                "template_seal",
                "templates",
                {"why": "stored in plaintext before encryption at rest", "templates": len(rows)},
            )
    if rows:
        log.info("sealed plaintext face templates", extra={"templates": len(rows)})
    return len(rows)


# -- owner-only files ------------------------------------------------------------------


def make_private(path: Path) -> None:
    """chmod 0600 a file (0700 a directory) we own; a warning if it cannot be done."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
    if stat.S_IMODE(st.st_mode) & 0o077 == 0:
        return
    if st.st_uid != os.geteuid() or st.st_mode & stat.S_ISVTX:
        # Not ours, or a shared sticky directory such as /tmp: never touch it.
        log.warning(
            "server data path is open to other users; make it owner-only",
            extra={"path": str(path), "mode": oct(stat.S_IMODE(st.st_mode))},
        )
        return
    path.chmod(want)


def secure_sqlite_files(database: str, data_dir: Path | None = None) -> None:
    """Owner-only SQLite database, its WAL and shared-memory files, and their folder.

    SQLite creates ``-wal`` and ``-shm`` with the database file's permissions,
    so a database created ``0600`` keeps them private too. The folder is made
    ``0700`` when it is created here or is the server's ``data_dir``; any other
    existing folder (a working directory, say) is left alone with a warning.
    """
    path = Path(database)
    folder = path.parent
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    same = data_dir is not None and folder.resolve() == data_dir.resolve()
    if created or same:
        make_private(folder)
    elif stat.S_IMODE(folder.stat().st_mode) & 0o077:
        log.warning(
            "the folder of the server database is open to other users",
            extra={"path": str(folder)},
        )
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        make_private(p)


# -- audit log -------------------------------------------------------------------------


def audit(
    conn: Connection,
    now: datetime,
    actor: str,
    action: str,
    subject: str,
    detail: Mapping[str, Any],
) -> None:
    """One audit row in the caller's transaction (never biometric data itself)."""
    conn.execute(
        insert(AuditEntry).values(
            at_utc=to_db(now),
            actor=actor[:80],
            action=action[:40],
            subject=subject[:80],
            detail=json.dumps(dict(detail), ensure_ascii=False, default=str),
        )
    )


def list_audit(
    db: Database, *, subject: str | None = None, action: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    query = (
        select(AuditEntry.__table__)
        .order_by(AuditEntry.id.desc())
        .limit(min(limit, MAX_AUDIT_LISTED))
    )
    if subject is not None:
        query = query.where(AuditEntry.subject == subject)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    with db.read() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "id": int(r.id),
            "at_utc": format_utc(r.at_utc),
            "actor": r.actor,
            "action": r.action,
            "subject": r.subject,
            "detail": json.loads(r.detail),
        }
        for r in rows
    ]


# -- scope -----------------------------------------------------------------------------


def scope_nips(opd_code: str) -> Select[Any]:
    """The NIPs a kiosk of ``opd_code`` serves: its staff and people assigned to it."""
    return union(
        select(Employee.nip).where(Employee.opd_code == opd_code),
        select(KioskAssignment.nip).where(KioskAssignment.opd_code == opd_code),
    )  # type: ignore[return-value]


def employee_scopes(conn: Connection, nip: str) -> set[str]:
    """The OPDs whose kiosks serve ``nip`` (empty for an unknown NIP)."""
    home = conn.execute(select(Employee.opd_code).where(Employee.nip == nip)).scalar_one_or_none()
    extra = conn.execute(
        select(KioskAssignment.opd_code).where(KioskAssignment.nip == nip)
    ).scalars()
    out = set(extra)
    if home is not None:
        out.add(home)
    return out
