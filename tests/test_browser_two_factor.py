"""A real browser enrols in two-factor sign-in from the account page, signs out, and signs
in again with the password and then a code; it makes a scoped, expiring API token, then
new recovery codes, and signs in with one of them where an old one is refused."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.sync_api import expect, sync_playwright

from pytorrent_core.testing import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.server]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "browser-Pass-1"
STEP = 15_000  # ms: every wait has a deadline, generous for a busy machine


def test_enrol_sign_out_and_sign_in_with_a_code(tmp_path: Path) -> None:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: apt-get install chromium"
    with ServerProcess(tmp_path) as server, sync_playwright() as playwright:
        assert server.cli("reset-password", "admin", PASSWORD).returncode == 0
        assert server.cli("profiles", "add", "home", "scgi://127.0.0.1:1").returncode == 0
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))

            page.goto(f"{server.url}/login?next=/account")
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            expect(page).to_have_url(f"{server.url}/account", timeout=STEP)
            page.wait_for_load_state("load")  # account.js has wired up its buttons

            # Enrol: the QR code loads, the key is there as text for typing by hand.
            page.click("#two-factor-start")
            secret_text = page.locator("#two-factor-secret")
            expect(secret_text).not_to_be_empty(timeout=STEP)
            qr = page.locator("#two-factor-qr")
            expect(qr).to_be_visible(timeout=STEP)
            # Not wait_for_function: when it had to poll, the page's Content-Security-
            # Policy (no unsafe-eval) refused its string predicate with an EvalError.
            expect(qr).to_have_js_property("complete", True, timeout=STEP)
            assert qr.evaluate("image => image.naturalWidth") > 0, "the QR code is broken"
            totp = pyotp.TOTP(secret_text.inner_text().replace(" ", ""))
            page.fill("#confirm-code", totp.now())
            page.click("#two-factor-confirm-button")
            codes = page.locator("#recovery-codes li")
            expect(codes).to_have_count(10, timeout=STEP)
            first_codes = codes.all_inner_texts()

            # A read-only token for one profile, expiring in 30 days.
            page.fill("#token-name", "watcher")
            page.select_option("#token-days", "30")
            page.select_option("#token-permission", "ro")
            page.check("#token-profiles input[data-profile='home']")
            page.click("#create-token")
            token_value = page.locator("#token-value")
            expect(token_value).not_to_have_value("", timeout=STEP)
            row = page.locator("#own-tokens tbody tr").first
            expect(row.locator(".token-scope")).to_have_text("ro on home", timeout=STEP)
            token = token_value.input_value()
            scoped = httpx.get(f"{server.url}/api/auth/users",
                               headers={"Authorization": f"Bearer {token}"})
            assert scoped.status_code == 403  # an admin's scoped token is no admin

            page.goto(f"{server.url}/logout")
            expect(page).to_have_url(f"{server.url}/login", timeout=STEP)

            # Password first: no session yet, the code page instead.
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            expect(page).to_have_url(f"{server.url}/login/2fa?next=/", timeout=STEP)
            assert httpx.get(f"{server.url}/api/auth/me", cookies={
                c["name"]: c["value"] for c in page.context.cookies()}).status_code == 401
            page.fill("#code", "000000")
            page.click("#verify-code")
            expect(page.locator("#code-error")).to_have_text("Invalid code.", timeout=STEP)
            # The confirmation code's step is used: the next step's code is new.
            page.fill("#code", totp.at(time.time() + 30))
            page.click("#verify-code")
            expect(page).to_have_url(f"{server.url}/", timeout=STEP)
            expect(page.locator("#username")).to_have_text("admin", timeout=STEP)

            # New recovery codes, confirmed with the password: all ten old ones are void.
            page.goto(f"{server.url}/account")
            page.wait_for_load_state("load")
            page.fill("#renew-proof", "wrong-Pass-1")
            page.click("#recovery-renew-button")
            expect(page.locator('#recovery-renew [data-error-for="password"]')).to_have_text(
                "the password is wrong", timeout=STEP)
            page.fill("#renew-proof", PASSWORD)
            page.click("#recovery-renew-button")
            expect(page.locator("#recovery-codes-replaced")).to_be_visible(timeout=STEP)
            expect(codes).to_have_count(10)
            new_codes = codes.all_inner_texts()
            assert len(set(new_codes)) == 10 and not set(new_codes) & set(first_codes)
            expect(page.locator("#recovery-codes-left")).to_have_text("10")

            page.goto(f"{server.url}/logout")
            expect(page).to_have_url(f"{server.url}/login", timeout=STEP)
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            expect(page).to_have_url(f"{server.url}/login/2fa?next=/", timeout=STEP)
            page.fill("#code", first_codes[0])
            page.click("#verify-code")
            expect(page.locator("#code-error")).to_have_text("Invalid code.", timeout=STEP)
            page.fill("#code", new_codes[0])
            page.click("#verify-code")
            expect(page).to_have_url(f"{server.url}/", timeout=STEP)
            assert errors == []
        finally:
            browser.close()
