"""Face templates at rest: one row per sample, AES-256-GCM sealed.

A template is its model's float32 vector, little-endian: 256 values (1024
bytes) for face-reidentification-retail-0095, 128 (512 bytes) for dlib's
model; a model this build does not know may have 1-4096 values. The sealed
form is ``nonce(12) || ciphertext || tag(16)`` with the template id as
associated data. Vectors are never logged.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import RowMapping, delete, func, insert, or_, select, update

from attendance.db import Database, StoreError
from attendance.ids import format_utc, validate_nip
from attendance.models import TEMPLATE_SOURCES, Employee, EmployeeOffice, FaceTemplate

DLIB_MODEL = "dlib_face_recognition_resnet_model_v1"
REID_MODEL = "face-reidentification-retail-0095"
#: Vector length of every model this build knows (recognition/modelinfo.py says the same).
MODEL_DIMENSIONS = {DLIB_MODEL: 128, REID_MODEL: 256}
MODEL_VERSIONS = {DLIB_MODEL: "1", REID_MODEL: "omz-2023.0"}
#: Length of a dlib template (the default of ``add`` for callers that name no model).
DIMENSIONS = MODEL_DIMENSIONS[DLIB_MODEL]
MAX_DIMENSIONS = 4096
DEFAULT_MODEL = DLIB_MODEL
DEFAULT_MODEL_VERSION = MODEL_VERSIONS[DLIB_MODEL]

Vector = npt.NDArray[np.float32]


class TemplateError(StoreError):
    """A template cannot be stored or read (bad vector, unknown person, wrong key)."""


@dataclass(frozen=True)
class TemplateInfo:
    template_id: str
    nip: str
    model: str
    model_version: str
    quality: float
    source: str
    created_at: str
    uploaded_at: str | None


def as_template_vector(vector: npt.ArrayLike, model: str = DEFAULT_MODEL) -> Vector:
    """``vector`` as little-endian float32 of ``model``'s length, or TemplateError."""
    arr = np.asarray(vector)
    dim = MODEL_DIMENSIONS.get(model)
    if dim is None:  # a model this build does not know: keep any sensible length
        if arr.ndim != 1 or not 1 <= arr.shape[0] <= MAX_DIMENSIONS:
            raise TemplateError(
                f"a face template has 1-{MAX_DIMENSIONS} values, got shape {arr.shape}"
            )
    elif arr.shape != (dim,):
        raise TemplateError(
            f"a face template of model {model} has {dim} values, got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise TemplateError(f"a face template is floating point, got {arr.dtype}")
    out = arr.astype("<f4")
    if not np.all(np.isfinite(out)):
        raise TemplateError("a face template must not contain NaN or infinity")
    return out


def seal_bytes(aead: AESGCM, template_id: str, raw: bytes) -> bytes:
    """``nonce || ciphertext || tag`` of ``raw`` with the template id as associated data.

    Shared with the central server, which seals its templates the same way."""
    nonce = os.urandom(12)
    return nonce + aead.encrypt(nonce, raw, template_id.encode())


def open_bytes(aead: AESGCM, template_id: str, sealed: bytes) -> bytes:
    """The bytes :func:`seal_bytes` sealed; :class:`TemplateError` for a wrong key or row."""
    try:
        return aead.decrypt(sealed[:12], sealed[12:], template_id.encode())
    except InvalidTag:
        raise TemplateError(
            f"template {template_id} does not decrypt: the template key file does not "
            "belong to this database, or the row was altered"
        ) from None


class TemplateStore:
    def __init__(self, db: Database, template_key: bytes) -> None:
        self._db = db
        self._aead = AESGCM(template_key)

    def _seal(self, template_id: str, vector: Vector) -> bytes:
        return seal_bytes(self._aead, template_id, vector.tobytes())

    def _open(self, template_id: str, sealed: bytes) -> Vector:
        raw = open_bytes(self._aead, template_id, sealed)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)

    def add(
        self,
        nip: str,
        vector: npt.ArrayLike,
        model: str | None = None,
        version: str | None = None,
        quality: float = 1.0,
        source: str = "kiosk",
        *,
        template_id: str | None = None,
        created_at: datetime | None = None,
        uploaded: bool | None = None,
    ) -> str:
        """Store one sample; with ``template_id`` (from the server) it is an idempotent upsert.

        ``uploaded`` defaults to True for ``source="server"`` and False for kiosk samples.
        Without ``model`` the known model of the vector's length is meant (128: dlib's,
        256: face-reidentification-retail-0095), with that model's version.
        """
        if model is None:
            length = int(np.size(vector))
            model = next((m for m, d in MODEL_DIMENSIONS.items() if d == length), DEFAULT_MODEL)
        if version is None:
            version = MODEL_VERSIONS.get(model, DEFAULT_MODEL_VERSION)
        validate_nip(nip)
        if source not in TEMPLATE_SOURCES:
            raise TemplateError(
                f"template source must be one of {TEMPLATE_SOURCES}, got {source!r}"
            )
        vec = as_template_vector(vector, model)
        tid = template_id or str(uuid.uuid4())
        try:
            uuid.UUID(tid)
        except ValueError:
            raise TemplateError(f"template id must be a UUID, got {tid!r}") from None
        created = format_utc(created_at or datetime.now(UTC))
        is_uploaded = (source == "server") if uploaded is None else uploaded
        values = {
            "id": tid,
            "nip": nip,
            "sealed": self._seal(tid, vec),
            "model": model,
            "model_version": version,
            "quality": float(quality),
            "source": source,
            "created_at": created,
            "uploaded_at": format_utc(datetime.now(UTC)) if is_uploaded else None,
        }
        with self._db.write() as conn:
            if conn.execute(select(Employee.nip).where(Employee.nip == nip)).first() is None:
                raise TemplateError(f"no employee with NIP {nip} in the roster")
            exists = conn.execute(select(FaceTemplate.id).where(FaceTemplate.id == tid)).first()
            if exists:
                conn.execute(update(FaceTemplate).where(FaceTemplate.id == tid).values(**values))
            else:
                conn.execute(insert(FaceTemplate).values(**values))
        return tid

    def all_for_scope(
        self, opd_code: str | None, model: str = DEFAULT_MODEL, version: str | None = None
    ) -> list[tuple[str, str, Vector]]:
        """``(nip, template_id, vector)`` of ``model`` (and ``version`` when given) of
        active staff of ``opd_code`` plus people assigned to it as an extra office;
        ``opd_code=None`` means every active person."""
        query = (
            select(FaceTemplate.nip, FaceTemplate.id, FaceTemplate.sealed)
            .join(Employee, Employee.nip == FaceTemplate.nip)
            .where(Employee.active.is_(True), FaceTemplate.model == model)
            .order_by(FaceTemplate.nip, FaceTemplate.created_at)
        )
        if version is not None:
            query = query.where(FaceTemplate.model_version == version)
        if opd_code is not None:
            extra = select(EmployeeOffice.nip).where(EmployeeOffice.opd_code == opd_code)
            query = query.where(or_(Employee.opd_code == opd_code, Employee.nip.in_(extra)))
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [(nip, tid, self._open(tid, sealed)) for nip, tid, sealed in rows]

    def for_person(self, nip: str) -> list[tuple[TemplateInfo, Vector]]:
        with self._db.read() as conn:
            rows = (
                conn.execute(
                    select(FaceTemplate)
                    .where(FaceTemplate.nip == nip)
                    .order_by(FaceTemplate.created_at)
                )
                .mappings()
                .all()
            )
        return [(_info(r), self._open(r["id"], r["sealed"])) for r in rows]

    def info(self, nip: str) -> list[TemplateInfo]:
        with self._db.read() as conn:
            rows = (
                conn.execute(
                    select(FaceTemplate)
                    .where(FaceTemplate.nip == nip)
                    .order_by(FaceTemplate.created_at)
                )
                .mappings()
                .all()
            )
        return [_info(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Templates per NIP."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(FaceTemplate.nip, func.count()).group_by(FaceTemplate.nip)
            ).all()
        return {nip: int(n) for nip, n in rows}

    def coverage(self) -> dict[str, dict[str, int]]:
        """Per home OPD of active staff: ``{"people": n, "<model>": people with a
        template of that model, ...}`` (what ``hadir templates status`` shows)."""
        with self._db.read() as conn:
            staff = conn.execute(
                select(Employee.opd_code, func.count())
                .where(Employee.active.is_(True))
                .group_by(Employee.opd_code)
            ).all()
            by_model = conn.execute(
                select(
                    Employee.opd_code, FaceTemplate.model, func.count(func.distinct(Employee.nip))
                )
                .join(FaceTemplate, FaceTemplate.nip == Employee.nip)
                .where(Employee.active.is_(True))
                .group_by(Employee.opd_code, FaceTemplate.model)
            ).all()
        out: dict[str, dict[str, int]] = {opd: {"people": int(n)} for opd, n in staff}
        for opd, model, n in by_model:
            out.setdefault(opd, {"people": 0})[model] = int(n)
        return dict(sorted(out.items()))

    def count_of_model(self, nip: str, model: str) -> int:
        """Templates of ``model`` one person has."""
        with self._db.read() as conn:
            n = conn.execute(
                select(func.count())
                .select_from(FaceTemplate)
                .where(FaceTemplate.nip == nip, FaceTemplate.model == model)
            ).scalar_one()
        return int(n)

    def delete_model(self, model: str) -> list[str]:
        """Delete every template of ``model``; returns their ids."""
        with self._db.write() as conn:
            ids = [
                str(t)
                for (t,) in conn.execute(select(FaceTemplate.id).where(FaceTemplate.model == model))
            ]
            conn.execute(delete(FaceTemplate).where(FaceTemplate.model == model))
        return ids

    def pending_upload(self, limit: int = 500) -> list[tuple[TemplateInfo, Vector]]:
        """Kiosk-enrolled samples the server has not accepted yet."""
        with self._db.read() as conn:
            rows = (
                conn.execute(
                    select(FaceTemplate)
                    .where(FaceTemplate.uploaded_at.is_(None))
                    .order_by(FaceTemplate.created_at)
                    .limit(limit)
                )
                .mappings()
                .all()
            )
        return [(_info(r), self._open(r["id"], r["sealed"])) for r in rows]

    def mark_uploaded(self, template_ids: Sequence[str], at: datetime) -> int:
        with self._db.write() as conn:
            res = conn.execute(
                update(FaceTemplate)
                .where(FaceTemplate.id.in_(list(template_ids)))
                .values(uploaded_at=format_utc(at))
            )
            return int(res.rowcount)

    def delete(self, template_id: str) -> bool:
        with self._db.write() as conn:
            res = conn.execute(delete(FaceTemplate).where(FaceTemplate.id == template_id))
            return bool(res.rowcount)

    def delete_person(self, nip: str) -> int:
        """Delete every template of ``nip``; how many were deleted."""
        with self._db.write() as conn:
            res = conn.execute(delete(FaceTemplate).where(FaceTemplate.nip == nip))
            return int(res.rowcount)


def _info(m: RowMapping) -> TemplateInfo:
    return TemplateInfo(
        template_id=m["id"],
        nip=m["nip"],
        model=m["model"],
        model_version=m["model_version"],
        quality=m["quality"],
        source=m["source"],
        created_at=m["created_at"],
        uploaded_at=m["uploaded_at"],
    )
