"""Sign-in, sign-out and the language switch.

The sign-in form is protected against login CSRF with a double-submit cookie
(there is no session yet to hold a token); every other form uses its
session's synchronizer token (:meth:`Console.changing`).
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from server.console.accounts import SESSION_MAX, LoginError, csrf_matches
from server.console.web import (
    LANG_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Console,
    CsrfRefusedError,
    is_tls,
    safe_next,
)


def register(console: Console) -> None:
    def login_form(
        request: Request, error: str | None = None, username: str = "", status: int = 200
    ) -> Response:
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
        data = {
            "login_csrf": token,
            "next": safe_next(request.query_params.get("next")),
            "error": error,
            "username": username,
        }
        response = console.render(request, None, "login.html", data, status=status)
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=is_tls(request),
            path="/login",
        )
        return response

    def get_login(request: Request) -> Response:
        if console.accounts.session(request.cookies.get(SESSION_COOKIE), console.now()):
            return RedirectResponse(safe_next(request.query_params.get("next")), 303)
        return login_form(request)

    async def post_login(request: Request) -> Response:
        form = await request.form()
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
        given = form.get("csrf_token")
        if not cookie or not csrf_matches(cookie, given if isinstance(given, str) else None):
            raise CsrfRefusedError
        username = str(form.get("username", ""))[:64]
        password = str(form.get("password", ""))
        totp = str(form.get("totp", ""))[:12]
        target = safe_next(str(form.get("next", "/")))
        try:
            token, p = console.accounts.login(username, password, totp, console.now())
        except LoginError as exc:
            console.audit(
                None,
                request,
                "login_failed",
                username or "-",
                {"reason": exc.reason},
                actor=username or "-",
            )
            response = login_form(request, exc.reason, username, 401)
            if exc.until is not None:
                response = console.render(
                    request,
                    None,
                    "login.html",
                    {
                        "login_csrf": cookie,
                        "next": target,
                        "error": "locked",
                        "until": exc.until,
                        "username": username,
                    },
                    status=429,
                )
            return response
        console.audit(p, request, "login", p.username)
        if p.role == "employee" and target == "/":
            target = "/me"
        response = RedirectResponse(target, 303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(SESSION_MAX.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=is_tls(request),
            path="/",
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    async def post_logout(request: Request) -> Response:
        p = await console.changing(request)
        console.accounts.logout(p.session_hash)
        console.audit(p, request, "logout", p.username)
        response = RedirectResponse("/login", 303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def switch_language(request: Request, lang: str) -> Response:
        target = safe_next(request.query_params.get("next"))
        response = RedirectResponse(quote(target, safe="/?=&"), 303)
        if lang in ("id", "en"):
            response.set_cookie(
                LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", secure=is_tls(request)
            )
        return response

    console.router.add_api_route("/login", get_login, methods=["GET"])
    console.router.add_api_route("/login", post_login, methods=["POST"])
    console.router.add_api_route("/logout", post_logout, methods=["POST"])
    console.router.add_api_route("/lang/{lang}", switch_language, methods=["GET"])
