"""Roster import from CSV or XLSX with a per-line error report.

The file goes through :meth:`server.roster.Roster.import_csv` (one parser for
the CLI, the admin API and the console). XLSX sheets are turned into CSV rows
first, line numbers kept. An OPD operator may only import rows of their own
OPD: other rows are refused line by line (and so is a NIP that belongs to
another OPD), the rest is applied.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.datastructures import UploadFile

from server.console import scope
from server.console.accounts import Principal
from server.console.web import Console
from server.errors import ApiError, invalid
from server.models import Employee
from server.roster import COLUMN_ALIASES, REQUIRED_COLUMNS

MAX_UPLOAD = 4_000_000
XLSX_MAGIC = b"PK\x03\x04"
DEFAULT_COLUMNS = [*REQUIRED_COLUMNS, "adms_pin", "active"]


def xlsx_rows(body: bytes) -> list[list[Any]]:
    """The first sheet's rows as raw cell values (numbers stay numbers)."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    except Exception as exc:  # zipfile / XML errors of a damaged file
        raise invalid(f"file: not a readable XLSX workbook ({type(exc).__name__})") from None
    try:
        sheet = book.worksheets[0]
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def csv_rows(body: bytes) -> list[list[Any]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise invalid(f"file: the CSV is not UTF-8 (byte {exc.start})") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    return [list(r) for r in csv.reader(io.StringIO(text), delimiter=delimiter)]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def prepare(
    rows: list[list[Any]], p: Principal, owners: dict[str, str]
) -> tuple[bytes, list[dict[str, Any]]]:
    """CSV bytes for ``import_csv`` and the lines refused before it (scope, NIP as number)."""
    columns = DEFAULT_COLUMNS
    start = 0
    if rows and any(_cell_text(c).strip().lower() == "nip" for c in rows[0]):
        columns = [COLUMN_ALIASES.get(_cell_text(c).strip().lower(), "") for c in rows[0]]
        start = 1
    errors: list[dict[str, Any]] = []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for index, row in enumerate(rows):
        lineno = index + 1
        if index < start:
            writer.writerow([_cell_text(c) for c in row])
            continue
        cells = dict(zip(columns, row, strict=False))
        nip_value = cells.get("nip")
        error = None
        if isinstance(nip_value, int | float) and not isinstance(nip_value, bool):
            error = "nip: stored as a number in the spreadsheet (digits are lost); store it as text"
        elif p.role != "superadmin":
            opd = _cell_text(cells.get("opd")).strip()
            nip = _cell_text(nip_value).strip()
            if opd and opd != p.opd_code:
                error = f"opd: your account may only import employees of OPD {p.opd_code}"
            elif nip in owners and owners[nip] != p.opd_code:
                error = "nip: this employee belongs to another OPD"
        if error is not None:
            errors.append({"line": lineno, "error": error})
            writer.writerow([])
        else:
            writer.writerow([_cell_text(c) for c in row])
    return out.getvalue().encode(), errors


def register(console: Console) -> None:
    svc = console.services

    def roster(request: Request) -> Response:
        p = console.principal(request)
        scope.require(scope.can_manage_roster(p), "import employees")
        return console.render(request, p, "roster.html", {"result": None})

    async def upload(request: Request) -> Response:
        p = await console.changing(request)
        scope.require(scope.can_manage_roster(p), "import employees")
        form = await request.form()
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise invalid("file: choose a CSV or XLSX file")
        body = await file.read(MAX_UPLOAD + 1)
        if len(body) > MAX_UPLOAD:
            raise ApiError(413, "body_too_large", f"file: at most {MAX_UPLOAD} bytes")
        name = (file.filename or "")[:200]
        rows = xlsx_rows(body) if body.startswith(XLSX_MAGIC) else csv_rows(body)
        with svc.db.read() as conn:
            owners = (
                {r.nip: r.opd_code for r in conn.execute(select(Employee.nip, Employee.opd_code))}
                if p.role != "superadmin"
                else {}
            )
        csv_body, refused = prepare(rows, p, owners)
        result = svc.roster.import_csv(csv_body, console.now())
        result["errors"] = sorted([*result["errors"], *refused], key=lambda e: e["line"])
        result["file"] = name
        console.audit(
            p,
            request,
            "roster_import",
            name or "-",
            {k: result[k] for k in ("created", "updated", "unchanged")}
            | {"errors": len(result["errors"])},
        )
        status = (
            200
            if not result["errors"]
            else 422
            if not (result["created"] or result["updated"] or result["unchanged"])
            else 200
        )
        return console.render(request, p, "roster.html", {"result": result}, status=status)

    console.page("/roster", roster)
    console.action("/roster", upload)
