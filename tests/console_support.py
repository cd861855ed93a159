"""Shared set-up of the console tests: a seeded server, named accounts, signing in.

Two OPDs (DISKOMINFO and BAPPEDA), one employee whose name is markup, one
account per role. Used by the HTTP-client tests and the browser tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import ServerSettings

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # Friday 09:00 WIB
PASSWORD = "rahasia-sekali-123"
NIP_A = "198001012006041001"
NIP_A2 = "198502022010012002"
NIP_B = "199001012015032001"
MARKUP_NIP = "197701012000031003"
MARKUP_NAME = "<script>alert('x')</script> Dewi"
ROSTER = (
    "nip,name,opd,type,schedule_group\n"
    f"{NIP_A},Siti Aminah,DISKOMINFO,PNS,default\n"
    f"{NIP_A2},Rudi Hartono,DISKOMINFO,PPPK,default\n"
    f'{MARKUP_NIP},"{MARKUP_NAME}",DISKOMINFO,PNS,default\n'
    f"{NIP_B},Budi Santoso,BAPPEDA,PNS,default\n"
)
# username -> (role, opd, nip)
ACCOUNTS: dict[str, tuple[str, str | None, str | None]] = {
    "admin": ("superadmin", None, None),
    "auditor": ("auditor", None, None),
    "op-a": ("operator", "DISKOMINFO", None),
    "op-b": ("operator", "BAPPEDA", None),
    "head-a": ("head", "DISKOMINFO", None),
    "emp-a": ("employee", "DISKOMINFO", NIP_A),
}


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.now = at

    def __call__(self) -> datetime:
        return self.now


@dataclass
class ConsoleWorld:
    app: FastAPI
    clock: FixedClock
    settings: ServerSettings
    clients: list[TestClient] = field(default_factory=list)

    def client(self) -> TestClient:
        c = TestClient(self.app)
        self.clients.append(c)
        return c

    def login(self, username: str, password: str = PASSWORD) -> TestClient:
        c = self.client()
        r = sign_in(c, username, password)
        assert r.status_code == 303, (r.status_code, r.text[:300])
        return c

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.app.state.services.db.dispose()


def login_csrf(client: TestClient) -> str:
    page = client.get("/login")
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m, page.text[:300]
    return m.group(1)


def sign_in(client: TestClient, username: str, password: str, totp: str = "") -> Any:
    token = login_csrf(client)
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "totp": totp,
            "csrf_token": token,
            "next": "/",
        },
        follow_redirects=False,
    )


def page_csrf(client: TestClient, path: str = "/devices") -> str:
    page = client.get(path)
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m, page.text[:300]
    return m.group(1)


def build_world(tmp: Path, database_url: str | None = None) -> ConsoleWorld:
    clock = FixedClock(NOW)
    settings = ServerSettings(
        database_url=database_url or f"sqlite:///{tmp / 'server.db'}",
        admin_token_file=tmp / "admin-token",
        clock=clock,
        adms_serials=("CQZ7232260123",),
    )
    app = create_app(settings)
    svc = app.state.services
    result = svc.roster.import_csv(ROSTER.encode(), NOW)
    assert not result["errors"], result
    accounts = app.state.console.accounts
    for username, (role, opd, nip) in ACCOUNTS.items():
        accounts.create_user(
            username=username,
            full_name=f"User {username}",
            role=role,
            password=PASSWORD,
            now=NOW,
            opd_code=opd,
            nip=nip,
        )
    return ConsoleWorld(app, clock, settings)
