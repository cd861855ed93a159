"""Exports of the monthly recap: CSV, XLSX (openpyxl) and PDF (fpdf2).

Public API: :func:`recap_csv`, :func:`recap_xlsx`, :func:`recap_pdf`, each
``(recap) -> bytes`` over the JSON of :meth:`server.recap.Recaps.monthly`,
and :func:`export_recap` ``(recap, fmt) -> (bytes, media_type, filename)``.

The XLSX and the PDF show the same page: the OPD header and period, one line
per employee (working days, present, TL1-TL4 and minutes, PSW1-PSW4 and
minutes, TK, absences, TPP deduction), and a signature block for the head of
the OPD. The sheet is set for printing: A4 landscape, fit to width, header
rows repeated on every page.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

BANDS = ("1", "2", "3", "4")
MONTHS_ID = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)
HEADERS = (
    "No",
    "NIP",
    "Nama",
    "Jenis",
    "Hari kerja",
    "Hadir",
    "TL1",
    "TL2",
    "TL3",
    "TL4",
    "Menit TL",
    "PSW1",
    "PSW2",
    "PSW3",
    "PSW4",
    "Menit PSW",
    "TK",
    "Keterangan",
    "Potongan TPP (%)",
)
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "json": "application/json",
}


def period_label(month: str) -> str:
    year, mon = month.split("-")
    return f"{MONTHS_ID[int(mon) - 1]} {year}"


def _absences_text(absences: dict[str, int]) -> str:
    return ", ".join(f"{kind} {days}" for kind, days in sorted(absences.items()))


def _lines(recap: dict[str, Any]) -> list[list[Any]]:
    lines = []
    for i, e in enumerate(recap["employees"], 1):
        lines.append(
            [
                i,
                e["nip"],
                e["name"],
                e["employment_type"],
                e["working_days"],
                e["present_days"],
                *(e["tl"].get(f"TL{b}", 0) for b in BANDS),
                e["tl_minutes"],
                *(e["psw"].get(f"PSW{b}", 0) for b in BANDS),
                e["psw_minutes"],
                e["tk_days"],
                _absences_text(e["absences"]),
                e["tpp_deduction_percent"],
            ]
        )
    return lines


def recap_csv(recap: dict[str, Any]) -> bytes:
    """One header line and one line per employee (machine-readable column names)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "opd",
            "month",
            "closed",
            "nip",
            "name",
            "employment_type",
            "working_days",
            "present_days",
            *(f"TL{b}" for b in BANDS),
            "tl_minutes",
            *(f"PSW{b}" for b in BANDS),
            "psw_minutes",
            "tk_days",
            "absences",
            "single_punch_days",
            "tpp_deduction_percent",
        ]
    )
    for e in recap["employees"]:
        writer.writerow(
            [
                recap["opd"],
                recap["month"],
                "yes" if recap["closed"] else "no",
                e["nip"],
                e["name"],
                e["employment_type"],
                e["working_days"],
                e["present_days"],
                *(e["tl"].get(f"TL{b}", 0) for b in BANDS),
                e["tl_minutes"],
                *(e["psw"].get(f"PSW{b}", 0) for b in BANDS),
                e["psw_minutes"],
                e["tk_days"],
                ";".join(f"{k}={v}" for k, v in sorted(e["absences"].items())),
                e.get("single_punch_days", 0),
                e["tpp_deduction_percent"],
            ]
        )
    return out.getvalue().encode("utf-8")


def _title(recap: dict[str, Any]) -> tuple[str, str, str]:
    return (
        "REKAPITULASI KEHADIRAN PEGAWAI",
        f"{recap.get('opd_name') or recap['opd']} ({recap['opd']})",
        f"Periode: {period_label(recap['month'])}"
        + (" - ditutup (tutup buku)" if recap["closed"] else " - belum ditutup"),
    )


def _signature(recap: dict[str, Any], place_date: str) -> list[str]:
    return [
        place_date,
        f"Kepala {recap.get('opd_name') or recap['opd']}",
        "",
        "",
        "",
        recap.get("head_name") or "(.................................)",
        f"NIP {recap['head_nip']}" if recap.get("head_nip") else "NIP ..................",
    ]


def recap_xlsx(recap: dict[str, Any], place_date: str | None = None) -> bytes:
    """A printable sheet (A4 landscape, fit to width, repeated header rows)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    place_date = place_date or f"Kayuagung, {date.today():%d-%m-%Y}"
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = recap["month"]
    last_col = get_column_letter(len(HEADERS))
    for row, text in enumerate(_title(recap), 1):
        ws.cell(row=row, column=1, value=text).font = Font(
            bold=row == 1, size=13 if row == 1 else 11
        )
        ws.merge_cells(f"A{row}:{last_col}{row}")
        ws.cell(row=row, column=1).alignment = Alignment(horizontal="center")
    header_row = 5
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    fill = PatternFill("solid", fgColor="DDDDDD")
    for col, text in enumerate(HEADERS, 1):
        cell = ws.cell(row=header_row, column=col, value=text)
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.border = border
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    lines = _lines(recap)
    for r, line in enumerate(lines, header_row + 1):
        for c, value in enumerate(line, 1):
            cell = ws.cell(row=r, column=c, value=value)
            cell.border = border
    widths = (5, 21, 30, 18, 8, 7, 5, 5, 5, 5, 8, 6, 6, 6, 6, 9, 5, 28, 11)
    for col, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(col)].width = width
    sig_row = header_row + len(lines) + 3
    sig_col = len(HEADERS) - 4
    for i, text in enumerate(_signature(recap, place_date)):
        ws.cell(row=sig_row + i, column=sig_col, value=text)
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    if ws.sheet_properties.pageSetUpPr is not None:
        ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_area = f"A1:{last_col}{sig_row + 7}"
    ws.freeze_panes = f"D{header_row + 1}"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def recap_pdf(recap: dict[str, Any], place_date: str | None = None) -> bytes:
    """The same page as the XLSX, as an A4 landscape PDF."""
    from fpdf import FPDF

    place_date = place_date or f"Kayuagung, {date.today():%d-%m-%Y}"
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_margins(8, 10, 8)
    pdf.add_page()
    title, opd, period = _title(recap)
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 7, _latin(title), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 6, _latin(opd), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, _latin(period), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    fixed = (8.0, 36, 44, 22, 12, 11, 8, 8, 8, 8, 12, 9, 9, 9, 9, 12, 8)
    widths = (*fixed, pdf.epw - sum(fixed) - 18, 18.0)
    pdf.set_font("Helvetica", "B", 7)
    with pdf.table(
        col_widths=widths,
        text_align="CENTER",
        line_height=4.5,
        repeat_headings=1,
        first_row_as_headings=True,
    ) as table:
        header = table.row()
        for text in HEADERS:
            header.cell(_latin(text))
        pdf.set_font("Helvetica", "", 7)
        for line in _lines(recap):
            row = table.row()
            for value in line:
                row.cell(_latin(str(value)))
    pdf.ln(6)
    pdf.set_font("Helvetica", "", 9)
    x = pdf.w - pdf.r_margin - 80
    for text in _signature(recap, place_date):
        pdf.set_x(x)
        pdf.cell(80, 5, _latin(text), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _latin(text: str) -> str:
    """The core PDF fonts cover Latin-1 only; names stay readable."""
    return text.encode("latin-1", errors="replace").decode("latin-1")


def export_recap(recap: dict[str, Any], fmt: str) -> tuple[bytes, str, str]:
    """(content, media type, file name) of ``recap`` as json, csv, xlsx or pdf."""
    import json

    name = f"rekap-{recap['opd']}-{recap['month']}.{fmt}"
    if fmt == "json":
        return json.dumps(recap, ensure_ascii=False, indent=1).encode(), MEDIA["json"], name
    if fmt == "csv":
        return recap_csv(recap), MEDIA["csv"], name
    if fmt == "xlsx":
        return recap_xlsx(recap), MEDIA["xlsx"], name
    if fmt == "pdf":
        return recap_pdf(recap), MEDIA["pdf"], name
    raise ValueError(f"format: one of json, csv, xlsx, pdf, got {fmt!r}")
