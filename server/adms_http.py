"""HTTP side of ADMS: the ``/iclock`` endpoints machines call, and the admin's review routes.

Machines' HTTP clients follow no redirects, so every endpoint is answered
directly under its plain name, with a trailing slash and with ``.aspx``
(``/iclock/cdata``, ``/iclock/cdata/``, ``/iclock/cdata.aspx``), plus the
push 3.x ``/iclock/ping``, ``/iclock/registry`` and ``/iclock/push``. Answers
and errors are ``text/plain``; the one ``Date`` header comes from
:class:`server.dateheader.DateHeaderMiddleware` (machines set their clock from it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from attendance.adms import parse_key_values
from server.adms import AdmsService, DeviceView

Clock = Callable[[], datetime]
SerialQuery = Annotated[str | None, Query(alias="SN", max_length=64)]
SerialPath = Annotated[str, Path(max_length=64)]
USER_TABLES = ("OPERLOG", "USERINFO", "USER", "BIODATA", "FINGERTMP", "FACE")


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    allowed_network: str | None = Field(
        default=None, max_length=64, description="address or CIDR network; empty = any"
    )
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone")
    release_pending: bool = False


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def iclock_router(adms: AdmsService, clock: Clock) -> APIRouter:
    router = APIRouter(prefix="/iclock", tags=["adms"])

    def text(body: str) -> PlainTextResponse:
        return PlainTextResponse(body)

    async def admit(request: Request, sn: str | None) -> DeviceView:
        return await run_in_threadpool(adms.access, sn, _address(request), clock())

    async def handshake(request: Request, sn: SerialQuery = None) -> PlainTextResponse:
        device = await admit(request, sn)
        params = {k: v for k, v in request.query_params.items() if k not in ("SN", "options")}
        if params:
            await run_in_threadpool(adms.note_info, device.serial, params, params.get("pushver"))
        return text(adms.options(device, clock()))

    async def upload(
        request: Request,
        sn: SerialQuery = None,
        table: Annotated[str | None, Query(max_length=32)] = None,
    ) -> PlainTextResponse:
        device = await admit(request, sn)
        body = (await request.body()).decode("utf-8", errors="replace")
        now = clock()
        kind = (table or "").upper()
        if kind == "ATTLOG":
            n = await run_in_threadpool(adms.attlog, device, body, now, _address(request))
        elif kind in USER_TABLES:
            n = await run_in_threadpool(adms.user_table, device, kind, body, now, _address(request))
        else:  # ATTPHOTO, OPLOG-only tables, rtlog...: acknowledged, not used
            n = len([line for line in body.splitlines() if line.strip()])
        return text(f"OK: {n}")

    async def getrequest(request: Request, sn: SerialQuery = None) -> PlainTextResponse:
        device = await admit(request, sn)
        return text(await run_in_threadpool(adms.poll, device, clock()))

    async def devicecmd(request: Request, sn: SerialQuery = None) -> PlainTextResponse:
        device = await admit(request, sn)
        body = (await request.body()).decode("utf-8", errors="replace")
        await run_in_threadpool(adms.command_results, device, body)
        return text("OK")

    async def ping(request: Request, sn: SerialQuery = None) -> PlainTextResponse:
        await admit(request, sn)
        return text("OK")

    async def registry(request: Request, sn: SerialQuery = None) -> PlainTextResponse:
        device = await admit(request, sn)
        body = (await request.body()).decode("utf-8", errors="replace")
        info: dict[str, str] = {}
        for part in body.replace("\n", ",").split(","):
            info.update(parse_key_values(part))
        if info:
            await run_in_threadpool(adms.note_info, device.serial, info, info.get("PushVersion"))
        code = hashlib.sha256(device.serial.encode()).hexdigest()[:10]
        return text(f"RegistryCode={code}")

    async def push(request: Request, sn: SerialQuery = None) -> PlainTextResponse:
        device = await admit(request, sn)
        return text(adms.push_options(device, clock()))

    routes: list[tuple[str, Any, list[str]]] = [
        ("cdata", handshake, ["GET"]),
        ("cdata", upload, ["POST"]),
        ("getrequest", getrequest, ["GET"]),
        ("devicecmd", devicecmd, ["POST"]),
        ("ping", ping, ["GET"]),
        ("registry", registry, ["POST"]),
        ("push", push, ["GET", "POST"]),
    ]
    for name, endpoint, methods in routes:
        documented = name in ("cdata", "getrequest", "devicecmd")
        for i, path in enumerate((name, f"{name}/", f"{name}.aspx", f"{name}.aspx/")):
            router.add_api_route(
                f"/{path}",
                endpoint,
                methods=methods,
                response_class=PlainTextResponse,
                include_in_schema=documented and i == 0,
                name=f"adms_{name}_{'_'.join(methods).lower()}_{i}",
            )
    return router


def add_admin_routes(admin: APIRouter, adms: AdmsService, clock: Clock) -> None:
    """Machines, approval, held batches and lines for review (under the admin router)."""

    @admin.get("/adms", tags=["admin"])
    def adms_devices() -> dict[str, Any]:
        return {"devices": adms.devices()}

    @admin.get("/adms/batches", tags=["admin"])
    def adms_batches(
        status: Literal["counted", "held", "released", "discarded"] | None = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    ) -> dict[str, Any]:
        return {"batches": adms.batches(status, limit)}

    @admin.post("/adms/batches/{batch_id}/release", tags=["admin"])
    def adms_release(batch_id: Annotated[int, Path(ge=1, le=2**62)]) -> dict[str, Any]:
        return {"batch_id": batch_id, "released_punches": adms.release_batch(batch_id, clock())}

    @admin.post("/adms/batches/{batch_id}/discard", tags=["admin"])
    def adms_discard(batch_id: Annotated[int, Path(ge=1, le=2**62)]) -> dict[str, Any]:
        adms.discard_batch(batch_id)
        return {"batch_id": batch_id, "status": "discarded"}

    @admin.get("/adms/review", tags=["admin"])
    def adms_review(
        serial: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> dict[str, Any]:
        return {"lines": adms.review_lines(serial, limit)}

    @admin.post("/adms/{serial}/approve", tags=["admin"])
    def adms_approve(serial: SerialPath, body: ApproveRequest) -> dict[str, Any]:
        return adms.approve(
            serial,
            clock(),
            allowed_network=body.allowed_network,
            timezone=body.timezone,
            release_pending=body.release_pending,
        )

    @admin.post("/adms/{serial}/block", tags=["admin"])
    def adms_block(serial: SerialPath) -> dict[str, Any]:
        adms.block(serial)
        return {"serial": serial, "status": "blocked"}
