"""The console through the HTTP client: every page per role (Healthchecks style), CSRF,
lockout, sessions, escaping, roster import, schedule publishing, TOTP, the CLI."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from console_support import (
    MARKUP_NAME,
    NIP_A,
    NIP_B,
    NOW,
    PASSWORD,
    ConsoleWorld,
    build_world,
    page_csrf,
    sign_in,
)
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import select

from hadir.cli import main
from server.console import i18n
from server.models import Change


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleWorld]:
    w = build_world(tmp_path_factory.mktemp("console"))
    yield w
    w.close()


@pytest.fixture(scope="module")
def clients(world: ConsoleWorld) -> dict[str, TestClient]:
    out = {name: world.login(name) for name in ("admin", "auditor", "op-a", "op-b", "head-a")}
    out["emp-a"] = world.login("emp-a")
    out["anonymous"] = world.client()
    return out


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[ConsoleWorld]:
    w = build_world(tmp_path)
    yield w
    w.close()


ALL = {"admin", "auditor", "op-a", "op-b", "head-a", "emp-a"}
# path -> who gets 200 (everyone else signed in gets 403; anonymous is sent to sign in)
PAGES: dict[str, set[str]] = {
    "/employees": {"admin", "auditor", "op-a", "op-b", "head-a"},
    f"/employee/{NIP_A}": {"admin", "auditor", "op-a", "head-a", "emp-a"},
    f"/employee/{NIP_B}": {"admin", "auditor", "op-b"},
    "/rollcall/DISKOMINFO": {"admin", "auditor", "op-a", "head-a"},
    "/rollcall/BAPPEDA": {"admin", "auditor", "op-b"},
    "/devices": {"admin", "auditor", "op-a", "op-b"},
    "/roster": {"admin", "op-a", "op-b"},
    "/schedules": {"admin", "auditor"},
    "/audit": {"admin", "auditor"},
    "/accounts": {"admin"},
}


@pytest.mark.parametrize("path", sorted(PAGES))
@pytest.mark.parametrize("who", sorted(ALL))
def test_each_role_sees_only_what_it_may_page_and_json_agree(
    clients: dict[str, TestClient], path: str, who: str
) -> None:
    client = clients[who]
    expected = 200 if who in PAGES[path] else 403
    html = client.get(path, follow_redirects=False)
    api = client.get(path + ".json", follow_redirects=False)
    assert html.status_code == expected, (who, path, html.text[:200])
    assert api.status_code == expected, (who, path, api.text[:200])
    if expected == 200:
        assert html.headers["content-type"].startswith("text/html")
        assert isinstance(api.json(), dict)
    else:
        assert api.json()["error"] == "forbidden"


@pytest.mark.parametrize("path", ["/", *sorted(PAGES)])
def test_anonymous_is_sent_to_sign_in_and_the_api_says_401(
    clients: dict[str, TestClient], path: str
) -> None:
    anon = clients["anonymous"]
    html = anon.get(path, follow_redirects=False)
    assert html.status_code == 303
    assert html.headers["location"].startswith("/login?next=")
    api = anon.get("/index.json" if path == "/" else path + ".json")
    assert api.status_code == 401


def test_dashboard_by_role(clients: dict[str, TestClient]) -> None:
    admin = clients["admin"].get("/index.json").json()
    assert {r["opd_code"] for r in admin["opds"]} == {"DISKOMINFO", "BAPPEDA"}
    op_a = clients["op-a"].get("/index.json").json()
    assert [r["opd_code"] for r in op_a["opds"]] == ["DISKOMINFO"]
    assert clients["emp-a"].get("/index.json").status_code == 403
    me = clients["emp-a"].get("/", follow_redirects=False)
    assert me.headers["location"] == "/me"


def test_employee_list_is_scoped_to_the_operators_opd(clients: dict[str, TestClient]) -> None:
    nips = {e["nip"] for e in clients["op-a"].get("/employees.json").json()["employees"]}
    assert NIP_A in nips and NIP_B not in nips
    # A filter for another OPD is ignored for an operator, not obeyed.
    other = clients["op-a"].get("/employees.json?opd=BAPPEDA").json()["employees"]
    assert {e["opd_code"] for e in other} == {"DISKOMINFO"}
    everyone = clients["auditor"].get("/employees.json").json()
    assert everyone["total"] == 4


def test_a_name_with_markup_is_shown_as_text(clients: dict[str, TestClient]) -> None:
    page = clients["admin"].get("/employees?q=Dewi").text
    assert "<script>alert(" not in page
    assert "&lt;script&gt;alert(" in page
    data = clients["admin"].get("/employees.json?q=Dewi").json()
    assert data["employees"][0]["name"] == MARKUP_NAME


def test_console_answers_carry_a_strict_content_security_policy(
    clients: dict[str, TestClient],
) -> None:
    r = clients["admin"].get("/devices")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    # The device API is left alone.
    assert "content-security-policy" not in clients["admin"].get("/api/v1/time").headers


def test_form_without_csrf_token_is_refused_and_nothing_changes(fresh: ConsoleWorld) -> None:
    admin = fresh.login("admin")
    refused = admin.post("/devices/enrollment-code", data={"opd_code": "DISKOMINFO", "hours": "5"})
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    wrong = admin.post(
        "/devices/enrollment-code",
        data={"opd_code": "DISKOMINFO", "hours": "5", "csrf_token": "forged"},
    )
    assert wrong.status_code == 403
    audit = admin.get("/audit.json").json()["entries"]
    assert not [e for e in audit if e["action"] == "enrollment_code"]
    assert [e for e in audit if e["action"] == "csrf_refused"]
    token = page_csrf(admin)
    ok = admin.post(
        "/devices/enrollment-code",
        data={"opd_code": "DISKOMINFO", "hours": "5", "csrf_token": token},
    )
    assert ok.status_code == 201
    assert re.search(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", ok.text)
    # Another session's token is not this session's token.
    other = fresh.login("op-a")
    stolen = other.post("/devices/enrollment-code", data={"hours": "5", "csrf_token": token})
    assert stolen.status_code == 403
    # The sign-in form itself needs its double-submit token.
    anon = fresh.client()
    r = anon.post("/login", data={"username": "admin", "password": PASSWORD})
    assert r.status_code == 403


def test_wrong_passwords_lock_the_account_and_the_right_one_waits(fresh: ConsoleWorld) -> None:
    c = fresh.client()
    for _ in range(4):
        r = sign_in(c, "op-a", "wrong-password!")
        assert r.status_code == 401
        assert "salah" in r.text  # Bahasa Indonesia by default
    r = sign_in(c, "op-a", "wrong-password!")
    assert r.status_code == 429
    assert "dikunci" in r.text
    r = sign_in(c, "op-a", PASSWORD)
    assert r.status_code == 429, "locked: even the right password is refused"
    fresh.clock.now = NOW + timedelta(minutes=6)
    r = sign_in(c, "op-a", PASSWORD)
    assert r.status_code == 303
    entries = fresh.login("admin").get("/audit.json").json()["entries"]
    failed = [e for e in entries if e["action"] == "login_failed" and e["target"] == "op-a"]
    assert len(failed) == 6
    # Unknown names fail the same way, without revealing whether they exist.
    unknown = sign_in(fresh.client(), "nobody", "whatever-it-is")
    assert unknown.status_code == 401


def test_logout_ends_the_session_on_the_server(fresh: ConsoleWorld) -> None:
    c = fresh.login("auditor")
    cookie = c.cookies.get("hadir_session")
    assert cookie
    assert c.get("/audit.json").status_code == 200
    token = page_csrf(c, "/audit")
    r = c.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    replay = fresh.client()
    replay.cookies.set("hadir_session", cookie)
    assert replay.get("/audit.json").status_code == 401


def test_session_cookie_is_httponly_samesite_and_secure_over_tls(fresh: ConsoleWorld) -> None:
    plain = sign_in(fresh.client(), "admin", PASSWORD)
    header = plain.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=lax" in header and "Secure" not in header
    tls = TestClient(fresh.app, base_url="https://testserver")
    fresh.clients.append(tls)
    secure = sign_in(tls, "admin", PASSWORD)
    assert "Secure" in secure.headers["set-cookie"]


def test_totp_is_required_when_enabled(fresh: ConsoleWorld) -> None:
    created = fresh.app.state.console.accounts.create_user(
        username="bkpsdm",
        full_name="BKPSDM",
        role="superadmin",
        password=PASSWORD,
        now=NOW,
        totp=True,
    )
    secret = re.search(r"secret=([A-Z2-7]+)", created["totp_uri"])
    assert secret
    assert sign_in(fresh.client(), "bkpsdm", PASSWORD, "000000").status_code == 401
    code = pyotp.TOTP(secret.group(1)).at(NOW)
    assert sign_in(fresh.client(), "bkpsdm", PASSWORD, code).status_code == 303


def test_roster_import_reports_each_bad_line_csv_and_xlsx(fresh: ConsoleWorld) -> None:
    admin = fresh.login("admin")
    body = (
        "nip,name,opd,type,schedule_group\n"
        "198001012006041099,Ani,DISKOMINFO,PNS,default\n"
        "12345,Short Nip,DISKOMINFO,PNS,default\n"
        "198001012006041098,,DISKOMINFO,PNS,default\n"
        "198001012006041097,Tipe Salah,DISKOMINFO,HONORER,default\n"
    )
    r = admin.post(
        "/roster",
        data={"csrf_token": page_csrf(admin, "/roster")},
        files={"file": ("pegawai.csv", body.encode(), "text/csv")},
    )
    assert r.status_code == 200
    lines = {int(m) for m in re.findall(r'data-line="(\d+)"', r.text)}
    assert lines == {3, 4, 5}
    assert "nip: must be exactly 18 digits" in r.text
    assert "type: must be PNS" in r.text

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["nip", "nama", "opd", "jenis", "group"])
    sheet.append(["198001012006041096", "Xlsx Satu", "DISKOMINFO", "PNS", "default"])
    sheet.append([198001012006041095, "Nip Angka", "DISKOMINFO", "PNS", "default"])
    sheet.append(["198001012006041094", "Opd Salah", "BAD OPD!", "PNS", "default"])
    raw = io.BytesIO()
    book.save(raw)
    r = admin.post(
        "/roster",
        data={"csrf_token": page_csrf(admin, "/roster")},
        files={"file": ("pegawai.xlsx", raw.getvalue(), "application/octet-stream")},
    )
    assert r.status_code == 200
    errors = dict(re.findall(r'data-line="(\d+)"><td class="num">\d+</td><td>([^<]+)', r.text))
    assert set(errors) == {"3", "4"}
    assert "stored as a number" in errors["3"]
    assert errors["4"].startswith("opd:")
    names = {e["name"] for e in admin.get("/employees.json?q=Xlsx").json()["employees"]}
    assert names == {"Xlsx Satu"}


def test_operator_imports_only_own_opd(fresh: ConsoleWorld) -> None:
    op = fresh.login("op-a")
    body = (
        "nip,name,opd,type,schedule_group\n"
        "198001012006041093,Baru A,DISKOMINFO,PNS,default\n"
        "198001012006041092,Baru B,BAPPEDA,PNS,default\n"
        f"{NIP_B},Budi Pindah,DISKOMINFO,PNS,default\n"
    )
    r = op.post(
        "/roster",
        data={"csrf_token": page_csrf(op, "/roster")},
        files={"file": ("a.csv", body.encode(), "text/csv")},
    )
    lines = {int(m) for m in re.findall(r'data-line="(\d+)"', r.text)}
    assert lines == {3, 4}
    admin = fresh.login("admin")
    b = admin.get(f"/employee/{NIP_B}.json").json()["employee"]
    assert b["opd_code"] == "BAPPEDA" and b["name"] == "Budi Santoso"
    assert fresh.login("head-a").get("/roster").status_code == 403


def test_schedule_documents_are_checked_like_a_kiosk_and_published(fresh: ConsoleWorld) -> None:
    admin = fresh.login("admin")
    token = page_csrf(admin, "/schedules")
    bad = admin.post(
        "/schedules/schedule_group",
        data={"csrf_token": token, "key": "pelayanan", "document": '{"mon": "25:00-16:00"}'},
    )
    assert bad.status_code == 422
    assert "pelayanan" in bad.text or "mon" in bad.text
    good_doc = {
        "mon": "07:30-14:30",
        "tue": "07:30-14:30",
        "wed": "07:30-14:30",
        "thu": "07:30-14:30",
        "fri": "07:30-14:30",
        "sat": "07:30-14:00",
        "sun": "off",
    }
    ok = admin.post(
        "/schedules/schedule_group",
        data={"csrf_token": token, "key": "pelayanan", "document": json.dumps(good_doc)},
    )
    assert ok.status_code == 200
    cal = admin.post(
        "/schedules/calendar",
        data={
            "csrf_token": token,
            "key": "2027",
            "holidays": "2027-01-01;Tahun Baru;libur nasional\n2027-01-02;Cuti;cuti bersama\n",
        },
    )
    assert cal.status_code == 200
    bad_cal = admin.post(
        "/schedules/calendar",
        data={"csrf_token": token, "key": "2028", "holidays": "2028-13-01;X;libur nasional"},
    )
    assert bad_cal.status_code == 422
    docs = admin.get("/schedules.json").json()
    assert [d["key"] for d in docs["schedule_groups"]] == ["pelayanan"]
    assert docs["schedule_groups"][0]["document"] == good_doc
    assert len(docs["calendars"][0]["document"]["days"]) == 2
    # What kiosks pull: the same documents on the change feed.
    with fresh.app.state.services.db.read() as conn:
        kinds = {(r.kind, r.key) for r in conn.execute(select(Change.kind, Change.key))}
    assert ("schedule_group", "pelayanan") in kinds and ("calendar", "2027") in kinds
    assert (
        fresh.login("auditor")
        .post("/schedules/calendar", data={"csrf_token": "x", "key": "2029", "holidays": ""})
        .status_code
        == 403
    )


def test_operator_revokes_only_own_devices(fresh: ConsoleWorld) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from attendance.integrity import public_key_bytes

    devices = fresh.app.state.services.devices
    for opd, dev in (("DISKOMINFO", "kiosk-a"), ("BAPPEDA", "kiosk-b")):
        code, _ = devices.create_enrollment_code(opd, NOW)
        key = public_key_bytes(Ed25519PrivateKey.generate().public_key()).hex()
        devices.register(code, dev, key, NOW)
    op = fresh.login("op-a")
    listed = [d["device_id"] for d in op.get("/devices.json").json()["kiosks"]]
    assert listed == ["kiosk-a"]
    token = page_csrf(op)
    assert op.post("/devices/kiosk-b/revoke", data={"csrf_token": token}).status_code == 403
    r = op.post("/devices/kiosk-a/revoke", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    status = {d["device_id"]: d["status"] for d in devices.list_devices()}
    assert status == {"kiosk-a": "revoked", "kiosk-b": "active"}


def test_language_switch_to_english_and_back(fresh: ConsoleWorld) -> None:
    c = fresh.login("admin")
    assert "Perangkat" in c.get("/devices").text
    c.get("/lang/en?next=/devices")
    assert "Devices" in c.get("/devices").text
    r = c.get("/lang/id?next=//evil.example/", follow_redirects=False)
    assert r.headers["location"] == "/"


def test_every_text_key_of_the_templates_exists_in_both_languages() -> None:
    root = Path(__file__).resolve().parent.parent / "server" / "console"
    keys: set[str] = set()
    for path in (root / "templates").glob("*.html"):
        keys |= set(re.findall(r"""_\(["']([a-z_]+\.[a-z0-9_.]+)["']\)""", path.read_text()))
    for path in root.glob("*.py"):
        found = re.findall(r'"((?:nav|recap|inbox|rollcall|rc)\.[a-z_]+)"', path.read_text())
        keys |= {k for k in found if not k.endswith(".html")}
    assert len(keys) > 50
    for lang in i18n.LANGUAGES:
        missing = sorted(k for k in keys if k not in i18n.MESSAGES[lang])
        assert not missing, (lang, missing)


def test_create_user_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert (
        main(
            [
                "server",
                "--database-url",
                url,
                "create-user",
                "kepala",
                "--role",
                "head",
                "--opd",
                "DISKOMINFO",
                "--password-stdin",
            ]
        )
        == 0
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    short = ["create-user", "x1y", "--role", "auditor", "--password-stdin"]
    assert main(["server", "--database-url", url, *short]) != 0


def test_screenshots_cover_every_page_of_the_navigation() -> None:
    from server.console.screenshots import pages
    from server.console.web import NAV

    shot_paths = {
        path.split("?")[0].rsplit("/", 1)[0] or "/" for _, _, path in pages("X", "1", "m")
    }
    shot_paths |= {path.split("?")[0] for _, _, path in pages("X", "1", "m")}
    for href, _label, _allowed in NAV:
        if href == "/me":
            continue  # an employee's own page: /employee/<nip>
        assert href in shot_paths, href


def test_bench_console_prints_page_times_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "server",
            "--data-dir",
            str(tmp_path),
            "bench-console",
            "--employees",
            "40",
            "--opds",
            "3",
            "--requests",
            "3",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["employees"] == 40
    assert set(out["pages"]) == {"dashboard", "recap", "rollcall"}
    for page in out["pages"].values():
        assert page["p95_ms"] >= page["p50_ms"] > 0


def test_own_account_password_change_and_authenticator(fresh: ConsoleWorld) -> None:
    c = fresh.login("head-a")
    token = page_csrf(c, "/account")
    wrong = c.post(
        "/account/password",
        data={"csrf_token": token, "current": "nope", "new": "x" * 12, "again": "x" * 12},
    )
    assert wrong.status_code == 403
    new = "kata-sandi-baru-456"
    ok = c.post(
        "/account/password",
        data={"csrf_token": token, "current": PASSWORD, "new": new, "again": new},
    )
    assert ok.status_code == 200
    assert sign_in(fresh.client(), "head-a", PASSWORD).status_code == 401
    assert sign_in(fresh.client(), "head-a", new).status_code == 303
    start = c.post("/account/totp", data={"csrf_token": token, "action": "start"})
    secret = re.search(r'name="secret" value="([A-Z2-7]{32})"', start.text)
    assert secret
    bad = c.post(
        "/account/totp",
        data={"csrf_token": token, "action": "confirm", "secret": secret.group(1), "code": "1"},
    )
    assert bad.status_code == 422
    code = pyotp.TOTP(secret.group(1)).at(NOW)
    on = c.post(
        "/account/totp",
        data={"csrf_token": token, "action": "confirm", "secret": secret.group(1), "code": code},
    )
    assert on.status_code == 200
    assert sign_in(fresh.client(), "head-a", new).status_code == 401  # the code is now needed
    assert sign_in(fresh.client(), "head-a", new, code).status_code == 303
    actions = {e["action"] for e in fresh.login("admin").get("/audit.json").json()["entries"]}
    assert {"password_change", "totp_on"} <= actions
    # Employees are not offered an authenticator.
    emp = fresh.login("emp-a")
    refused = emp.post(
        "/account/totp", data={"csrf_token": page_csrf(emp, "/account"), "action": "start"}
    )
    assert refused.status_code == 403


def test_published_calendar_opens_in_the_editor(fresh: ConsoleWorld) -> None:
    admin = fresh.login("admin")
    token = page_csrf(admin, "/schedules")
    admin.post(
        "/schedules/calendar",
        data={
            "csrf_token": token,
            "key": "2027",
            "holidays": "2027-01-01;Tahun Baru;libur nasional",
        },
    )
    page = admin.get("/schedules?edit=calendar:2027").text
    assert 'value="2027"' in page
    assert "2027-01-01;Tahun Baru;libur nasional</textarea>" in page


def test_roll_call_fragment_that_refreshes_itself_is_scoped_too(
    clients: dict[str, TestClient],
) -> None:
    own = clients["op-a"].get("/rollcall/DISKOMINFO/rows", headers={"HX-Request": "true"})
    assert own.status_code == 200 and 'id="rollcall-table"' in own.text
    other = clients["op-a"].get("/rollcall/BAPPEDA/rows", headers={"HX-Request": "true"})
    assert other.status_code == 403
    anon = clients["anonymous"].get("/rollcall/DISKOMINFO/rows", headers={"HX-Request": "true"})
    assert anon.status_code == 401
