"""Request and response bodies of the API (validation and the OpenAPI document).

Punch and template records are ``list[Any]`` on purpose: each record is
checked on its own (:mod:`server.ingest`, :mod:`server.roster`) so one bad
record is answered "rejected" instead of failing the whole batch with 422.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from attendance.integrity import SIGNED_FIELDS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterRequest(_Strict):
    code: str = Field(min_length=1, max_length=64, description="one-time enrollment code")
    device_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    public_key: str = Field(
        min_length=64, max_length=64, description="raw Ed25519 public key, 64 hex characters"
    )


class RegisterResponse(BaseModel):
    device_id: str
    token: str
    opd_code: str
    server_time: str
    server_public_key: str = Field(
        description="the server's Ed25519 key (hex): it signs the change feed and punch acks"
    )


_RECORD_DOC = (
    "Punch records in the wire format of attendance/integrity.py (fields "
    + ", ".join(SIGNED_FIELDS)
    + ") plus 'signature'. Each record is checked on its own: a bad record is "
    "answered 'rejected' with a reason and never fails the batch."
)


class PunchBatch(_Strict):
    punches: list[Any] = Field(description=_RECORD_DOC)


class PunchResult(BaseModel):
    id: str | None
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None
    detail: str | None = None
    flags: list[str] = []


class PunchBatchResponse(BaseModel):
    results: list[PunchResult]
    accepted: int
    duplicate: int
    rejected: int
    server_time: str
    ack_signature: str = Field(
        description="server signature over device id, server_time and every id:status "
        "(attendance/feedtrust.py)"
    )


class ChangeModel(BaseModel):
    seq: int
    kind: str
    key: str
    op: Literal["upsert", "delete"]
    data: dict[str, Any] | None
    signature: str = Field(description="server signature of this entry for this device")


class ChangesResponse(BaseModel):
    changes: list[ChangeModel]
    next_cursor: int
    has_more: bool


class TemplateBatch(_Strict):
    templates: list[Any] = Field(
        description="face templates: template_id, nip, model_name, model_version, "
        "template (base64 float32 LE), created_utc"
    )


class TemplateResultModel(BaseModel):
    template_id: str | None
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None
    detail: str | None = None


class TemplateBatchResponse(BaseModel):
    results: list[TemplateResultModel]
    accepted: int
    duplicate: int
    rejected: int


class TimeResponse(BaseModel):
    utc: str
    unix_ms: int


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="allow")

    queue_length: int = Field(ge=0, le=10**12)
    oldest_undelivered_utc: str | None = Field(default=None, max_length=40)
    clock_state: str | None = Field(default=None, max_length=16)
    clock_offset_seconds: float | None = Field(default=None, allow_inf_nan=False)
    version: str | None = Field(default=None, max_length=64)
    disk_free_bytes: int | None = Field(default=None, ge=0, le=10**18)


class StatusResponse(BaseModel):
    status: str
    server_time: str


class EnrollmentCodeRequest(_Strict):
    opd_code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]{1,32}$")
    expires_hours: int = Field(default=72, ge=1, le=24 * 90)


class EnrollmentCodeResponse(BaseModel):
    code: str
    opd_code: str
    expires_utc: str


class DevicesResponse(BaseModel):
    devices: list[dict[str, Any]]


class RevokeResponse(BaseModel):
    device_id: str
    status: str


class PunchesResponse(BaseModel):
    punches: list[dict[str, Any]]
    total: int


class LookupRequest(_Strict):
    ids: list[Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9-]{1,64}$")]] = Field(
        max_length=100_000
    )


class LookupResponse(BaseModel):
    found: int
    missing: list[str]


class ImportResponse(BaseModel):
    created: int
    updated: int
    unchanged: int
    errors: list[dict[str, Any]]


class EmployeesResponse(BaseModel):
    employees: list[dict[str, Any]]


class EraseResponse(BaseModel):
    nip: str
    templates_deleted: int


class SeqResponse(BaseModel):
    seq: int


class AdmsCommandRequest(_Strict):
    command: str = Field(
        min_length=1,
        max_length=1000,
        pattern=r"^[^\x00-\x08\x0a-\x1f\x7f]+$",
        description="one line, e.g. CHECK, INFO, REBOOT (TAB allowed)",
    )


class AdmsCommandResponse(BaseModel):
    id: int


class AdmsDeviceResponse(BaseModel):
    serial: str
    status: str = "approved"
    first_seen_utc: str | None = None
    last_seen_utc: str | None = None
    last_address: str | None = None
    allowed_network: str | None = None
    refused_address: str | None = None
    timezone: str | None = None
    push_version: str | None = None
    approved_utc: str | None = None
    info: dict[str, str] = {}
    held_batches: int = 0
    users: list[dict[str, str]]
    commands: list[dict[str, Any]]


class AuditResponse(BaseModel):
    entries: list[dict[str, Any]]


class AssignmentResponse(BaseModel):
    nip: str
    opd_codes: list[str]
