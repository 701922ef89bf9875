"""Screenshots of the top bar, the admin tables and the sign-in pages, to look at by eye:

    .venv/bin/python tests/ui_harness/polish_screenshots.py [output directory]

Starts ``pytorrent serve`` (local sign-in) with a few users and tokens, later two
profiles; then one with OpenID Connect against the mock provider of
``tests/support/oidc.py``; then one with the proxy provider. Photographs in headless
Chromium (/usr/bin/chromium), at desktop 1280x800 and phone 390x844, light and dark:
the index page (with its account menu open), the torrent list's top bar, /admin/users,
/admin/tokens, /account, the OIDC sign-in and error pages and the proxy sign-in page.
Whole pages, so nothing below the fold is missed. Prints every path.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from account_screenshots import CHROMIUM, CHROMIUM_ARGS, PASSWORD, VARIANTS, sign_in  # noqa: E402
from support.oidc import MockProvider, oidc_env  # noqa: E402

from pytorrent_core.testing import ServerProcess  # noqa: E402


def populate(browser: Browser, url: str, server: ServerProcess) -> None:
    for name in ("erin", "tess", "maximilian.longname"):
        made = server.cli("users", "add", name, "--password", PASSWORD, "--permission", "ro",
                          "--display-name", name.capitalize() + " Example")
        assert made.returncode == 0, made.stderr
    api = browser.new_context(extra_http_headers={"Origin": url}).request
    assert api.post(f"{url}/api/auth/login", data={"username": "admin", "password": PASSWORD}).ok
    users = api.get(f"{url}/api/auth/users").json()["users"]
    for user in users:
        for name in ("backup script", "nightly sync"):
            api.post(f"{url}/api/auth/users/{user['id']}/tokens",
                     data={"name": name, "permission": "ro"})


def contexts(browser: Browser) -> Iterator[tuple[str, BrowserContext]]:
    """A fresh browser context for each of VARIANTS (size, touch, colour scheme), closed
    after use."""
    for variant, viewport, scheme in VARIANTS:
        phone = variant.startswith("phone")
        context = browser.new_context(viewport=viewport, color_scheme=scheme,  # type: ignore[arg-type]
                                      is_mobile=phone, has_touch=phone)
        try:
            yield variant, context
        finally:
            context.close()


def shoot(page: Page, out: Path, name: str, variant: str) -> None:
    target = out / f"{name}-{variant}.png"
    page.screenshot(path=str(target), full_page=True)
    print(target)


def local_pages(out: Path, browser: Browser, temp: Path) -> None:
    with ServerProcess(temp) as server:
        assert server.cli("reset-password", "admin", PASSWORD).returncode == 0
        url = server.url
        populate(browser, url, server)
        for with_profiles in (False, True):
            if with_profiles:
                api = browser.new_context(extra_http_headers={"Origin": url}).request
                api.post(f"{url}/api/auth/login", data={"username": "admin", "password": PASSWORD})
                for name in ("Seedbox", "Home server"):
                    api.post(f"{url}/api/profiles",
                             data={"name": name, "scgi_url": "scgi://127.0.0.1:1"})
            shots(out, browser, url, with_profiles)


def shots(out: Path, browser: Browser, url: str, with_profiles: bool) -> None:
    """The index page with its account menu open; without profiles also the admin pages."""
    index = "torrents" if with_profiles else "index"
    for variant, context in contexts(browser):
        page = sign_in(context, url, "admin")
        page.wait_for_load_state("load")
        shoot(page, out, index, variant)
        page.locator("#whoami").click()
        expect(page.locator(".menu-panel")).to_be_visible()
        shoot(page, out, f"{index}-menu", variant)
        if with_profiles:  # the torrent list's top bar, with its profile switcher
            page.keyboard.press("Escape")
            page.goto(f"{url}/")
            if page.locator(".pick-profile").count():  # the choice is kept: asked only once
                page.locator(".pick-profile").first.click()
            expect(page.locator("#profile-switcher")).to_be_visible(timeout=30_000)
            shoot(page, out, "torrent-list", variant)
        else:
            page.goto(f"{url}/admin/users")
            expect(page.locator("#users-table tbody tr")).not_to_have_count(0, timeout=30_000)
            shoot(page, out, "admin-users", variant)
            page.goto(f"{url}/admin/tokens")
            expect(page.locator("#tokens-table tbody tr")).not_to_have_count(0, timeout=30_000)
            shoot(page, out, "admin-tokens", variant)
            page.goto(f"{url}/account")
            expect(page.locator("#own-tokens tbody tr")).not_to_have_count(0, timeout=30_000)
            shoot(page, out, "account", variant)


def oidc_pages(out: Path, browser: Browser, temp: Path) -> None:
    with MockProvider(temp) as mock:
        env = oidc_env(mock.issuer, PYTORRENT_AUTH_OIDC_NAME="Authelia")
        with ServerProcess(temp, env) as server:
            for variant, context in contexts(browser):
                page = context.new_page()
                page.goto(f"{server.url}/login")
                expect(page.locator("#oidc-sign-in")).to_be_visible()
                shoot(page, out, "oidc-login", variant)
                page.goto(f"{server.url}/auth/oidc/callback?state=nonsense&code=x")
                expect(page.locator("#oidc-error")).to_be_visible()
                shoot(page, out, "oidc-error", variant)


def header_provider_pages(out: Path, browser: Browser, temp: Path) -> None:
    """The sign-in page of the proxy provider: no form, the reason no user arrived."""
    with ServerProcess(temp, {"PYTORRENT_AUTH_PROVIDER": "proxy"}) as server:
        for variant, context in contexts(browser):
            page = context.new_page()
            page.goto(f"{server.url}/login")
            expect(page.locator("#external-login")).to_be_visible()
            shoot(page, out, "proxy-login", variant)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pytorrent-polish-shots-") as temp, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        (Path(temp) / "local").mkdir()
        (Path(temp) / "oidc").mkdir()
        (Path(temp) / "proxy").mkdir()
        local_pages(out, browser, Path(temp) / "local")
        oidc_pages(out, browser, Path(temp) / "oidc")
        header_provider_pages(out, browser, Path(temp) / "proxy")
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "polish-screenshots"))
