"""The front door: who may make the server read a body, and how fast.

Before this gate the server read up to ``max_body_bytes`` of any request into
memory, authenticated or not, with no read timeout: 150 stalled uploads took
it from 181 MB to 735 MB. Now, for every HTTP request and before one byte of
its body is read:

1. a ``Content-Length`` over the limit is refused (413);
2. the credential in the headers is checked: a device token against the
   database (the device found is handed to the handler), the admin token for
   ``/api/v1/admin``; an unknown one is answered 401 at once;
3. rate limits per source address (registration, admin, ``/iclock``, the
   other unauthenticated endpoints, and failed authentications) and per
   credential (admin token, ADMS serial; devices have their own bucket in the
   app) answer 429 with ``Retry-After``;
4. the body is read with a limit - small for unauthenticated endpoints - and a
   deadline: a sender slower than ``body_timeout`` gets 408 and the connection
   is closed.

Addresses come from the socket: behind a reverse proxy every request comes
from the proxy, so run the proxy's own per-client limits there (SECURITY.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.admintoken import token_matches
from server.errors import ApiError
from server.ratelimit import RateLimiter

log = logging.getLogger(__name__)

API = "/api/v1"
DEVICE_STATE_KEY = "hadir_device"
LIMITED_STATE_KEY = "hadir_device_limited"
# Bodies of endpoints anyone may call (registration): a few hundred bytes are enough.
UNAUTHENTICATED_MAX_BYTES = 16_384
# Endpoints that need a device token (anything else without a token is public or 404).
DEVICE_ROUTES = frozenset(
    {
        ("POST", f"{API}/punches"),
        ("GET", f"{API}/changes"),
        ("POST", f"{API}/templates"),
        ("POST", f"{API}/heartbeat"),
    }
)


@dataclass(frozen=True)
class GateLimits:
    max_body_bytes: int
    body_timeout: float
    source_rate: float
    source_burst: int
    auth_failure_rate: float
    auth_failure_burst: int
    # Requests of one device whose bodies are being read or handled at once: a stolen
    # token can hold at most this many bodies (of max_body_bytes) in memory.
    max_requests_per_device: int = 8


class _RefusedError(Exception):
    def __init__(self, status: int, code: str, detail: str, retry_after: float = 0.0) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after


async def _answer(send: Send, refused: _RefusedError, *, plain: bool) -> None:
    if plain:
        body = refused.detail.encode()
        ctype = b"text/plain; charset=utf-8"
    else:
        body = json.dumps({"error": refused.code, "detail": refused.detail}).encode()
        ctype = b"application/json"
    headers = [
        (b"content-type", ctype),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if refused.retry_after > 0:
        headers.append((b"retry-after", str(max(1, math.ceil(refused.retry_after))).encode()))
    if refused.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            text = str(value.decode("latin-1"))
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            if not value.isdigit():
                raise _RefusedError(400, "invalid_request", "bad Content-Length")
            return int(value)
    return None


def _query_serial(scope: Scope) -> str:
    from urllib.parse import parse_qs

    qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return str((qs.get("SN") or [""])[0][:64])


class RequestGate:
    """ASGI middleware; ``authenticate_device(token)`` returns a device or raises ApiError."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: GateLimits,
        admin_token: str,
        authenticate_device: Callable[[str], Any],
        device_limiter: RateLimiter | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.device_limiter = device_limiter
        self._inflight: dict[str, int] = {}
        self.admin_token = admin_token
        self.authenticate_device = authenticate_device
        self.by_source = RateLimiter(limits.source_rate, limits.source_burst)
        self.by_credential = RateLimiter(limits.source_rate, limits.source_burst)
        self.failures = RateLimiter(limits.auth_failure_rate, limits.auth_failure_burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        plain = path.startswith("/iclock")
        holder: str | None = None
        try:
            max_bytes = await self._admit(scope, path)
            device = scope.get("state", {}).get(DEVICE_STATE_KEY)
            if device is not None:
                holder = str(device.device_id)
                if self._inflight.get(holder, 0) >= self.limits.max_requests_per_device:
                    holder = None
                    raise _RefusedError(
                        429,
                        "rate_limited",
                        f"device {device.device_id} has "
                        f"{self.limits.max_requests_per_device} requests under way already",
                        retry_after=1.0,
                    )
                self._inflight[holder] = self._inflight.get(holder, 0) + 1
            length = _content_length(scope)
            if length is not None and length > max_bytes:
                raise _RefusedError(413, "body_too_large", f"request body over {max_bytes} bytes")
            body = await self._read_body(receive, max_bytes)
        except _RefusedError as refused:
            self._release(holder)
            await _answer(send, refused, plain=plain)
            return
        except _ClientGoneError:
            self._release(holder)
            return
        except BaseException:  # a cancellation
            self._release(holder)
            raise
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            await self.app(scope, replay, send)
        finally:
            self._release(holder)

    def _release(self, holder: str | None) -> None:
        if holder is None:
            return
        left = self._inflight.get(holder, 0) - 1
        if left > 0:
            self._inflight[holder] = left
        else:
            self._inflight.pop(holder, None)

    # -- admission (headers only) -------------------------------------------------------
    def _limit(self, limiter: RateLimiter, key: str, what: str) -> None:
        wait = limiter.acquire(key)
        if wait > 0:
            raise _RefusedError(
                429, "too_many_requests", f"too many {what}; retry later", retry_after=wait
            )

    def _failed(self, source: str, detail: str) -> _RefusedError:
        self.failures.acquire(source)
        return _RefusedError(401, "unauthorized", detail)

    async def _admit(self, scope: Scope, path: str) -> int:
        """Check limits and credentials from the headers; the body limit for this request."""
        client = scope.get("client")
        source = str(client[0]) if client else "unknown"
        # A body that is too large is refused before anything else (cheapest answer).
        length = _content_length(scope)
        if length is not None and length > self.limits.max_body_bytes:
            raise _RefusedError(
                413, "body_too_large", f"request body over {self.limits.max_body_bytes} bytes"
            )
        is_admin = path.startswith(f"{API}/admin")
        if not is_admin and (scope.get("method"), path) not in DEVICE_ROUTES:
            self._limit(self.by_source, source, "requests from this address")
            if path.startswith("/iclock"):
                serial = _query_serial(scope)
                self._limit(self.by_credential, f"sn:{serial}", "requests for this serial")
                return self.limits.max_body_bytes
            return UNAUTHENTICATED_MAX_BYTES
        if not self.failures.available(source):
            raise _RefusedError(
                429,
                "too_many_requests",
                "too many failed authentications from this address; retry later",
                retry_after=1.0 / self.limits.auth_failure_rate
                if self.limits.auth_failure_rate > 0
                else 60.0,
            )
        token = _bearer(scope)
        if is_admin:
            self._limit(self.by_source, source, "admin requests from this address")
            if token is None or not token_matches(token, self.admin_token):
                raise self._failed(source, "admin token required")
            digest = hashlib.sha256(token.encode()).hexdigest()[:16]
            self._limit(self.by_credential, f"admin:{digest}", "admin requests")
            return self.limits.max_body_bytes
        if token is None:
            raise self._failed(source, "missing 'Authorization: Bearer <device token>'")
        try:
            device = await run_in_threadpool(self.authenticate_device, token)
        except ApiError as exc:
            if exc.status == 401:
                raise self._failed(source, exc.detail) from None
            raise _RefusedError(exc.status, exc.code, exc.detail) from None
        if self.device_limiter is not None:
            wait = self.device_limiter.acquire(device.device_id)
            if wait > 0:
                raise _RefusedError(
                    429,
                    "rate_limited",
                    f"too many requests from device {device.device_id}; "
                    f"retry after {max(1, math.ceil(wait))} s",
                    retry_after=wait,
                )
        state = scope.setdefault("state", {})
        state[DEVICE_STATE_KEY] = device
        state[LIMITED_STATE_KEY] = self.device_limiter is not None
        return self.limits.max_body_bytes

    # -- the body ---------------------------------------------------------------------
    async def _read_body(self, receive: Receive, max_bytes: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.body_timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise _RefusedError(408, "request_timeout", "the request body came too slowly")
            try:
                message = await asyncio.wait_for(receive(), timeout=left)
            except TimeoutError:
                raise _RefusedError(
                    408,
                    "request_timeout",
                    f"the request body did not arrive within {self.limits.body_timeout:g} s",
                ) from None
            if message["type"] != "http.request":
                raise _ClientGoneError
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                raise _RefusedError(413, "body_too_large", f"request body over {max_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _ClientGoneError(Exception):
    """The client disconnected before its body was complete."""
