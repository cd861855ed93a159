"""The console in a real browser: Debian's chromium, headless, through Playwright.

Nothing is downloaded: the tests drive ``/usr/bin/chromium`` and skip, saying
so, where it is absent. The server is the real app under uvicorn on loopback.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_support import (
    MARKUP_NAME,
    NIP_A,
    NIP_B,
    PASSWORD,
    ConsoleWorld,
    build_world,
)
from openpyxl import load_workbook

from server.console.browser import CHROMIUM, chromium, serve

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (Debian package chromium)"
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[ConsoleWorld, str]]:
    world = build_world(tmp_path)
    with serve(world.app) as base:
        yield world, base
    world.close()


def new_page(browser: Any, width: int = 1366, height: int = 768) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.on("dialog", lambda d: pytest.fail(f"a script ran: dialog {d.message!r}"))
    return page


def login(page: Any, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-submit")
    page.wait_for_load_state("load")


def test_login_wrong_password_lockout_and_logout(
    browser: Any, site: tuple[ConsoleWorld, str]
) -> None:
    _world, base = site
    page = new_page(browser)
    page.goto(f"{base}/devices")
    assert "/login" in page.url  # sent to sign in first
    for _ in range(4):
        login(page, base, "op-a", "not-the-password")
        assert "salah" in page.inner_text("#login-error")
    login(page, base, "op-a", "not-the-password")
    assert "dikunci" in page.inner_text("#login-error")
    login(page, base, "op-a")  # the right password, but locked
    assert "dikunci" in page.inner_text("#login-error")

    page = new_page(browser)
    login(page, base, "op-b")
    page.goto(f"{base}/devices")
    assert page.url.endswith("/devices")  # after sign-in it lands where it asked
    page.click("#logout")
    page.wait_for_load_state("load")
    assert "/login" in page.url
    page.goto(f"{base}/devices")
    assert "/login" in page.url


def test_each_role_sees_only_what_it_may(browser: Any, site: tuple[ConsoleWorld, str]) -> None:
    _world, base = site
    expectations = {
        # account: (nav links present, nav links absent, employee URL -> status)
        "admin": ({"/accounts", "/audit", "/schedules"}, set(), {NIP_A: 200, NIP_B: 200}),
        "auditor": ({"/audit", "/schedules"}, {"/accounts", "/roster"}, {NIP_A: 200, NIP_B: 200}),
        "op-a": ({"/roster", "/devices"}, {"/accounts", "/audit"}, {NIP_A: 200, NIP_B: 403}),
        "head-a": ({"/inbox", "/recap"}, {"/roster", "/devices"}, {NIP_A: 200, NIP_B: 403}),
        "emp-a": ({"/me", "/inbox"}, {"/", "/employees", "/devices"}, {NIP_A: 200, NIP_B: 403}),
    }
    for account, (present, absent, urls) in expectations.items():
        page = new_page(browser)
        login(page, base, account)
        links = set(
            page.eval_on_selector_all(".sidenav a", "els => els.map(e => e.getAttribute('href'))")
        )
        assert present <= links, (account, links)
        assert not (absent & links), (account, links)
        for nip, status in urls.items():
            response = page.goto(f"{base}/employee/{nip}")
            assert response.status == status, (account, nip)
            api = page.request.get(f"{base}/employee/{nip}.json")
            assert api.status == status, (account, nip, "json")
            if status == 403:
                assert "403" in page.inner_text("h1")
        page.context.close()


def test_employee_leave_with_pdf_head_approves_recap_changes(
    browser: Any, site: tuple[ConsoleWorld, str], tmp_path: Path
) -> None:
    _world, base = site
    letter = tmp_path / "surat-cuti.pdf"
    letter.write_bytes(PDF)
    emp = new_page(browser, 390, 844)  # on a phone
    login(emp, base, "emp-a")
    assert emp.url.endswith(f"/employee/{NIP_A}")
    emp.goto(f"{base}/inbox")
    emp.select_option("#absence-form select[name=kind]", "cuti_tahunan")
    emp.fill("#absence-form input[name=date_from]", "2026-11-25")
    emp.fill("#absence-form input[name=date_to]", "2026-11-25")
    emp.fill("#absence-form textarea[name=reason]", "pernikahan adik")
    emp.set_input_files("#absence-form input[name=attachment]", str(letter))
    emp.click("#absence-submit")
    emp.wait_for_load_state("load")
    assert emp.locator("#absences tr[data-state=diajukan]").count() == 1

    head = new_page(browser)
    login(head, base, "head-a")
    head.goto(f"{base}/recap/DISKOMINFO?month=2026-11")
    assert "cuti_tahunan" not in head.inner_text("#recap-table")
    head.goto(f"{base}/inbox?state=diajukan")
    row = head.locator("#absences tr[data-state=diajukan]")
    assert row.count() == 1
    assert "pernikahan adik" in row.inner_text()
    row.locator("button.approve").click()
    head.wait_for_load_state("load")
    assert head.locator("#absences tr[data-state=disetujui]").count() == 1
    head.goto(f"{base}/recap/DISKOMINFO?month=2026-11")
    recap_row = head.locator(f"#recap-table tr[data-nip='{NIP_A}']")
    assert "cuti_tahunan 1" in recap_row.inner_text()
    emp.goto(f"{base}/employee/{NIP_A}?month=2026-11")
    assert emp.get_attribute("[data-date='2026-11-25']", "data-status") == "absence"


def test_roster_import_with_bad_lines_reports_each_line(
    browser: Any, site: tuple[ConsoleWorld, str], tmp_path: Path
) -> None:
    _world, base = site
    csv_file = tmp_path / "pegawai.csv"
    csv_file.write_text(
        "nip,nama,opd,jenis,group\n"
        "198001012006041091,Baru Satu,DISKOMINFO,PNS,default\n"
        "1980,Nip Pendek,DISKOMINFO,PNS,default\n"
        "198001012006041090,Jenis Salah,DISKOMINFO,HONOR,default\n"
        "198001012006041089,Opd Lain,BAPPEDA,PNS,default\n",
        encoding="utf-8",
    )
    page = new_page(browser)
    login(page, base, "op-a")
    page.goto(f"{base}/roster")
    page.set_input_files("input[name=file]", str(csv_file))
    page.click("#roster-submit")
    page.wait_for_load_state("load")
    rows = page.locator("#roster-errors tbody tr")
    lines = [rows.nth(i).get_attribute("data-line") for i in range(rows.count())]
    assert lines == ["3", "4", "5"]
    text = page.inner_text("#roster-errors")
    assert "nip:" in text and "type:" in text and "opd:" in text
    assert "1 baru" in page.inner_text("#roster-result")


def test_xlsx_download_opens_with_openpyxl(browser: Any, site: tuple[ConsoleWorld, str]) -> None:
    world, base = site
    from server.imports import import_punches_csv

    body = (
        "nip,local_time,source\n"
        f"{NIP_A},2026-11-24 07:45:00,import\n"
        f"{NIP_A},2026-11-24 16:01:00,import\n"
    )
    import_punches_csv(
        world.app.state.services.db, body.encode(), world.app.state.console.zone, world.clock.now
    )
    world.app.state.services.ledger.ledger.catch_up(world.clock.now)
    page = new_page(browser)
    login(page, base, "head-a")
    page.goto(f"{base}/recap/DISKOMINFO?month=2026-11")
    with page.expect_download() as info:
        page.click("#dl-xlsx")
    download = info.value
    assert download.suggested_filename == "rekap-DISKOMINFO-2026-11.xlsx"
    book = load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    sheet = book.active
    assert sheet is not None
    values = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    employee_rows = [r for r in values if NIP_A in [str(c) for c in r]]
    assert len(employee_rows) == 1
    assert "Siti Aminah" in [str(c) for c in employee_rows[0]]
    assert not [r for r in values if NIP_B in [str(c) for c in r]]  # another OPD's employee


def test_form_without_csrf_token_is_refused(browser: Any, site: tuple[ConsoleWorld, str]) -> None:
    world, base = site
    page = new_page(browser)
    login(page, base, "admin")
    page.goto(f"{base}/devices")
    page.fill("input[name=opd_code]", "DISKOMINFO")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    page.click("#create-code")
    page.wait_for_load_state("load")
    assert "403" in page.inner_text("h1")
    assert "CSRF" in page.inner_text("#error-detail")
    entries = world.app.state.console.accounts.audit_entries()
    assert not [e for e in entries if e["action"] == "enrollment_code"]
    page.goto(f"{base}/devices")
    page.fill("input[name=opd_code]", "DISKOMINFO")
    page.click("#create-code")
    page.wait_for_load_state("load")
    assert page.locator("#new-code").count() == 1


def test_a_name_with_markup_is_shown_as_text(browser: Any, site: tuple[ConsoleWorld, str]) -> None:
    _world, base = site
    page = new_page(browser)  # any dialog fails the test
    login(page, base, "admin")
    page.goto(f"{base}/employees?q=Dewi")
    assert page.inner_text("td.emp-name") == MARKUP_NAME
    assert page.locator("td.emp-name script").count() == 0
    page.goto(f"{base}/rollcall/DISKOMINFO")
    assert MARKUP_NAME in page.inner_text("#rollcall-table")


def test_language_switch_and_phone_menu(browser: Any, site: tuple[ConsoleWorld, str]) -> None:
    _world, base = site
    page = new_page(browser, 390, 844)
    login(page, base, "admin")
    assert not page.is_visible(".sidenav")
    page.click("details.menu-mobile summary")
    assert page.is_visible("details.menu-mobile a[href='/devices']")
    page.click("details.menu-mobile summary")  # close it again
    page.click("#lang-switch")
    page.wait_for_load_state("load")
    assert "Today" in page.inner_text("h1")
