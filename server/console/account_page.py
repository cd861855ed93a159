"""The signed-in person's own account: change the password, turn the authenticator on/off."""

from __future__ import annotations

from typing import Any

import pyotp
from fastapi import Request
from fastapi.responses import Response

from server.console.accounts import ADMIN_ROLES, MAX_PASSWORD, MIN_PASSWORD, Principal
from server.console.web import Console
from server.errors import invalid


def register(console: Console) -> None:
    accounts = console.accounts

    def data(p: Principal, **extra: Any) -> dict[str, Any]:
        return {
            "username": p.username,
            "role": p.role,
            "totp": accounts.has_totp(p.user_id),
            "totp_offered": p.role in ADMIN_ROLES,
            **extra,
        }

    def account(request: Request) -> Response:
        p = console.principal(request)
        return console.render(request, p, "account.html", data(p))

    async def password(request: Request) -> Response:
        p = await console.changing(request)
        form = await request.form()
        current = str(form.get("current", ""))
        new = str(form.get("new", ""))
        if not accounts.check_password(p.user_id, current):
            console.audit(p, request, "password_change_refused", p.username)
            raise invalid("current: the current password is wrong", 403)
        if new != str(form.get("again", "")):
            raise invalid("again: the two new passwords differ")
        if not MIN_PASSWORD <= len(new) <= MAX_PASSWORD:
            raise invalid(f"new: {MIN_PASSWORD}-{MAX_PASSWORD} characters")
        accounts.set_password(p.user_id, new)
        console.audit(p, request, "password_change", p.username)
        return console.render(request, p, "account.html", data(p, saved="password"))

    async def totp(request: Request) -> Response:
        p = await console.changing(request)
        form = await request.form()
        action = str(form.get("action", ""))
        if action == "off":
            if not accounts.check_password(p.user_id, str(form.get("current", ""))):
                raise invalid("current: the current password is wrong", 403)
            accounts.set_totp(p.user_id, None)
            console.audit(p, request, "totp_off", p.username)
            return console.render(request, p, "account.html", data(p, saved="totp_off"))
        if p.role not in ADMIN_ROLES:
            raise invalid("totp: offered to admin roles only", 403)
        if action == "start":
            secret = pyotp.random_base32()
            uri = pyotp.TOTP(secret).provisioning_uri(name=p.username, issuer_name="Hadir")
            return console.render(request, p, "account.html", data(p, secret=secret, uri=uri))
        if action == "confirm":
            secret = str(form.get("secret", ""))
            code = str(form.get("code", "")).strip()
            if len(secret) != 32 or not pyotp.TOTP(secret).verify(
                code, for_time=console.now(), valid_window=1
            ):
                raise invalid("code: the authenticator code does not match; scan again")
            accounts.set_totp(p.user_id, secret)
            console.audit(p, request, "totp_on", p.username)
            return console.render(request, p, "account.html", data(p, saved="totp_on"))
        raise invalid("action: start, confirm or off")

    console.page("/account", account)
    console.action("/account/password", password)
    console.action("/account/totp", totp)
