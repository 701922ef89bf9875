"""On a phone-width screen (390x844) the top bar stays on one line and the admin and
account tables fit without sideways scrolling, every action still on screen and working:
real Chromium, a real ``pytorrent serve``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from pytorrent_core.testing import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.server]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "phone-Pass-123"
PHONE = {"width": 390, "height": 844}
STEP = 15_000  # ms


def assert_fits(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


def assert_on_screen(page: Page, selector: str) -> None:
    boxes = [box for box in (item.bounding_box() for item in page.locator(selector).all()) if box]
    assert boxes, f"nothing matches {selector}"
    for box in boxes:
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (selector, box)


def assert_one_line_top_bar(page: Page) -> None:
    brand = page.locator(".topbar .brand").bounding_box()
    logout = page.locator("#logout").bounding_box()
    assert brand and logout
    assert abs((brand["y"] + brand["height"] / 2) - (logout["y"] + logout["height"] / 2)) < 8, \
        f"Log out is not on the brand's line: {brand} {logout}"
    assert_on_screen(page, "#logout")
    assert_on_screen(page, "#whoami")


def test_top_bar_and_admin_tables_fit_a_phone(tmp_path: Path) -> None:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: apt-get install chromium"
    with ServerProcess(tmp_path) as server, sync_playwright() as playwright:
        url = server.url
        assert server.cli("reset-password", "admin", PASSWORD).returncode == 0
        made = server.cli("users", "add", "maximilian.longname", "--password", PASSWORD,
                          "--display-name", "Maximilian Longname Example")
        assert made.returncode == 0, made.stderr
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{url}/login")
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            expect(page).to_have_url(f"{url}/", timeout=STEP)
            assert_one_line_top_bar(page)
            page.click("#whoami")
            expect(page.locator(".menu-panel")).to_be_visible()
            assert_on_screen(page, ".menu-panel")

            api = context.request
            headers = {"Origin": url}
            users = api.get(f"{url}/api/auth/users").json()["users"]
            for user in users:
                assert api.post(f"{url}/api/auth/users/{user['id']}/tokens", headers=headers,
                                data={"name": "nightly backup script", "permission": "ro"}).ok

            page.goto(f"{url}/admin/users")
            expect(page.locator("#users-table tbody tr")).to_have_count(2, timeout=STEP)
            assert_fits(page)
            assert_one_line_top_bar(page)
            for action in ("sessions", "reset-password", "delete"):
                assert_on_screen(page, f'#users-table [data-do="{action}"]')
            assert_on_screen(page, '#users-table [data-field="role"]')
            assert_on_screen(page, '#users-table [data-field="active"]')

            page.goto(f"{url}/account")
            expect(page.locator("#own-tokens tbody tr")).to_have_count(1, timeout=STEP)
            assert_fits(page)
            assert_on_screen(page, "#own-tokens button.danger")

            page.goto(f"{url}/admin/tokens")
            rows = page.locator("#tokens-table tbody tr[data-token-id]")
            expect(rows).to_have_count(2, timeout=STEP)
            assert_fits(page)
            assert_on_screen(page, "#tokens-table button.danger")
            rows.last.locator("button.danger").click()
            page.locator("dialog.modal button[type=submit]").click()
            expect(page.locator('#tokens-table .state-tag[data-state="revoked"]')).to_have_count(
                1, timeout=STEP)

            for name in ("Seedbox", "Home server with a long name"):
                assert api.post(f"{url}/api/profiles", headers=headers,
                                data={"name": name, "scgi_url": "scgi://127.0.0.1:1"}).ok
            page.goto(f"{url}/")
            page.locator(".pick-profile").first.click()
            expect(page.locator("#profile-switcher")).to_be_visible(timeout=STEP)
            assert_one_line_top_bar(page)
            assert_on_screen(page, "#profile-switcher")
            switcher = page.locator("#profile-switcher").bounding_box()
            assert switcher and switcher["width"] >= 60, switcher
            assert errors == []
        finally:
            browser.close()
