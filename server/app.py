"""The FastAPI application: :func:`create_app` wires the services from settings.

``create_app(settings)`` is the server's composition root: it opens (and
migrates) the database, loads or creates the admin token, builds the services
and registers the routes as closures over them. Nothing lives in module
globals; two apps in one process are fully independent (the tests rely on it).
The contract is documented in ``server/API.md``.
"""

import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from attendance.feedtrust import ack_bytes, sign_bytes
from server.admintoken import load_or_create_admin_token, token_matches
from server.adms import AdmsService, adms_policy
from server.adms_http import add_admin_routes, iclock_router
from server.dateheader import DateHeaderMiddleware
from server.db import Database, open_database
from server.devices import AuthenticatedDevice, DeviceRegistry
from server.errors import ApiError, unauthorized
from server.gate import DEVICE_STATE_KEY, LIMITED_STATE_KEY, GateLimits, RequestGate
from server.http import AccessLogMiddleware, install_error_handlers
from server.ingest import IngestLimits, PunchIngest
from server.ledger_api import LedgerServices, LedgerWorker, build_ledger_services, ledger_router
from server.ratelimit import RateLimiter
from server.reports import PunchReports
from server.review import review_punches
from server.roster import Roster
from server.schemas import (
    AdmsCommandRequest,
    AdmsCommandResponse,
    AdmsDeviceResponse,
    AssignmentResponse,
    AuditResponse,
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
from server.textcheck import find_surrogate
from server.timeutil import format_utc
from server.trust import (
    ServerKeys,
    list_audit,
    load_server_keys,
    seal_plaintext_templates,
    secure_sqlite_files,
)

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
    keys: ServerKeys
    ledger: LedgerServices


def open_private_database(settings: ServerSettings) -> Database:
    """Open (and migrate) the database; a SQLite file, its WAL and folder owner-only."""
    sqlite_file = sqlite_path(settings.database_url)
    if sqlite_file is not None:
        secure_sqlite_files(sqlite_file, settings.admin_token_file.parent)
    return open_database(settings.database_url)


def build_services(settings: ServerSettings) -> Services:
    db = open_private_database(settings)
    keys = load_server_keys(settings.server_key_dir, db)
    seal_plaintext_templates(db, keys)
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
        roster=Roster(db, keys),
        reports=PunchReports(db, settings.timezone),
        adms=AdmsService(
            db, settings.adms_serials, settings.timezone, limits, adms_policy(settings)
        ),
        keys=keys,
        ledger=build_ledger_services(db, settings),
    )


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///PATH`` URL (None for memory or another database)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # open_database reports a bad URL with its own message
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return str(parsed.database)


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "malformed body"},
    401: {"description": "missing, unknown or revoked token"},
    413: {"description": "body or batch too large"},
    422: {"description": "invalid field"},
    429: {"description": "too many requests from this device; see Retry-After"},
}

NipPath = Annotated[str, Path(min_length=18, max_length=18, pattern=r"^[0-9]{18}$")]
OpdPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]{1,32}$")]
DeviceIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]{1,64}$")]


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

    def device_auth(request: Request, creds: Credentials) -> AuthenticatedDevice:
        # The gate already authenticated the token from the headers (before the body).
        device = getattr(request.state, DEVICE_STATE_KEY, None)
        if not isinstance(device, AuthenticatedDevice):
            device = svc.devices.authenticate(creds.credentials if creds else None)
        elif getattr(request.state, LIMITED_STATE_KEY, False):
            return device  # the gate has taken this request's token from the bucket
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
            "server_public_key": svc.keys.public_key_hex,
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
        server_now = format_utc(now)
        ack = ack_bytes(device.device_id, server_now, [(o.id or "", o.status) for o in outcomes])
        return JSONResponse(
            {
                "results": [o.as_json() for o in outcomes],
                **counts,
                "server_time": server_now,
                "ack_signature": sign_bytes(svc.keys.signing_key, ack),
            }
        )

    @api.get("/changes", response_model=ChangesResponse, tags=["device"])
    def changes(
        device: Device,
        since: Annotated[int, Query(ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    ) -> JSONResponse:
        return JSONResponse(svc.roster.changes(device, since, limit, clock()))

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
        where = find_surrogate(health, "heartbeat")
        if where is not None:
            # Stored, it would break every later listing of the devices.
            raise ApiError(422, "invalid_request", f"{where}: holds a lone surrogate")
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
        source: Literal["native", "adms", "zk"] | None = None,
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

    @admin.get("/punches/review", response_model=PunchesResponse, tags=["admin"])
    def punches_to_review(
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    ) -> dict[str, Any]:
        """Punches for NIPs the roster does not know, or from a kiosk not serving them."""
        return review_punches(svc.db, limit=limit, offset=offset)

    @admin.get("/audit", response_model=AuditResponse, tags=["admin"])
    def audit_log(
        subject: Annotated[str | None, Query(max_length=80)] = None,
        action: Annotated[str | None, Query(max_length=40)] = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    ) -> dict[str, Any]:
        return {"entries": list_audit(svc.db, subject=subject, action=action, limit=limit)}

    @admin.put(
        "/employees/{nip}/assignments/{opd_code}", response_model=AssignmentResponse, tags=["admin"]
    )
    def add_assignment(nip: NipPath, opd_code: OpdPath) -> dict[str, Any]:
        return svc.roster.assign(nip, opd_code, clock(), present=True)

    @admin.delete(
        "/employees/{nip}/assignments/{opd_code}", response_model=AssignmentResponse, tags=["admin"]
    )
    def remove_assignment(nip: NipPath, opd_code: OpdPath) -> dict[str, Any]:
        return svc.roster.assign(nip, opd_code, clock(), present=False)

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

    add_admin_routes(admin, svc.adms, clock)  # machines, approval, review (server/adms_http.py)

    @admin.post("/adms/{serial}/commands", response_model=AdmsCommandResponse, tags=["admin"])
    def queue_adms_command(
        serial: Annotated[str, Path(max_length=64)], body: AdmsCommandRequest
    ) -> dict[str, Any]:
        return {"id": svc.adms.queue_command(serial, body.command, clock())}

    @admin.get("/adms/{serial}", response_model=AdmsDeviceResponse, tags=["admin"])
    def adms_device(serial: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        return {
            **svc.adms.device(serial),
            "users": svc.adms.device_users(serial),
            "commands": svc.adms.command_list(serial),
        }

    admin.include_router(ledger_router(svc.ledger, _ERRORS))
    app.include_router(api)
    app.include_router(admin)

    app.include_router(iclock_router(svc.adms, clock))  # ZKTeco ADMS (server/adms_http.py)

    from server.console.web import install_console

    install_console(app, svc)  # the web console at / (server/console)

    app.add_middleware(
        RequestGate,
        limits=GateLimits(
            max_body_bytes=settings.max_body_bytes,
            body_timeout=settings.body_timeout_seconds,
            source_rate=settings.source_rate_limit_per_second,
            source_burst=settings.source_rate_limit_burst,
            auth_failure_rate=settings.auth_failures_per_minute / 60.0,
            auth_failure_burst=max(1, settings.auth_failures_per_minute),
        ),
        admin_token=svc.admin_token,
        authenticate_device=svc.devices.authenticate,
        device_limiter=limiter,
    )
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(DateHeaderMiddleware, clock=clock)
    return app
