"""A real browser signs in through the form, sees the badge go online, and logs out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from pytorrent_core.testing import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.server]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "browser-Pass-1"


def test_login_badge_online_and_logout(tmp_path: Path) -> None:
    # No skip: CI installs Chromium, and a missing browser must fail loudly.
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: apt-get install chromium"
    with ServerProcess(tmp_path) as server, sync_playwright() as playwright:
        reset = server.cli("reset-password", "admin", PASSWORD)
        assert reset.returncode == 0, reset.stderr
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))

            page.goto(f"{server.url}/")
            expect(page).to_have_url(f"{server.url}/login?next=/")
            page.fill("#username", "admin")
            page.fill("#password", "wrong-Pass-1")
            page.click("#sign-in")
            expect(page.locator("#login-error")).to_have_text("Invalid username or password.")

            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            expect(page).to_have_url(f"{server.url}/")
            expect(page.locator("#username")).to_have_text("admin")
            badge = page.locator("#connection-badge")
            expect(badge).to_have_text("online", timeout=15_000)
            expect(badge).to_have_attribute("data-state", "online")
            expect(badge).to_have_class("badge online")

            page.click("#logout")
            expect(page).to_have_url(f"{server.url}/login")
            expect(page.locator("#login-form")).to_be_visible()
            page.goto(f"{server.url}/")
            expect(page).to_have_url(f"{server.url}/login?next=/")
            assert errors == []
        finally:
            browser.close()


def test_badge_goes_offline_when_the_session_is_ended(tmp_path: Path) -> None:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: apt-get install chromium"
    with ServerProcess(tmp_path) as server, sync_playwright() as playwright:
        assert server.cli("reset-password", "admin", PASSWORD).returncode == 0
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{server.url}/login")
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            badge = page.locator("#connection-badge")
            expect(badge).to_have_text("online", timeout=15_000)
            assert server.cli("reset-password", "admin", "other-Pass-2").returncode == 0
            expect(badge).to_have_text("offline", timeout=15_000)
            expect(badge).to_have_attribute("data-state", "offline")
        finally:
            browser.close()
