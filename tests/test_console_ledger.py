"""Console pages over the central ledger: leave with a PDF through the inbox, approval by
the head of the OPD, the recap that changes, exports, and who may decide."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import NIP_A, NIP_B, NOW, ConsoleWorld, build_world, page_csrf
from openpyxl import load_workbook
from test_server import database_url

from server.imports import import_punches_csv

__all__ = ["database_url"]

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[ConsoleWorld]:
    """On SQLite, and on PostgreSQL where HADIR_TEST_POSTGRES_URL is set (CI)."""
    w = build_world(tmp_path, database_url)
    yield w
    w.close()


def _submit_leave(world: ConsoleWorld, day: str = "2026-11-25") -> str:
    emp = world.login("emp-a")
    r = emp.post(
        "/inbox/absence",
        data={
            "csrf_token": page_csrf(emp, "/inbox"),
            "kind": "cuti_tahunan",
            "date_from": day,
            "date_to": day,
            "reason": "urusan keluarga",
        },
        files={"attachment": ("surat.pdf", PDF, "application/pdf")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:300]
    mine = emp.get("/inbox.json").json()["absences"]
    assert [a["state"] for a in mine] == ["diajukan"]
    assert mine[0]["attachment"]["media_type"] == "application/pdf"
    return str(mine[0]["id"])


def _recap_row(client: object, nip: str) -> dict[str, object] | None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    recap = client.get("/recap/DISKOMINFO.json?month=2026-11").json()
    return next((e for e in recap["employees"] if e["nip"] == nip), None)


def test_employee_leave_with_pdf_approved_by_head_changes_the_recap(world: ConsoleWorld) -> None:
    absence_id = _submit_leave(world)
    head = world.login("head-a")
    before = _recap_row(head, NIP_A)
    assert before is None or "cuti_tahunan" not in before["absences"]  # type: ignore[operator]
    # The operator of another OPD neither sees nor decides it; the employee cannot approve.
    op_b = world.login("op-b")
    assert absence_id not in op_b.get("/inbox").text
    refused = op_b.post(
        f"/inbox/absence/{absence_id}/decide",
        data={"csrf_token": page_csrf(op_b, "/inbox"), "decision": "disetujui"},
    )
    assert refused.status_code == 403
    emp = world.login("emp-a")
    self_approve = emp.post(
        f"/inbox/absence/{absence_id}/decide",
        data={"csrf_token": page_csrf(emp, "/inbox"), "decision": "disetujui"},
    )
    assert self_approve.status_code == 403
    # The attachment is served to the head and audit-logged, not to another OPD.
    pdf = head.get(f"/inbox/absence/{absence_id}/attachment")
    assert pdf.status_code == 200 and pdf.content == PDF
    assert op_b.get(f"/inbox/absence/{absence_id}/attachment").status_code == 403
    r = head.post(
        f"/inbox/absence/{absence_id}/decide",
        data={"csrf_token": page_csrf(head, "/inbox"), "decision": "disetujui"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    after = _recap_row(head, NIP_A)
    assert after is not None and after["absences"] == {"cuti_tahunan": 1}
    day = next(
        d
        for d in emp.get(f"/employee/{NIP_A}.json?month=2026-11").json()["days"]
        if d["date"] == "2026-11-25"
    )
    assert day["status"] == "absence"
    audit = world.login("admin").get("/audit.json").json()["entries"]
    actions = [e["action"] for e in audit]
    assert "absence_submit" in actions and "absence_decide" in actions
    assert "absence_attachment_view" in actions


def test_xlsx_pdf_csv_downloads_hold_the_recap(world: ConsoleWorld) -> None:
    svc = world.app.state.services
    punches = (
        "nip,local_time,source\n"
        f"{NIP_A},2026-11-24 07:10:00,import\n"
        f"{NIP_A},2026-11-24 16:05:00,import\n"
        f"{NIP_A},2026-11-26 08:20:00,import\n"
        f"{NIP_A},2026-11-26 16:10:00,import\n"
    )
    result = import_punches_csv(svc.db, punches.encode(), world.app.state.console.zone, NOW)
    assert not result["errors"], result
    svc.ledger.ledger.catch_up(NOW)  # what each server process's LedgerWorker does
    head = world.login("head-a")
    xlsx = head.get("/recap/DISKOMINFO/export.xlsx?month=2026-11")
    assert xlsx.status_code == 200
    assert "attachment" in xlsx.headers["content-disposition"]
    book = load_workbook(io.BytesIO(xlsx.content))
    cells = [str(c) for row in book.active.iter_rows(values_only=True) for c in row if c]  # type: ignore[union-attr]
    assert NIP_A in cells
    assert "Siti Aminah" in cells
    assert any("DISKOMINFO" in c for c in cells)
    recap = head.get("/recap/DISKOMINFO.json?month=2026-11").json()
    row = next(e for e in recap["employees"] if e["nip"] == NIP_A)
    assert row["present_days"] == 2 and row["tl"].get("TL2") == 1
    pdf = head.get("/recap/DISKOMINFO/export.pdf?month=2026-11")
    assert pdf.content.startswith(b"%PDF")
    csv_text = head.get("/recap/DISKOMINFO/export.csv?month=2026-11").text
    assert NIP_A in csv_text
    assert head.get("/recap/BAPPEDA/export.xlsx?month=2026-11").status_code == 403
    assert world.login("emp-a").get("/recap/DISKOMINFO.json?month=2026-11").status_code == 403
    # The employee page shows punches with their source and the employee's recap row.
    page = world.login("emp-a").get(f"/employee/{NIP_A}.json?month=2026-11").json()
    assert {p["source"] for p in page["punches"]} == {"import"}
    assert len(page["punches"]) == 4
    assert page["recap"]["present_days"] == 2
    assert re.search(r"TL2", head.get(f"/employee/{NIP_A}?month=2026-11").text)


def test_operator_enters_leave_only_for_own_opd_and_bad_input_names_the_field(
    world: ConsoleWorld,
) -> None:
    op = world.login("op-a")
    token = page_csrf(op, "/inbox")
    other = op.post(
        "/inbox/absence",
        data={
            "csrf_token": token,
            "nip": NIP_B,
            "kind": "sakit",
            "date_from": "2026-11-24",
            "date_to": "2026-11-24",
        },
    )
    assert other.status_code == 403
    reversed_dates = op.post(
        "/inbox/absence",
        data={
            "csrf_token": token,
            "nip": NIP_A,
            "kind": "sakit",
            "date_from": "2026-11-24",
            "date_to": "2026-11-20",
        },
    )
    assert reversed_dates.status_code == 422
    assert "date_to" in reversed_dates.text
    wrong_file = op.post(
        "/inbox/absence",
        data={
            "csrf_token": token,
            "nip": NIP_A,
            "kind": "sakit",
            "date_from": "2026-11-24",
            "date_to": "2026-11-24",
        },
        files={"attachment": ("x.exe", b"MZ\x90\x00", "application/octet-stream")},
    )
    assert wrong_file.status_code in (415, 422)
    assert "attachment" in wrong_file.text
    assert world.login("emp-a").get("/inbox.json").json()["absences"] == []


def test_dashboard_counts_arrivals_per_quarter_hour_on_both_databases(
    tmp_path: Path, database_url: str
) -> None:
    world = build_world(tmp_path, database_url)
    try:
        svc = world.app.state.services
        body = (
            "nip,local_time,source\n"
            f"{NIP_A},2026-11-27 07:05:00,import\n"
            f"{NIP_A},2026-11-27 07:50:00,import\n"  # not the first: ignored
            f"{NIP_B},2026-11-27 08:01:30,import\n"
            f"{NIP_B},2026-11-26 06:00:00,import\n"  # yesterday: ignored
        )
        import_punches_csv(svc.db, body.encode(), world.app.state.console.zone, NOW)
        data = world.login("admin").get("/index.json").json()
        assert data["arrivals"] == [["07:00", 1], ["08:00", 1]]
        present = {r["opd_code"]: r["present"] for r in data["opds"]}
        assert present == {"DISKOMINFO": 1, "BAPPEDA": 1}
        assert data["trend"][-1] == {"date": "2026-11-27", "present": 2, "rate": 50.0}
        scoped = world.login("op-b").get("/index.json").json()
        assert scoped["arrivals"] == [["08:00", 1]]
    finally:
        world.close()
