"""A user sees a session left open on another device on the account page and ends it;
an admin sees another user's sessions on that user's admin page and ends one, then all:
real Chromium, a real ``pytorrent serve``, browser contexts as devices."""

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


def sign_in(browser: Browser, url: str, *, remember: bool, username: str = "admin",
            password: str = PASSWORD) -> Page:
    page = browser.new_context().new_page()
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
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


def test_an_admin_ends_one_then_all_sessions_of_another_user(tmp_path: Path) -> None:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: apt-get install chromium"
    with ServerProcess(tmp_path) as server, sync_playwright() as playwright:
        assert server.cli("reset-password", "admin", PASSWORD).returncode == 0
        made = server.cli("users", "add", "erin", "--password", "erin-Pass-123")
        assert made.returncode == 0, made.stderr
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            devices = [sign_in(browser, server.url, remember=remember, username="erin",
                               password="erin-Pass-123") for remember in (False, True, False)]
            admin = sign_in(browser, server.url, remember=False)
            errors: list[str] = []
            admin.on("pageerror", lambda error: errors.append(str(error)))

            admin.goto(f"{server.url}/admin/users")
            admin.locator('#users-table tr[data-username="erin"] a[data-do="sessions"]').click()
            expect(admin.locator("#user-title")).to_have_text("User: erin", timeout=STEP)
            rows = admin.locator("#user-sessions tbody tr[data-session-id]")
            expect(rows).to_have_count(3, timeout=STEP)
            expect(rows.filter(has_text="remembered")).to_have_count(1)
            expect(admin.locator('#user-sessions tr[data-current="true"]')).to_have_count(0)

            newest = rows.first  # newest first: the last device that signed in
            newest.locator('button[data-do="end-session"]').click()
            admin.locator("dialog.modal button[type=submit]").click()
            expect(rows).to_have_count(2, timeout=STEP)
            devices[2].goto(f"{server.url}/")
            expect(devices[2]).to_have_url(f"{server.url}/login?next=/", timeout=STEP)
            devices[0].goto(f"{server.url}/")
            expect(devices[0]).to_have_url(f"{server.url}/")

            admin.click("#end-all-sessions")
            admin.locator("dialog.modal button[type=submit]").click()
            expect(admin.locator("#user-sessions tbody")).to_contain_text(
                "No sessions", timeout=STEP)
            expect(admin.locator("#end-all-sessions")).to_be_disabled()
            for device in devices[:2]:
                device.goto(f"{server.url}/")
                expect(device).to_have_url(f"{server.url}/login?next=/", timeout=STEP)
            admin.goto(f"{server.url}/")
            expect(admin).to_have_url(f"{server.url}/")  # the admin's own session goes on
            assert errors == []
        finally:
            browser.close()
