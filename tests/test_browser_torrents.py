"""The real server renders the torrent page, and its modules load and join the profile."""

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


def test_picker_card_then_torrent_page(tmp_path: Path) -> None:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: apt-get install chromium"
    with ServerProcess(tmp_path) as server, sync_playwright() as playwright:
        assert server.cli("reset-password", "admin", PASSWORD).returncode == 0
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{server.url}/login")
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            expect(page.locator("#no-profiles")).to_be_visible()
            made = page.request.post(f"{server.url}/api/profiles",
                                     headers={"Origin": server.url},
                                     data={"name": "Box", "scgi_url": "scgi://127.0.0.1:9"})
            assert made.status == 201, made.text()
            page.goto(f"{server.url}/")
            expect(page.locator(".pick-profile")).to_have_text("Box")
            expect(page.locator(".reach")).not_to_have_text("Checking rTorrent…")
            with page.expect_navigation():
                page.click(".pick-profile")
            expect(page.get_by_role("grid", name="Torrents")).to_be_visible()
            expect(page.locator("#connection-badge")).to_have_text("online", timeout=15_000)
            expect(page.locator("#username")).to_have_text("admin")
            expect(page.locator("[data-action=add]")).to_be_visible()
            assert page.locator("#profile-switcher").count() == 0  # one profile only
            assert errors == []
        finally:
            browser.close()
