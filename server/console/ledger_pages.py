"""Pages over the central ledger (issue #10): monthly recap with exports, the leave and
correction inbox, and the ledger hooks of the dashboard, roll call and employee page.

Everything goes through ``services.ledger`` (:mod:`server.ledger_api`): the
console computes nothing itself, it decides only who may see or do what.
"""

from __future__ import annotations

import time as _time
from collections import Counter
from datetime import date, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from starlette.datastructures import UploadFile

from server.absences import ABSENCE_KINDS, CORRECTION_KINDS
from server.console import i18n, scope
from server.console.accounts import Principal
from server.console.employees_page import parse_month
from server.console.web import Console, lang_of
from server.errors import invalid, not_found
from server.exports import export_recap
from server.ledger import day_json, result_from_row
from server.ledger_models import LedgerDay
from server.models import Employee

WARNINGS_TTL_SECONDS = 60.0
MAX_ATTACHMENT_READ = 10_000_000


def day_status(row: dict[str, Any]) -> tuple[str, str]:
    """CSS class and short label of one ledger day."""
    status = row["status"]
    if status == "absence":
        return "absence", str(row.get("absence_kind") or "")
    if status == "tk":
        return "tk", "TK"
    if status in ("libur", "void") or not row.get("working"):
        return "off", str(row.get("holiday_name") or "")
    bands = " ".join(b for b in (row.get("tl"), row.get("psw")) if b)
    if row.get("tl"):
        return "tl", bands
    if row.get("psw"):
        return "psw", bands
    return "on_time", ""


def register(console: Console) -> None:
    svc = console.services
    ledger = svc.ledger
    warnings_cache: dict[tuple[int, str | None], tuple[float, list[dict[str, Any]]]] = {}

    # -- hooks used by the other pages -----------------------------------------------
    def ledger_days(nip: str, first: date, last: date) -> dict[str, tuple[str, str]]:
        # Page views read the ledger as it is: each server process's LedgerWorker keeps it
        # caught up every few seconds (a catch-up per view would scan the roster).
        with svc.db.read() as conn:
            rows = conn.execute(
                select(LedgerDay)
                .where(LedgerDay.nip == nip, LedgerDay.work_date.between(first, last))
                .order_by(LedgerDay.work_date)
            ).all()
        return {r.work_date.isoformat(): day_status(day_json(result_from_row(r))) for r in rows}

    def ledger_today(today: date, p: Principal) -> dict[str, dict[str, int]]:
        cond = [LedgerDay.work_date == today]
        if not scope.sees_all(p):
            cond.append(LedgerDay.opd_code == p.opd_code)
        with svc.db.read() as conn:
            rows = conn.execute(
                select(
                    LedgerDay.opd_code,
                    LedgerDay.status,
                    (LedgerDay.masuk_utc.is_not(None)).label("arrived"),
                    (LedgerDay.tl.is_not(None)).label("late"),
                    func.count().label("n"),
                )
                .where(*cond)
                .group_by(
                    LedgerDay.opd_code,
                    LedgerDay.status,
                    LedgerDay.masuk_utc.is_not(None),
                    LedgerDay.tl.is_not(None),
                )
            ).all()
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            entry = out.setdefault(r.opd_code, {"present": 0, "late": 0, "on_leave": 0})
            if r.status == "absence":
                entry["on_leave"] += int(r.n)
            elif r.arrived:
                entry["present"] += int(r.n)
                if r.late:
                    entry["late"] += int(r.n)
        return out

    def ledger_warnings(today: date, p: Principal) -> list[dict[str, Any]]:
        opd = None if scope.sees_all(p) else p.opd_code
        key = (today.year, opd)
        cached = warnings_cache.get(key)
        if cached is not None and _time.monotonic() - cached[0] < WARNINGS_TTL_SECONDS:
            return cached[1]
        found = ledger.recaps.discipline(today.year, opd)["warnings"]
        out = [
            {
                "nip": w["nip"],
                "name": w["name"],
                "opd_code": w["opd"],
                "text": "; ".join(w["reasons"]),
            }
            for w in found[:50]
        ]
        warnings_cache[key] = (_time.monotonic(), out)
        return out

    def ledger_rollcall(opd: str, today: date) -> dict[str, dict[str, Any]]:
        """Today's verdicts of one OPD straight from its ledger rows (one indexed query);
        the background worker keeps them current, a punch not processed yet still counts
        as arrived in the roll call page."""
        with svc.db.read() as conn:
            rows = conn.execute(
                select(
                    LedgerDay.nip,
                    LedgerDay.status,
                    LedgerDay.working,
                    LedgerDay.tl,
                    LedgerDay.tl_minutes,
                    LedgerDay.absence_kind,
                    LedgerDay.masuk_utc,
                ).where(LedgerDay.opd_code == opd, LedgerDay.work_date == today)
            ).all()
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            if r.status == "absence":
                kind = r.absence_kind or ""
                out[r.nip] = {"status": "on_leave", "label": ABSENCE_KINDS.get(kind, kind)}
            elif r.masuk_utc is not None and r.tl:
                out[r.nip] = {"status": "late", "label": f"{r.tl} ({r.tl_minutes} mnt)"}
            elif r.masuk_utc is not None:
                out[r.nip] = {"status": "present", "label": ""}
            elif not r.working:
                out[r.nip] = {"status": "off", "label": ""}
            else:
                out[r.nip] = {"status": "not_yet", "label": ""}
        return out

    def ledger_recap_row(opd: str, month: str, nip: str) -> dict[str, Any] | None:
        recap = ledger.recaps.monthly(opd, month, catch_up=False)
        return next((e for e in recap["employees"] if e["nip"] == nip), None)

    console.ledger_days = ledger_days
    console.ledger_recap_row = ledger_recap_row
    console.ledger_today = ledger_today
    console.ledger_warnings = ledger_warnings
    console.ledger_rollcall = ledger_rollcall

    # -- recap ---------------------------------------------------------------------
    def visible_opds(p: Principal) -> list[str]:
        if not scope.sees_all(p):
            return [p.opd_code] if p.opd_code else []
        with svc.db.read() as conn:
            return [
                r[0]
                for r in conn.execute(
                    select(Employee.opd_code).distinct().order_by(Employee.opd_code)
                )
            ]

    def this_month(request: Request) -> str:
        today = console.now().astimezone(console.zone).date()
        return parse_month(request.query_params.get("month"), today).strftime("%Y-%m")

    def recap_choose(request: Request) -> Response:
        p = console.principal(request)
        scope.require(p.role != "employee", "see OPD recaps")
        opds = visible_opds(p)
        month = this_month(request)
        if len(opds) == 1 and not scope.sees_all(p):
            return RedirectResponse(f"/recap/{opds[0]}?month={month}", 303)
        comparison = ledger.recaps.comparison(month)["opds"] if scope.sees_all(p) else []
        tr = i18n.translator(lang_of(request))
        chart = {
            "type": "bar",
            "data": {
                "labels": [o["opd"] for o in comparison],
                "datasets": [
                    {
                        "label": tr("dash.rate") + " (%)",
                        "data": [round(100 * (o["attendance_rate"] or 0), 1) for o in comparison],
                        "backgroundColor": "#1e88e5",
                    },
                    {
                        "label": tr("recap.punctuality") + " (%)",
                        "data": [round(100 * (o["punctuality_rate"] or 0), 1) for o in comparison],
                        "backgroundColor": "#43a047",
                    },
                ],
            },
            "options": {"scales": {"y": {"min": 0, "max": 100}}},
        }
        return console.render(
            request,
            p,
            "recap_choose.html",
            {"opds": opds, "month": month, "comparison": comparison},
            extra={"chart": chart},
        )

    def recap(request: Request, opd: str) -> Response:
        p = console.principal(request)
        scope.require(scope.can_see_opd(p, opd), f"see the recap of OPD {opd}")
        data = ledger.recaps.monthly(opd, this_month(request), catch_up=False)
        return console.render(request, p, "recap.html", data)

    def recap_export(request: Request, opd: str, fmt: str) -> Response:
        p = console.principal(request)
        scope.require(scope.can_see_opd(p, opd), f"export the recap of OPD {opd}")
        if fmt not in ("xlsx", "pdf", "csv"):
            raise not_found("format: xlsx, pdf or csv")
        month = this_month(request)
        content, media, name = export_recap(ledger.recaps.monthly(opd, month, catch_up=False), fmt)
        console.audit(p, request, "recap_export", f"{opd} {month}", {"format": fmt})
        return Response(
            content,
            media_type=media,
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )

    console.page("/recap", recap_choose, json_twin=False)
    console.page("/recap/{opd}", recap)
    console.router.add_api_route("/recap/{opd}/export.{fmt}", recap_export, methods=["GET"])

    # -- inbox -----------------------------------------------------------------------
    def opd_of(nips: set[str]) -> dict[str, str]:
        if not nips:
            return {}
        with svc.db.read() as conn:
            return {
                r.nip: r.opd_code
                for r in conn.execute(
                    select(Employee.nip, Employee.opd_code).where(Employee.nip.in_(sorted(nips)))
                )
            }

    def inbox_data(p: Principal, state: str | None) -> dict[str, Any]:
        if p.role == "employee":
            absences = ledger.absences.list(nip=p.nip, state=state, limit=500)
            corrections = ledger.corrections.list(nip=p.nip, state=state)
        elif scope.sees_all(p):
            absences = ledger.absences.list(state=state, limit=500)
            corrections = ledger.corrections.list(state=state)
        else:
            absences = ledger.absences.list(opd_code=p.opd_code, state=state, limit=500)
            corrections = ledger.corrections.list(state=state)
        owners = opd_of({a["nip"] for a in absences} | {c["nip"] for c in corrections})
        names = names_of(set(owners))
        absences = [
            {**a, "opd_code": owners.get(a["nip"]), "name": names.get(a["nip"], "")}
            for a in absences
            if scope.can_see_employee(p, a["nip"], owners.get(a["nip"]))
        ]
        corrections = [
            {**c, "opd_code": owners.get(c["nip"]), "name": names.get(c["nip"], "")}
            for c in corrections
            if scope.can_see_employee(p, c["nip"], owners.get(c["nip"]))
        ][-500:]
        for item in (*absences, *corrections):
            item["can_decide"] = item["state"] == "diajukan" and scope.can_decide(
                p, item["opd_code"] or ""
            )
        # What waits for a decision first, then the newest.
        absences.sort(key=lambda a: a["date_from"], reverse=True)
        absences.sort(key=lambda a: a["state"] != "diajukan")
        corrections.sort(key=lambda c: c["at_utc"], reverse=True)
        corrections.sort(key=lambda c: c["state"] != "diajukan")
        counts = Counter(a["state"] for a in absences) + Counter(c["state"] for c in corrections)
        return {
            "absences": absences,
            "corrections": corrections,
            "counts": dict(counts),
            "state": state,
            "absence_kinds": ABSENCE_KINDS,
            "correction_kinds": CORRECTION_KINDS,
            "can_submit": p.role in ("employee", "operator", "superadmin"),
        }

    def names_of(nips: set[str]) -> dict[str, str]:
        if not nips:
            return {}
        with svc.db.read() as conn:
            return {
                r.nip: r.name
                for r in conn.execute(
                    select(Employee.nip, Employee.name).where(Employee.nip.in_(sorted(nips)))
                )
            }

    def inbox(request: Request) -> Response:
        p = console.principal(request)
        state = request.query_params.get("state") or None
        if state not in (None, "diajukan", "disetujui", "ditolak"):
            raise invalid("state: diajukan, disetujui or ditolak")
        return console.render(request, p, "inbox.html", inbox_data(p, state))

    def target_nip(p: Principal, given: str) -> str:
        """Employees submit for themselves; operators for their OPD; BKPSDM for anyone."""
        if p.role == "employee":
            return p.nip or ""
        scope.require(p.role in ("operator", "superadmin"), "enter leave or corrections")
        emp = console.find_employee(given)
        if emp is None:
            raise invalid(f"nip: no employee with NIP {given!r}")
        scope.require(
            scope.can_see_employee(p, given, emp["opd_code"]),
            f"enter leave for employee {given}",
        )
        return given

    async def attachment_of(form: Any) -> bytes | None:
        file = form.get("attachment")
        if not isinstance(file, UploadFile) or not file.filename:
            return None
        data = await file.read(MAX_ATTACHMENT_READ + 1)
        return data or None

    async def submit_absence(request: Request) -> Response:
        p = await console.changing(request)
        form = await request.form()
        nip = target_nip(p, str(form.get("nip", "")).strip())
        try:
            first = date.fromisoformat(str(form.get("date_from", "")))
            last = date.fromisoformat(str(form.get("date_to", "")) or first.isoformat())
        except ValueError:
            raise invalid("date_from / date_to: dates as YYYY-MM-DD") from None
        created = ledger.absences.create(
            nip,
            str(form.get("kind", "")),
            first,
            last,
            entered_by=p.username,
            reason=str(form.get("reason", ""))[:2000],
            attachment=await attachment_of(form),
        )
        console.audit(
            p,
            request,
            "absence_submit",
            nip,
            {
                "id": created["id"],
                "kind": created["kind"],
                "from": created["date_from"],
                "to": created["date_to"],
            },
        )
        return RedirectResponse("/inbox", 303)

    async def submit_correction(request: Request) -> Response:
        p = await console.changing(request)
        form = await request.form()
        nip = target_nip(p, str(form.get("nip", "")).strip())
        try:
            at = datetime.fromisoformat(str(form.get("at", "")))
        except ValueError:
            raise invalid("at: local date and time as YYYY-MM-DDTHH:MM") from None
        created = ledger.corrections.create(
            nip,
            at,
            str(form.get("kind", "")),
            str(form.get("reason", "")),
            requested_by=p.username,
            attachment=await attachment_of(form),
        )
        console.audit(p, request, "correction_submit", nip, {"id": created["id"]})
        ledger.ledger.drain()
        return RedirectResponse("/inbox", 303)

    async def decide(request: Request, what: str, item_id: str) -> Response:
        p = await console.changing(request)
        form = await request.form()
        decision = str(form.get("decision", ""))
        service: Any
        if what == "absence":
            service = ledger.absences
        elif what == "correction":
            service = ledger.corrections
        else:
            raise not_found("absence or correction")
        item = service.get(item_id)
        owner = opd_of({item["nip"]}).get(item["nip"], "")
        scope.require(scope.can_decide(p, owner), f"decide leave or corrections of OPD {owner}")
        decided = service.decide(item_id, decision, p.username)
        ledger.ledger.drain()  # the decision shows at once, not at the worker's next round
        console.audit(
            p, request, f"{what}_decide", item["nip"], {"id": item_id, "decision": decision}
        )
        if request.url.path.endswith(".json"):
            from fastapi.responses import JSONResponse

            return JSONResponse(decided)
        return RedirectResponse("/inbox", 303)

    def attachment(request: Request, what: str, item_id: str) -> Response:
        p = console.principal(request)
        if what == "absence":
            item = ledger.absences.get(item_id)
        elif what == "correction":
            item = ledger.corrections.get(item_id)
        else:
            raise not_found("absence or correction")
        owner = opd_of({item["nip"]}).get(item["nip"])
        scope.require(scope.can_see_employee(p, item["nip"], owner), "see this attachment")
        if what == "absence":
            content, media = ledger.absences.attachment(item_id)
        else:
            if not item.get("attachment"):
                raise not_found("attachment: none")
            content = ledger.corrections.attachments.load(item["attachment"]["sha256"])
            media = item["attachment"]["media_type"]
        console.audit(p, request, f"{what}_attachment_view", item["nip"], {"id": item_id})
        return Response(content, media_type=media, headers={"content-disposition": "inline"})

    console.page("/inbox", inbox)
    console.action("/inbox/absence", submit_absence)
    console.action("/inbox/correction", submit_correction)
    console.action("/inbox/{what}/{item_id}/decide", decide)
    console.router.add_api_route("/inbox/{what}/{item_id}/attachment", attachment, methods=["GET"])
