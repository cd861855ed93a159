"""Schedule groups and holiday calendars published to every kiosk.

A document is checked with the kiosk's own parser
(:func:`attendance.schedule.parse_group_document` /
:func:`parse_calendar_document`) before it is published, so the console never
publishes something a kiosk would refuse; then it goes out through
:meth:`server.roster.Roster.put_document` (the change feed kiosks pull).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select

from attendance.config import RulesSection
from attendance.schedule import parse_calendar_document, parse_group_document
from hadir.configfile import ConfigError
from server.console import scope
from server.console.web import Console
from server.errors import invalid
from server.models import Change
from server.roster import DOC_KEY_RE


def parse_holiday_lines(text: str) -> dict[str, Any]:
    """``date;name;kind`` lines (``#`` comments, blank lines skipped) -> a calendar document."""
    days = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [part.strip() for part in line.split(";")]
        if len(parts) != 3:
            raise invalid(f"holidays line {n}: expected date;name;kind, got {line[:60]!r}")
        days.append({"date": parts[0], "name": parts[1], "kind": parts[2]})
    return {"days": days}


def editing(request: Request, data: dict[str, Any]) -> dict[str, str]:
    """The forms' starting text: ``?edit=schedule_group:<key>`` or ``?edit=calendar:<key>``."""
    kind, _, key = request.query_params.get("edit", "").partition(":")
    out: dict[str, str] = {}
    for doc in data["schedule_groups"] if kind == "schedule_group" else data["calendars"]:
        if doc["key"] != key or doc["document"] is None:
            continue
        if kind == "schedule_group":
            out = {"group_key": key, "group": json.dumps(doc["document"], indent=1)}
        else:
            lines = [f"{d['date']};{d['name']};{d['kind']}" for d in doc["document"]["days"]]
            out = {"calendar_key": key, "calendar": "\n".join(lines)}
    return out


def register(console: Console) -> None:
    svc = console.services

    def documents_data() -> dict[str, Any]:
        with svc.db.read() as conn:
            rows = conn.execute(
                select(Change.kind, Change.key, Change.data, Change.seq, Change.created_utc)
                .where(Change.kind.in_(("schedule_group", "calendar")), Change.op == "upsert")
                .order_by(Change.kind, Change.key)
            ).all()
        docs = [
            {
                "kind": r.kind,
                "key": r.key,
                "seq": int(r.seq),
                "document": json.loads(r.data) if r.data else None,
                "created_utc": r.created_utc.isoformat() + "Z",
            }
            for r in rows
        ]
        return {
            "schedule_groups": [d for d in docs if d["kind"] == "schedule_group"],
            "calendars": [d for d in docs if d["kind"] == "calendar"],
        }

    def documents(request: Request) -> Response:
        p = console.principal(request)
        scope.require(scope.can_see_documents(p), "see schedule documents")
        data = documents_data()
        return console.render(
            request,
            p,
            "schedules.html",
            data,
            extra={"can_edit": scope.can_edit_documents(p), "edit": editing(request, data)},
        )

    async def publish(request: Request, kind: str) -> Response:
        p = await console.changing(request)
        scope.require(scope.can_edit_documents(p), "publish schedule documents")
        form = await request.form()
        key = str(form.get("key", "")).strip()
        if not DOC_KEY_RE.fullmatch(key):
            raise invalid("key: letters, digits, '.', '_', ':' or '-', 1-128 characters")
        if kind == "schedule_group":
            try:
                document = json.loads(str(form.get("document", "")))
            except json.JSONDecodeError as exc:
                raise invalid(f"document: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        elif kind == "calendar":
            document = parse_holiday_lines(str(form.get("holidays", "")))
        else:
            raise invalid("kind: schedule_group or calendar")
        try:
            if kind == "schedule_group":
                parse_group_document(key, document, RulesSection())
            else:
                parse_calendar_document(document, f"calendar {key}")
        except ConfigError as exc:
            raise invalid(f"document: {exc}") from None
        seq = svc.roster.put_document(kind, key, document, console.now())
        console.audit(p, request, f"publish_{kind}", key, {"seq": seq, "document": document})
        data = documents_data()
        data["published"] = {"kind": kind, "key": key, "seq": seq}
        return console.render(
            request, p, "schedules.html", data, extra={"can_edit": True, "edit": {}}
        )

    async def remove(request: Request, kind: str, key: str) -> Response:
        p = await console.changing(request)
        scope.require(scope.can_edit_documents(p), "delete schedule documents")
        seq = svc.roster.delete_document(kind, key, console.now())
        console.audit(p, request, f"delete_{kind}", key, {"seq": seq})
        data = documents_data()
        data["published"] = {"kind": kind, "key": key, "seq": seq, "deleted": True}
        return console.render(
            request, p, "schedules.html", data, extra={"can_edit": True, "edit": {}}
        )

    console.page("/schedules", documents)
    console.action("/schedules/{kind}", publish)
    console.action("/schedules/{kind}/{key}/delete", remove)
