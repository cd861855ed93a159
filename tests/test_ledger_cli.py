"""``hadir server`` ledger commands as a user runs them (real clock, SQLite or PostgreSQL)."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from test_server import database_url

from hadir.cli import main

__all__ = ["database_url"]


def run(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> tuple[int, str, str]:
    code = main(["server", *argv, "--database-url", url])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_seed_recap_exports_imports_and_errors(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = database_url
    code, out, _ = run(capsys, url, "seed-demo", "--employees", "30", "--months", "2")
    assert code == 0
    seeded = json.loads(out)
    assert seeded["employees"] == 30 and seeded["punches"] > 0
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date()
    month = f"{today.replace(day=1) - timedelta(days=1):%Y-%m}"  # last month: complete
    opd = "SETDA"
    code, out, _ = run(capsys, url, "recap", "--opd", opd, "--month", month)
    assert code == 0
    recap = json.loads(out)
    assert recap["opd"] == opd and recap["month"] == month and recap["closed"] is False
    row = recap["employees"][0]
    assert set(row) >= {
        "nip",
        "name",
        "employment_type",
        "working_days",
        "present_days",
        "tl",
        "tl_minutes",
        "psw",
        "psw_minutes",
        "tk_days",
        "absences",
        "tpp_deduction_percent",
    }
    assert set(row["tl"]) == {"TL1", "TL2", "TL3", "TL4"}
    for fmt in ("csv", "xlsx", "pdf"):
        target = tmp_path / f"recap.{fmt}"
        code, out, _ = run(
            capsys,
            url,
            "recap",
            "--opd",
            opd,
            "--month",
            month,
            "--format",
            fmt,
            "--out",
            str(target),
        )
        assert code == 0, out
    assert (tmp_path / "recap.csv").read_text().startswith("opd,month,closed,nip")
    assert (tmp_path / "recap.pdf").read_bytes().startswith(b"%PDF-")
    load_workbook(io.BytesIO((tmp_path / "recap.xlsx").read_bytes()))
    code, out, err = run(capsys, url, "recap", "--opd", opd, "--month", month, "--format", "pdf")
    assert code == 2 and "--out" in err
    code, out, err = run(capsys, url, "recap", "--opd", opd, "--month", "2026-13")
    assert code == 2 and "month: must be YYYY-MM" in err

    # Imports: a bad line is reported with its number, the rest goes in; re-running adds nothing.
    nip = row["nip"]
    yesterday = today - timedelta(days=1)
    punches = tmp_path / "punches.csv"
    punches.write_text(
        "nip,local_time,source\n"
        f"{nip},{yesterday} 05:55:00,mesin-lama\n"
        f"999999999999999999,{yesterday} 07:00:00,mesin-lama\n"
    )
    code, out, _ = run(capsys, url, "import-punches", str(punches))
    assert code == 1 and "created 1" in out and f"{punches}:3: nip: unknown employee" in out
    code, out, _ = run(capsys, url, "import-punches", str(punches), "--json")
    assert code == 1 and json.loads(out)["created"] == 0
    absences = tmp_path / "absences.csv"
    later = today + timedelta(days=30)
    absences.write_text(f"nip,kind,from,to\n{nip},cuti tahunan,{later},{later + timedelta(2)}\n")
    code, out, _ = run(capsys, url, "import-absences", str(absences))
    assert code == 0 and "created 1" in out
    code, out, _ = run(capsys, url, "import-absences", str(absences))
    assert code == 0 and "created 0, unchanged 1" in out

    # Leave and corrections.
    code, _, err = run(
        capsys, url, "leave-add", "--nip", "199999999999999999", "--kind", "izin",
        "--from", str(today), "--to", str(today), "--by", "operator",
    )  # fmt: skip
    assert code == 2 and "nip: unknown employee" in err
    code, _, err = run(
        capsys, url, "leave-add", "--nip", nip, "--kind", "izin",
        "--from", str(today), "--to", str(today - timedelta(3)), "--by", "operator",
    )  # fmt: skip
    assert code == 2 and "date_to:" in err
    bad = tmp_path / "x.gif"
    bad.write_bytes(b"GIF89a" + b"\0" * 20)
    code, _, err = run(
        capsys, url, "leave-add", "--nip", nip, "--kind", "sakit", "--from", str(later),
        "--to", str(later), "--by", "operator", "--attachment", str(bad),
    )  # fmt: skip
    assert code == 2 and "attachment:" in err
    code, out, _ = run(
        capsys, url, "correction-add", "--nip", nip, "--at", f"{yesterday} 07:25",
        "--kind", "lupa_absen", "--reason", "lupa", "--by", "operator",
    )  # fmt: skip
    assert code == 0
    cid = json.loads(out)["id"]
    code, _, err = run(capsys, url, "correction-decide", cid, "--approve", "--by", "operator")
    assert code == 2 and "decided_by" in err
    code, out, _ = run(capsys, url, "correction-decide", cid, "--approve", "--by", "kepala")
    assert code == 0 and json.loads(out)["state"] == "disetujui"
    code, _, err = run(
        capsys, url, "correction-add", "--nip", nip, "--at", f"{today + timedelta(2)} 07:25",
        "--kind", "lupa_absen", "--reason", "lupa", "--by", "operator",
    )  # fmt: skip
    assert code == 2 and "is in the future" in err

    code, out, _ = run(capsys, url, "discipline", "--year", str(today.year), "--json")
    assert code == 0 and json.loads(out)["year"] == today.year
    code, out, _ = run(capsys, url, "roll-call", "--opd", opd)
    assert code == 0 and "hadir" in out
    code, _, err = run(capsys, url, "rebuild-ledger", "--from", str(today), "--to", str(yesterday))
    assert code == 2 and "--to" in err
    code, out, _ = run(capsys, url, "rebuild-ledger", "--from", str(yesterday), "--to", str(today))
    assert code == 0 and "recomputed" in out
    code, _, err = run(capsys, url, "close-month", f"{today:%Y-%m}")
    assert code == 2 and "can be closed from" in err


def test_bench_ledger_reports_the_figures(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, database_url, "bench-ledger", "--employees", "12", "--opds", "2", "--months", "2",
        "--json",
    )  # fmt: skip
    assert code == 0
    figures = json.loads(out)
    for key in (
        "recap_opd_ms",
        "recap_all_ms",
        "xlsx_opd_ms",
        "late_punch_update_p99_ms",
        "rebuild_year_s",
        "employees",
        "punches",
    ):
        assert figures[key] >= 0, key
    assert figures["employees"] == 12 and figures["punches"] > 100
    code, _, err = run(capsys, database_url, "bench-ledger", "--employees", "12", "--json")
    assert code == 2 and "needs an empty database" in err
