"""The native JSON protocol client of the Hadir central server (``server/API.md``).

Every call has a timeout; every reply is validated strictly before anything
is believed. A malformed or truncated reply raises :class:`MalformedReplyError` (a
:class:`~sync.retry.TransientError`): the caller retries, nothing is marked
delivered. HTTP statuses are sorted by :func:`sync.retry.classify_status`.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from attendance.feedtrust import ack_bytes, feed_entry_bytes, signature_ok
from attendance.ids import parse_utc
from attendance.integrity import IntegrityError, load_public_key
from sync.retry import (
    SyncError,
    TransientError,
    UnauthorizedError,
    classify_status,
    parse_retry_after,
)

log = logging.getLogger(__name__)

API = "/api/v1"
PUNCH_STATUSES = ("accepted", "duplicate", "rejected")
CHANGE_KINDS = ("employee", "schedule_group", "calendar", "template")
MAX_DETAIL = 300


class MalformedReplyError(TransientError):
    """The server's answer is not what the protocol promises (truncated, wrong shape)."""


class UntrustedReplyError(MalformedReplyError):
    """An acknowledgement without a valid server signature: nothing is marked delivered."""


LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback_url(url: str) -> bool:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_server_url(url: str) -> None:
    """Refuse what would send tokens, punches and face templates in the clear.

    ``http://`` is allowed only to this machine (a local test server or a
    TLS-terminating proxy on the kiosk itself)."""
    if url.startswith("https://"):
        return
    if url.startswith("http://"):
        if is_loopback_url(url):
            return
        raise ValueError(
            f"[sync] server_url {url!r} uses plain http:// to another machine: the device "
            "token, every punch and the face templates would cross the network unencrypted and "
            "anyone on the path could read or change them. Use https:// (set [sync] ca_file to "
            "pin the server's certificate or CA)"
        )
    raise ValueError(
        f"[sync] server_url must start with https:// (or http:// to loopback), got {url!r}"
    )


# What the operating system said, as found in the text of requests' exception.
_CAUSES = (
    ("Connection refused", "connection refused: is the server running, on this port?"),
    ("Name or service not known", "the host name does not resolve: check the address"),
    ("Temporary failure in name resolution", "no name server answers: check the network"),
    ("No address associated with hostname", "the host name does not resolve: check the address"),
    ("Network is unreachable", "the network is unreachable: check the cable or Wi-Fi"),
    ("No route to host", "no route to the host: check the network and the address"),
    ("CERTIFICATE_VERIFY_FAILED", "its TLS certificate is not trusted"),
    ("Connection reset", "the connection was reset: is it the right port (http or https)?"),
    ("Read timed out", "it did not answer in time"),
)


def unreachable(exc: requests.RequestException, base_url: str) -> str:
    """A plain sentence for a failed request (not urllib3's nested repr)."""
    text = str(exc)
    for needle, said in _CAUSES:
        if needle in text:
            return f"cannot reach the server at {base_url}: {said}"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"cannot reach the server at {base_url}: TLS failed ({text[:160]})"
    if isinstance(exc, requests.ConnectionError):
        return f"cannot reach the server at {base_url}: no connection ({type(exc).__name__})"
    return f"request to {base_url} failed: {type(exc).__name__}: {text[:200]}"


@dataclass(frozen=True)
class Registration:
    device_id: str
    token: str
    opd_code: str
    server_time: str
    server_public_key: str = ""  # hex Ed25519; empty from a server that signs nothing


@dataclass(frozen=True)
class PunchResult:
    id: str
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None
    detail: str | None = None
    flags: tuple[str, ...] = ()

    @property
    def delivered(self) -> bool:
        return self.status in ("accepted", "duplicate")


@dataclass(frozen=True)
class PushReply:
    results: tuple[PunchResult, ...]
    server_time: str | None


@dataclass(frozen=True)
class Change:
    seq: int
    kind: str
    key: str
    op: Literal["upsert", "delete"]
    data: Mapping[str, Any]


@dataclass(frozen=True)
class ChangesPage:
    changes: tuple[Change, ...]
    next_cursor: int
    has_more: bool
    # An entry whose server signature failed: (seq, why). The page stops before it.
    refused: tuple[int, str] | None = None


@dataclass(frozen=True)
class TemplateResult:
    template_id: str
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None


@dataclass(frozen=True)
class ServerTime:
    utc: str
    unix_ms: int


# --- strict reply validation --------------------------------------------------------


def _bad(what: str) -> MalformedReplyError:
    return MalformedReplyError(f"malformed server reply: {what}")


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{where} is not an object")
    return value


def _str(obj: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _bad(f"{where}.{key} is not a string")
    return value


def _int(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(f"{where}.{key} is not an integer")
    return value


def _bool(obj: Mapping[str, Any], key: str, where: str) -> bool:
    value = obj.get(key)
    if not isinstance(value, bool):
        raise _bad(f"{where}.{key} is not true/false")
    return value


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key)
    if not isinstance(value, list):
        raise _bad(f"{where}.{key} is not a list")
    return value


def _utc(obj: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> Any:
    value = _str(obj, key, where, optional=optional)
    if value is None:
        return None
    try:
        parse_utc(value)
    except ValueError:
        raise _bad(f"{where}.{key} is not a UTC time: {value[:40]!r}") from None
    return value


def _flags(obj: Mapping[str, Any], where: str) -> tuple[str, ...]:
    raw = obj.get("flags", [])
    if not isinstance(raw, list) or not all(isinstance(f, str) for f in raw):
        raise _bad(f"{where}.flags is not a list of strings")
    return tuple(raw)


def parse_push_reply(
    body: Any,
    sent_ids: Sequence[str],
    server_key: Ed25519PublicKey | None = None,
    device_id: str = "",
) -> PushReply:
    """One result per sent record, in order, same ids; anything else is malformed.

    With ``server_key`` the acknowledgement must carry the server's signature
    over the device id, server time and every ``id:status`` in order."""
    top = _obj(body, "reply")
    items = _list(top, "results", "reply")
    if len(items) != len(sent_ids):
        raise _bad(f"{len(items)} results for {len(sent_ids)} punches")
    results = []
    for i, (item, sent) in enumerate(zip(items, sent_ids, strict=True)):
        where = f"results[{i}]"
        obj = _obj(item, where)
        rid = _str(obj, "id", where)
        if rid != sent:
            raise _bad(f"{where}.id does not match the punch sent at that position")
        status = obj.get("status")
        if status not in PUNCH_STATUSES:
            raise _bad(f"{where}.status is {str(status)[:20]!r}")
        reason = _str(obj, "reason", where, optional=True)
        if status == "rejected" and not reason:
            raise _bad(f"{where} is rejected without a reason")
        detail = _str(obj, "detail", where, optional=True)
        results.append(
            PunchResult(
                id=rid,
                status=status,
                reason=reason,
                detail=detail[:MAX_DETAIL] if detail else None,
                flags=_flags(obj, where),
            )
        )
    server_time = _utc(top, "server_time", "reply", optional=True)
    if server_key is not None:
        signed = ack_bytes(device_id, server_time, [(r.id, r.status) for r in results])
        if not signature_ok(server_key, top.get("ack_signature"), signed):
            raise UntrustedReplyError(
                "the punch acknowledgement is not signed by the server this kiosk registered "
                "with (a man in the middle?); nothing is marked delivered"
            )
    return PushReply(tuple(results), server_time)


def parse_changes(
    body: Any, since: int, server_key: Ed25519PublicKey | None = None, device_id: str = ""
) -> ChangesPage:
    """The page; with ``server_key`` every entry must be signed for ``device_id``.

    The first entry whose signature fails ends the page there (``refused``):
    nothing from it on is applied and the cursor stays before it."""
    top = _obj(body, "reply")
    items = _list(top, "changes", "reply")
    changes: list[Change] = []
    last = since
    for i, item in enumerate(items):
        where = f"changes[{i}]"
        obj = _obj(item, where)
        seq = _int(obj, "seq", where)
        if seq <= last:
            raise _bad(f"{where}.seq {seq} does not grow (after {last})")
        last = seq
        kind = _str(obj, "kind", where)
        op = obj.get("op")
        if op not in ("upsert", "delete"):
            raise _bad(f"{where}.op is {str(op)[:20]!r}")
        data = obj.get("data")
        if server_key is not None and not signature_ok(
            server_key, obj.get("signature"), feed_entry_bytes(device_id, obj)
        ):
            log.warning("change feed entry seq %d refused: bad server signature", seq)
            return ChangesPage(
                tuple(changes),
                changes[-1].seq if changes else since,
                False,
                refused=(seq, "bad server signature"),
            )
        if data is None and op == "delete":
            data = {}
        changes.append(
            Change(seq=seq, kind=kind, key=_str(obj, "key", where), op=op, data=_obj(data, where))
        )
    next_cursor = _int(top, "next_cursor", "reply")
    if next_cursor < last or next_cursor < since:
        raise _bad(f"next_cursor {next_cursor} goes backwards")
    return ChangesPage(tuple(changes), next_cursor, _bool(top, "has_more", "reply"))


def parse_template_results(body: Any, sent_ids: Sequence[str]) -> tuple[TemplateResult, ...]:
    top = _obj(body, "reply")
    items = _list(top, "results", "reply")
    if len(items) != len(sent_ids):
        raise _bad(f"{len(items)} results for {len(sent_ids)} templates")
    out = []
    for i, (item, sent) in enumerate(zip(items, sent_ids, strict=True)):
        where = f"results[{i}]"
        obj = _obj(item, where)
        if _str(obj, "template_id", where) != sent:
            raise _bad(f"{where}.template_id does not match the template sent")
        status = obj.get("status")
        if status not in PUNCH_STATUSES:
            raise _bad(f"{where}.status is {str(status)[:20]!r}")
        reason = _str(obj, "reason", where, optional=True)
        if status == "rejected" and not reason:
            raise _bad(f"{where} is rejected without a reason")
        out.append(TemplateResult(sent, status, reason))
    return tuple(out)


def parse_registration(body: Any) -> Registration:
    top = _obj(body, "reply")
    token = _str(top, "token", "reply")
    if len(token) < 16:
        raise _bad("token is too short")
    server_key = _str(top, "server_public_key", "reply", optional=True) or ""
    if server_key:
        try:
            load_public_key(bytes.fromhex(server_key))
        except (ValueError, IntegrityError):
            raise _bad("server_public_key is not an Ed25519 key") from None
    return Registration(
        device_id=_str(top, "device_id", "reply"),
        token=token,
        opd_code=_str(top, "opd_code", "reply"),
        server_time=_utc(top, "server_time", "reply"),
        server_public_key=server_key.lower(),
    )


def parse_server_time(body: Any) -> ServerTime:
    top = _obj(body, "reply")
    utc = _utc(top, "utc", "reply")
    unix_ms = _int(top, "unix_ms", "reply")
    if abs(parse_utc(utc).timestamp() * 1000 - unix_ms) > 1000:
        raise _bad("utc and unix_ms disagree")
    return ServerTime(utc, unix_ms)


# --- the client ---------------------------------------------------------------------


@dataclass
class NativeClient:
    """One server, one device token. Not thread-safe: one client per thread.

    ``token`` may be empty until :meth:`register` succeeded (it then holds
    the new token). ``server_public_key`` (hex, learnt at registration): the
    feed and the punch acknowledgements must be signed by it. ``ca_file``: the
    only CA (or the server's own certificate) trusted for https.
    """

    base_url: str
    timeout: float = 10.0
    token: str = ""
    session: requests.Session = field(default_factory=requests.Session)
    clock: Callable[[], float] = time.time  # wall clock for Retry-After dates
    server_public_key: str = ""
    device_id: str = ""
    ca_file: str = ""

    def __post_init__(self) -> None:
        check_server_url(self.base_url)
        if not (self.timeout > 0 and math.isfinite(self.timeout)):
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout!r}")
        self.base_url = self.base_url.rstrip("/")
        self._server_key: Ed25519PublicKey | None = None
        if self.server_public_key:
            try:
                self._server_key = load_public_key(bytes.fromhex(self.server_public_key))
            except (ValueError, IntegrityError):
                raise ValueError("the stored server public key is not an Ed25519 key") from None

    def close(self) -> None:
        self.session.close()

    # The one place where HTTP happens.
    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        auth: bool = True,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if auth:
            if not self.token:
                raise UnauthorizedError("no device token: register this kiosk first")
            headers["Authorization"] = f"Bearer {self.token}"
        url = self.base_url + path
        try:
            # verify per request: a session-level value loses to $REQUESTS_CA_BUNDLE.
            resp = self.session.request(
                method,
                url,
                json=body,
                params=params,
                headers=headers,
                timeout=self.timeout,
                verify=self.ca_file or True,
            )
        except requests.Timeout:
            raise TransientError(f"{method} {path}: no answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise TransientError(f"{method} {path}: {unreachable(exc, self.base_url)}") from None
        if not 200 <= resp.status_code < 300:
            now = self.clock()
            retry_after = parse_retry_after(resp.headers.get("Retry-After"), now)
            raise classify_status(resp.status_code, _error_text(resp), retry_after)
        try:
            return resp.json()
        except ValueError:
            raise MalformedReplyError(
                f"{method} {path}: the reply is not JSON (truncated?)"
            ) from None

    # --- endpoints ---

    def register(self, code: str, device_id: str, public_key: bytes) -> Registration:
        """Exchange a one-time enrollment code for this device's token."""
        reply = parse_registration(
            self._call(
                "POST",
                f"{API}/devices/register",
                body={"code": code, "device_id": device_id, "public_key": public_key.hex()},
                auth=False,
            )
        )
        if reply.device_id != device_id:
            raise _bad("registration answered for another device id")
        self.token = reply.token
        self.device_id = device_id
        self.server_public_key = reply.server_public_key
        self._server_key = (
            load_public_key(bytes.fromhex(reply.server_public_key))
            if reply.server_public_key
            else None
        )
        return reply

    def push_punches(self, records: Sequence[Mapping[str, Any]]) -> PushReply:
        ids = [str(r["id"]) for r in records]
        body = self._call("POST", f"{API}/punches", body={"punches": list(records)})
        return parse_push_reply(body, ids, self._server_key, self.device_id)

    def changes(self, since: int, limit: int = 1000) -> ChangesPage:
        body = self._call("GET", f"{API}/changes", params={"since": since, "limit": limit})
        return parse_changes(body, since, self._server_key, self.device_id)

    def upload_templates(
        self, templates: Sequence[Mapping[str, Any]]
    ) -> tuple[TemplateResult, ...]:
        ids = [str(t["template_id"]) for t in templates]
        body = self._call("POST", f"{API}/templates", body={"templates": list(templates)})
        return parse_template_results(body, ids)

    def server_time(self) -> ServerTime:
        return parse_server_time(self._call("GET", f"{API}/time", auth=False))

    def heartbeat(self, health: Mapping[str, Any]) -> None:
        top = _obj(self._call("POST", f"{API}/heartbeat", body=dict(health)), "reply")
        if top.get("status") != "ok":
            raise _bad("heartbeat status is not ok")


def _error_text(resp: requests.Response) -> str:
    """The server's ``error``/``detail`` in one short line (never the whole body)."""
    try:
        body = resp.json()
    except ValueError:
        return (resp.reason or "error")[:MAX_DETAIL]
    if isinstance(body, dict):
        code = body.get("error")
        detail = body.get("detail")
        parts = [str(p) for p in (code, detail) if p]
        if parts:
            return ": ".join(parts)[:MAX_DETAIL]
    return (resp.reason or "error")[:MAX_DETAIL]


__all__ = [
    "Change",
    "ChangesPage",
    "MalformedReplyError",
    "NativeClient",
    "PunchResult",
    "PushReply",
    "Registration",
    "ServerTime",
    "SyncError",
    "TemplateResult",
    "UntrustedReplyError",
    "check_server_url",
]
