"""A real browser signs in with OpenID Connect at a real provider and logs out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from support.oidc import MockProvider, oidc_env

from pytorrent_core.testing import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.server]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ALICE = {"preferred_username": "alice", "name": "Alice Liddell", "email": "alice@example.com",
         "email_verified": True, "groups": ["media"]}


def authorize_at_provider(page: Page, mock: MockProvider, sub: str) -> None:
    page.wait_for_url(f"{mock.issuer}/oauth2/authorize?**", timeout=15_000)
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()


def test_sign_in_with_the_provider_and_log_out(tmp_path: Path) -> None:
    # No skip: CI installs Chromium, and a missing browser must fail loudly.
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: apt-get install chromium"
    with MockProvider(tmp_path) as mock:
        mock.set_user("alice-sub", ALICE)
        env = oidc_env(mock.issuer, PYTORRENT_AUTH_OIDC_NAME="Authelia",
                       PYTORRENT_AUTH_PROXY_AUTO_CREATE="true")
        with ServerProcess(tmp_path, env) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))

                page.goto(f"{server.url}/account")
                expect(page).to_have_url(f"{server.url}/login?next=/account")
                page.get_by_role("link", name="Sign in with Authelia").click()
                authorize_at_provider(page, mock, "alice-sub")

                expect(page).to_have_url(f"{server.url}/account", timeout=15_000)
                page.goto(f"{server.url}/")
                expect(page.locator("#username")).to_have_text("alice")
                badge = page.locator("#connection-badge")
                expect(badge).to_have_text("online", timeout=15_000)
                cookies = {c["name"]: c for c in page.context.cookies()}
                assert cookies["pytorrent_session"]["httpOnly"] is True
                assert not [name for name in cookies if name.startswith("pytorrent_oidc_")]

                page.click("#logout")
                expect(page).to_have_url(f"{server.url}/login?signed_out=1")
                expect(page.locator("#signed-out")).to_be_visible()
                page.goto(f"{server.url}/")
                expect(page).to_have_url(f"{server.url}/login?next=/")
                assert errors == []
            finally:
                browser.close()


def test_auto_redirect_and_end_session(tmp_path: Path) -> None:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: apt-get install chromium"
    with MockProvider(tmp_path) as mock:
        mock.set_user("alice-sub", ALICE)
        env = oidc_env(mock.issuer, PYTORRENT_AUTH_PROXY_AUTO_CREATE="true",
                       PYTORRENT_AUTH_OIDC_AUTO_REDIRECT="true",
                       PYTORRENT_AUTH_OIDC_END_SESSION="true")
        with ServerProcess(tmp_path, env) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(f"{server.url}/")
                authorize_at_provider(page, mock, "alice-sub")  # no click at pyTorrent
                expect(page).to_have_url(f"{server.url}/", timeout=15_000)
                expect(page.locator("#username")).to_have_text("alice")
                expect(page.locator("#connection-badge")).to_have_text("online", timeout=15_000)
                page.click("#logout")
                page.wait_for_url(f"{mock.issuer}/oauth2/end_session?**", timeout=15_000)
                assert "id_token_hint=" in page.url
                page.get_by_role("button", name="End session").click()
                # Back at pyTorrent's sign-in, which sends the browser to the provider again.
                page.wait_for_url(f"{mock.issuer}/oauth2/authorize?**", timeout=15_000)
                assert page.request.get(f"{server.url}/api/auth/me").status == 401
            finally:
                browser.close()
