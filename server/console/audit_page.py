"""The console audit log: every change, sign-in and refused form, newest first."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from server.console import scope
from server.console.web import Console
from server.errors import invalid

PAGE = 200


def register(console: Console) -> None:
    def audit(request: Request) -> Response:
        p = console.principal(request)
        scope.require(scope.can_see_audit(p), "read the audit log")
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            raise invalid("page: a whole number >= 1") from None
        entries = console.accounts.audit_entries(PAGE, (page - 1) * PAGE)
        return console.render(
            request,
            p,
            "audit.html",
            {"entries": entries, "page": page, "more": len(entries) == PAGE},
        )

    console.page("/audit", audit)
