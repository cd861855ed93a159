"""The ledger's admin HTTP API: bad input gets a 4xx naming the field and writes nothing;
attachments; exports. SQLite and (with HADIR_TEST_POSTGRES_URL) PostgreSQL."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from test_ledger import NIP, NIP2, ROSTER, SITI_EXPECTED, enter_siti_month, wib
from test_server import FixedClock, database_url

from server.app import create_app
from server.ledger_api import LedgerServices
from server.ledger_models import Absence, PunchCorrection
from server.roster import Roster
from server.settings import ServerSettings

__all__ = ["database_url"]

API = "/api/v1/admin/ledger"
PDF = b"%PDF-1.4\n% a tiny pdf\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


class Admin:
    def __init__(self, client: TestClient, token: str, clock: FixedClock, svc: Any) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}
        self.clock = clock
        self.svc = svc

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(API + path, headers=self.headers, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(API + path, headers=self.headers, json=body)

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(API + path, headers=self.headers, json=body)

    def count(self, model: Any) -> int:
        with self.svc.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(model)).scalar() or 0)


@pytest.fixture
def admin(tmp_path: Path, database_url: str) -> Iterator[Admin]:
    clock = FixedClock(wib("2026-02-01 08:00"))
    settings = ServerSettings(
        database_url=database_url,
        admin_token_file=tmp_path / "admin-token",
        clock=clock,
        data_dir=str(tmp_path),
        max_attachment_bytes=4096,
    )
    app = create_app(settings)
    svc = app.state.services
    Roster(svc.db).import_csv(ROSTER.encode(), clock())
    client = TestClient(app)
    yield Admin(client, svc.admin_token, clock, svc)
    svc.db.dispose()


def absence(**changes: Any) -> dict[str, Any]:
    body = {
        "nip": NIP,
        "kind": "cuti_tahunan",
        "date_from": "2026-02-09",
        "date_to": "2026-02-11",
        "entered_by": "operator",
    }
    body.update(changes)
    return body


def test_needs_the_admin_token(admin: Admin) -> None:
    assert admin.client.get(API + "/opds").status_code == 401


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"nip": "199999999999999999"}, 404, "nip: unknown employee"),
        ({"nip": "123"}, 422, "nip"),
        (
            {"date_from": "2026-02-11", "date_to": "2026-02-09"},
            422,
            "date_to: 2026-02-09 is before",
        ),
        ({"date_from": "1890-01-01"}, 422, "date_from"),
        ({"date_to": "2031-01-01"}, 422, "date_to: 2031-01-01 is more than a year ahead"),
        ({"date_from": "2026-02-30"}, 422, "date_from"),
        ({"kind": "liburan"}, 422, "kind: one of"),
        ({"entered_by": ""}, 422, "entered_by"),
        ({"attachment_base64": base64.b64encode(b"GIF89a....").decode()}, 415, "attachment:"),
        ({"attachment_base64": base64.b64encode(PDF + b"x" * 5000).decode()}, 413, "attachment:"),
        ({"attachment_base64": "***"}, 422, "attachment_base64"),
    ],
)
def test_bad_absence_is_refused_naming_the_field_and_nothing_is_written(
    admin: Admin, changes: dict[str, Any], status: int, field: str
) -> None:
    r = admin.post("/absences", absence(**changes))
    assert r.status_code == status, r.text
    assert field in r.text
    assert admin.count(Absence) == 0


def test_overlap_names_the_other_record_and_attachment_is_served(admin: Admin) -> None:
    r = admin.post("/absences", absence(attachment_base64=base64.b64encode(PDF).decode()))
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["attachment"]["media_type"] == "application/pdf"
    assert first["state"] == "diajukan" and first["entered_by"] == "operator"
    r = admin.post("/absences", absence(kind="sakit", date_from="2026-02-11", date_to="2026-02-12"))
    assert r.status_code == 409 and first["id"] in r.json()["detail"]
    got = admin.get(f"/absences/{first['id']}/attachment")
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    d = admin.post(
        f"/absences/{first['id']}/decision", {"decision": "disetujui", "decided_by": "kepala"}
    )
    assert d.json()["state"] == "disetujui" and d.json()["decided_by"] == "kepala"
    again = admin.post(
        f"/absences/{first['id']}/decision", {"decision": "ditolak", "decided_by": "kepala"}
    )
    assert again.status_code == 409 and "state: absence is already disetujui" in again.text
    # A rejected record no longer blocks its dates.
    other = admin.post(
        "/absences", absence(kind="izin", date_from="2026-02-12", date_to="2026-02-12")
    )
    assert other.status_code == 201


def test_corrections_need_a_second_person_and_no_future(admin: Admin) -> None:
    admin.clock.now = wib("2026-02-03 09:00")
    body = {
        "nip": NIP,
        "at_local": "2026-02-02 07:28",
        "kind": "mesin_rusak",
        "reason": "mesin mati listrik",
        "requested_by": "operator",
        "attachment_base64": base64.b64encode(PNG).decode(),
    }
    future = admin.post("/corrections", {**body, "at_local": "2026-02-03 10:00"})
    assert future.status_code == 422 and "at: 2026-02-03 10:00 is in the future" in future.text
    unknown = admin.post("/corrections", {**body, "nip": "199999999999999999"})
    assert unknown.status_code == 404 and "nip: unknown employee" in unknown.text
    assert admin.count(PunchCorrection) == 0
    created = admin.post("/corrections", body)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    same = admin.post(
        f"/corrections/{cid}/decision", {"decision": "disetujui", "decided_by": "Operator"}
    )
    assert same.status_code == 403 and "decided_by" in same.text
    ok = admin.post(
        f"/corrections/{cid}/decision", {"decision": "disetujui", "decided_by": "kepala"}
    )
    assert ok.status_code == 200 and ok.json()["state"] == "disetujui"
    days = admin.get(f"/employees/{NIP}/days", date_from="2026-02-02", date_to="2026-02-02")
    assert days.json()["days"][0]["masuk_utc"] == "2026-02-02T00:28:00Z"


def test_closed_month_edits_are_refused(admin: Admin) -> None:
    admin.clock.now = wib("2026-03-06 09:00")
    r = admin.post("/months/2026-02/close", {"closed_by": "bkpsdm"})
    assert r.status_code == 200, r.text
    again = admin.post("/months/2026-02/close", {"closed_by": "bkpsdm"})
    assert again.status_code == 409 and "month: 2026-02 is already closed" in again.text
    early = admin.post("/months/2026-03/close", {"closed_by": "bkpsdm"})
    assert early.status_code == 409 and "month: 2026-03 can be closed from 2026-04-05" in early.text
    bad = admin.post("/months/2026-13/close", {"closed_by": "bkpsdm"})
    assert bad.status_code == 422 and "month" in bad.text
    leave = admin.post("/absences", absence())
    assert leave.status_code == 409 and "date_from: month 2026-02 is closed" in leave.text
    fix = admin.post(
        "/corrections",
        {
            "nip": NIP,
            "at_local": "2026-02-10 07:30",
            "kind": "lupa_absen",
            "reason": "lupa",
            "requested_by": "operator",
        },
    )
    assert fix.status_code == 409 and "at: month 2026-02 is closed" in fix.text
    assert admin.count(Absence) == 0 and admin.count(PunchCorrection) == 0
    tpp = admin.put("/tpp-tables", {"valid_from": "2026-02-01", "rates": {"TK": 3}})
    assert tpp.status_code == 409 and "valid_from" in tpp.text


def test_recap_json_shape_and_exports(admin: Admin) -> None:
    svc: LedgerServices = admin.svc.ledger
    from test_ledger import Env

    env = Env(admin.svc.db, admin.clock, admin.svc.settings, svc, Roster(admin.svc.db))
    admin.put(
        "/opds/DISKOMINFO",
        {
            "name": "Dinas Komunikasi dan Informatika",
            "head_name": "Drs. H. Ahmad",
            "head_nip": NIP2,
        },
    )
    enter_siti_month(env)
    r = admin.get("/recap/DISKOMINFO/2026-02")
    assert r.status_code == 200
    recap = r.json()
    assert set(recap) >= {"opd", "month", "closed", "employees"}
    assert next(e for e in recap["employees"] if e["nip"] == NIP) == SITI_EXPECTED
    csv_text = admin.get("/recap/DISKOMINFO/2026-02", format="csv").text
    header, *lines = csv_text.strip().splitlines()
    assert header.startswith("opd,month,closed,nip,name")
    assert any(
        line.startswith(
            f"DISKOMINFO,2026-02,no,{NIP},Siti Aminah,PNS,19,14,2,0,1,0,90,1,1,0,1,60,1,"
        )
        for line in lines
    )
    xlsx = admin.get("/recap/DISKOMINFO/2026-02", format="xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    values = [c for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    assert (
        "REKAPITULASI KEHADIRAN PEGAWAI" in values
        and "Periode: Februari 2026 - belum ditutup" in values
    )
    assert "Drs. H. Ahmad" in values and NIP in values and f"NIP {NIP2}" in values
    assert sheet.page_setup.orientation == "landscape"
    pdf = admin.get("/recap/DISKOMINFO/2026-02", format="pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-disposition"].endswith('rekap-DISKOMINFO-2026-02.pdf"')
    unknown = admin.get("/recap/NOPE/2026-02")
    assert unknown.status_code == 404 and "opd: unknown OPD" in unknown.text
    everything = admin.get("/recap/2026-02").json()
    assert [o["opd"] for o in everything["opds"]] == ["DINKES", "DISKOMINFO"]
    assert admin.get("/comparison/2026-02").status_code == 200
    assert admin.get("/discipline/2026", opd="DISKOMINFO").status_code == 200
    call = admin.get("/roll-call/DISKOMINFO", day="2026-02-16").json()
    assert call["counts"]["present"] == 1 and call["counts"]["not_yet"] == 1


def test_openapi_lists_the_ledger_routes(admin: Admin) -> None:
    paths = admin.client.get("/openapi.json").json()["paths"]
    assert f"{API}/recap/{{opd}}/{{month}}" in paths
    assert f"{API}/absences" in paths and f"{API}/months/{{month}}/close" in paths


def test_import_endpoints_report_lines(admin: Admin) -> None:
    admin.clock.now = wib("2026-02-10 09:00")
    body = (
        "nip,local_time,source\n"
        f"{NIP},2026-02-02 07:30:00,lama\n"
        "199999999999999999,2026-02-02 07:30:00,lama\n"
        f"{NIP},2026-02-31 07:00:00,lama\n"
    )
    r = admin.client.post(
        API + "/import/punches", headers={**admin.headers, "Content-Type": "text/csv"}, content=body
    )
    result = r.json()
    assert result["created"] == 1
    assert [(e["line"], e["error"].split(":")[0]) for e in result["errors"]] == [
        (3, "nip"),
        (4, "local_time"),
    ]
    again = admin.client.post(
        API + "/import/punches", headers={**admin.headers, "Content-Type": "text/csv"}, content=body
    ).json()
    assert again["created"] == 0 and again["unchanged"] == 1
