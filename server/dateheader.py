"""Exactly one ``Date`` header on every answer, from the server's (injectable) clock.

ZKTeco machines set their clock from the ``Date`` of the ``/iclock`` answers,
and some take the first of two headers, some the last. uvicorn adds its own
``Date`` unless started with ``date_header=False`` (as ``hadir server`` does);
this middleware drops any ``Date`` already set and adds one.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from datetime import datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class DateHeaderMiddleware:
    def __init__(self, app: ASGIApp, clock: Callable[[], datetime]) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_date(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                stamp = email.utils.formatdate(self.clock().timestamp(), usegmt=True)
                headers.append((b"date", stamp.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_date)
