"""Admin HTTP API of the ledger (``/api/v1/admin/ledger/...``) and its services.

:func:`build_ledger_services` ``(db, settings) -> LedgerServices`` is what
the composition root (:mod:`server.app`), the CLI and the web console use;
:func:`ledger_router` registers the routes behind the admin token;
:class:`LedgerWorker` is the background thread that keeps the ledger caught
up (ended days, documents, queued keys) in each server process.

Every answer is JSON (exports: the file itself); a refused request is a 4xx
``{"error": code, "detail": "field: why"}`` and writes nothing.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from server.absences import Absences, AttachmentStore, Corrections
from server.db import Database
from server.errors import ApiError, invalid
from server.exports import export_recap
from server.imports import import_absences_csv, import_punches_csv
from server.ledger import Ledger
from server.org import Organisation
from server.recap import Recaps
from server.settings import ServerSettings

log = logging.getLogger(__name__)

WORKER_INTERVAL_SECONDS = 2.0


@dataclass(frozen=True)
class LedgerServices:
    """The ledger's services over one database."""

    ledger: Ledger
    org: Organisation
    absences: Absences
    corrections: Corrections
    recaps: Recaps


def attachments_dir(settings: ServerSettings) -> FsPath:
    base = FsPath(settings.data_dir) if settings.data_dir else settings.admin_token_file.parent
    return base / "attachments"


def build_ledger_services(db: Database, settings: ServerSettings) -> LedgerServices:
    ledger = Ledger(db, settings)
    store = AttachmentStore(attachments_dir(settings), settings.max_attachment_bytes)

    def today() -> date:
        return ledger.today()

    return LedgerServices(
        ledger=ledger,
        org=Organisation(db, settings.clock, today),
        absences=Absences(db, settings.clock, today, store),
        corrections=Corrections(db, settings.clock, store, ledger.tz),
        recaps=Recaps(db, ledger, settings),
    )


class LedgerWorker:
    """Calls ``ledger.catch_up()`` every few seconds on its own thread until stopped."""

    def __init__(self, ledger: Ledger, interval: float = WORKER_INTERVAL_SECONDS) -> None:
        self.ledger = ledger
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ledger-worker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.ledger.catch_up()
            except Exception:
                log.exception("ledger catch-up failed; retrying")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


# --------------------------------------------------------------------------- bodies


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Nip = Annotated[str, Field(pattern=r"^[0-9]{18}$", description="18-digit NIP")]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
By = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]
Text = Annotated[str, Field(max_length=2000, pattern=NO_NUL)]
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,32}$")]


class OpdBody(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
    parent_code: Code | None = None
    head_nip: Nip | None = None
    head_name: Annotated[str | None, Field(max_length=200, pattern=NO_NUL)] = None


class AssignmentBody(_Strict):
    valid_from: date
    opd_code: Code
    schedule_group: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)]
    employment_type: Annotated[str, Field(min_length=1, max_length=32, pattern=NO_NUL)]


class AbsenceBody(_Strict):
    nip: Nip
    kind: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)]
    date_from: date
    date_to: date
    entered_by: By
    reason: Text = ""
    attachment_base64: str | None = Field(default=None, description="PDF, JPEG or PNG")


class CorrectionBody(_Strict):
    nip: Nip
    at_local: Annotated[
        str,
        Field(
            pattern=r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?$",
            description="local time in the server's zone, YYYY-MM-DD HH:MM[:SS]",
        ),
    ]
    kind: Literal["mesin_rusak", "lupa_absen"]
    reason: Annotated[str, Field(min_length=1, max_length=2000, pattern=NO_NUL)]
    requested_by: By
    attachment_base64: str | None = None


class DecisionBody(_Strict):
    decision: Literal["disetujui", "ditolak"]
    decided_by: By


class CloseBody(_Strict):
    closed_by: By


class TppBody(_Strict):
    valid_from: date
    valid_to: date | None = None
    rates: dict[str, float]


class RebuildBody(_Strict):
    date_from: date
    date_to: date


def _attachment(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("attachment_base64: not valid base64") from None


def _at_local(text: str) -> datetime:
    text = text.replace("T", " ")
    try:
        return datetime.strptime(
            text, "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
        )
    except ValueError:
        raise invalid(f"at_local: not a valid local time {text!r}") from None


def _plausible(day: date, field: str) -> None:
    if not date(2000, 1, 1) <= day <= date(2100, 12, 31):
        raise invalid(f"{field}: {day} is not a plausible date (2000-2100)")


MonthPath = Annotated[str, Path(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]
OpdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,32}$")]
NipPath = Annotated[str, Path(pattern=r"^[0-9]{18}$")]
IdPath = Annotated[str, Path(max_length=36)]
Format = Literal["json", "csv", "xlsx", "pdf"]


def ledger_router(svc: LedgerServices, responses: dict[int | str, dict[str, Any]]) -> APIRouter:
    """The routes; the caller adds the admin-token dependency and the /api/v1/admin prefix."""
    r = APIRouter(prefix="/ledger", tags=["ledger"], responses=responses)

    # -- organisation -----------------------------------------------------------
    @r.get("/opds")
    def list_opds() -> dict[str, Any]:
        return {"opds": svc.org.list_opds()}

    @r.put("/opds/{code}")
    def put_opd(code: OpdPath, body: OpdBody) -> dict[str, Any]:
        return svc.org.put_opd(code, body.name, body.parent_code, body.head_nip, body.head_name)

    @r.get("/opds/{code}")
    def get_opd(code: OpdPath) -> dict[str, Any]:
        return svc.org.get_opd(code)

    @r.get("/employees/{nip}/assignments")
    def assignments(nip: NipPath) -> dict[str, Any]:
        return {"nip": nip, "assignments": svc.org.assignments(nip)}

    @r.post("/employees/{nip}/assignments", status_code=201)
    def assign(nip: NipPath, body: AssignmentBody) -> dict[str, Any]:
        items = svc.org.assign(
            nip, body.valid_from, body.opd_code, body.schedule_group, body.employment_type
        )
        return {"nip": nip, "assignments": items}

    @r.get("/employees/{nip}/days")
    def days(nip: NipPath, date_from: date, date_to: date) -> dict[str, Any]:
        if date_to < date_from:
            raise invalid(f"date_to: {date_to} is before date_from {date_from}")
        return {"nip": nip, "days": svc.ledger.day_rows(nip, date_from, date_to)}

    # -- absences -----------------------------------------------------------------
    @r.post("/absences", status_code=201)
    def create_absence(body: AbsenceBody) -> dict[str, Any]:
        return svc.absences.create(
            body.nip,
            body.kind,
            body.date_from,
            body.date_to,
            body.entered_by,
            body.reason,
            _attachment(body.attachment_base64),
        )

    @r.get("/absences")
    def list_absences(
        nip: Annotated[str | None, Query(pattern=r"^[0-9]{18}$")] = None,
        opd: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._-]{1,32}$")] = None,
        state: Literal["diajukan", "disetujui", "ditolak"] | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
    ) -> dict[str, Any]:
        return {"absences": svc.absences.list(nip, opd, state, date_from, date_to)}

    @r.get("/absences/{absence_id}")
    def get_absence(absence_id: IdPath) -> dict[str, Any]:
        return svc.absences.get(absence_id)

    @r.get("/absences/{absence_id}/attachment", response_class=Response)
    def absence_attachment(absence_id: IdPath) -> Response:
        data, media = svc.absences.attachment(absence_id)
        return Response(data, media_type=media)

    @r.post("/absences/{absence_id}/decision")
    def decide_absence(absence_id: IdPath, body: DecisionBody) -> dict[str, Any]:
        return svc.absences.decide(absence_id, body.decision, body.decided_by)

    # -- corrections --------------------------------------------------------------
    @r.post("/corrections", status_code=201)
    def create_correction(body: CorrectionBody) -> dict[str, Any]:
        return svc.corrections.create(
            body.nip,
            _at_local(body.at_local),
            body.kind,
            body.reason,
            body.requested_by,
            _attachment(body.attachment_base64),
        )

    @r.get("/corrections")
    def list_corrections(
        nip: Annotated[str | None, Query(pattern=r"^[0-9]{18}$")] = None,
        state: Literal["diajukan", "disetujui", "ditolak"] | None = None,
    ) -> dict[str, Any]:
        return {"corrections": svc.corrections.list(nip, state)}

    @r.post("/corrections/{correction_id}/decision")
    def decide_correction(correction_id: IdPath, body: DecisionBody) -> dict[str, Any]:
        return svc.corrections.decide(correction_id, body.decision, body.decided_by)

    # -- reports ------------------------------------------------------------------
    @r.get("/recap/{opd}/{month}", response_model=None)
    def recap(opd: OpdPath, month: MonthPath, format: Format = "json") -> Any:  # noqa: A002
        data = svc.recaps.monthly(opd, month)
        if format == "json":
            return data
        content, media, name = export_recap(data, format)
        return Response(
            content,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @r.get("/recap/{month}")
    def recap_all(month: MonthPath) -> dict[str, Any]:
        return {"month": month, "opds": svc.recaps.monthly_all(month)}

    @r.get("/roll-call/{opd}")
    def roll_call(opd: OpdPath, day: date | None = None) -> dict[str, Any]:
        if day is not None:
            _plausible(day, "day")
        return svc.recaps.roll_call(opd, day)

    @r.get("/discipline/{year}")
    def discipline(
        year: Annotated[int, Path(ge=2000, le=2100)],
        opd: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._-]{1,32}$")] = None,
    ) -> dict[str, Any]:
        return svc.recaps.discipline(year, opd)

    @r.get("/comparison/{month}")
    def comparison(month: MonthPath) -> dict[str, Any]:
        return svc.recaps.comparison(month)

    # -- periods, tables, maintenance ----------------------------------------------
    @r.get("/months")
    def months() -> dict[str, Any]:
        return {"closed": svc.recaps.closed_months()}

    @r.post("/months/{month}/close")
    def close_month(month: MonthPath, body: CloseBody) -> dict[str, Any]:
        return svc.recaps.close_month(month, body.closed_by)

    @r.get("/tpp-tables")
    def tpp_tables() -> dict[str, Any]:
        return {"tables": svc.recaps.tpp_tables()}

    @r.put("/tpp-tables")
    def put_tpp_table(body: TppBody) -> dict[str, Any]:
        _plausible(body.valid_from, "valid_from")
        if body.valid_to is not None:
            _plausible(body.valid_to, "valid_to")
        return svc.recaps.put_tpp_table(body.valid_from, body.valid_to, body.rates)

    @r.post("/rebuild")
    def rebuild(body: RebuildBody) -> dict[str, Any]:
        _plausible(body.date_from, "date_from")
        _plausible(body.date_to, "date_to")
        if body.date_to < body.date_from:
            raise invalid(f"date_to: {body.date_to} is before date_from {body.date_from}")
        if (body.date_to - body.date_from).days > 400:
            raise invalid("date_to: rebuild at most 400 days per request")
        return {"computed": svc.ledger.rebuild(body.date_from, body.date_to)}

    async def _csv_body(request: Request) -> bytes:
        ctype = request.headers.get("content-type", "").lower()
        if ctype.startswith(("multipart/", "application/x-www-form-urlencoded")):
            raise ApiError(
                415,
                "unsupported_media_type",
                "send the CSV file itself as the body with Content-Type: text/csv",
            )
        return await request.body()

    csv_body = {
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    }

    @r.post("/import/punches", openapi_extra=csv_body)
    async def import_punches(request: Request) -> dict[str, Any]:
        body = await _csv_body(request)
        return await run_in_threadpool(
            import_punches_csv, svc.ledger.db, body, svc.ledger.tz, svc.ledger.clock()
        )

    @r.post("/import/absences", openapi_extra=csv_body)
    async def import_absences(request: Request) -> dict[str, Any]:
        body = await _csv_body(request)
        return await run_in_threadpool(import_absences_csv, svc.absences, body)

    return r
