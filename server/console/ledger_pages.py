"""Pages over the central ledger (issue #10): monthly recap and the leave / correction inbox.

Until the ledger service exists on this server these pages say so (HTTP 501
for the JSON twins) instead of showing figures the server cannot compute.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from server.console import scope
from server.console.web import Console


def register(console: Console) -> None:
    def pending(template_title: str) -> object:
        def page(request: Request) -> Response:
            p = console.principal(request)
            if template_title == "recap.title":
                scope.require(p.role != "employee", "see OPD recaps")
            return console.render(
                request,
                p,
                "ledger_pending.html",
                {"error": "ledger_missing", "title": template_title},
                status=501,
            )

        return page

    console.page("/recap", pending("recap.title"))  # type: ignore[arg-type]
    console.page("/inbox", pending("inbox.title"))  # type: ignore[arg-type]
