"""ProfileWatcher against a real rtorrent: snapshot, diffs after actions, reachability, back-off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from support.rtorrent import RTorrentProcess

from pytorrent_core.rtorrent import Action, ProfileWatcher, RTorrentClient, WatchStatus
from pytorrent_core.testing import free_port

pytest_plugins = ["support.rtorrent_fixtures"]

MakeTorrent = Callable[..., tuple[bytes, str]]
Diff = tuple[int, list[dict[str, Any]], list[str]]


class Recorder:
    """Collects the watcher's callbacks in queues so tests wait with a deadline."""

    def __init__(self) -> None:
        self.diffs: asyncio.Queue[Diff] = asyncio.Queue()
        self.statuses: list[WatchStatus] = []
        self.status_seen = asyncio.Event()

    async def on_diff(self, revision: int, changed: list[dict[str, Any]],
                      removed: list[str]) -> None:
        await self.diffs.put((revision, changed, removed))

    async def on_status(self, status: WatchStatus) -> None:
        self.statuses.append(status)
        self.status_seen.set()

    async def diff_where(self, check: Callable[[Diff], bool], within: float = 10.0) -> Diff:
        async with asyncio.timeout(within):
            while True:
                item = await self.diffs.get()
                if check(item):
                    return item

    async def status_count(self, count: int, within: float = 10.0) -> list[WatchStatus]:
        async with asyncio.timeout(within):
            while len(self.statuses) < count:
                self.status_seen.clear()
                await self.status_seen.wait()
        return self.statuses


async def until(check: Callable[[], bool], within: float = 10.0) -> None:
    """Wait for a condition on the watcher's public state, within a deadline."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 (the watcher exposes no event for these)
            await asyncio.sleep(0.01)


@pytest.fixture
async def watching(rtorrent: RTorrentProcess
                   ) -> AsyncIterator[Callable[..., Awaitable[tuple[ProfileWatcher, Recorder]]]]:
    started: list[ProfileWatcher] = []

    async def start(url: str | None = None, **options: Any) -> tuple[ProfileWatcher, Recorder]:
        recorder = Recorder()
        options.setdefault("interval", 0.1)
        watcher = ProfileWatcher(RTorrentClient(url or rtorrent.url, timeout=5),
                                 on_diff=recorder.on_diff, on_status=recorder.on_status,
                                 **options)
        watcher.start()
        started.append(watcher)
        return watcher, recorder

    yield start
    for watcher in started:
        await watcher.stop()
        assert not watcher.running


async def test_snapshot_then_diff_after_an_action(
        watching: Callable[..., Awaitable[tuple[ProfileWatcher, Recorder]]],
        rtorrent: RTorrentProcess, make_torrent_in: MakeTorrent) -> None:
    client = RTorrentClient(rtorrent.url)
    data, info_hash = make_torrent_in("w.bin", b"w" * 40000)
    await client.add_torrent(data, start=True, label="tv")
    watcher, recorder = await watching()
    await recorder.diff_where(lambda d: any(
        c["hash"] == info_hash and c.get("state") == "seeding" for c in d[1]))
    revision, rows = watcher.snapshot()
    assert revision >= 1 and [r.hash for r in rows] == [info_hash]
    assert rows[0].to_json()["label"] == "tv"

    await client.act(Action.PAUSE, [info_hash])
    watcher.request_poll()
    new_revision, changed, removed = await recorder.diff_where(
        lambda d: any(c.get("state") == "paused" for c in d[1]))
    assert new_revision > revision and removed == []
    [entry] = changed
    assert entry["hash"] == info_hash and "name" not in entry and "size" not in entry
    assert watcher.snapshot()[1][0].state == "paused"


async def test_new_and_removed_torrents(
        watching: Callable[..., Awaitable[tuple[ProfileWatcher, Recorder]]],
        rtorrent: RTorrentProcess, make_torrent_in: MakeTorrent) -> None:
    client = RTorrentClient(rtorrent.url)
    watcher, recorder = await watching(interval=5.0)  # only request_poll drives it
    await recorder.status_count(1)
    data, info_hash = make_torrent_in("n.bin", b"n" * 1000)
    await client.add_torrent(data, start=False)
    watcher.request_poll()
    _, changed, _ = await recorder.diff_where(lambda d: bool(d[1]))
    assert changed[0]["hash"] == info_hash and changed[0]["name"] == "n.bin"
    assert changed[0]["state"] == "stopped"
    await client.act(Action.REMOVE, [info_hash])
    watcher.request_poll()
    _, _, removed = await recorder.diff_where(lambda d: bool(d[2]))
    assert removed == [info_hash] and watcher.snapshot()[1] == []


async def test_status_changes_when_rtorrent_stops(
        watching: Callable[..., Awaitable[tuple[ProfileWatcher, Recorder]]],
        rtorrent: RTorrentProcess) -> None:
    watcher, recorder = await watching(backoff_start=0.05, backoff_max=0.2)
    assert (await recorder.status_count(1)) == [WatchStatus(True)]
    await asyncio.to_thread(rtorrent.stop)
    statuses = await recorder.status_count(2)
    assert statuses[1].reachable is False
    assert statuses[1].reason and str(rtorrent.port) not in statuses[1].reason
    await until(lambda: watcher.failures >= 3)
    reported = len(recorder.statuses)
    await until(lambda: watcher.failures >= 6)
    # Reported when the error changes (reset while stopping, then refused), not every poll.
    assert len(recorder.statuses) == reported <= 3
    assert all(not s.reachable for s in recorder.statuses[1:])
    assert all(a != b for a, b in zip(recorder.statuses, recorder.statuses[1:], strict=False))


async def test_backoff_doubles_up_to_the_cap(
        watching: Callable[..., Awaitable[tuple[ProfileWatcher, Recorder]]]) -> None:
    watcher, recorder = await watching(f"scgi://127.0.0.1:{free_port()}",
                                       backoff_start=0.02, backoff_max=0.16)
    delays: list[float] = []

    def record() -> bool:
        if watcher.failures and (not delays or delays[-1] != watcher.next_delay):
            delays.append(watcher.next_delay)
        return watcher.failures >= 6

    await until(record)
    assert delays[:4] == [0.02, 0.04, 0.08, 0.16]
    assert watcher.next_delay == 0.16
    assert recorder.statuses == [WatchStatus(False, "rTorrent refused the connection")]


async def test_interval_is_sized_by_the_cost_of_a_poll(
        watching: Callable[..., Awaitable[tuple[ProfileWatcher, Recorder]]]) -> None:
    watcher, recorder = await watching(interval=0.01, cost_factor=1000.0)
    await recorder.status_count(1)
    await until(lambda: watcher.last_duration > 0)
    assert watcher.next_delay == pytest.approx(max(0.01, 1000.0 * watcher.last_duration))


async def test_stop_is_clean_and_start_again_works(tmp_path: Path) -> None:
    with RTorrentProcess(tmp_path, transport="unix") as process:
        recorder = Recorder()
        watcher = ProfileWatcher(RTorrentClient(process.url), interval=0.05,
                                 on_status=recorder.on_status)
        watcher.start()
        await recorder.status_count(1)
        await watcher.stop()
        assert not watcher.running
        watcher.start()
        await until(lambda: watcher.running)
        await watcher.stop()
        await watcher.stop()
