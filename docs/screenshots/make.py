"""Make the README screenshots from a real pyTorrent server and a real rtorrent.

    .venv/bin/python docs/screenshots/make.py [output directory]

Starts rtorrent (Debian's, on a loopback SCGI port) and ``pytorrent serve`` in a
temporary directory, adds fifteen small torrents (some stopped, one half
downloaded, one labelled), a few users, and photographs the pages in headless
Chromium (/usr/bin/chromium). Prints the path of every file it writes.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import APIRequestContext, Page, expect, sync_playwright

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.rtorrent import RTorrentProcess, make_torrent  # noqa: E402

from pytorrent_core.testing import ServerProcess  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "screenshot-Pass-1"  # noqa: S105 - a throwaway server
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

# (name, size in KiB, what happens to it)
TORRENTS = [
    ("debian-12.5.0-amd64-netinst.iso", 1900, "seed"),
    ("ubuntu-24.04-desktop-amd64.iso", 2400, "label"),
    ("archlinux-2024.05.01-x86_64.iso", 1500, "seed"),
    ("Fedora-Workstation-Live-x86_64-40", 2100, "half"),
    ("linuxmint-21.3-cinnamon-64bit.iso", 1700, "seed"),
    ("big-buck-bunny-1080p", 2600, "seed"),
    ("sintel-2010-4k", 2300, "stop"),
    ("tears-of-steel-1080p", 1800, "seed"),
    ("openSUSE-Tumbleweed-DVD-x86_64", 2200, "missing"),
    ("kali-linux-2024.1-installer-amd64", 1600, "seed"),
    ("alpine-standard-3.19.1-x86_64.iso", 300, "stop"),
    ("FreeBSD-14.0-RELEASE-amd64-disc1", 1300, "seed"),
    ("librivox-public-domain-audiobooks", 900, "seed"),
    ("apollo-11-mission-footage", 2500, "stop"),
    ("wikipedia-simple-2024-05-dump", 1100, "seed"),
]


def populate(api: APIRequestContext, rtorrent: RTorrentProcess, profile_id: int) -> None:
    labels = api.put(f"/api/profiles/{profile_id}/labels",
                     data={"labels": ["linux", "films", "archive"]})
    assert labels.ok, labels.text()
    stop = []
    for name, kib, fate in TORRENTS:
        data = os.urandom(kib * 1024)
        torrent, info_hash = make_torrent(rtorrent.download_dir, name, data,
                                          write=fate != "missing")
        if fate == "half":  # rtorrent's hash check finds half the pieces
            path = rtorrent.download_dir / name
            path.write_bytes(data[: len(data) // 2] + bytes(len(data) - len(data) // 2))
        form: dict[str, object] = {"torrent": {"name": f"{name}.torrent", "buffer": torrent,
                                               "mimeType": "application/x-bittorrent"}}
        if fate == "label":
            form["label"] = "linux"
        added = api.post(f"/api/profiles/{profile_id}/torrents", multipart=form)
        assert added.status == 201, added.text()
        if fate == "stop":
            stop.append(info_hash)
    acted = api.post(f"/api/profiles/{profile_id}/torrents/actions",
                     data={"action": "stop", "hashes": stop})
    assert acted.ok, acted.text()
    for username, level in (("alice", "full"), ("bob", "ro"), ("carol", "none")):
        made = api.post("/api/auth/users", data={
            "username": username, "password": PASSWORD, "role": "user",
            "display_name": username.capitalize(),
            "permissions": {str(profile_id): level} if level != "none" else {"*": "none"}})
        assert made.status == 201, made.text()
    api.post("/api/auth/users", data={"username": "dave", "password": PASSWORD,
                                      "role": "admin", "display_name": "Dave"})
    api.post("/api/auth/users/2/tokens", data={"name": "backup script"})


def sign_in(page: Page, url: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page).to_have_url(f"{url}/")


def torrent_page_ready(page: Page) -> None:
    expect(page.locator("[role=row][data-hash]")).to_have_count(len(TORRENTS), timeout=30_000)
    expect(page.locator("#client-version")).not_to_have_text("", timeout=30_000)
    expect(page.locator("#connection-badge")).to_have_text("online", timeout=30_000)
    # every torrent has finished its hash check
    expect(page.locator(".state-pill[data-state=checking]")).to_have_count(0, timeout=60_000)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="pytorrent-shots-") as temp:
        root = Path(temp)
        (root / "server").mkdir()
        with RTorrentProcess(root / "rtorrent") as rtorrent, \
                ServerProcess(root / "server") as server, sync_playwright() as playwright:
            assert server.cli("reset-password", "admin", PASSWORD).returncode == 0
            url = server.url
            api = playwright.request.new_context(base_url=url, extra_http_headers={"Origin": url})
            assert api.post("/api/auth/login",
                            data={"username": "admin", "password": PASSWORD}).ok
            made = api.post("/api/profiles", data={"name": "Seedbox", "scgi_url": rtorrent.url})
            profile_id = made.json()["profile"]["id"]
            api.post("/api/profiles", data={"name": "Home NAS",
                                            "scgi_url": "scgi:///run/rtorrent/rpc.sock"})
            api.post(f"/api/profiles/{profile_id}/activate", data={})
            populate(api, rtorrent, profile_id)
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

            def shoot(page: Page, name: str) -> None:
                target = out / name
                page.screenshot(path=str(target))
                written.append(target)

            for scheme in ("light", "dark"):
                context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
                page = context.new_page()
                sign_in(page, url)
                torrent_page_ready(page)
                page.locator("[role=row][data-hash]").nth(1).click()
                if scheme == "light":
                    shoot(page, "torrents-light.png")
                    page.click("[data-action=add]")
                    dialog = page.get_by_role("dialog", name="Add torrents")
                    expect(dialog).to_be_visible()
                    page.fill("#add-uris", "magnet:?xt=urn:btih:" + "c" * 40 + "&dn=example")
                    page.fill("#add-label", "linux")
                    shoot(page, "add-dialog.png")
                    page.keyboard.press("Escape")
                    page.goto(f"{url}/admin/users")
                    expect(page.locator("#users-table tr[data-username=carol]")).to_be_visible()
                    expect(page.locator("#connection-badge")).to_have_text("online")
                    shoot(page, "admin-users.png")
                else:
                    shoot(page, "torrents-dark.png")
                context.close()

            context = browser.new_context(viewport=PHONE, color_scheme="dark",
                                          device_scale_factor=2, is_mobile=True, has_touch=True)
            page = context.new_page()
            sign_in(page, url)
            torrent_page_ready(page)
            shoot(page, "phone.png")
            context.close()
            browser.close()
            api.dispose()
    for path in written:
        print(re.sub(r"^" + re.escape(str(REPO)) + "/", "", str(path)))


if __name__ == "__main__":
    main()
