"""TorrentHub in process against a real rtorrent, with a Socket.IO server that records.

What the hub sends (and does not send) when a page asks for a profile before
anyone joins its room, and while nobody is in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from support.rtorrent import RTorrentProcess

from pytorrent_core.rtorrent import RTorrentClient
from pytorrent_core.storage import Profile
from pytorrent_core.testing import load_for_test, running_app, session_cookie
from pytorrent_core.web.live import TorrentHub

pytest_plugins = ["support.rtorrent_fixtures"]

WAIT = 15.0


class RecordingServer:
    """The part of python-socketio's server the hub uses; every emit is kept."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict[str, Any], Any]] = []
        self.rooms: dict[str, set[str]] = {}

    async def emit(self, event: str, data: dict[str, Any], to: str | None = None,
                   room: str | None = None, skip_sid: Any = None) -> None:
        self.emitted.append((event, data, to or room))

    async def enter_room(self, sid: str, room: str) -> None:
        self.rooms.setdefault(room, set()).add(sid)

    async def leave_room(self, sid: str, room: str) -> None:
        self.rooms.get(room, set()).discard(sid)

    def events(self, name: str) -> list[tuple[str, dict[str, Any], Any]]:
        return [e for e in self.emitted if e[0] == name]


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not check():  # noqa: ASYNC110 (the hub exposes no event for these)
            await asyncio.sleep(0.01)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[tuple[TorrentHub, RecordingServer]]:
    settings, _ = load_for_test(tmp_path, {"PYTORRENT_RTORRENT_POLL_INTERVAL": "0.2"})
    sio = RecordingServer()
    hub = TorrentHub(sio, settings)  # type: ignore[arg-type]
    try:
        yield hub, sio
    finally:
        await hub.stop()


async def test_a_served_page_starts_the_watcher_and_it_retires_unjoined(
        hub: tuple[TorrentHub, RecordingServer], rtorrent: RTorrentProcess) -> None:
    torrents, sio = hub
    torrents.linger = 0.3
    profile = Profile(1, "box", rtorrent.url)
    torrents.expect(profile)
    watcher = torrents.watcher(1)
    assert watcher is not None and watcher.running
    await until(lambda: watcher.polls >= 1)  # polled with nobody in the room yet
    torrents.expect(profile)  # a second page of the same profile: the same watcher
    assert torrents.watcher(1) is watcher
    await until(lambda: torrents.watcher(1) is None)
    assert not watcher.running
    assert sio.events("torrents:snapshot") == [] and sio.events("torrents:diff") == []


async def test_a_join_after_the_page_gets_the_polled_list_at_once(
        hub: tuple[TorrentHub, RecordingServer], rtorrent: RTorrentProcess,
        make_torrent_in: Callable[..., tuple[bytes, str]]) -> None:
    torrents, sio = hub
    data, info_hash = make_torrent_in("early.bin", b"e" * 20_000)
    await RTorrentClient(rtorrent.url).add_torrent(data, start=False)
    profile = Profile(1, "box", rtorrent.url)
    torrents.expect(profile)
    watcher = torrents.watcher(1)
    assert watcher is not None
    await until(lambda: watcher.status is not None and watcher.status.reachable)
    await torrents.join("sid-1", profile)  # the snapshot goes out before join returns
    [(_, snapshot, to)] = sio.events("torrents:snapshot")
    assert to == "sid-1" and [row["hash"] for row in snapshot["torrents"]] == [info_hash]
    assert snapshot["revision"] == watcher.revision >= 1
    assert torrents.watcher(1) is watcher  # joined: no longer retiring
    assert 1 not in torrents._retire


async def test_no_diff_is_sent_to_an_empty_room(
        hub: tuple[TorrentHub, RecordingServer], rtorrent: RTorrentProcess,
        make_torrent_in: Callable[..., tuple[bytes, str]]) -> None:
    """A lingering watcher (or one a page started) keeps its rows current without
    encoding diffs for nobody; the first viewer's join gets a snapshot of them."""
    torrents, sio = hub
    client = RTorrentClient(rtorrent.url)
    data, info_hash = make_torrent_in("quiet.bin", b"q" * 20_000)
    await client.add_torrent(data, start=False)
    profile = Profile(1, "box", rtorrent.url)
    await torrents.join("sid-1", profile)
    await until(lambda: bool(sio.events("torrents:snapshot")))
    await torrents.leave("sid-1", 1)
    watcher = torrents.watcher(1)
    assert watcher is not None
    revision = watcher.revision
    await client.set_label([info_hash], "while-nobody-watched")
    torrents.poke(1, [info_hash])
    await until(lambda: watcher.rows[info_hash].label == "while-nobody-watched")
    assert watcher.revision > revision
    assert sio.events("torrents:diff") == []
    await torrents.join("sid-2", profile)
    [*_, (_, snapshot, to)] = sio.events("torrents:snapshot")
    assert to == "sid-2" and snapshot["torrents"][0]["label"] == "while-nobody-watched"


async def test_the_torrent_page_starts_the_watcher_of_a_profile_its_user_may_read(
        tmp_path: Path, rtorrent: RTorrentProcess) -> None:
    async with running_app(tmp_path) as app:
        store = app.services.store
        shown = await store.create_profile("shown", rtorrent.url)
        other = await store.create_profile("other", rtorrent.url)
        reader = await store.create_user("reader", permissions={shown.id: "ro"})
        await store.set_active_profile(reader.id, shown.id)
        outsider = await store.create_user("outsider", permissions={other.id: "ro"})
        await store.set_active_profile(outsider.id, shown.id)  # a choice from before a revoke
        hub: TorrentHub = app.quart.extensions["pytorrent"]["hub"]
        client = app.quart.test_client()

        page = await client.get("/", headers={"Cookie": session_cookie(app, outsider)})
        assert page.status_code == 200  # the profile picker: nothing polled for it
        assert hub.watcher(shown.id) is None and hub.watcher(other.id) is None

        page = await client.get("/", headers={"Cookie": session_cookie(app, reader)})
        assert page.status_code == 200 and 'id="torrent-table"' in await page.get_data(True)
        watcher = hub.watcher(shown.id)
        assert watcher is not None and watcher.running  # before any Socket.IO join
        assert hub.watcher(other.id) is None
        await until(lambda: watcher.status is not None and watcher.status.reachable)
