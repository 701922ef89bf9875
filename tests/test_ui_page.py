"""The torrent page (real torrents.html + app.js) in Chromium, against a fake server.

tests/ui_harness/fake_server.js stands in for Socket.IO and REST, so these
check the client's side of the contract: what it sends and how it shows replies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from support.ui_server import ui_server

pytestmark = [pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Browser, str]]:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: apt-get install chromium"
    with ui_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser, url
        finally:
            browser.close()


@pytest.fixture
def open_page(served: tuple[Browser, str]) -> Iterator[Any]:
    browser, url = served
    contexts = []
    errors: list[str] = []

    def opener(query: str = "") -> Page:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{url}/page?rows=30{query}")
        expect(page.locator("[role=row][data-hash]").first).to_be_visible()
        return page

    yield opener
    for context in contexts:
        context.close()
    assert errors == []


def requests(page: Page, kind: str = "method") -> list[dict[str, Any]]:
    return [e for e in page.evaluate("fakeServer.log") if kind in e]


def first_rows(page: Page, n: int) -> list[str]:
    return page.evaluate(f"pytorrentPage.table.view.slice(0, {n})")


def test_snapshot_status_and_actions(open_page: Any) -> None:
    page = open_page()
    expect(page.locator("#connection-badge")).to_have_text("online")
    expect(page.locator("#rate-down")).to_have_text("↓ 2.19 MiB/s")
    expect(page.locator("#unreachable-banner")).to_be_hidden()
    start = page.locator("[data-action=start]")
    expect(start).to_be_disabled()
    one, two = first_rows(page, 2)
    page.click(f"[data-hash='{one}']")
    page.click(f"[data-hash='{two}']", modifiers=["Shift"])
    expect(page.locator("#selection-count")).to_have_text("2 selected")
    start.click()
    expect(page.locator(".toast").first).to_have_text("Started 1 torrent.")
    expect(page.locator(".toast.error")).to_contain_text("1 failed: ")
    sent = [r for r in requests(page) if r["url"].endswith("/torrents/actions")]
    assert sent == [{"method": "POST", "url": "/api/profiles/1/torrents/actions",
                     "body": {"action": "start", "hashes": [one, two]},
                     "contentType": "application/json"}]


def test_diff_over_socket_and_rejoin(open_page: Any) -> None:
    page = open_page()
    hash_ = first_rows(page, 1)[0]
    page.evaluate(f"fakeServer.fire('torrents:diff', {{profile_id: 1, revision: 2, "
                  f"changed: [{{hash: '{hash_}', name: 'renamed.iso'}}], removed: []}})")
    expect(page.locator(f"[data-hash='{hash_}'] .c-name")).to_have_text("renamed.iso")
    page.evaluate("fakeServer.fire('torrents:diff', {profile_id: 2, revision: 3, "
                  f"changed: [{{hash: '{hash_}', name: 'other profile'}}], removed: []}})")
    expect(page.locator(f"[data-hash='{hash_}'] .c-name")).to_have_text("renamed.iso")
    page.evaluate("fakeServer.disconnect()")
    expect(page.locator("#connection-badge")).to_have_text("offline")
    page.evaluate("fakeServer.reconnect()")
    expect(page.locator("#connection-badge")).to_have_text("online")
    joins = [e["data"] for e in requests(page, "socket") if e["socket"] == "profile:join"]
    assert joins == [{"profile_id": 1}, {"profile_id": 1}]
    expect(page.locator(f"[data-hash='{hash_}'] .c-name")).not_to_have_text("renamed.iso")


def test_unreachable_banner(open_page: Any) -> None:
    page = open_page("&unreachable=1")
    expect(page.locator("#unreachable-banner")).to_have_text(
        "rTorrent for this profile is unreachable: connection refused "
        "(scgi://10.0.0.2:5000). Retrying…")
    page.evaluate("fakeServer.fire('profile:status', {profile_id: 1, connected: true, "
                  "down_rate: 0, up_rate: 0, torrents: 30})")
    expect(page.locator("#unreachable-banner")).to_be_hidden()


def test_read_only_user_sees_no_actions(open_page: Any) -> None:
    page = open_page("&level=ro")
    expect(page.locator("#dashboard")).to_have_attribute("data-level", "ro")
    assert page.locator("[data-action]").count() == 0
    assert page.locator("dialog").count() == 0
    row = page.locator(f"[data-hash='{first_rows(page, 1)[0]}']")
    row.click(button="right")
    expect(page.get_by_role("menu")).to_be_visible()
    assert page.get_by_role("menuitem").all_text_contents() == ["Details"]
    page.keyboard.press("Enter")
    expect(page.get_by_role("tab", name="General")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#details-panel dl")).to_be_visible()


def test_context_menu_by_keyboard_and_remove_dialog(open_page: Any) -> None:
    page = open_page()
    grid = page.get_by_role("grid")
    grid.focus()
    grid.press("ArrowDown")
    grid.press("Shift+F10")
    items = page.get_by_role("menuitem")
    assert items.all_text_contents() == ["Details", "Start", "Pause", "Stop", "Recheck",
                                         "Set label…", "Remove…"]
    expect(items.first).to_be_focused()
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    dialog = page.locator("#remove-dialog")
    expect(dialog).to_be_visible()
    page.check("#remove-delete-data")
    dialog.get_by_role("button", name="Remove").click()
    sent = [r for r in requests(page) if r["url"].endswith("/torrents/actions")]
    assert sent[-1]["body"] == {"action": "remove", "hashes": first_rows(page, 1),
                                "delete_data": True}


def test_remove_without_delete_data_when_profile_forbids(open_page: Any) -> None:
    page = open_page("&deleteData=0")
    page.click(f"[data-hash='{first_rows(page, 1)[0]}']")
    page.click("[data-action=remove]")
    expect(page.locator("#remove-dialog")).to_be_visible()
    assert page.locator("#remove-delete-data").count() == 0


def test_add_dialog_reports_per_item_errors(open_page: Any) -> None:
    page = open_page()
    page.click("[data-action=add]")
    dialog = page.locator("#add-dialog")
    expect(dialog).to_be_visible()
    page.set_input_files("#add-files", [
        {"name": "one.torrent", "mimeType": "application/x-bittorrent", "buffer": b"d4:infoe"},
        {"name": "bad.torrent", "mimeType": "application/x-bittorrent", "buffer": b"x"}])
    expect(page.locator("#add-file-list li")).to_have_count(2)
    page.fill("#add-uris", "magnet:?xt=urn:btih:good\nmagnet:?xt=urn:btih:bad\n")
    page.fill("#add-label", "linux")
    dialog.get_by_role("button", name="Add").click()
    expect(page.locator("#add-errors li")).to_have_text([
        "bad.torrent: not a valid torrent", "magnet:?xt=urn:btih:bad: not a valid torrent"])
    expect(dialog).to_be_visible()
    expect(page.locator("#add-file-list li")).to_have_count(1)
    expect(page.locator("#add-uris")).to_have_value("magnet:?xt=urn:btih:bad")
    posts = [r for r in requests(page) if r["url"].endswith("/torrents")]
    assert posts[0]["body"] == {"files": ["one.torrent", "bad.torrent"], "label": "linux"}
    assert posts[1]["body"] == {"uris": ["magnet:?xt=urn:btih:good", "magnet:?xt=urn:btih:bad"],
                                "start": True, "label": "linux", "directory": ""}
    expect(page.locator(".toast").first).to_have_text("Added 2 torrents.")


def test_profile_switcher_activates_then_rejoins(open_page: Any) -> None:
    page = open_page()
    page.select_option("#profile-switcher", "2")
    page.wait_for_function("fakeServer.log.some(e => e.socket === 'profile:join' "
                           "&& e.data.profile_id === 2)")
    assert any(r["url"] == "/api/profiles/2/activate" and r["method"] == "POST"
               for r in requests(page))
    expect(page.locator("#dashboard")).to_have_attribute("data-active-profile", "2")
    expect(page.locator("[role=row][data-hash]").first).to_be_visible()
