"""Devices: one-time enrollment codes, registration, bearer tokens, revocation, health.

Only SHA-256 hashes of enrollment codes and device tokens are stored: both
are random with >= 60 bits (codes, which also expire and are single-use) or
256 bits (tokens), so a fast hash is enough and a stolen database yields no
credential.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, insert, select, text, tuple_, update

from attendance.integrity import IntegrityError, load_public_key
from server.db import Database
from server.errors import ApiError, not_found, unauthorized
from server.models import Device, EnrollmentCode, Punch
from server.timeutil import format_optional, format_utc, to_db

log = logging.getLogger(__name__)

DEVICE_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
OPD_CODE_RE = re.compile(r"[A-Za-z0-9._-]{1,32}")
PUBLIC_KEY_RE = re.compile(r"[0-9a-fA-F]{64}")
# No 0/O, 1/I/L: the installer types the code on a touch screen.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_GROUPS = 3
CODE_GROUP_LEN = 4
MAX_GAPS_LISTED = 100


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch not in "- \t")


@dataclass(frozen=True)
class AuthenticatedDevice:
    device_id: str
    opd_code: str
    public_key: Ed25519PublicKey


class DeviceRegistry:
    def __init__(self, db: Database, enrollment_code_hours: int = 72) -> None:
        self._db = db
        self._code_hours = enrollment_code_hours

    # -- enrollment codes -------------------------------------------------
    def create_enrollment_code(
        self, opd_code: str, now: datetime, expires_hours: int | None = None
    ) -> tuple[str, datetime]:
        if not OPD_CODE_RE.fullmatch(opd_code):
            raise ApiError(
                422, "invalid_request", "opd_code: letters, digits, '.', '_' or '-', 1-32 chars"
            )
        hours = self._code_hours if expires_hours is None else expires_hours
        raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_LEN))
        code = "-".join(raw[i : i + CODE_GROUP_LEN] for i in range(0, len(raw), CODE_GROUP_LEN))
        expires = now + timedelta(hours=hours)
        with self._db.write() as conn:
            conn.execute(
                insert(EnrollmentCode).values(
                    code_hash=hash_secret(raw),
                    opd_code=opd_code,
                    created_utc=to_db(now),
                    expires_utc=to_db(expires),
                )
            )
        log.info("enrollment code created", extra={"opd_code": opd_code})
        return code, expires

    # -- registration -----------------------------------------------------
    def register(
        self, code: str, device_id: str, public_key_hex: str, now: datetime
    ) -> tuple[str, str]:
        """Exchange a one-time code for a device token; returns ``(token, opd_code)``."""
        if not DEVICE_ID_RE.fullmatch(device_id):
            raise ApiError(
                422, "invalid_request", "device_id: letters, digits, '.', '_' or '-', 1-64 chars"
            )
        if not PUBLIC_KEY_RE.fullmatch(public_key_hex):
            raise ApiError(
                422, "invalid_request", "public_key: 64 hex characters (raw Ed25519 key)"
            )
        try:
            load_public_key(bytes.fromhex(public_key_hex))
        except (IntegrityError, ValueError):
            raise ApiError(422, "invalid_request", "public_key: not an Ed25519 key") from None
        # A code that is not valid Unicode cannot match: answered like any bad code.
        code_hash = hash_secret(normalise_code(code).encode("utf-8", "replace").decode())
        token = secrets.token_urlsafe(32)
        with self._db.write() as conn:
            # The code is checked first: without a valid code the answer is the same
            # whether the device id exists or not (no probing for registered ids).
            # Consume the code atomically: two kiosks racing with one code, one wins.
            consumed = conn.execute(
                update(EnrollmentCode)
                .where(
                    EnrollmentCode.code_hash == code_hash,
                    EnrollmentCode.used_utc.is_(None),
                    EnrollmentCode.expires_utc > to_db(now),
                )
                .values(used_utc=to_db(now), used_by=device_id)
                .returning(EnrollmentCode.opd_code)
            ).scalar_one_or_none()
            if consumed is None:
                raise ApiError(
                    403,
                    "enrollment_code_invalid",
                    "enrollment code unknown, already used or expired; ask the admin for a new one",
                )
            existing = conn.execute(
                select(Device.status).where(Device.device_id == device_id)
            ).scalar_one_or_none()
            if existing == "active":
                # Raising rolls the code's consumption back: it stays usable.
                raise ApiError(
                    409,
                    "device_exists",
                    f"device {device_id!r} is already registered; revoke it before "
                    "registering again",
                )
            values: dict[str, Any] = {
                "opd_code": consumed,
                "public_key": public_key_hex.lower(),
                "token_hash": hash_secret(token),
                "status": "active",
                "registered_utc": to_db(now),
                "revoked_utc": None,
            }
            if existing is None:
                conn.execute(insert(Device).values(device_id=device_id, **values))
            else:
                conn.execute(update(Device).where(Device.device_id == device_id).values(**values))
        log.info("device registered", extra={"device_id": device_id, "opd_code": consumed})
        return token, consumed

    # -- authentication ---------------------------------------------------
    def authenticate(self, token: str | None) -> AuthenticatedDevice:
        """The active device holding bearer ``token``; 401 otherwise."""
        if not token or len(token) > 512:
            raise unauthorized("missing 'Authorization: Bearer <device token>'")
        with self._db.read() as conn:
            row = conn.execute(
                select(Device.device_id, Device.opd_code, Device.public_key, Device.status).where(
                    Device.token_hash == hash_secret(token)
                )
            ).one_or_none()
        if row is None:
            raise unauthorized("unknown device token: the device is not registered")
        if row.status != "active":
            raise unauthorized(f"device {row.device_id!r} has been revoked")
        return AuthenticatedDevice(
            row.device_id, row.opd_code, load_public_key(bytes.fromhex(row.public_key))
        )

    def revoke(self, device_id: str, now: datetime) -> None:
        with self._db.write() as conn:
            result = conn.execute(
                update(Device)
                .where(Device.device_id == device_id)
                .values(status="revoked", revoked_utc=to_db(now))
                .returning(Device.device_id)
            ).first()
        if result is None:
            raise not_found(f"no device {device_id!r}")
        log.info("device revoked", extra={"device_id": device_id})

    # -- health -----------------------------------------------------------
    def heartbeat(self, device_id: str, health: dict[str, Any], now: datetime) -> None:
        document = dict(health, received_utc=format_utc(now))
        with self._db.write() as conn:
            conn.execute(
                update(Device)
                .where(Device.device_id == device_id)
                .values(health=json.dumps(document), last_seen_utc=to_db(now))
            )

    def list_devices(self) -> list[dict[str, Any]]:
        with self._db.read() as conn:
            devices = conn.execute(select(Device.__table__).order_by(Device.device_id)).all()
            stats = {
                row.device_id: row
                for row in conn.execute(
                    select(
                        Punch.device_id,
                        func.count().label("punches"),
                        func.max(Punch.seq).label("last_seq"),
                    )
                    .where(Punch.source == "native")
                    .group_by(Punch.device_id)
                )
            }
            heads = {
                row.device_id: row.record_hash
                for row in conn.execute(
                    select(Punch.device_id, Punch.seq, Punch.record_hash).where(
                        Punch.source == "native",
                        tuple_(Punch.device_id, Punch.seq).in_(
                            select(Punch.device_id, func.max(Punch.seq))
                            .where(Punch.source == "native")
                            .group_by(Punch.device_id)
                        ),
                    )
                )
            }
            flagged = {
                row.device_id: row.n
                for row in conn.execute(
                    select(Punch.device_id, func.count().label("n"))
                    .where(Punch.source == "native", Punch.flags != "")
                    .group_by(Punch.device_id)
                )
            }
            out = []
            for dev in devices:
                st = stats.get(dev.device_id)
                health = json.loads(dev.health) if dev.health else None
                last_seq = int(st.last_seq) if st and st.last_seq is not None else None
                out.append(
                    {
                        "device_id": dev.device_id,
                        "opd_code": dev.opd_code,
                        "status": dev.status,
                        "registered_utc": format_utc(dev.registered_utc),
                        "revoked_utc": format_optional(dev.revoked_utc),
                        "last_seen_utc": format_optional(dev.last_seen_utc),
                        "health": health,
                        "punches": int(st.punches) if st else 0,
                        "last_seq": last_seq,
                        "last_hash": heads.get(dev.device_id),
                        "gaps": gaps(conn, dev.device_id),
                        "reconciliation": reconcile(
                            conn, dev.device_id, health, int(st.punches) if st else 0, last_seq
                        ),
                        "flagged": int(flagged.get(dev.device_id, 0)),
                    }
                )
        return out


def reconcile(
    conn: Any, device_id: str, health: dict[str, Any] | None, punches: int, last_seq: int | None
) -> dict[str, Any]:
    """The kiosk's word (its heartbeat: delivered chain head) against the server's rows.

    ``state``: ``ok`` when the kiosk's last delivered punch is the one the server
    holds at that sequence number with the same hash and the server holds as
    many punches as the kiosk delivered; ``behind`` when the kiosk has delivered
    more than the server holds; ``mismatch`` when the server's punch at the
    kiosk's delivered sequence number has another hash; ``unknown``
    when the kiosk has not reported its chain yet.
    """
    chain = (health or {}).get("chain")
    if not isinstance(chain, dict):
        return {"state": "unknown"}
    k_seq = chain.get("delivered_seq")
    k_hash = chain.get("delivered_hash")
    k_count = chain.get("delivered_count")
    out: dict[str, Any] = {
        "kiosk_delivered_seq": k_seq,
        "kiosk_delivered_hash": k_hash,
        "kiosk_delivered_count": k_count,
        "server_punches": punches,
        "server_last_seq": last_seq,
    }
    if not isinstance(k_seq, int) or not isinstance(k_count, int):
        out["state"] = "unknown"
        return out
    if k_seq == 0:
        out["state"] = "ok" if k_count == 0 else "behind"
        return out
    hashes = set(
        conn.execute(
            select(Punch.record_hash).where(
                Punch.device_id == device_id, Punch.source == "native", Punch.seq == k_seq
            )
        ).scalars()
    )
    if not hashes or k_count > punches:
        out["state"] = "behind"
    elif k_hash not in hashes:
        out["state"] = "mismatch"
    else:
        out["state"] = "ok"
    return out


# Missing sequence numbers of one device, as [from, to] ranges (window function:
# SQLite >= 3.25 and PostgreSQL).
_GAPS_SQL = text(
    "SELECT prev + 1 AS gap_from, seq - 1 AS gap_to FROM ("
    " SELECT seq, LAG(seq) OVER (ORDER BY seq) AS prev FROM ("
    "  SELECT DISTINCT seq FROM punches"
    "  WHERE device_id = :d AND source = 'native' AND seq IS NOT NULL) s"
    ") t WHERE prev IS NOT NULL AND seq - prev > 1 ORDER BY seq LIMIT :n"
)


def gaps(conn: Any, device_id: str) -> list[list[int]]:
    first = conn.execute(
        select(func.min(Punch.seq)).where(
            Punch.device_id == device_id, Punch.source == "native", Punch.seq.is_not(None)
        )
    ).scalar_one_or_none()
    out: list[list[int]] = []
    if first is not None and first > 1:
        out.append([1, int(first) - 1])
    for row in conn.execute(_GAPS_SQL, {"d": device_id, "n": MAX_GAPS_LISTED}):
        out.append([int(row.gap_from), int(row.gap_to)])
    return out
