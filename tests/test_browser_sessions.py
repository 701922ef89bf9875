"""A user sees a session left open on another device on the account page and ends it:
real Chromium, a real ``pytorrent serve``, two browser contexts (two devices)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from pytorrent_core.testing import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.server]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "devices-Pass-1"
STEP = 15_000  # ms


def sign_in(browser: Browser, url: str, *, remember: bool) -> Page:
    page = browser.new_context().new_page()
    page.goto(f"{url}/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    if remember:
        page.check("#remember")
    page.click("#sign-in")
    expect(page).to_have_url(f"{url}/", timeout=STEP)
    return page


def test_a_user_ends_a_session_left_open_on_another_device(tmp_path: Path) -> None:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: apt-get install chromium"
    with ServerProcess(tmp_path) as server, sync_playwright() as playwright:
        assert server.cli("reset-password", "admin", PASSWORD).returncode == 0
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            here = sign_in(browser, server.url, remember=False)
            there = sign_in(browser, server.url, remember=True)
            persistent = [c for c in there.context.cookies() if c["expires"] > 0]
            assert [c["name"] for c in persistent] == ["pytorrent_session"]
            assert all(c["expires"] == -1 for c in here.context.cookies())
            errors: list[str] = []
            here.on("pageerror", lambda error: errors.append(str(error)))

            here.goto(f"{server.url}/account")
            rows = here.locator("#sessions tbody tr")
            expect(rows).to_have_count(2, timeout=STEP)
            expect(here.locator('#sessions tr[data-current="true"]')).to_contain_text("this one")
            other = here.locator('#sessions tr[data-current="false"]')
            expect(other).to_contain_text("Chrome on Linux")
            expect(other).to_contain_text("127.0.0.1")
            other.locator('button[data-do="end-session"]').click()
            here.locator("dialog.modal button[type=submit]").click()
            expect(rows).to_have_count(1, timeout=STEP)
            expect(rows.first).to_have_attribute("data-current", "true")

            there.goto(f"{server.url}/")
            expect(there).to_have_url(f"{server.url}/login?next=/", timeout=STEP)
            expect(there.locator("#login-form")).to_be_visible()
            here.goto(f"{server.url}/")
            expect(here).to_have_url(f"{server.url}/")  # this device stays signed in

            here.goto(f"{server.url}/admin/audit")  # and the admin reads what happened
            here.fill("#audit-kind", "session")
            here.click("#audit-apply")
            ended = here.locator('#audit-table tr[data-kind="session.end"]')
            expect(ended).to_have_count(1, timeout=STEP)
            expect(ended).to_contain_text("admin")
            expect(ended).to_contain_text("127.0.0.1")
            assert errors == []
        finally:
            browser.close()
