"""Named console accounts: argon2id password hashes, login lockout, TOTP, sessions, audit.

Sessions live in the database (only the SHA-256 of the random cookie value),
so several server processes share them and signing out is immediate. Each
session carries its own CSRF token (the synchronizer token pattern): every
form posts it back and :mod:`server.console.web` compares it in constant
time before any change.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, insert, select, update

from server.db import Database
from server.errors import ApiError
from server.models import ConsoleAudit, ConsoleSession, ConsoleUser
from server.timeutil import to_db

log = logging.getLogger(__name__)

Role = Literal["superadmin", "operator", "head", "auditor", "employee"]
ROLES: tuple[Role, ...] = ("superadmin", "operator", "head", "auditor", "employee")
# Roles that may (and should) protect their account with a second factor.
ADMIN_ROLES = frozenset({"superadmin", "operator", "head", "auditor"})
USERNAME_RE = re.compile(r"[a-z0-9._-]{3,64}")
OPD_RE = re.compile(r"[A-Za-z0-9._-]{1,32}")
NIP_RE = re.compile(r"[0-9]{18}")
MIN_PASSWORD = 10
MAX_PASSWORD = 256
# Lockout: after MAX_FAILURES wrong passwords in a row the account is locked for
# LOCK_MINUTES, doubling with each further failure, at most MAX_LOCK_MINUTES.
MAX_FAILURES = 5
LOCK_MINUTES = 5
MAX_LOCK_MINUTES = 24 * 60
SESSION_IDLE = timedelta(hours=8)
SESSION_MAX = timedelta(hours=12)
# A fixed hash to verify against when the account does not exist, so that
# unknown names take as long as wrong passwords.
_DUMMY_PASSWORD = "not-a-real-password-0000"  # noqa: S105


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The signed-in person: what every permission check looks at."""

    user_id: int
    username: str
    full_name: str
    role: Role
    opd_code: str | None
    nip: str | None
    csrf_token: str
    session_hash: str


class LoginError(Exception):
    """Sign-in refused; ``reason`` is ``bad_credentials``, ``locked`` or ``totp``."""

    def __init__(self, reason: str, until: datetime | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.until = until


def _validate(
    username: str, role: str, opd_code: str | None, nip: str | None, password: str | None
) -> None:
    if not USERNAME_RE.fullmatch(username):
        raise ApiError(
            422, "invalid_request", "username: 3-64 lowercase letters, digits, '.', '_' or '-'"
        )
    if role not in ROLES:
        raise ApiError(422, "invalid_request", f"role: one of {', '.join(ROLES)}")
    if role in ("operator", "head", "employee") and not (opd_code and OPD_RE.fullmatch(opd_code)):
        raise ApiError(422, "invalid_request", f"opd_code: required for the role {role}")
    if role == "employee" and not (nip and NIP_RE.fullmatch(nip)):
        raise ApiError(422, "invalid_request", "nip: 18 digits, required for an employee account")
    if password is not None and not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ApiError(
            422,
            "invalid_request",
            f"password: {MIN_PASSWORD}-{MAX_PASSWORD} characters",
        )


class Accounts:
    """Accounts, sessions and the console audit log over one database."""

    def __init__(self, db: Database, hasher: PasswordHasher | None = None) -> None:
        self._db = db
        # argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile: 64 MiB).
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = ""

    # -- accounts ---------------------------------------------------------------
    def create_user(
        self,
        *,
        username: str,
        full_name: str,
        role: str,
        password: str,
        now: datetime,
        opd_code: str | None = None,
        nip: str | None = None,
        totp: bool = False,
    ) -> dict[str, Any]:
        username = username.strip().lower()
        _validate(username, role, opd_code, nip, password)
        if not full_name.strip() or len(full_name) > 200:
            raise ApiError(422, "invalid_request", "full_name: 1-200 characters")
        secret = pyotp.random_base32() if totp else None
        with self._db.write() as conn:
            taken = conn.execute(
                select(ConsoleUser.id).where(ConsoleUser.username == username)
            ).first()
            if taken is not None:
                raise ApiError(409, "user_exists", f"username {username!r} is already taken")
            user_id = conn.execute(
                insert(ConsoleUser)
                .values(
                    username=username,
                    full_name=full_name.strip(),
                    role=role,
                    opd_code=opd_code if role not in ("superadmin", "auditor") else None,
                    nip=nip if role == "employee" else None,
                    password_hash=self._hasher.hash(password),
                    totp_secret=secret,
                    failed_logins=0,
                    active=True,
                    created_utc=to_db(now),
                )
                .returning(ConsoleUser.id)
            ).scalar_one()
        out: dict[str, Any] = {"id": int(user_id), "username": username, "role": role}
        if secret:
            out["totp_uri"] = pyotp.TOTP(secret).provisioning_uri(
                name=username, issuer_name="Hadir"
            )
        return out

    def list_users(self) -> list[dict[str, Any]]:
        with self._db.read() as conn:
            rows = conn.execute(select(ConsoleUser.__table__).order_by(ConsoleUser.username)).all()
            return [
                {
                    "id": u.id,
                    "username": u.username,
                    "full_name": u.full_name,
                    "role": u.role,
                    "opd_code": u.opd_code,
                    "nip": u.nip,
                    "totp": u.totp_secret is not None,
                    "active": u.active,
                    "failed_logins": u.failed_logins,
                    "locked_until_utc": u.locked_until_utc.isoformat() + "Z"
                    if u.locked_until_utc
                    else None,
                }
                for u in rows
            ]

    def set_active(self, user_id: int, active: bool) -> str:
        with self._db.write() as conn:
            name = conn.execute(
                update(ConsoleUser)
                .where(ConsoleUser.id == user_id)
                .values(active=active)
                .returning(ConsoleUser.username)
            ).scalar_one_or_none()
            if name is None:
                raise ApiError(404, "not_found", f"no account {user_id}")
            if not active:
                conn.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user_id))
        return str(name)

    def unlock(self, user_id: int) -> str:
        with self._db.write() as conn:
            name = conn.execute(
                update(ConsoleUser)
                .where(ConsoleUser.id == user_id)
                .values(failed_logins=0, locked_until_utc=None)
                .returning(ConsoleUser.username)
            ).scalar_one_or_none()
        if name is None:
            raise ApiError(404, "not_found", f"no account {user_id}")
        return str(name)

    def set_password(self, user_id: int, password: str) -> None:
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise ApiError(
                422, "invalid_request", f"password: {MIN_PASSWORD}-{MAX_PASSWORD} characters"
            )
        with self._db.write() as conn:
            conn.execute(
                update(ConsoleUser)
                .where(ConsoleUser.id == user_id)
                .values(password_hash=self._hasher.hash(password))
            )

    def check_password(self, user_id: int, password: str) -> bool:
        with self._db.read() as conn:
            stored = conn.execute(
                select(ConsoleUser.password_hash).where(ConsoleUser.id == user_id)
            ).scalar_one_or_none()
        if stored is None:
            return False
        try:
            return bool(self._hasher.verify(stored, password[:MAX_PASSWORD]))
        except (VerificationError, InvalidHashError):
            return False

    def set_totp(self, user_id: int, secret: str | None) -> None:
        with self._db.write() as conn:
            conn.execute(
                update(ConsoleUser).where(ConsoleUser.id == user_id).values(totp_secret=secret)
            )

    def has_totp(self, user_id: int) -> bool:
        with self._db.read() as conn:
            secret = conn.execute(
                select(ConsoleUser.totp_secret).where(ConsoleUser.id == user_id)
            ).scalar_one_or_none()
        return secret is not None

    def count_users(self) -> int:
        with self._db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(ConsoleUser)).scalar_one())

    # -- sign-in ----------------------------------------------------------------
    def _burn_time(self, password: str) -> None:
        if not self._dummy_hash:
            self._dummy_hash = self._hasher.hash(_DUMMY_PASSWORD)
        with contextlib.suppress(VerificationError):
            self._hasher.verify(self._dummy_hash, password)

    def login(
        self, username: str, password: str, totp_code: str, now: datetime
    ) -> tuple[str, Principal]:
        """Check the credentials; returns ``(cookie value, principal)`` or raises LoginError."""
        username = username.strip().lower()[:64]
        with self._db.read() as conn:
            user = conn.execute(
                select(ConsoleUser.__table__).where(ConsoleUser.username == username)
            ).first()
        if user is None or not user.active:
            self._burn_time(password[:MAX_PASSWORD])
            raise LoginError("bad_credentials")
        if user.locked_until_utc is not None and user.locked_until_utc > to_db(now):
            raise LoginError("locked", user.locked_until_utc)
        ok: bool
        try:
            ok = self._hasher.verify(user.password_hash, password[:MAX_PASSWORD])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if ok and user.totp_secret:
            ok = pyotp.TOTP(user.totp_secret).verify(
                totp_code.strip(), for_time=now, valid_window=1
            )
            if not ok:
                self._fail(user.id, user.failed_logins, now)
                raise LoginError("totp")
        if not ok:
            until = self._fail(user.id, user.failed_logins, now)
            raise LoginError("locked" if until else "bad_credentials", until)
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        with self._db.write() as conn:
            values: dict[str, Any] = {"failed_logins": 0, "locked_until_utc": None}
            if self._hasher.check_needs_rehash(user.password_hash):
                values["password_hash"] = self._hasher.hash(password)
            conn.execute(update(ConsoleUser).where(ConsoleUser.id == user.id).values(**values))
            conn.execute(delete(ConsoleSession).where(ConsoleSession.expires_utc < to_db(now)))
            conn.execute(
                insert(ConsoleSession).values(
                    token_hash=hash_token(token),
                    user_id=user.id,
                    csrf_token=csrf,
                    created_utc=to_db(now),
                    last_seen_utc=to_db(now),
                    expires_utc=to_db(now + SESSION_MAX),
                )
            )
        return token, Principal(
            user.id,
            user.username,
            user.full_name,
            user.role,  # type: ignore[arg-type]
            user.opd_code,
            user.nip,
            csrf,
            hash_token(token),
        )

    def _fail(self, user_id: int, failed_before: int, now: datetime) -> datetime | None:
        failures = failed_before + 1
        until = None
        if failures >= MAX_FAILURES:
            minutes = min(LOCK_MINUTES * 2 ** (failures - MAX_FAILURES), MAX_LOCK_MINUTES)
            until = to_db(now + timedelta(minutes=minutes))
        with self._db.write() as conn:
            conn.execute(
                update(ConsoleUser)
                .where(ConsoleUser.id == user_id)
                .values(failed_logins=failures, locked_until_utc=until)
            )
        return until

    def session(self, token: str | None, now: datetime) -> Principal | None:
        """The principal of a session cookie, or None when absent, expired or idle too long."""
        if not token or len(token) > 128:
            return None
        token_hash = hash_token(token)
        with self._db.read() as conn:
            row = conn.execute(
                select(
                    ConsoleSession.csrf_token,
                    ConsoleSession.expires_utc,
                    ConsoleSession.last_seen_utc,
                    ConsoleUser.id,
                    ConsoleUser.username,
                    ConsoleUser.full_name,
                    ConsoleUser.role,
                    ConsoleUser.opd_code,
                    ConsoleUser.nip,
                    ConsoleUser.active,
                )
                .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
                .where(ConsoleSession.token_hash == token_hash)
            ).one_or_none()
        if row is None:
            return None
        db_now = to_db(now)
        if (
            not row.active
            or row.expires_utc <= db_now
            or row.last_seen_utc + SESSION_IDLE <= db_now
        ):
            return None
        if db_now - row.last_seen_utc > timedelta(minutes=5):
            with self._db.write() as conn:
                conn.execute(
                    update(ConsoleSession)
                    .where(ConsoleSession.token_hash == token_hash)
                    .values(last_seen_utc=db_now)
                )
        return Principal(
            row.id,
            row.username,
            row.full_name,
            row.role,
            row.opd_code,
            row.nip,
            row.csrf_token,
            token_hash,
        )

    def logout(self, session_hash: str) -> None:
        with self._db.write() as conn:
            conn.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == session_hash))

    # -- audit ------------------------------------------------------------------
    def audit(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        target: str,
        now: datetime,
        ip: str = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        with self._db.write() as conn:
            conn.execute(
                insert(ConsoleAudit).values(
                    utc=to_db(now),
                    actor=actor[:64],
                    role=role[:16],
                    action=action[:64],
                    target=target[:200],
                    detail=json.dumps(detail or {}, ensure_ascii=False, default=str),
                    ip=ip[:64],
                )
            )
        log.info("console audit", extra={"actor": actor, "action": action, "target": target})

    def audit_entries(self, limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(ConsoleAudit.__table__)
                .order_by(ConsoleAudit.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            return [
                {
                    "id": r.id,
                    "utc": r.utc.isoformat() + "Z",
                    "actor": r.actor,
                    "role": r.role,
                    "action": r.action,
                    "target": r.target,
                    "detail": json.loads(r.detail),
                    "ip": r.ip,
                }
                for r in rows
            ]


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
