"""End to end: real Chromium, a real ``pytorrent serve`` and a real rtorrent.

Every wait is a condition with a deadline (Playwright's ``expect``), never a sleep.
One server and one rtorrent serve the module; each test signs in its own browser
context, so tests do not share cookies.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import (
    APIRequestContext,
    Browser,
    Locator,
    Page,
    Playwright,
    expect,
    sync_playwright,
)
from support.rtorrent import RTorrentProcess, make_torrent

from pytorrent_core.testing import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.server]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ADMIN_PASSWORD = "e2e-Admin-Pass-1"
Opener = Callable[[], Page]
LIVE = 20_000  # ms: the watcher polls rtorrent; a change reaches the page within this
STEP = 15_000  # ms: any other condition, generous for a busy CI machine


@dataclass
class World:
    server: ServerProcess
    rtorrent: RTorrentProcess
    api: APIRequestContext  # signed in as admin, sends this site's Origin
    browser: Browser
    profile_id: int
    first_hash: str

    def add_torrent(self, name: str, size: int = 30_000) -> str:
        data, info_hash = make_torrent(self.rtorrent.download_dir, name, os.urandom(size))
        reply = self.api.post(f"/api/profiles/{self.profile_id}/torrents", multipart={
            "torrent": {"name": f"{name}.torrent", "mimeType": "application/x-bittorrent",
                        "buffer": data}})
        assert reply.status == 201, reply.text()
        return info_hash

    def act(self, action: str, info_hash: str) -> None:
        reply = self.api.post(f"/api/profiles/{self.profile_id}/torrents/actions",
                              data={"action": action, "hashes": [info_hash]})
        assert reply.status == 200, reply.text()

    def create_user(self, username: str, password: str, level: str) -> None:
        reply = self.api.post("/api/auth/users", data={
            "username": username, "password": password, "role": "user",
            "permissions": {str(self.profile_id): level}})
        assert reply.status == 201, reply.text()


def _api(playwright: Playwright, url: str, username: str, password: str) -> APIRequestContext:
    api = playwright.request.new_context(base_url=url, extra_http_headers={"Origin": url})
    reply = api.post("/api/auth/login", data={"username": username, "password": password})
    assert reply.status == 200, reply.text()
    return api


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: apt-get install chromium"
    root = tmp_path_factory.mktemp("e2e")
    (root / "srv").mkdir()
    with RTorrentProcess(root / "rt") as rtorrent, ServerProcess(root / "srv") as server, \
            sync_playwright() as playwright:
        assert server.cli("reset-password", "admin", ADMIN_PASSWORD).returncode == 0
        api = _api(playwright, server.url, "admin", ADMIN_PASSWORD)
        made = api.post("/api/profiles", data={"name": "Box", "scgi_url": rtorrent.url})
        assert made.status == 201, made.text()
        profile_id = made.json()["profile"]["id"]
        assert api.post(f"/api/profiles/{profile_id}/activate", data={}).status == 200
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        world = World(server, rtorrent, api, browser, profile_id, "")
        world.first_hash = world.add_torrent("first-through-the-api")
        expect.set_options(timeout=STEP)  # for this module only: reset below
        try:
            yield world
        finally:
            expect.set_options(timeout=None)
            browser.close()
            api.dispose()


@pytest.fixture
def new_page(world: World) -> Iterator[Opener]:
    contexts = []
    errors: list[str] = []

    def opener() -> Page:
        context = world.browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(STEP)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield opener
    for context in contexts:
        context.close()
    assert errors == []


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#sign-in")


def pick_profile(page: Page, name: str) -> None:
    """A user without a saved choice picks the profile on the picker page first."""
    # The reachability text shows that picker.js is running, so the click is handled.
    expect(page.locator(".reach").first).not_to_have_text("Checking rTorrent…")
    with page.expect_navigation():
        page.get_by_role("button", name=name, exact=True).click()


def row(page: Page, info_hash: str) -> Locator:
    return page.get_by_role("row").and_(page.locator(f'[data-hash="{info_hash}"]'))


def test_sign_in_then_the_api_torrent_is_in_the_table(world: World, new_page: Opener) -> None:
    page: Page = new_page()
    sign_in(page, world.server.url, "admin", ADMIN_PASSWORD)
    expect(page).to_have_url(f"{world.server.url}/")
    expect(page.get_by_role("grid", name="Torrents")).to_be_visible()
    found = row(page, world.first_hash)
    expect(found).to_be_visible(timeout=LIVE)
    expect(found.locator(".c-name")).to_have_text("first-through-the-api")


def test_stop_through_the_api_updates_the_row_live(world: World, new_page: Opener) -> None:
    info_hash = world.add_torrent("stopped-through-the-api")
    page: Page = new_page()
    sign_in(page, world.server.url, "admin", ADMIN_PASSWORD)
    state = row(page, info_hash).locator(".state-pill")
    expect(state).to_have_attribute("data-state", re.compile(r"^(?!stopped$)\w+$"), timeout=LIVE)
    page.evaluate("window.e2eMarker = 'same page'")
    world.act("stop", info_hash)
    expect(state).to_have_attribute("data-state", "stopped", timeout=LIVE)
    expect(state).to_have_text(re.compile("stopped", re.IGNORECASE))
    assert page.evaluate("window.e2eMarker") == "same page"  # no reload happened


def test_add_a_torrent_file_through_the_dialog(world: World, new_page: Opener,
                                               tmp_path: Path) -> None:
    data, info_hash = make_torrent(world.rtorrent.download_dir, "added-in-the-dialog",
                                   os.urandom(20_000))
    torrent_file = tmp_path / "added-in-the-dialog.torrent"
    torrent_file.write_bytes(data)
    page: Page = new_page()
    sign_in(page, world.server.url, "admin", ADMIN_PASSWORD)
    expect(row(page, world.first_hash)).to_be_visible(timeout=LIVE)
    page.click("[data-action=add]")
    dialog = page.get_by_role("dialog", name="Add torrents")
    expect(dialog).to_be_visible()
    with page.expect_file_chooser() as chooser:
        dialog.get_by_text("Choose .torrent files…").click()
    chooser.value.set_files(torrent_file)
    expect(page.locator("#add-file-list")).to_contain_text("added-in-the-dialog.torrent")
    dialog.get_by_role("button", name="Add", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(row(page, info_hash)).to_be_visible(timeout=LIVE)


def test_read_only_user_sees_no_actions_and_a_forged_action_is_403(
        world: World, new_page: Opener) -> None:
    world.create_user("reader", "reader-Pass-1", "ro")
    page: Page = new_page()
    sign_in(page, world.server.url, "reader", "reader-Pass-1")
    pick_profile(page, "Box")
    expect(row(page, world.first_hash)).to_be_visible(timeout=LIVE)
    expect(page.locator("#dashboard")).to_have_attribute("data-level", "ro")
    expect(page.locator(".toolbar [data-action]")).to_have_count(0)
    status = page.evaluate(
        """([profile, hash]) => fetch(`/api/profiles/${profile}/torrents/actions`, {
               method: "POST", credentials: "same-origin",
               headers: {"Content-Type": "application/json"},
               body: JSON.stringify({action: "stop", hashes: [hash]}),
           }).then((reply) => reply.status)""", [world.profile_id, world.first_hash])
    assert status == 403


def test_admin_creates_a_user_and_grants_ro_on_the_admin_page(
        world: World, new_page: Opener) -> None:
    admin: Page = new_page()
    sign_in(admin, world.server.url, "admin", ADMIN_PASSWORD)
    expect(admin.locator("#connection-badge")).to_have_text("online", timeout=LIVE)
    admin.click("#whoami")
    admin.get_by_role("link", name="Admin").click()
    expect(admin).to_have_url(f"{world.server.url}/admin/users")
    admin.fill("#new-username", "viewer")
    admin.fill("#new-password", "viewer-Pass-1")
    admin.click("#create-user")
    expect(admin.locator("#users-table tr[data-username=viewer]")).to_be_visible()
    grant = admin.get_by_label("viewer: Box")
    expect(grant).to_have_value("none")
    grant.select_option("ro")
    expect(admin.locator(".toast").filter(has_text="viewer: Box is now ro.")).to_be_visible()
    expect(admin.get_by_label("viewer: Box")).to_have_value("ro")  # re-read from the API

    viewer: Page = new_page()
    sign_in(viewer, world.server.url, "viewer", "viewer-Pass-1")
    pick_profile(viewer, "Box")
    expect(row(viewer, world.first_hash)).to_be_visible(timeout=LIVE)
    expect(viewer.locator("#dashboard")).to_have_attribute("data-level", "ro")
    assert viewer.locator("#nav-admin").count() == 0


def test_first_start_password_must_be_changed(tmp_path: Path, world: World,
                                              new_page: Opener) -> None:
    with ServerProcess(tmp_path) as fresh:
        found = re.search(r"one-time password: (\S+)", fresh.log())
        assert found, fresh.log()
        page: Page = new_page()
        sign_in(page, fresh.url, "admin", found.group(1))
        expect(page).to_have_url(f"{fresh.url}/account")
        expect(page.locator("#password-change-required")).to_be_visible()
        page.goto(f"{fresh.url}/")
        expect(page).to_have_url(f"{fresh.url}/account")  # nothing else until it is changed
        page.fill("#current-password", found.group(1))
        page.fill("#new-password", "my-Own-Pass-1")
        page.click("#change-password")
        expect(page).to_have_url(f"{fresh.url}/")
        expect(page.locator("#no-profiles")).to_be_visible()
        expect(page.locator("#connection-badge")).to_have_text("online", timeout=LIVE)
