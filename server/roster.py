"""Roster, face templates, schedule documents and the change feed that publishes them.

Every write that a kiosk must learn about appends a change in the same
transaction. The feed is compacted: only the latest change per ``(kind,
key)`` is kept (the old row is deleted, the new one gets a fresh ``seq``), so
a kiosk that was offline for a week downloads only what changed since its
cursor, and a new kiosk gets the current state plus tombstones.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import logging
import math
import re
import struct
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from attendance.batches import chunked
from attendance.feedtrust import feed_entry_bytes, sign_bytes
from attendance.templates import TemplateError
from server.db import Database
from server.devices import AuthenticatedDevice
from server.errors import ApiError, not_found
from server.ingest import NIP_RE
from server.models import Change, Employee, KioskAssignment, Template
from server.textcheck import find_surrogate, has_surrogate
from server.timeutil import format_utc, parse_wire_utc, to_db
from server.trust import (
    ServerKeys,
    audit,
    employee_scopes,
    open_template,
    scope_nips,
    seal_template,
)

log = logging.getLogger(__name__)

EMPLOYEE_TYPES = {
    "PNS": "PNS",
    "PPPK": "PPPK",
    "PPPK_PW": "PPPK_PARUH_WAKTU",
    "PPPK PW": "PPPK_PARUH_WAKTU",
    "PPPK-PW": "PPPK_PARUH_WAKTU",
    "PPPK PARUH WAKTU": "PPPK_PARUH_WAKTU",
    "PPPK_PARUH_WAKTU": "PPPK_PARUH_WAKTU",
}
OPD_RE = re.compile(r"[A-Za-z0-9._-]{1,32}")
GROUP_RE = re.compile(r"[A-Za-z0-9._ -]{1,64}")
PIN_RE = re.compile(r"[A-Za-z0-9]{1,32}")
DOC_KEY_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
DOCUMENT_KINDS = ("schedule_group", "calendar")
MAX_DOCUMENT_BYTES = 65_536
MAX_TEMPLATE_FLOATS = 2048
EARLIEST_TEMPLATE = datetime(2000, 1, 1, tzinfo=UTC)
TRUE_WORDS = {"", "1", "true", "yes", "y", "ya", "aktif"}
FALSE_WORDS = {"0", "false", "no", "n", "tidak", "nonaktif"}
COLUMN_ALIASES = {
    "nip": "nip",
    "name": "name",
    "nama": "name",
    "opd": "opd",
    "opd_code": "opd",
    "type": "type",
    "employee_type": "type",
    "jenis": "type",
    "schedule_group": "schedule_group",
    "group": "schedule_group",
    "schedule": "schedule_group",
    "adms_pin": "adms_pin",
    "pin": "adms_pin",
    "active": "active",
    "aktif": "active",
}
REQUIRED_COLUMNS = ("nip", "name", "opd", "type", "schedule_group")


@dataclass(frozen=True)
class TemplateOutcome:
    template_id: str | None
    status: str
    reason: str | None = None
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "template_id": self.template_id,
            "status": self.status,
            "reason": self.reason,
        }
        if self.detail is not None:
            out["detail"] = self.detail
        return out


class _LineError(Exception):
    pass


def employee_document(emp: Any) -> dict[str, Any]:
    """The feed document of an employee row (anything with the column attributes)."""

    def get(name: str) -> Any:
        return getattr(emp, name)

    return {
        "nip": get("nip"),
        "name": get("name"),
        "opd_code": get("opd_code"),
        "employee_type": get("employee_type"),
        "schedule_group": get("schedule_group"),
        "adms_pin": get("adms_pin"),
        "active": bool(get("active")),
    }


class Roster:
    """``keys`` seal templates at rest and sign the feed (:mod:`server.trust`)."""

    def __init__(self, db: Database, keys: ServerKeys) -> None:
        self._db = db
        self._keys = keys

    # -- the change feed ----------------------------------------------------
    def publish(
        self,
        conn: Connection,
        kind: str,
        key: str,
        op: str,
        data: Any,
        now: datetime,
        *,
        nip: str | None = None,
        audience: str | None = None,
    ) -> int:
        """Append a change (superseding the previous one of ``(kind, key)``); returns its seq.

        ``nip``: the person it is about (only kiosks serving that person get it);
        ``audience``: only kiosks of that OPD get it. Neither: every kiosk.
        """
        self._db.lock_changes(conn)
        conn.execute(delete(Change).where(Change.kind == kind, Change.key == key))
        seq = conn.execute(
            insert(Change)
            .values(
                kind=kind,
                key=key,
                op=op,
                data=None if data is None else json.dumps(data, ensure_ascii=False),
                created_utc=to_db(now),
                nip=nip,
                audience=audience,
            )
            .returning(Change.seq)
        ).scalar_one()
        return int(seq)

    def changes(
        self, device: AuthenticatedDevice, since: int, limit: int, now: datetime
    ) -> dict[str, Any]:
        """The feed of one kiosk: documents, and the people of its OPD (staff and assigned).

        Template vectors are unsealed here (the feed rows hold none), every
        entry is signed for this device, and the templates served are audit
        logged (who, which people, why).
        """
        opd = device.opd_code
        in_scope = or_(
            Change.audience == opd,
            and_(
                Change.audience.is_(None),
                or_(Change.nip.is_(None), Change.nip.in_(scope_nips(opd))),
            ),
        )
        with self._db.read() as conn:
            rows = conn.execute(
                select(Change.seq, Change.kind, Change.key, Change.op, Change.data)
                .where(Change.seq > since, in_scope)
                .order_by(Change.seq)
                .limit(limit + 1)
            ).all()
            has_more = len(rows) > limit
            rows = rows[:limit]
            wanted = [r.key for r in rows if r.kind == "template" and r.op == "upsert"]
            sealed = {
                t.template_id: t
                for chunk in chunked(wanted, 900)
                for t in conn.execute(
                    select(Template.template_id, Template.vector, Template.sealed_with).where(
                        Template.template_id.in_(chunk)
                    )
                )
            }
        changes = []
        served: dict[str, int] = {}
        for r in rows:
            data = json.loads(r.data) if r.data is not None else None
            if r.kind == "template" and r.op == "upsert":
                tpl = sealed.get(r.key)
                if tpl is None or not isinstance(data, dict):
                    continue  # erased between the two reads: its delete follows
                try:
                    vector = open_template(self._keys, r.key, tpl.vector, tpl.sealed_with)
                except TemplateError:
                    log.error("a stored template does not decrypt", extra={"template": r.key})
                    continue
                data["template"] = base64.b64encode(vector).decode("ascii")
                nip = str(data.get("nip"))
                served[nip] = served.get(nip, 0) + 1
            entry: dict[str, Any] = {
                "seq": int(r.seq),
                "kind": r.kind,
                "key": r.key,
                "op": r.op,
                "data": data,
            }
            entry["signature"] = sign_bytes(
                self._keys.signing_key, feed_entry_bytes(device.device_id, entry)
            )
            changes.append(entry)
        if served:
            with self._db.write() as conn:
                audit(
                    conn,
                    now,
                    f"device:{device.device_id}",
                    "template_read",
                    device.device_id,
                    {
                        "why": "change feed to the kiosk serving these people",
                        "opd_code": opd,
                        "templates": sum(served.values()),
                        "nips": sorted(served),
                    },
                )
        next_cursor = int(rows[-1].seq) if rows else since
        return {"changes": changes, "next_cursor": next_cursor, "has_more": has_more}

    def _rescope(
        self, conn: Connection, nip: str, before: set[str], after: set[str], now: datetime
    ) -> None:
        """Tell kiosks a person left (``scope_exit``) or reached them (templates again)."""
        for opd in sorted(before - after):
            self.publish(
                conn,
                "scope_exit",
                f"{opd}:{nip}",
                "upsert",
                {"nip": nip, "opd_code": opd},
                now,
                nip=nip,
                audience=opd,
            )
        entered = after - before
        if not entered:
            return
        conn.execute(
            delete(Change).where(
                Change.kind == "scope_exit", Change.key.in_([f"{o}:{nip}" for o in entered])
            )
        )
        # The people's templates get fresh seqs, so kiosks past their old ones get them.
        for row in conn.execute(
            select(Change.key, Change.op, Change.data).where(
                Change.kind.in_(("employee", "template")), Change.nip == nip
            )
        ).all():
            kind = "employee" if row.key == nip else "template"
            data = json.loads(row.data) if row.data is not None else None
            self.publish(conn, kind, row.key, row.op, data, now, nip=nip)

    # -- employees ------------------------------------------------------------
    def import_csv(self, body: bytes, now: datetime) -> dict[str, Any]:
        """Apply every valid line; report each bad line with its number and why."""
        try:
            text_body = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ApiError(
                400, "invalid_request", f"the CSV is not UTF-8 (byte {exc.start})"
            ) from None
        first_line = text_body.split("\n", 1)[0]
        delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
        rows = list(csv.reader(io.StringIO(text_body), delimiter=delimiter))
        errors: list[dict[str, Any]] = []
        columns = [*REQUIRED_COLUMNS, "adms_pin", "active"]
        start = 0
        if rows and any(c.strip().lower() == "nip" for c in rows[0]):
            header = [COLUMN_ALIASES.get(c.strip().lower(), "") for c in rows[0]]
            unknown = [rows[0][i] for i, h in enumerate(header) if not h]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing or unknown:
                problems = []
                if missing:
                    problems.append(f"missing column(s) {', '.join(missing)}")
                if unknown:
                    problems.append(f"unknown column(s) {', '.join(u[:40] for u in unknown)}")
                return {
                    "created": 0,
                    "updated": 0,
                    "unchanged": 0,
                    "errors": [{"line": 1, "error": "header: " + "; ".join(problems)}],
                }
            columns = header
            start = 1
        parsed: dict[str, tuple[int, dict[str, Any]]] = {}
        pins: dict[str, tuple[int, str]] = {}
        for lineno, row in enumerate(rows[start:], start=start + 1):
            if not any(cell.strip() for cell in row):
                continue
            try:
                emp = _parse_row(row, columns)
                if emp["nip"] in parsed:
                    raise _LineError(f"nip: appears again (first on line {parsed[emp['nip']][0]})")
                other = pins.get(emp["adms_pin"])
                if other is not None:
                    raise _LineError(f"adms_pin: already used on line {other[0]}")
            except _LineError as exc:
                errors.append({"line": lineno, "error": str(exc)})
                continue
            parsed[emp["nip"]] = (lineno, emp)
            pins[emp["adms_pin"]] = (lineno, emp["nip"])
        created = updated = unchanged = 0
        with self._db.write() as conn:
            moved: list[tuple[str, set[str]]] = []
            existing = {
                e.nip: employee_document(e)
                for chunk in chunked(list(parsed), 900)
                for e in conn.execute(select(Employee.__table__).where(Employee.nip.in_(chunk)))
            }
            for nip, (_lineno, emp) in parsed.items():
                old = existing.get(nip)
                if old == emp:
                    unchanged += 1
                    continue
                values = {**{k: v for k, v in emp.items() if k != "nip"}, "updated_utc": to_db(now)}
                if old is None:
                    conn.execute(insert(Employee).values(nip=nip, **values))
                    created += 1
                else:
                    if old["opd_code"] != emp["opd_code"]:
                        moved.append((nip, employee_scopes(conn, nip)))
                    conn.execute(update(Employee).where(Employee.nip == nip).values(**values))
                    updated += 1
                self.publish(conn, "employee", nip, "upsert", emp, now, nip=nip)
            for nip, before in moved:
                self._rescope(conn, nip, before, employee_scopes(conn, nip), now)
        log.info(
            "employees imported",
            extra={
                "employees_created": created,
                "employees_updated": updated,
                "employees_unchanged": unchanged,
                "line_errors": len(errors),
            },
        )
        return {"created": created, "updated": updated, "unchanged": unchanged, "errors": errors}

    # -- extra assignments ------------------------------------------------------
    def assign(self, nip: str, opd_code: str, now: datetime, *, present: bool) -> dict[str, Any]:
        """Add (``present``) or remove an extra OPD at whose kiosks ``nip`` also punches."""
        if not NIP_RE.fullmatch(nip):
            raise ApiError(422, "invalid_request", "nip: must be exactly 18 digits")
        if not OPD_RE.fullmatch(opd_code):
            raise ApiError(
                422, "invalid_request", "opd_code: letters, digits, '.', '_' or '-', 1-32 chars"
            )
        with self._db.write() as conn:
            if conn.execute(select(Employee.nip).where(Employee.nip == nip)).first() is None:
                raise not_found(f"no employee with nip {nip}")
            before = employee_scopes(conn, nip)
            conn.execute(
                delete(KioskAssignment).where(
                    KioskAssignment.nip == nip, KioskAssignment.opd_code == opd_code
                )
            )
            if present:
                conn.execute(
                    insert(KioskAssignment).values(
                        nip=nip, opd_code=opd_code, created_utc=to_db(now)
                    )
                )
            after = employee_scopes(conn, nip)
            self._rescope(conn, nip, before, after, now)
            audit(
                conn,
                now,
                "admin",
                "assignment_added" if present else "assignment_removed",
                nip,
                {"opd_code": opd_code},
            )
        return {"nip": nip, "opd_codes": sorted(after)}

    def list_employees(self) -> list[dict[str, Any]]:
        with self._db.read() as conn:
            return [
                employee_document(e)
                for e in conn.execute(select(Employee.__table__).order_by(Employee.nip))
            ]

    # -- templates ------------------------------------------------------------
    def upload_templates(
        self, device: AuthenticatedDevice, items: Sequence[Any], now: datetime
    ) -> list[TemplateOutcome]:
        outcomes: list[TemplateOutcome | None] = [None] * len(items)
        valid: list[tuple[int, dict[str, Any]]] = []
        for i, raw in enumerate(items):
            try:
                valid.append((i, _parse_template(raw, now)))
            except _TemplateRejectedError as rej:
                tid = raw.get("template_id") if isinstance(raw, Mapping) else None
                outcomes[i] = TemplateOutcome(
                    tid if isinstance(tid, str) and not has_surrogate(tid) else None,
                    "rejected",
                    rej.reason,
                    rej.detail,
                )
        if valid:
            with self._db.write() as conn:
                for i, tpl in valid:
                    outcome = self._store_template(conn, device, tpl, now)
                    outcomes[i] = outcome
                    if outcome.status != "duplicate":
                        audit(
                            conn,
                            now,
                            f"device:{device.device_id}",
                            "template_upload"
                            if outcome.status == "accepted"
                            else "template_refused",
                            tpl["nip"],
                            {
                                "template_id": tpl["template_id"],
                                "why": "enrolled at the kiosk"
                                if outcome.status == "accepted"
                                else outcome.reason,
                                "device_opd": device.opd_code,
                            },
                        )
        done = [
            o if o is not None else TemplateOutcome(None, "rejected", "malformed") for o in outcomes
        ]
        log.info(
            "templates uploaded",
            extra={
                "device_id": device.device_id,
                "accepted": sum(o.status == "accepted" for o in done),
                "rejected": sum(o.status == "rejected" for o in done),
            },
        )
        return done

    def _store_template(
        self, conn: Connection, device: AuthenticatedDevice, tpl: dict[str, Any], now: datetime
    ) -> TemplateOutcome:
        tid = tpl["template_id"]
        if conn.execute(select(Employee.nip).where(Employee.nip == tpl["nip"])).first() is None:
            return TemplateOutcome(tid, "rejected", "unknown_nip", "nip is not in the roster")
        if device.opd_code not in employee_scopes(conn, tpl["nip"]):
            return TemplateOutcome(
                tid,
                "rejected",
                "out_of_scope",
                f"nip is neither staff of {device.opd_code} nor assigned to it; "
                "this kiosk may not enroll them",
            )
        tomb = conn.execute(
            select(Change.op).where(Change.kind == "template", Change.key == tid)
        ).scalar_one_or_none()
        if tomb == "delete":
            return TemplateOutcome(
                tid, "rejected", "erased", "this template was erased and is not accepted again"
            )
        old = conn.execute(
            select(Template.__table__).where(Template.template_id == tid)
        ).one_or_none()
        if old is not None:
            try:
                old_vector = open_template(self._keys, tid, old.vector, old.sealed_with)
            except TemplateError:
                old_vector = b""
            same = (old.nip, old_vector, old.model_name, old.model_version) == (
                tpl["nip"],
                tpl["vector"],
                tpl["model_name"],
                tpl["model_version"],
            )
            if same:
                return TemplateOutcome(tid, "duplicate")
            return TemplateOutcome(
                tid, "rejected", "conflict", "this template id is stored with different content"
            )
        conn.execute(
            insert(Template).values(
                template_id=tid,
                nip=tpl["nip"],
                model_name=tpl["model_name"],
                model_version=tpl["model_version"],
                vector=seal_template(self._keys, tid, tpl["vector"]),
                sealed_with=self._keys.template_key_id,
                source_device=device.device_id,
                created_utc=to_db(tpl["created"]),
                received_utc=to_db(now),
            )
        )
        self.publish(
            conn,
            "template",
            tid,
            "upsert",
            {
                "template_id": tid,
                "nip": tpl["nip"],
                "model_name": tpl["model_name"],
                "model_version": tpl["model_version"],
                "source_device": device.device_id,
                "created_utc": format_utc(tpl["created"]),
            },
            now,
            nip=tpl["nip"],
        )
        return TemplateOutcome(tid, "accepted")

    def erase_biometrics(self, nip: str, now: datetime, actor: str = "admin") -> int:
        """Delete every template of ``nip`` and publish a delete change for each."""
        if not NIP_RE.fullmatch(nip):
            raise ApiError(422, "invalid_request", "nip: must be exactly 18 digits")
        with self._db.write() as conn:
            ids = list(
                conn.execute(select(Template.template_id).where(Template.nip == nip)).scalars()
            )
            known = conn.execute(select(Employee.nip).where(Employee.nip == nip)).first()
            if known is None and not ids:
                raise not_found(f"no employee or template with nip {nip}")
            conn.execute(delete(Template).where(Template.nip == nip))
            for tid in ids:
                self.publish(
                    conn,
                    "template",
                    tid,
                    "delete",
                    {"template_id": tid, "nip": nip},
                    now,
                    nip=nip,
                )
            audit(conn, now, actor, "template_erase", nip, {"templates": len(ids)})
        log.info("biometrics erased", extra={"templates_deleted": len(ids)})
        return len(ids)

    # -- opaque documents (schedule groups, calendar) --------------------------
    def put_document(self, kind: str, key: str, data: Any, now: datetime) -> int:
        _check_document_key(kind, key)
        if not isinstance(data, dict):
            raise ApiError(422, "invalid_request", "the document must be a JSON object")
        where = find_surrogate(data)
        if where is not None:
            raise ApiError(
                422, "invalid_request", f"{where}: contains a lone surrogate (not valid Unicode)"
            )
        encoded = json.dumps(data, ensure_ascii=False)
        if len(encoded.encode()) > MAX_DOCUMENT_BYTES:
            raise ApiError(
                413, "body_too_large", f"a document is at most {MAX_DOCUMENT_BYTES} bytes"
            )
        with self._db.write() as conn:
            return self.publish(conn, kind, key, "upsert", data, now)

    def delete_document(self, kind: str, key: str, now: datetime) -> int:
        _check_document_key(kind, key)
        with self._db.write() as conn:
            op = conn.execute(
                select(Change.op).where(Change.kind == kind, Change.key == key)
            ).scalar_one_or_none()
            if op != "upsert":
                raise not_found(f"no {kind} {key!r}")
            return self.publish(conn, kind, key, "delete", None, now)


def _check_document_key(kind: str, key: str) -> None:
    if kind not in DOCUMENT_KINDS:
        raise not_found(f"document kind must be one of {', '.join(DOCUMENT_KINDS)}")
    if not DOC_KEY_RE.fullmatch(key):
        raise ApiError(
            422, "invalid_request", "key: letters, digits, '.', '_', ':' or '-', 1-128 chars"
        )


def has_control_chars(text: str) -> bool:
    """True for NUL and other control characters (PostgreSQL refuses NUL in text)."""
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def _parse_row(row: list[str], columns: list[str]) -> dict[str, Any]:
    if any(has_control_chars(cell) for cell in row):
        raise _LineError("contains control characters (NUL, TAB, ...)")
    if len(row) > len(columns):
        raise _LineError(f"{len(row)} columns, expected at most {len(columns)}")
    cells = {col: (row[i].strip() if i < len(row) else "") for i, col in enumerate(columns)}
    nip = cells.get("nip", "")
    if not NIP_RE.fullmatch(nip):
        raise _LineError("nip: must be exactly 18 digits")
    name = cells.get("name", "")
    if not name or len(name) > 200:
        raise _LineError("name: must not be empty (at most 200 characters)")
    opd = cells.get("opd", "")
    if not OPD_RE.fullmatch(opd):
        raise _LineError("opd: letters, digits, '.', '_' or '-', 1-32 characters")
    etype = EMPLOYEE_TYPES.get(cells.get("type", "").upper())
    if etype is None:
        raise _LineError("type: must be PNS, PPPK or PPPK_PW (paruh waktu)")
    group = cells.get("schedule_group", "")
    if not GROUP_RE.fullmatch(group):
        raise _LineError("schedule_group: letters, digits, space, '.', '_' or '-', 1-64 chars")
    pin = cells.get("adms_pin", "") or nip
    if not PIN_RE.fullmatch(pin):
        raise _LineError("adms_pin: letters and digits, 1-32 characters")
    active_word = cells.get("active", "").lower()
    if active_word in TRUE_WORDS:
        active = True
    elif active_word in FALSE_WORDS:
        active = False
    else:
        raise _LineError("active: must be 1/0, true/false or ya/tidak")
    return {
        "nip": nip,
        "name": name,
        "opd_code": opd,
        "employee_type": etype,
        "schedule_group": group,
        "adms_pin": pin,
        "active": active,
    }


class _TemplateRejectedError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _parse_template(raw: Any, now: datetime) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise _TemplateRejectedError("malformed", "a template must be a JSON object")
    tid = raw.get("template_id")
    if not isinstance(tid, str) or len(tid) != 36:
        raise _TemplateRejectedError("malformed", "template_id: must be a UUID")
    try:
        if str(uuid.UUID(tid)) != tid:
            raise ValueError
    except ValueError:
        raise _TemplateRejectedError(
            "malformed", "template_id: lowercase hyphenated UUID"
        ) from None
    nip = raw.get("nip")
    if not isinstance(nip, str) or not NIP_RE.fullmatch(nip):
        raise _TemplateRejectedError("nip_format", "nip: must be exactly 18 digits")
    model_name = raw.get("model_name")
    if (
        not isinstance(model_name, str)
        or not 1 <= len(model_name) <= 100
        or has_control_chars(model_name)
        or has_surrogate(model_name)
    ):
        raise _TemplateRejectedError("malformed", "model_name: a string of 1-100 characters")
    model_version = raw.get("model_version")
    if (
        not isinstance(model_version, str)
        or not 1 <= len(model_version) <= 32
        or has_control_chars(model_version)
        or has_surrogate(model_version)
    ):
        raise _TemplateRejectedError("malformed", "model_version: a string of 1-32 characters")
    encoded = raw.get("template")
    if not isinstance(encoded, str) or len(encoded) > MAX_TEMPLATE_FLOATS * 4 * 2:
        raise _TemplateRejectedError("malformed", "template: base64 of float32 values")
    try:
        vector = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _TemplateRejectedError("malformed", "template: not valid base64") from None
    if not vector or len(vector) % 4 or len(vector) > MAX_TEMPLATE_FLOATS * 4:
        raise _TemplateRejectedError(
            "malformed",
            f"template: 1-{MAX_TEMPLATE_FLOATS} float32 values, got {len(vector)} bytes",
        )
    if not all(math.isfinite(v) for v in struct.unpack(f"<{len(vector) // 4}f", vector)):
        raise _TemplateRejectedError("malformed", "template: contains NaN or infinity")
    created_raw = raw.get("created_utc")
    created = now
    if created_raw is not None:
        if not isinstance(created_raw, str):
            raise _TemplateRejectedError("malformed", "created_utc: a UTC time string")
        try:
            created = parse_wire_utc(created_raw)
        except ValueError as exc:
            raise _TemplateRejectedError("malformed", f"created_utc: {exc}") from None
        if not EARLIEST_TEMPLATE <= created <= now + timedelta(days=1):
            raise _TemplateRejectedError(
                "malformed", "created_utc: before 2000 or more than a day in the future"
            )
    return {
        "template_id": tid,
        "nip": nip,
        "model_name": model_name,
        "model_version": model_version,
        "vector": vector,
        "created": created,
    }
