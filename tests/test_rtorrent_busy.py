"""What the watcher fetches per tick, against a real rtorrent: the busy view, targeted
polls after an action, sweeps that catch changes made by other tools."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from support.rtorrent import RTorrentProcess, make_torrent, scgi_call

from pytorrent_core.rtorrent import Action, ProfileWatcher, RTorrentClient
from pytorrent_core.rtorrent.client import BUSY_VIEW, PACKED_FULL, PACKED_MOVING, PICK_VIEW

pytest_plugins = ["support.rtorrent_fixtures"]

MakeTorrent = Callable[..., tuple[bytes, str]]
Diff = tuple[int, list[dict[str, Any]], list[str]]
WAIT = 10.0


class StartedAreBusy(RTorrentClient):
    """A client whose busy view holds every started torrent: no peer is needed to make
    a test torrent busy. Still a fixed filter string from code."""

    busy_filter = "d.state="


class Diffs:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Diff] = asyncio.Queue()

    async def __call__(self, revision: int, changed: list[dict[str, Any]],
                       removed: list[str]) -> None:
        await self.queue.put((revision, changed, removed))

    async def where(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first changed entry satisfying ``check``, within the deadline."""
        async with asyncio.timeout(WAIT):
            while True:
                _, changed, _ = await self.queue.get()
                for entry in changed:
                    if check(entry):
                        return entry


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not check():  # noqa: ASYNC110 (the watcher exposes no event for these)
            await asyncio.sleep(0.01)


Start = Callable[..., Awaitable[tuple[ProfileWatcher, Diffs]]]


@pytest.fixture
async def start_watcher(rtorrent: RTorrentProcess) -> AsyncIterator[Start]:
    started: list[ProfileWatcher] = []

    async def start(client: RTorrentClient | None = None, **options: Any
                    ) -> tuple[ProfileWatcher, Diffs]:
        diffs = Diffs()
        watcher = ProfileWatcher(client or RTorrentClient(rtorrent.url, timeout=5),
                                 on_diff=diffs, **options)
        watcher.start()
        started.append(watcher)
        await until(lambda: watcher.status is not None and watcher.status.reachable)
        return watcher, diffs

    yield start
    for watcher in started:
        await watcher.stop()


async def add(rtorrent: RTorrentProcess, make_torrent_in: MakeTorrent, name: str, *,
              start: bool) -> str:
    data, info_hash = make_torrent_in(name, name.encode() * 2000)
    await RTorrentClient(rtorrent.url).add_torrent(data, start=start)
    return info_hash


async def test_ticks_poll_the_busy_view_without_sweeping(
        start_watcher: Start, rtorrent: RTorrentProcess, make_torrent_in: MakeTorrent) -> None:
    busy = await add(rtorrent, make_torrent_in, "busy.bin", start=True)
    idle = await add(rtorrent, make_torrent_in, "idle.bin", start=False)
    watcher, diffs = await start_watcher(StartedAreBusy(rtorrent.url, timeout=5),
                                         interval=0.05, sweep_every=3600)
    await until(lambda: {busy, idle} <= watcher.rows.keys()
                and watcher.rows[busy].state == "seeding")
    assert BUSY_VIEW in scgi_call(rtorrent.url, "view.list")
    sweeps = watcher.sweeps
    # Changed by another tool, no view size moves: only the busy torrent's tick sees it.
    scgi_call(rtorrent.url, "d.custom1.set", busy, "seen-by-tick")
    scgi_call(rtorrent.url, "d.custom1.set", idle, "seen-by-sweep")
    await diffs.where(lambda e: e["hash"] == busy and e.get("label") == "seen-by-tick")
    polls = watcher.polls
    await until(lambda: watcher.polls >= polls + 3)
    assert watcher.sweeps == sweeps
    assert watcher.rows[idle].label == ""  # not busy: waits for a sweep


async def test_request_poll_with_hashes_fetches_just_those(
        start_watcher: Start, rtorrent: RTorrentProcess, make_torrent_in: MakeTorrent) -> None:
    client = RTorrentClient(rtorrent.url, timeout=5)
    info_hash = await add(rtorrent, make_torrent_in, "acted.bin", start=True)
    # Seeding before the watcher's first poll: its next timed one is 30 s away.
    await until(lambda: [scgi_call(rtorrent.url, m, info_hash) for m in
                         ("d.hashing", "d.complete", "d.is_active")] == [0, 1, 1])
    watcher, diffs = await start_watcher(interval=30, sweep_every=3600)
    await until(lambda: watcher.rows.get(info_hash) is not None
                and watcher.rows[info_hash].state == "seeding")
    sweeps = watcher.sweeps

    scgi_call(rtorrent.url, "d.custom1.set", info_hash, "labelled")  # no view size changes
    watcher.request_poll([info_hash.lower()])
    entry = await diffs.where(lambda e: e.get("label") == "labelled")
    assert entry["hash"] == info_hash and watcher.sweeps == sweeps

    await client.act(Action.STOP, [info_hash])
    watcher.request_poll([info_hash])
    entry = await diffs.where(lambda e: e.get("state") == "stopped")
    assert entry["hash"] == info_hash
    assert watcher.sweeps == sweeps  # shown without a sweep

    # A torrent added through pyTorrent arrives with its name, without waiting a sweep.
    added = await add(rtorrent, make_torrent_in, "added.bin", start=False)
    watcher.request_poll([added])
    entry = await diffs.where(lambda e: e["hash"] == added)
    assert entry["name"] == "added.bin" and entry["state"] == "stopped"

    await client.act(Action.REMOVE, [added])
    watcher.request_poll([added])
    async with asyncio.timeout(WAIT):
        while added not in (await diffs.queue.get())[2]:
            pass
    assert added not in watcher.rows


async def test_sweep_catches_an_external_stop_and_label(
        start_watcher: Start, rtorrent: RTorrentProcess, make_torrent_in: MakeTorrent) -> None:
    info_hash = await add(rtorrent, make_torrent_in, "external.bin", start=True)
    other = await add(rtorrent, make_torrent_in, "other.bin", start=False)
    watcher, diffs = await start_watcher(interval=0.05, sweep_every=0.5)
    await until(lambda: watcher.rows.get(info_hash) is not None
                and watcher.rows[info_hash].state == "seeding")
    # Stopped by another tool: rTorrent's view sizes change, the next tick sweeps.
    scgi_call(rtorrent.url, "d.stop", info_hash)
    await diffs.where(lambda e: e["hash"] == info_hash and e.get("state") == "stopped")
    # A label set by another tool changes no view size: the timed sweep finds it.
    scgi_call(rtorrent.url, "d.custom1.set", other, "from-elsewhere")
    await diffs.where(lambda e: e["hash"] == other and e.get("label") == "from-elsewhere")


async def test_busy_view_is_made_again_after_rtorrent_restarts(tmp_path: Path) -> None:
    process = RTorrentProcess(tmp_path / "rt").start()
    try:
        data, info_hash = make_torrent(process.download_dir, "again.bin", b"a" * 5000)
        diffs = Diffs()
        watcher = ProfileWatcher(RTorrentClient(process.url, timeout=5), interval=0.05,
                                 backoff_start=0.05, backoff_max=0.1, on_diff=diffs)
        watcher.start()
        try:
            await until(lambda: watcher.status is not None and watcher.status.reachable)
            await asyncio.to_thread(process.stop)
            await until(lambda: watcher.failures > 0)
            await asyncio.to_thread(process.start)
            await RTorrentClient(process.url).add_torrent(data, start=False)
            await diffs.where(lambda e: e["hash"] == info_hash)
            assert BUSY_VIEW in scgi_call(process.url, "view.list")
            assert watcher.status is not None and watcher.status.reachable
        finally:
            await watcher.stop()
    finally:
        process.stop()


class Lists(RTorrentClient):
    """Counts the lists of every torrent it asks rTorrent for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lists: list[int] = []  # fields asked per row, one entry per full list

    async def call_rows(self, method: str, *params: Any) -> list[list[Any]]:
        if method == "d.multicall2" and params[1] == "main":
            self.lists.append(len(params) - 2)
        return await super().call_rows(method, *params)


async def test_the_first_sweep_is_one_list_with_every_field(
        start_watcher: Start, rtorrent: RTorrentProcess, make_torrent_in: MakeTorrent) -> None:
    """The first poll (a page waits for it) lists every torrent once, names and all;
    later sweeps list the moving fields only until the fixed ones are due again."""
    info_hash = await add(rtorrent, make_torrent_in, "listed.bin", start=False)
    client = Lists(rtorrent.url, timeout=5)
    watcher, _ = await start_watcher(client, interval=30, sweep_every=3600)
    assert client.lists == [len(PACKED_FULL)]
    row = watcher.rows[info_hash]
    assert (row.name, row.state, row.size) == ("listed.bin", "stopped", len("listed.bin") * 2000)
    watcher.request_poll()  # a sweep
    await until(lambda: watcher.sweeps == 2)
    assert client.lists == [len(PACKED_FULL), len(PACKED_MOVING)]
    assert watcher.rows[info_hash] is row  # nothing changed: the same row object


async def test_rows_by_hash_come_through_the_pick_view_and_leave_it_empty(
        rtorrent: RTorrentProcess, make_torrent_in: MakeTorrent) -> None:
    """A few torrents by hash: the rows equal the full list's, an unknown hash is left
    out, and the pick view (made by the first call, on a fresh rtorrent) is empty after."""
    assert PICK_VIEW not in scgi_call(rtorrent.url, "view.list")
    client = RTorrentClient(rtorrent.url, timeout=5)
    first = await add(rtorrent, make_torrent_in, "first.bin", start=False)
    second = await add(rtorrent, make_torrent_in, "second.bin", start=False)
    await add(rtorrent, make_torrent_in, "third.bin", start=False)
    scgi_call(rtorrent.url, "d.custom1.set", second, "a|b")
    unknown = "0" * 40

    moving, static = await client.fetch_rows_of([first, second.lower(), unknown])
    all_moving, all_static = await client.fetch_all()
    assert set(moving) == set(static) == {first, second}
    for info_hash in (first, second):
        assert moving[info_hash] == all_moving[info_hash]
        assert static[info_hash] == all_static[info_hash]
    assert (await client.fetch_static([second]))[second] == all_static[second]
    assert PICK_VIEW in scgi_call(rtorrent.url, "view.list")
    assert scgi_call(rtorrent.url, "d.multicall2", "", PICK_VIEW, "d.hash=") == []
    assert await client.fetch_rows_of([]) == ({}, {})
    assert await client.fetch_rows_of([unknown]) == ({}, {})
