"""``hadir server`` sub-commands of the ledger.

    hadir server recap --opd CODE --month YYYY-MM [--format json|csv|xlsx|pdf] [--out FILE]
    hadir server discipline --year YYYY [--opd CODE] [--json]
    hadir server roll-call --opd CODE [--date D] [--json]
    hadir server comparison --month YYYY-MM
    hadir server close-month YYYY-MM --by NAME
    hadir server rebuild-ledger --from D --to D
    hadir server import-punches FILE.csv [--json]        (nip,local_time,source)
    hadir server import-absences FILE.csv [--json]       (nip,kind,from,to)
    hadir server opd CODE --name NAME [--parent CODE] [--head-nip NIP] [--head-name NAME]
    hadir server assign NIP --from D --opd CODE --group G --type PNS|PPPK|PPPK_PARUH_WAKTU
    hadir server leave-add --nip NIP --kind KIND --from D --to D --by NAME [--reason T]
                           [--attachment FILE] [--approved-by NAME]
    hadir server leave-decide ID --approve|--reject --by NAME
    hadir server leave-list [--nip NIP] [--state S]
    hadir server correction-add --nip NIP --at "YYYY-MM-DD HH:MM" --kind mesin_rusak|lupa_absen
                                --reason T --by NAME [--attachment FILE]
    hadir server correction-decide ID --approve|--reject --by NAME
    hadir server seed-demo --employees N --months M [--seed S]
    hadir server bench-ledger [--employees N] [--opds K] [--months M] [--json]

They work on the database directly (the server may be running; the job
queue keeps both consistent). Top-level imports stay light.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hadir.command import CommandError

if TYPE_CHECKING:
    from server.settings import ServerSettings

LEDGER_ACTIONS = (
    "recap",
    "discipline",
    "roll-call",
    "comparison",
    "close-month",
    "rebuild-ledger",
    "import-punches",
    "import-absences",
    "opd",
    "assign",
    "leave-add",
    "leave-decide",
    "leave-list",
    "correction-add",
    "correction-decide",
    "seed-demo",
    "bench-ledger",
)


def _date_arg(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date YYYY-MM-DD, got {text!r}") from None


def add_ledger_subcommands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register the ledger's sub-commands on ``hadir server``'s sub-parsers."""

    def parser(name: str, text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
        common(p)
        return p

    p = parser("recap", "monthly recap of one OPD (JSON, CSV, XLSX or PDF)")
    p.add_argument("--opd", required=True, help="OPD code, e.g. DISKOMINFO")
    p.add_argument("--month", required=True, help="month as YYYY-MM")
    p.add_argument(
        "--format",
        choices=("json", "csv", "xlsx", "pdf"),
        default="json",
        help="output format (default: json; xlsx and pdf need --out)",
    )
    p.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")

    p = parser("discipline", "yearly discipline report (PP 94/2021) with early warnings")
    p.add_argument("--year", type=int, required=True, help="calendar year, e.g. 2026")
    p.add_argument("--opd", default=None, help="OPD code, e.g. DISKOMINFO (default: every OPD)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = parser("roll-call", "today's roll call of one OPD: present, late, not yet, on leave")
    p.add_argument("--opd", required=True, help="OPD code, e.g. DISKOMINFO")
    p.add_argument(
        "--date",
        type=_date_arg,
        default=None,
        help="day as YYYY-MM-DD (default: today in the server's time zone)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = parser("comparison", "attendance and punctuality rates of every OPD in a month")
    p.add_argument("--month", required=True, help="month as YYYY-MM")

    p = parser("close-month", "close a month (tutup buku): its recap is frozen")
    p.add_argument("month", help="YYYY-MM")
    p.add_argument("--by", default="admin", help="who closes it (default: admin)")

    p = parser("rebuild-ledger", "recompute the ledger of a date range from scratch")
    p.add_argument(
        "--from", dest="date_from", type=_date_arg, required=True, help="first day, YYYY-MM-DD"
    )
    p.add_argument(
        "--to",
        dest="date_to",
        type=_date_arg,
        required=True,
        help="last day (inclusive), YYYY-MM-DD",
    )

    for name, columns in (
        ("import-punches", "nip,local_time,source"),
        ("import-absences", "nip,kind,from,to"),
    ):
        p = parser(name, f"import from the previous system: CSV with {columns} (idempotent)")
        p.add_argument("file", type=Path, help=f"the CSV file (UTF-8, header {columns})")
        p.add_argument("--json", action="store_true", help="print one JSON object")

    p = parser("opd", "create or update an OPD / unit")
    p.add_argument("code", help="OPD code: letters, digits, . _ - (1-32), e.g. DISKOMINFO")
    p.add_argument("--name", required=True, help="full name of the OPD (1-200 characters)")
    p.add_argument("--parent", default=None, help="code of the parent OPD (default: none)")
    p.add_argument("--head-nip", default=None, help="NIP (18 digits) of the head (kepala)")
    p.add_argument("--head-name", default=None, help="name of the head (kepala)")

    p = parser("assign", "transfer (mutasi): an employee's OPD, group and type from a date on")
    p.add_argument("nip", help="the employee's NIP (18 digits)")
    p.add_argument(
        "--from",
        dest="date_from",
        type=_date_arg,
        required=True,
        help="first day of the new assignment, YYYY-MM-DD",
    )
    p.add_argument("--opd", required=True, help="OPD code, e.g. DISKOMINFO")
    p.add_argument("--group", default="default", help="schedule group (default: default)")
    p.add_argument(
        "--type",
        dest="employment_type",
        required=True,
        help="employment type: PNS, PPPK or PPPK_PARUH_WAKTU",
    )

    p = parser("leave-add", "enter an absence record (cuti, sakit, izin, DL, WFH ...)")
    p.add_argument("--nip", required=True, help="the employee's NIP (18 digits)")
    p.add_argument(
        "--kind",
        required=True,
        help="absence kind, e.g. cuti_tahunan, sakit, izin, dl, wfh (code or label)",
    )
    p.add_argument(
        "--from", dest="date_from", type=_date_arg, required=True, help="first day, YYYY-MM-DD"
    )
    p.add_argument(
        "--to",
        dest="date_to",
        type=_date_arg,
        required=True,
        help="last day (inclusive), YYYY-MM-DD",
    )
    p.add_argument("--by", required=True, help="who enters it")
    p.add_argument("--reason", default="", help="free-text reason (default: empty)")
    p.add_argument("--attachment", type=Path, default=None, help="PDF, JPEG or PNG")
    p.add_argument("--approved-by", default=None, help="decide it at once (someone else)")

    for name, what in (
        ("leave-decide", "an absence record"),
        ("correction-decide", "a punch correction"),
    ):
        p = parser(name, f"approve or reject {what}")
        p.add_argument("id", help=f"id (UUID) of {what}")
        group = p.add_mutually_exclusive_group(required=True)
        group.add_argument("--approve", action="store_true", help="approve it (disetujui)")
        group.add_argument("--reject", action="store_true", help="reject it (ditolak)")
        p.add_argument("--by", required=True, help="who decides it")

    p = parser("leave-list", "list absence records")
    p.add_argument("--nip", default=None, help="only this employee's NIP (default: everyone)")
    p.add_argument(
        "--state",
        choices=("diajukan", "disetujui", "ditolak"),
        default=None,
        help="only records in this state (default: any)",
    )

    p = parser("correction-add", "request a manual punch (mesin rusak, lupa absen)")
    p.add_argument("--nip", required=True, help="the employee's NIP (18 digits)")
    p.add_argument("--at", required=True, help='local time "YYYY-MM-DD HH:MM"')
    p.add_argument(
        "--kind",
        required=True,
        choices=("mesin_rusak", "lupa_absen"),
        help="why the punch is missing: broken machine or forgot to punch",
    )
    p.add_argument("--reason", required=True, help="free-text explanation")
    p.add_argument("--by", required=True, help="who requests it")
    p.add_argument("--attachment", type=Path, default=None, help="PDF, JPEG or PNG evidence")

    p = parser("seed-demo", "fill the database with a plausible regency")
    p.add_argument("--employees", type=int, default=300, help="employees, 1-200000 (default 300)")
    p.add_argument("--months", type=int, default=2, help="months of punches, 1-36 (default 2)")
    p.add_argument("--opds", type=int, default=None, help="default: about one per 160 employees")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")

    p = parser("bench-ledger", "ledger benchmark: recap, XLSX, late punch update, rebuild")
    p.add_argument("--employees", type=int, default=10_000, help="employees (default 10000)")
    p.add_argument("--opds", type=int, default=60, help="OPDs (default 60)")
    p.add_argument("--months", type=int, default=12, help="months of punches (default 12)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument(
        "--json", action="store_true", help="print one JSON object, without progress lines"
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None


def _print_import(args: argparse.Namespace, result: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"created {result['created']}, unchanged {result['unchanged']}, "
            f"errors {len(result['errors'])}"
        )
        for err in result["errors"]:
            print(f"{args.file}:{err['line']}: {err['error']}")
    return 1 if result["errors"] else 0


def run_ledger(action: str, args: argparse.Namespace, settings: ServerSettings, db: Any) -> int:
    """Run one ledger sub-command on the open database ``db``."""
    from server.errors import ApiError
    from server.ledger_api import build_ledger_services

    svc = build_ledger_services(db, settings)
    try:
        return _dispatch(action, args, settings, db, svc)
    except ApiError as exc:
        raise CommandError(exc.detail) from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _dispatch(
    action: str, args: argparse.Namespace, settings: ServerSettings, db: Any, svc: Any
) -> int:
    if action == "recap":
        from server.exports import export_recap

        recap = svc.recaps.monthly(args.opd, args.month)
        content, _media, _name = export_recap(recap, args.format)
        if args.out is not None:
            try:
                args.out.write_bytes(content)
            except OSError as exc:
                raise CommandError(f"cannot write {args.out}: {exc.strerror}") from None
            print(f"{args.out}: {len(recap['employees'])} employees, {len(content)} bytes")
        elif args.format in ("xlsx", "pdf"):
            raise CommandError(f"--format {args.format} needs --out FILE")
        else:
            print(content.decode("utf-8"))
        return 0
    if action == "discipline":
        report = svc.recaps.discipline(args.year, args.opd)
        if args.json:
            print(json.dumps(report, ensure_ascii=False))
        else:
            for e in report["employees"]:
                print(
                    f"{e['nip']} {e['name']:<30} TK {e['tk_days']:>3}  "
                    f"setara {e['equivalent_days']:>6.2f} hari  {e['level_label'] or '-'}"
                )
            for w in report["warnings"]:
                print(f"PERINGATAN {w['nip']} {w['name']}: {'; '.join(w['reasons'])}")
        return 0
    if action == "roll-call":
        call = svc.recaps.roll_call(args.opd, args.date)
        if args.json:
            print(json.dumps(call, ensure_ascii=False))
        else:
            c = call["counts"]
            print(
                f"{call['opd']} {call['date']}: hadir {c['present']}, terlambat {c['late']}, "
                f"belum hadir {c['not_yet']}, cuti/izin {c['on_leave']}"
            )
        return 0
    if action == "comparison":
        print(json.dumps(svc.recaps.comparison(args.month), ensure_ascii=False))
        return 0
    if action == "close-month":
        print(json.dumps(svc.recaps.close_month(args.month, args.by)))
        return 0
    if action == "rebuild-ledger":
        import time

        if args.date_to < args.date_from:
            raise CommandError(f"--to ({args.date_to}) is before --from ({args.date_from})")
        start = time.perf_counter()
        n = svc.ledger.rebuild(args.date_from, args.date_to)
        print(f"recomputed {n} employee-days in {time.perf_counter() - start:.1f} s")
        return 0
    if action == "import-punches":
        from server.imports import import_punches_csv

        result = import_punches_csv(db, _read(args.file), svc.ledger.tz, settings.clock())
        return _print_import(args, result)
    if action == "import-absences":
        from server.imports import import_absences_csv

        return _print_import(args, import_absences_csv(svc.absences, _read(args.file)))
    if action == "opd":
        print(
            json.dumps(
                svc.org.put_opd(args.code, args.name, args.parent, args.head_nip, args.head_name)
            )
        )
        return 0
    if action == "assign":
        items = svc.org.assign(args.nip, args.date_from, args.opd, args.group, args.employment_type)
        print(json.dumps({"nip": args.nip, "assignments": items}))
        return 0
    if action == "leave-add":
        attachment = _read(args.attachment) if args.attachment else None
        record = svc.absences.create(
            args.nip, args.kind, args.date_from, args.date_to, args.by, args.reason, attachment
        )
        if args.approved_by:
            record = svc.absences.decide(record["id"], "disetujui", args.approved_by)
        print(json.dumps(record, ensure_ascii=False))
        return 0
    if action == "leave-decide":
        decision = "disetujui" if args.approve else "ditolak"
        print(json.dumps(svc.absences.decide(args.id, decision, args.by), ensure_ascii=False))
        return 0
    if action == "leave-list":
        for a in svc.absences.list(args.nip, None, args.state):
            print(
                f"{a['id']} {a['nip']} {a['kind']:<20} {a['date_from']}..{a['date_to']} "
                f"{a['state']}"
            )
        return 0
    if action == "correction-add":
        try:
            at = datetime.strptime(args.at, "%Y-%m-%d %H:%M")
        except ValueError:
            raise CommandError(f'--at must be "YYYY-MM-DD HH:MM", got {args.at!r}') from None
        attachment = _read(args.attachment) if args.attachment else None
        record = svc.corrections.create(args.nip, at, args.kind, args.reason, args.by, attachment)
        print(json.dumps(record, ensure_ascii=False))
        return 0
    if action == "correction-decide":
        decision = "disetujui" if args.approve else "ditolak"
        print(json.dumps(svc.corrections.decide(args.id, decision, args.by), ensure_ascii=False))
        return 0
    if action == "seed-demo":
        from server.seed import seed_demo

        summary = seed_demo(db, settings, args.employees, args.months, args.opds, args.seed)
        print(json.dumps(summary))
        return 0
    if action == "bench-ledger":
        from server.seed import bench_ledger

        figures = bench_ledger(
            db, settings, args.employees, args.opds, args.months, args.seed, progress=not args.json
        )
        print(json.dumps(figures) if args.json else json.dumps(figures, indent=1))
        return 0
    raise CommandError(f"unknown sub-command {action!r}")
