"""Console plumbing: templates, language, sessions, CSRF, page/JSON twins, errors.

:func:`install_console` is the one call ``server.app.create_app`` makes. Pages
are registered by the page-family modules through :class:`Console`:
``console.page(path, handler)`` serves ``path`` as HTML and ``path.json`` as
JSON from the same handler, so the two never disagree (Datasette's habit), and
both go through the same session and role checks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.console import i18n, scope
from server.console.accounts import Accounts, Principal, csrf_matches
from server.errors import ApiError

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "hadir_session"
LANG_COOKIE = "hadir_lang"
LOGIN_CSRF_COOKIE = "hadir_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
NOT_CONSOLE = ("/api/", "/iclock", "/docs", "/openapi", "/redoc")
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}

Handler = Callable[..., Awaitable[Response] | Response]


class NotSignedInError(Exception):
    """No valid session: pages redirect to the sign-in page, JSON answers 401."""


class CsrfRefusedError(ApiError):
    def __init__(self) -> None:
        super().__init__(
            403, "csrf", "the form's CSRF token is missing or wrong; reload the page and retry"
        )


def is_json(request: Request) -> bool:
    return request.url.path.endswith(".json")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def lang_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "id")
    return lang if lang in i18n.LANGUAGES else "id"


def safe_next(target: str | None) -> str:
    """Only local paths: never a redirect to another site after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


@dataclass
class Console:
    """What the page modules share: the services, accounts, templates and the router."""

    services: Any  # server.app.Services (not imported: app imports us)
    accounts: Accounts
    env: Environment
    zone: ZoneInfo
    router: APIRouter = field(default_factory=lambda: APIRouter(include_in_schema=False))
    # Set by server.console.ledger_pages when the central ledger (issue #10) exists:
    # NIP, first and last date -> {ISO date: (status css class, label)}.
    ledger_days: Callable[[str, date, date], dict[str, tuple[str, str]]] | None = None
    # OPD -> {"present", "late", "on_leave"} for today, as the principal may see it.
    ledger_today: Callable[[date, Principal], dict[str, dict[str, int]]] | None = None
    # Discipline early warnings the principal may see: [{"nip", "name", "opd_code", "text"}].
    ledger_warnings: Callable[[date, Principal], list[dict[str, Any]]] | None = None
    # NIP list of one OPD -> {nip: {"status", "label"}} for one date (roll call).
    ledger_rollcall: Callable[[str, date], dict[str, dict[str, Any]]] | None = None
    # OPD, month, NIP -> that employee's row of the monthly recap.
    ledger_recap_row: Callable[[str, str, str], dict[str, Any] | None] | None = None
    dashboard_data: Callable[[Principal], dict[str, Any]] | None = None
    rollcall_data: Callable[[str], dict[str, Any]] | None = None

    @property
    def has_ledger(self) -> bool:
        return self.ledger_days is not None

    def find_employee(self, nip: str) -> dict[str, Any] | None:
        from sqlalchemy import select

        from server.models import Employee
        from server.roster import employee_document

        with self.services.db.read() as conn:
            row = conn.execute(select(Employee.__table__).where(Employee.nip == nip)).first()
        return employee_document(row) if row is not None else None

    def now(self) -> datetime:
        now: datetime = self.services.settings.clock()
        return now

    # -- sessions -----------------------------------------------------------------
    def principal(self, request: Request) -> Principal:
        p = self.accounts.session(request.cookies.get(SESSION_COOKIE), self.now())
        if p is None:
            raise NotSignedInError
        return p

    async def changing(self, request: Request) -> Principal:
        """The principal of a state-changing request whose CSRF token matches its session."""
        p = self.principal(request)
        given = request.headers.get(CSRF_HEADER)
        if given is None:
            ctype = request.headers.get("content-type", "")
            if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
                form = await request.form()
                value = form.get(CSRF_FIELD)
                given = value if isinstance(value, str) else None
        if not csrf_matches(p.csrf_token, given):
            self.audit(p, request, "csrf_refused", request.url.path)
            raise CsrfRefusedError
        return p

    def audit(
        self,
        p: Principal | None,
        request: Request,
        action: str,
        target: str,
        detail: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        self.accounts.audit(
            actor=actor or (p.username if p else "-"),
            role=p.role if p else "-",
            action=action,
            target=target,
            now=self.now(),
            ip=client_ip(request),
            detail=detail,
        )

    # -- rendering ------------------------------------------------------------------
    def render(
        self,
        request: Request,
        p: Principal | None,
        template: str,
        data: dict[str, Any],
        *,
        status: int = 200,
        extra: dict[str, Any] | None = None,
    ) -> Response:
        """The page, or its JSON twin when the path ends in ``.json``."""
        if is_json(request):
            return JSONResponse(data, status)
        lang = lang_of(request)
        context = {
            "data": data,
            "me": p,
            "lang": lang,
            "_": i18n.translator(lang),
            "nav": navigation(p) if p else [],
            "path": request.url.path,
            "csrf": p.csrf_token if p else "",
            "next_url": quote(str(request.url.path)),
            **(extra or {}),
        }
        html = self.env.get_template(template).render(context)
        return HTMLResponse(html, status)

    def page(self, path: str, handler: Handler, *, json_twin: bool = True) -> None:
        """Serve ``handler`` at ``path`` (HTML) and ``path + '.json'``."""
        if json_twin:
            suffix = ".json" if path != "/" else "index.json"
            self.router.add_api_route(path + suffix, handler, methods=["GET"])
        self.router.add_api_route(path, handler, methods=["GET"], response_class=HTMLResponse)

    def action(self, path: str, handler: Handler) -> None:
        self.router.add_api_route(path, handler, methods=["POST"])


NAV: tuple[tuple[str, str, Callable[[Principal], bool]], ...] = (
    ("/", "nav.dashboard", lambda p: p.role != "employee"),
    ("/rollcall", "nav.rollcall", lambda p: p.role != "employee"),
    ("/recap", "nav.recap", lambda p: p.role != "employee"),
    ("/employees", "nav.employees", lambda p: p.role != "employee"),
    ("/me", "nav.me", lambda p: p.role == "employee"),
    ("/inbox", "nav.inbox", lambda p: True),
    ("/devices", "nav.devices", scope.can_see_devices),
    ("/roster", "nav.roster", lambda p: scope.can_manage_roster(p)),
    ("/schedules", "nav.schedules", scope.can_see_documents),
    ("/audit", "nav.audit", scope.can_see_audit),
    ("/accounts", "nav.accounts", scope.can_manage_accounts),
    ("/account", "nav.account", lambda p: True),
)


def navigation(p: Principal) -> list[tuple[str, str]]:
    return [(href, label) for href, label, allowed in NAV if allowed(p)]


class SecurityHeadersMiddleware:
    """CSP and friends on every console answer (not on the device API)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope_: Scope, receive: Receive, send: Send) -> None:
        path = scope_.get("path", "")
        if scope_["type"] != "http" or not is_console_path(path):
            await self.app(scope_, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for key, value in SECURITY_HEADERS.items():
                    if key.encode() not in present:
                        headers.append((key.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope_, receive, wrapped)


def _error_page(console: Console, request: Request, status: int, detail: str) -> Response:
    if is_json(request) or request.headers.get("hx-request"):
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(status, "error")
        return JSONResponse({"error": code, "detail": detail}, status)
    p = console.accounts.session(request.cookies.get(SESSION_COOKIE), console.now())
    return console.render(
        request, p, "error.html", {"status": status, "detail": detail}, status=status
    )


def install_console(app: FastAPI, services: Any) -> Console:
    """Mount the console (pages, JSON twins, static files) on ``app``."""
    from server.console import (
        account_page,
        accounts_page,
        audit_page,
        dashboard,
        devices_page,
        documents_page,
        employees_page,
        login,
        rollcall_page,
        roster_page,
    )

    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    console = Console(
        services=services,
        accounts=Accounts(services.db),
        env=env,
        zone=ZoneInfo(services.settings.timezone),
    )
    env.filters["local"] = lambda value: _local(value, console.zone)
    for module in (
        login,
        dashboard,
        rollcall_page,
        employees_page,
        devices_page,
        roster_page,
        documents_page,
        audit_page,
        accounts_page,
        account_page,
    ):
        module.register(console)
    _install_ledger_pages(console)
    app.include_router(console.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_middleware(SecurityHeadersMiddleware)

    async def not_signed_in(request: Request, _exc: Exception) -> Response:
        if is_json(request) or request.headers.get("hx-request"):
            return JSONResponse(
                {"error": "unauthorized", "detail": "sign in first"},
                401,
            )
        target = quote(
            str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
        )
        return RedirectResponse(f"/login?next={target}", 303)

    app.add_exception_handler(NotSignedInError, not_signed_in)
    previous = app.exception_handlers.get(ApiError)

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        path = request.url.path
        if is_console_path(path):
            response = _error_page(console, request, exc.status, exc.detail)
            if exc.headers:
                response.headers.update(exc.headers)
            return response
        if previous is None:
            raise exc
        result = previous(request, exc)
        if isinstance(result, Response):
            return result
        awaited: Response = await result
        return awaited

    app.add_exception_handler(ApiError, api_error)
    app.state.console = console
    return console


def is_console_path(path: str) -> bool:
    """Everything but the device / admin API, ADMS and the OpenAPI pages is the console's."""
    return not path.startswith(NOT_CONSOLE)


def _install_ledger_pages(console: Console) -> None:
    """Pages over the central ledger (issue #10) and the ledger hooks of the others."""
    from server.console import ledger_pages

    ledger_pages.register(console)


def _local(value: Any, zone: ZoneInfo) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value[:-1] if value.endswith("Z") else value
        value = datetime.fromisoformat(text)
    if isinstance(value, datetime):
        from datetime import UTC

        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        shown: str = value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        return shown
    return str(value)
