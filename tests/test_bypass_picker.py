"""AUTH.md: without a saved active profile the bypass user gets a profile picker, never a
silently chosen first profile; the choice is saved and reused on the next direct visit."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from test_bypass import seed

from pytorrent_core.testing import ServerProcess, free_port, running_app
from pytorrent_core.web.app import PyTorrentApp

DIRECT = {"Host": "10.11.1.11:8090"}
ENV = {"PYTORRENT_AUTH_PROVIDER": "tinyauth", "PYTORRENT_AUTH_BYPASS_HOSTS": "10.11.1.11:8090"}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[PyTorrentApp]:
    async with running_app(tmp_path, ENV) as running:
        yield running


async def page(app: PyTorrentApp) -> str:
    reply = await app.quart.test_client().get("/", headers=DIRECT)
    assert reply.status_code == 200
    return await reply.get_data(as_text=True)


def picker_choices(html: str) -> list[tuple[str, str]]:
    return re.findall(r'class="pick-profile" data-profile-id="(\d+)">([^<]*)<', html)


async def test_no_profiles_no_picker(app: PyTorrentApp) -> None:
    html = await page(app)
    assert 'id="profile-picker"' not in html
    assert 'id="no-profiles"' in html
    assert "picker.js" not in html


async def test_picker_then_saved_choice_is_reused(app: PyTorrentApp) -> None:
    store = app.services.store
    zeta = await store.create_profile("Zeta", "scgi://z:1")
    alpha = await store.create_profile("Alpha", "scgi://a:1")
    html = await page(app)
    assert 'id="profile-picker"' in html
    assert 'id="dashboard"' not in html  # nothing chosen for the user
    assert "picker.js" in html
    assert picker_choices(html) == [(str(alpha.id), "Alpha"), (str(zeta.id), "Zeta")]

    chose = await app.quart.test_client().post(
        f"/api/profiles/{zeta.id}/activate",
        headers={**DIRECT, "Origin": "http://10.11.1.11:8090"})
    assert chose.status_code == 200
    admin = await store.get_user_by_name("admin")
    assert await store.active_profile(admin.id) == zeta.id  # saved in the preferences

    for _ in range(2):  # next visits reuse it
        html = await page(app)
        assert 'id="profile-picker"' not in html
        assert f'data-active-profile="{zeta.id}"' in html
        assert "picker.js" not in html


async def test_picker_choice_needs_same_origin(app: PyTorrentApp) -> None:
    store = app.services.store
    profile = await store.create_profile("A", "scgi://a:1")
    forged = await app.quart.test_client().post(
        f"/api/profiles/{profile.id}/activate",
        headers={**DIRECT, "Origin": "http://evil.example"})
    assert forged.status_code == 403
    admin = await store.get_user_by_name("admin")
    assert await store.active_profile(admin.id) is None


async def test_picker_returns_when_the_saved_profile_is_gone(app: PyTorrentApp) -> None:
    store = app.services.store
    a = await store.create_profile("A", "scgi://a:1")
    b = await store.create_profile("B", "scgi://b:1")
    admin = await store.get_user_by_name("admin")
    await store.set_active_profile(admin.id, a.id)
    assert f'data-active-profile="{a.id}"' in await page(app)
    await store.delete_profile(a.id)
    html = await page(app)
    assert picker_choices(html) == [(str(b.id), "B")]


async def test_user_bypass_picker_lists_only_readable_profiles(tmp_path: Path) -> None:
    env = {**ENV, "PYTORRENT_AUTH_BYPASS_USER": "viewer"}
    await seed(tmp_path, "viewer", grants={"B": "ro"})
    async with running_app(tmp_path, env) as app:
        store = app.services.store
        ids = {p.name: p.id for p in await store.list_profiles()}
        html = await page(app)
        assert picker_choices(html) == [(str(ids["B"]), "B")]
        denied = await app.quart.test_client().post(
            f"/api/profiles/{ids['A']}/activate",
            headers={**DIRECT, "Origin": "http://10.11.1.11:8090"})
        assert denied.status_code == 403
        viewer = await store.get_user_by_name("viewer")
        await store.set_active_profile(viewer.id, ids["A"])  # saved, but not readable
        assert picker_choices(await page(app)) == [(str(ids["B"]), "B")]


@pytest.mark.browser
@pytest.mark.server
async def test_picker_in_chromium(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    port = free_port()
    env = {**ENV, "PYTORRENT_AUTH_BYPASS_HOSTS": f"127.0.0.1:{port}"}
    with ServerProcess(tmp_path, env, port=port) as server:
        async with httpx.AsyncClient() as http:
            for name in ("Home", "Seedbox"):
                made = await http.post(f"{server.url}/api/profiles",
                                       headers={"Origin": server.url},
                                       json={"name": name, "scgi_url": "scgi://10.0.0.2:5000"})
                assert made.status_code == 201, made.text
            seedbox = made.json()["profile"]["id"]
        async with async_playwright() as driver:
            browser = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                first = await browser.new_page()
                await first.goto(f"{server.url}/")
                assert await first.locator(".pick-profile").all_text_contents() == [
                    "Home", "Seedbox"]
                async with first.expect_navigation():
                    await first.click(f".pick-profile[data-profile-id='{seedbox}']")
                await first.wait_for_selector("#dashboard")
                assert await first.get_attribute("#dashboard", "data-active-profile") == str(
                    seedbox)
                # A fresh browser (no cookies, nothing stored) on the next direct visit.
                later = await (await browser.new_context()).new_page()
                await later.goto(f"{server.url}/")
                await later.wait_for_selector("#dashboard")
                assert await later.locator("#profile-picker").count() == 0
                assert await later.get_attribute("#dashboard", "data-active-profile") == str(
                    seedbox)
            finally:
                await browser.close()
