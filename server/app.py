"""The FastAPI application: :func:`create_app` wires the services from settings.

``create_app(settings)`` is the server's composition root: it opens (and
migrates) the database, loads or creates the admin token, builds the services
and registers the routes as closures over them. Nothing lives in module
globals; two apps in one process are fully independent (the tests rely on it).
The contract is documented in ``server/API.md``.
"""

import email.utils
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from server.admintoken import load_or_create_admin_token, token_matches
from server.adms import AdmsService
from server.db import Database, open_database
from server.devices import AuthenticatedDevice, DeviceRegistry
from server.errors import ApiError, unauthorized
from server.http import AccessLogMiddleware, BodyLimitMiddleware, install_error_handlers
from server.ingest import IngestLimits, PunchIngest
from server.ledger_api import LedgerServices, LedgerWorker, build_ledger_services, ledger_router
from server.ratelimit import RateLimiter
from server.reports import PunchReports
from server.roster import Roster
from server.schemas import (
    AdmsCommandRequest,
    AdmsCommandResponse,
    AdmsDeviceResponse,
    ChangesResponse,
    DevicesResponse,
    EmployeesResponse,
    EnrollmentCodeRequest,
    EnrollmentCodeResponse,
    EraseResponse,
    Heartbeat,
    ImportResponse,
    LookupRequest,
    LookupResponse,
    PunchBatch,
    PunchBatchResponse,
    PunchesResponse,
    RegisterRequest,
    RegisterResponse,
    RevokeResponse,
    SeqResponse,
    StatusResponse,
    TemplateBatch,
    TemplateBatchResponse,
    TimeResponse,
)
from server.settings import ServerSettings
from server.timeutil import format_utc

API = "/api/v1"
MAX_HEALTH_EXTRA_BYTES = 4096


@dataclass(frozen=True)
class Services:
    """What one app instance is made of (reachable as ``app.state.services``)."""

    settings: ServerSettings
    db: Database
    admin_token: str
    devices: DeviceRegistry
    ingest: PunchIngest
    roster: Roster
    reports: PunchReports
    adms: AdmsService
    ledger: LedgerServices


def build_services(settings: ServerSettings) -> Services:
    db = open_database(settings.database_url)
    limits = IngestLimits(
        max_future=timedelta(seconds=settings.max_future_seconds),
        max_age=timedelta(days=settings.max_age_days),
    )
    return Services(
        settings=settings,
        db=db,
        admin_token=load_or_create_admin_token(settings.admin_token_file),
        devices=DeviceRegistry(db, settings.enrollment_code_hours),
        ingest=PunchIngest(db, limits),
        roster=Roster(db),
        reports=PunchReports(db, settings.timezone),
        adms=AdmsService(db, settings.adms_serials, settings.timezone, limits),
        ledger=build_ledger_services(db, settings),
    )


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "malformed body"},
    401: {"description": "missing, unknown or revoked token"},
    413: {"description": "body or batch too large"},
    422: {"description": "invalid field"},
    429: {"description": "too many requests from this device; see Retry-After"},
}

NipPath = Annotated[str, Path(min_length=18, max_length=18, pattern=r"^[0-9]{18}$")]
DeviceIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]{1,64}$")]
SerialQuery = Annotated[str | None, Query(alias="SN", max_length=64)]


def app_from_environment() -> FastAPI:
    """Factory for uvicorn worker processes: settings come from ``$HADIR_SERVER_SETTINGS``."""
    import os

    from server.logs import configure_json_logging
    from server.settings import SETTINGS_ENV, settings_from_json

    configure_json_logging()
    return create_app(settings_from_json(os.environ[SETTINGS_ENV]))


def create_app(settings: ServerSettings, services: Services | None = None) -> FastAPI:
    """Build the server application (migrating the database) from ``settings``."""
    svc = services or build_services(settings)
    clock = settings.clock

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = LedgerWorker(svc.ledger.ledger)
        worker.start()
        yield
        worker.stop()
        svc.db.dispose()

    app = FastAPI(
        title="Hadir central server",
        version="1",
        description="Device registration, punch ingest, roster and template feed, "
        "admin API and ZKTeco ADMS ingest. See server/API.md.",
        lifespan=lifespan,
    )
    app.state.services = svc
    install_error_handlers(app)
    bearer = HTTPBearer(auto_error=False, description="device token or admin token")

    Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]  # noqa: N806

    limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)

    def device_auth(creds: Credentials) -> AuthenticatedDevice:
        device = svc.devices.authenticate(creds.credentials if creds else None)
        wait = limiter.acquire(device.device_id)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                429,
                "rate_limited",
                f"too many requests from device {device.device_id}; retry after {seconds} s",
                {"Retry-After": str(seconds)},
            )
        return device

    def admin_auth(creds: Credentials) -> None:
        if creds is None or not token_matches(creds.credentials, svc.admin_token):
            raise unauthorized("admin token required")

    Device = Annotated[AuthenticatedDevice, Depends(device_auth)]  # noqa: N806
    api = APIRouter(prefix=API, responses=_ERRORS)
    admin = APIRouter(prefix=f"{API}/admin", responses=_ERRORS, dependencies=[Depends(admin_auth)])

    # -- devices ------------------------------------------------------------------
    @api.post(
        "/devices/register", status_code=201, response_model=RegisterResponse, tags=["device"]
    )
    def register(body: RegisterRequest) -> dict[str, Any]:
        now = clock()
        token, opd = svc.devices.register(body.code, body.device_id, body.public_key, now)
        return {
            "device_id": body.device_id,
            "token": token,
            "opd_code": opd,
            "server_time": format_utc(now),
        }

    @api.post("/punches", response_model=PunchBatchResponse, tags=["device"])
    def punches(body: PunchBatch, device: Device) -> JSONResponse:
        if len(body.punches) > settings.max_batch:
            raise ApiError(
                413,
                "batch_too_large",
                f"{len(body.punches)} punches in one batch; at most {settings.max_batch}",
            )
        now = clock()
        outcomes = svc.ingest.ingest(device, body.punches, now)
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        for o in outcomes:
            counts[o.status] += 1
        return JSONResponse(
            {
                "results": [o.as_json() for o in outcomes],
                **counts,
                "server_time": format_utc(now),
            }
        )

    @api.get("/changes", response_model=ChangesResponse, tags=["device"])
    def changes(
        device: Device,
        since: Annotated[int, Query(ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    ) -> JSONResponse:
        return JSONResponse(svc.roster.changes(since, limit))

    @api.post("/templates", response_model=TemplateBatchResponse, tags=["device"])
    def templates(body: TemplateBatch, device: Device) -> dict[str, Any]:
        if len(body.templates) > settings.max_templates:
            raise ApiError(
                413,
                "batch_too_large",
                f"{len(body.templates)} templates in one request; at most {settings.max_templates}",
            )
        outcomes = svc.roster.upload_templates(device, body.templates, clock())
        return {
            "results": [o.as_json() for o in outcomes],
            "accepted": sum(o.status == "accepted" for o in outcomes),
            "duplicate": sum(o.status == "duplicate" for o in outcomes),
            "rejected": sum(o.status == "rejected" for o in outcomes),
        }

    @api.get("/time", response_model=TimeResponse, tags=["device"])
    def server_time() -> dict[str, Any]:
        now = clock()
        return {"utc": format_utc(now), "unix_ms": int(now.timestamp() * 1000)}

    @api.post("/heartbeat", response_model=StatusResponse, tags=["device"])
    def heartbeat(body: Heartbeat, device: Device) -> dict[str, Any]:
        health = body.model_dump()
        extra = body.model_extra or {}
        if len(json.dumps(extra, default=str)) > MAX_HEALTH_EXTRA_BYTES:
            raise ApiError(
                413, "body_too_large", f"extra heartbeat fields over {MAX_HEALTH_EXTRA_BYTES} bytes"
            )
        now = clock()
        svc.devices.heartbeat(device.device_id, json.loads(json.dumps(health, default=str)), now)
        return {"status": "ok", "server_time": format_utc(now)}

    # -- admin ----------------------------------------------------------------------
    @admin.post(
        "/enrollment-codes",
        status_code=201,
        response_model=EnrollmentCodeResponse,
        tags=["admin"],
    )
    def enrollment_code(body: EnrollmentCodeRequest) -> dict[str, Any]:
        code, expires = svc.devices.create_enrollment_code(
            body.opd_code, clock(), body.expires_hours
        )
        return {"code": code, "opd_code": body.opd_code, "expires_utc": format_utc(expires)}

    @admin.get("/devices", response_model=DevicesResponse, tags=["admin"])
    def devices() -> dict[str, Any]:
        return {"devices": svc.devices.list_devices()}

    @admin.post("/devices/{device_id}/revoke", response_model=RevokeResponse, tags=["admin"])
    def revoke(device_id: DeviceIdPath) -> dict[str, Any]:
        svc.devices.revoke(device_id, clock())
        return {"device_id": device_id, "status": "revoked"}

    @admin.get("/punches", response_model=PunchesResponse, tags=["admin"])
    def list_punches(
        date_from: date | None = None,
        date_to: date | None = None,
        nip: Annotated[str | None, Query(max_length=18, pattern=r"^[0-9]{1,18}$")] = None,
        device_id: Annotated[
            str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9._-]{1,64}$")
        ] = None,
        source: Literal["native", "adms"] | None = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    ) -> JSONResponse:
        return JSONResponse(
            svc.reports.list_punches(
                date_from=date_from,
                date_to=date_to,
                nip=nip,
                device_id=device_id,
                source=source,
                limit=limit,
                offset=offset,
            )
        )

    @admin.post("/punches/lookup", response_model=LookupResponse, tags=["admin"])
    def lookup(body: LookupRequest) -> dict[str, Any]:
        return svc.reports.lookup(body.ids)

    @admin.post(
        "/employees/import",
        response_model=ImportResponse,
        tags=["admin"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        },
    )
    async def import_employees(request: Request) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "").lower()
        if ctype.startswith(("multipart/", "application/x-www-form-urlencoded")):
            raise ApiError(
                415,
                "unsupported_media_type",
                "send the CSV file itself as the body with Content-Type: text/csv",
            )
        body = await request.body()
        return await run_in_threadpool(svc.roster.import_csv, body, clock())

    @admin.get("/employees", response_model=EmployeesResponse, tags=["admin"])
    def employees() -> dict[str, Any]:
        return {"employees": svc.roster.list_employees()}

    @admin.post("/employees/{nip}/erase-biometrics", response_model=EraseResponse, tags=["admin"])
    def erase(nip: NipPath) -> dict[str, Any]:
        return {"nip": nip, "templates_deleted": svc.roster.erase_biometrics(nip, clock())}

    @admin.put("/documents/{kind}/{key}", response_model=SeqResponse, tags=["admin"])
    def put_document(
        kind: Literal["schedule_group", "calendar"],
        key: Annotated[str, Path(max_length=128, pattern=r"^[A-Za-z0-9._:-]{1,128}$")],
        body: dict[str, Any],
    ) -> dict[str, Any]:
        return {"seq": svc.roster.put_document(kind, key, body, clock())}

    @admin.delete("/documents/{kind}/{key}", response_model=SeqResponse, tags=["admin"])
    def delete_document(
        kind: Literal["schedule_group", "calendar"],
        key: Annotated[str, Path(max_length=128, pattern=r"^[A-Za-z0-9._:-]{1,128}$")],
    ) -> dict[str, Any]:
        return {"seq": svc.roster.delete_document(kind, key, clock())}

    @admin.post("/adms/{serial}/commands", response_model=AdmsCommandResponse, tags=["admin"])
    def queue_adms_command(
        serial: Annotated[str, Path(max_length=64)], body: AdmsCommandRequest
    ) -> dict[str, Any]:
        return {"id": svc.adms.queue_command(serial, body.command, clock())}

    @admin.get("/adms/{serial}", response_model=AdmsDeviceResponse, tags=["admin"])
    def adms_device(serial: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        svc.adms.check_serial(serial)
        return {
            "serial": serial,
            "users": svc.adms.device_users(serial),
            "commands": svc.adms.command_list(serial),
        }

    admin.include_router(ledger_router(svc.ledger, _ERRORS))
    app.include_router(api)
    app.include_router(admin)

    # -- ZKTeco ADMS ----------------------------------------------------------------
    iclock = APIRouter(prefix="/iclock", tags=["adms"])

    def _text(body: str) -> PlainTextResponse:
        return PlainTextResponse(
            body, headers={"Date": email.utils.formatdate(clock().timestamp(), usegmt=True)}
        )

    @iclock.get("/cdata", response_class=PlainTextResponse)
    def adms_handshake(sn: SerialQuery = None) -> PlainTextResponse:
        serial = svc.adms.check_serial(sn)
        return _text(svc.adms.options(serial, clock()))

    @iclock.post("/cdata", response_class=PlainTextResponse)
    async def adms_upload(
        request: Request,
        sn: SerialQuery = None,
        table: Annotated[str | None, Query(max_length=32)] = None,
    ) -> PlainTextResponse:
        serial = svc.adms.check_serial(sn)
        text_body = (await request.body()).decode("utf-8", errors="replace")
        now = clock()
        if table == "ATTLOG":
            n = await run_in_threadpool(svc.adms.attlog, serial, text_body, now)
        elif table == "OPERLOG":
            n = await run_in_threadpool(svc.adms.operlog, serial, text_body, now)
        else:
            n = len([line for line in text_body.splitlines() if line.strip()])
        return _text(f"OK: {n}")

    @iclock.get("/getrequest", response_class=PlainTextResponse)
    def adms_getrequest(sn: SerialQuery = None) -> PlainTextResponse:
        serial = svc.adms.check_serial(sn)
        return _text(svc.adms.poll(serial, clock()))

    @iclock.post("/devicecmd", response_class=PlainTextResponse)
    async def adms_devicecmd(request: Request, sn: SerialQuery = None) -> PlainTextResponse:
        serial = svc.adms.check_serial(sn)
        text_body = (await request.body()).decode("utf-8", errors="replace")
        await run_in_threadpool(svc.adms.command_results, serial, text_body)
        return _text("OK")

    app.include_router(iclock)

    from server.console.web import install_console

    install_console(app, svc)  # the web console at / (server/console)

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLogMiddleware)
    return app
