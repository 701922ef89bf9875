"""Screenshots of the account-security pages from a real server, to look at by eye:

    .venv/bin/python tests/ui_harness/account_screenshots.py [output directory]

Starts ``pytorrent serve`` in a temporary directory, signs a user in from three
devices, makes some failed sign-ins and changes for the audit log, enrols a user
in two-factor sign-in, and photographs in headless Chromium (/usr/bin/chromium),
at desktop 1280x800 and phone 390x844, light and dark: /admin/audit, the account
page with its sessions and a two-factor enrolment under way, the code step of the
two-step sign-in, the account page of a two-factor user who just made new recovery
codes, the admin's list of users and their page of one user with their sessions. Whole
pages, so nothing below the fold is missed. Prints the path of every file.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pyotp
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pytorrent_core.testing import ServerProcess  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "screenshot-Pass-1"  # noqa: S105 - a throwaway server
VARIANTS = [("desktop-light", {"width": 1280, "height": 800}, "light"),
            ("desktop-dark", {"width": 1280, "height": 800}, "dark"),
            ("phone-light", {"width": 390, "height": 844}, "light"),
            ("phone-dark", {"width": 390, "height": 844}, "dark")]
AGENTS = {
    "phone": ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like "
              "Gecko) Chrome/125.0.0.0 Mobile Safari/537.36"),
    "laptop": "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
    "mac": ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.4 Safari/605.1.15"),
}


def sign_in(context: BrowserContext, url: str, username: str, *, remember: bool = False,
            lands: str = "/") -> Page:
    page = context.new_page()
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    if remember:
        page.check("#remember")
    page.click("#sign-in")
    expect(page).to_have_url(f"{url}{lands}", timeout=30_000)
    return page


def populate(browser: Browser, server: ServerProcess) -> tuple[int, list[str]]:
    """Users, sessions on several devices, a two-factor user and some audit history.
    Returns the id of the user whose admin page is photographed and the recovery codes
    of the two-factor user."""
    url = server.url
    for name in ("erin", "tess"):
        made = server.cli("users", "add", name, "--password", PASSWORD, "--permission", "ro",
                          "--display-name", name.capitalize() + " Example")
        assert made.returncode == 0, made.stderr
    for agent, remember in (("phone", True), ("laptop", False), ("mac", True)):
        sign_in(browser.new_context(user_agent=AGENTS[agent]), url, "erin", remember=remember)
    api = browser.new_context(extra_http_headers={"Origin": url}).request
    for _ in range(3):
        api.post(f"{url}/api/auth/login", data={"username": "erin", "password": "guess-Pass-1"})
    assert api.post(f"{url}/api/auth/login",
                    data={"username": "tess", "password": PASSWORD}).ok
    secret = api.post(f"{url}/api/auth/2fa/setup", data={}).json()["secret"]
    confirmed = api.post(f"{url}/api/auth/2fa/confirm", data={"code": pyotp.TOTP(secret).now()})
    assert confirmed.ok, confirmed.text()
    assert api.post(f"{url}/api/auth/login",
                    data={"username": "admin", "password": PASSWORD}).ok
    users = api.get(f"{url}/api/auth/users").json()["users"]
    erin = next(user["id"] for user in users if user["username"] == "erin")
    api.put(f"{url}/api/auth/users/{erin}", data={"role": "user", "permissions": {"*": "full"}})
    token = api.post(f"{url}/api/auth/users/{erin}/tokens",
                     data={"name": "backup script", "permission": "ro"}).json()
    api.delete(f"{url}/api/auth/users/{erin}/tokens/{token['record']['id']}")
    api.post(f"{url}/api/profiles", data={"name": "Seedbox", "scgi_url": "scgi://127.0.0.1:1"})
    return int(erin), list(confirmed.json()["recovery_codes"])


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pytorrent-account-shots-") as temp, \
            ServerProcess(Path(temp)) as server, sync_playwright() as playwright:
        assert server.cli("reset-password", "admin", PASSWORD).returncode == 0
        url = server.url
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        erin, recovery_codes = populate(browser, server)
        for variant, viewport, scheme in VARIANTS:
            options = {"viewport": viewport, "color_scheme": scheme,
                       "is_mobile": variant.startswith("phone"),
                       "has_touch": variant.startswith("phone")}

            def shoot(page: Page, name: str, variant: str = variant) -> None:
                target = out / f"{name}-{variant}.png"
                page.screenshot(path=str(target), full_page=True)
                print(target)

            context = browser.new_context(**options)  # type: ignore[arg-type]
            admin = sign_in(context, url, "admin")
            admin.goto(f"{url}/admin/audit")
            expect(admin.locator('#audit-table tr[data-kind="profile.create"]')).to_have_count(
                1, timeout=30_000)
            shoot(admin, "admin-audit")

            admin.goto(f"{url}/admin/users")
            expect(admin.locator('#users-table a[data-do="sessions"]')).to_have_count(3)
            shoot(admin, "admin-users")

            admin.goto(f"{url}/admin/users/{erin}")
            expect(admin.locator("#user-sessions tbody tr[data-session-id]")).to_have_count(3)
            shoot(admin, "admin-user-sessions")

            admin.goto(f"{url}/account")
            admin.wait_for_load_state("load")
            admin.click("#two-factor-start")
            expect(admin.locator("#two-factor-secret")).not_to_be_empty(timeout=30_000)
            qr = admin.locator("#two-factor-qr")
            expect(qr).to_have_js_property("complete", True, timeout=30_000)
            assert qr.evaluate("image => image.naturalWidth") > 0, "the QR code did not load"
            expect(admin.locator("#sessions tbody tr[data-session-id]")).not_to_have_count(0)
            expect(admin.locator("#own-tokens tbody tr")).not_to_have_count(0)
            shoot(admin, "account")
            context.close()

            context = browser.new_context(**options)  # type: ignore[arg-type]
            code_step = sign_in(context, url, "tess", lands="/login/2fa?next=/")
            code_step.fill("#code", "000000")
            code_step.click("#verify-code")
            expect(code_step.locator("#code-error")).to_have_text("Invalid code.")
            shoot(code_step, "login-code")
            code_step.fill("#code", recovery_codes.pop())
            code_step.click("#verify-code")
            expect(code_step).to_have_url(f"{url}/", timeout=30_000)
            code_step.goto(f"{url}/account")
            code_step.wait_for_load_state("load")
            code_step.fill("#renew-proof", PASSWORD)
            code_step.click("#recovery-renew-button")
            renewed = code_step.locator("#recovery-codes li")
            expect(renewed).to_have_count(10, timeout=30_000)
            recovery_codes = renewed.all_inner_texts()  # the old ones are void now
            shoot(code_step, "account-two-factor-on")
            context.close()
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "account-screenshots"))
