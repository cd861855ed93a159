"""Console accounts (superadmin only): create, unlock, activate / deactivate."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from server.console import scope
from server.console.accounts import ROLES
from server.console.web import Console
from server.errors import invalid


def register(console: Console) -> None:
    accounts = console.accounts

    def listing(request: Request) -> Response:
        p = console.principal(request)
        scope.require(scope.can_manage_accounts(p), "manage accounts")
        return console.render(
            request, p, "accounts.html", {"users": accounts.list_users(), "roles": list(ROLES)}
        )

    async def create(request: Request) -> Response:
        p = await console.changing(request)
        scope.require(scope.can_manage_accounts(p), "manage accounts")
        form = await request.form()

        def field(name: str) -> str:
            value = form.get(name, "")
            return value.strip() if isinstance(value, str) else ""

        created = accounts.create_user(
            username=field("username"),
            full_name=field("full_name"),
            role=field("role"),
            password=str(form.get("password", "")),
            now=console.now(),
            opd_code=field("opd_code") or None,
            nip=field("nip") or None,
            totp=form.get("totp") == "1",
        )
        console.audit(
            p,
            request,
            "account_create",
            created["username"],
            {"role": created["role"], "opd_code": field("opd_code"), "nip": field("nip")},
        )
        data = {"users": accounts.list_users(), "roles": list(ROLES), "created": created}
        return console.render(request, p, "accounts.html", data, status=201)

    async def change(request: Request, user_id: int, what: str) -> Response:
        p = await console.changing(request)
        scope.require(scope.can_manage_accounts(p), "manage accounts")
        if what == "unlock":
            name = accounts.unlock(user_id)
        elif what in ("activate", "deactivate"):
            if user_id == p.user_id and what == "deactivate":
                raise invalid("you cannot deactivate your own account")
            name = accounts.set_active(user_id, what == "activate")
        else:
            raise invalid("action: unlock, activate or deactivate")
        console.audit(p, request, f"account_{what}", name)
        data = {"users": accounts.list_users(), "roles": list(ROLES)}
        return console.render(request, p, "accounts.html", data)

    console.page("/accounts", listing)
    console.action("/accounts", create)
    console.action("/accounts/{user_id}/{what}", change)
