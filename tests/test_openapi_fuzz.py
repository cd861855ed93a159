"""Schemathesis fuzzing of the server's OpenAPI document over ASGI: never a 5xx.

Positive and negative examples (wrong types, missing fields, odd strings) for
every operation, sent with a valid device or admin token so the handlers, not
only authentication, are exercised; on SQLite and (when configured) PostgreSQL,
which refuses more (NUL in text). Bounded examples keep it under a minute;
``HADIR_FUZZ_EXAMPLES=40`` digs deeper by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from test_server import database_url

from attendance.integrity import public_key_bytes
from server.app import create_app
from server.settings import ServerSettings

# Integration tier (property-based fuzzing of every operation):
# `uv run pytest -m "not slow"` leaves it out.
pytestmark = pytest.mark.slow

MAX_EXAMPLES = int(os.environ.get("HADIR_FUZZ_EXAMPLES", "6"))

__all__ = ["database_url"]


@pytest.fixture
def fuzz_app(tmp_path: Path, database_url: str) -> Iterator[FastAPI]:
    root = tmp_path
    app = create_app(
        ServerSettings(
            database_url=database_url,
            admin_token_file=root / "admin-token",
            adms_serials=("CQZ7232260123",),
            max_body_bytes=200_000,
            rate_limit_per_second=0.0,  # fuzz every operation, not the 429 path
            source_rate_limit_per_second=0.0,
        )
    )
    client = TestClient(app)
    admin = {"Authorization": f"Bearer {app.state.services.admin_token}"}
    code = client.post(
        "/api/v1/admin/enrollment-codes", json={"opd_code": "DISKOMINFO"}, headers=admin
    ).json()["code"]
    r = client.post(
        "/api/v1/devices/register",
        json={
            "code": code,
            "device_id": "fuzz-kiosk",
            "public_key": public_key_bytes(Ed25519PrivateKey.generate()).hex(),
        },
    )
    app.state.device_token = r.json()["token"]
    client.post(
        "/api/v1/admin/employees/import",
        content=b"nip,name,opd,type,schedule_group\n198703152010011002,Siti,DISKOMINFO,PNS,d\n",
        headers={**admin, "Content-Type": "text/csv"},
    )
    yield app
    app.state.services.db.dispose()


def _runner(strategy: Any, token: str) -> Any:
    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error]
        )

    return run


def test_no_operation_answers_5xx(fuzz_app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    admin_token = fuzz_app.state.services.admin_token
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operation = result.ok()
        operations += 1
        token = (
            admin_token
            if operation.path.startswith("/api/v1/admin")
            else fuzz_app.state.device_token
        )
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run = _runner(operation.as_strategy(generation_mode=mode), token)
            try:
                run()
            except Unsatisfiable:
                continue  # nothing to make negative (an operation without inputs)
            except Exception as exc:  # collect all operations' failures, then fail once
                failures.append(
                    f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"
                )
    assert operations >= 20
    assert not failures, "\n\n".join(failures)[:20000]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_document_covers_the_api(fuzz_app: FastAPI) -> None:
    doc = TestClient(fuzz_app).get("/openapi.json").json()
    for path in (
        "/api/v1/devices/register",
        "/api/v1/punches",
        "/api/v1/changes",
        "/api/v1/templates",
        "/api/v1/time",
        "/api/v1/heartbeat",
        "/api/v1/admin/employees/import",
        "/iclock/cdata",
    ):
        assert path in doc["paths"], path
