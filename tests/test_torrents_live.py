"""Live torrent lists over Socket.IO from a real server watching a real rtorrent.

A joining connection gets ``torrents:snapshot``; an action through the API shows
up as a ``torrents:diff`` in the room; reachability changes arrive as
``profile:status``; a connection that loses read access leaves the room.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import socketio
from support.rtorrent import RTorrentProcess, make_torrent

from pytorrent_core.rtorrent.model import FIELDS
from pytorrent_core.storage import Store
from pytorrent_core.testing import ServerProcess, database_url, session_cookie, settled_admin
from pytorrent_core.web.app import create_app

pytestmark = pytest.mark.server
WAIT = 15.0


class Client:
    """A Socket.IO client that records every event it gets, in order."""

    def __init__(self) -> None:
        self.session = aiohttp.ClientSession()
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self.session)
        self.events: dict[str, asyncio.Queue[Any]] = {}
        for name in ("torrents:snapshot", "torrents:diff", "profile:status", "profile:left"):
            self.events[name] = asyncio.Queue()
            self.sio.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        async def record(data: Any) -> None:
            await self.events[name].put(data)
        return record

    async def connect(self, url: str, cookie: str) -> Client:
        await self.sio.connect(url, transports=["websocket"], wait_timeout=10,
                               headers={"Cookie": cookie})
        return self

    async def next_event(self, name: str, check: Any = None) -> Any:
        """The next ``name`` event (that satisfies ``check``), within the deadline; events
        of other names stay queued."""
        deadline = asyncio.get_running_loop().time() + WAIT
        while True:
            left = deadline - asyncio.get_running_loop().time()
            data = await asyncio.wait_for(self.events[name].get(), max(left, 0.01))
            if check is None or check(data):
                return data

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await self.session.close()


async def until(check: Any) -> None:
    """Wait for ``check()`` to hold, within the deadline."""
    async with asyncio.timeout(WAIT):
        while not check():  # noqa: ASYNC110 (the state is filled by event handlers)
            await asyncio.sleep(0.01)


class World:
    def __init__(self, server: ServerProcess, rtorrent: RTorrentProcess, store: Store,
                 profile_id: int, cookies: dict[str, str]) -> None:
        self.server = server
        self.rtorrent = rtorrent
        self.store = store
        self.profile_id = profile_id
        self.cookies = cookies

    async def client(self, who: str) -> Client:
        return await Client().connect(self.server.url, self.cookies[who])

    async def act(self, who: str, action: str, hashes: list[str], **extra: Any
                  ) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.server.url) as http:
            return await http.post(f"/api/profiles/{self.profile_id}/torrents/actions",
                                   json={"action": action, "hashes": hashes, **extra},
                                   headers={"Cookie": self.cookies[who],
                                            "Origin": self.server.url})

    async def add(self, who: str, data: bytes) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.server.url) as http:
            return await http.post(f"/api/profiles/{self.profile_id}/torrents",
                                   files=[("torrent", ("t.torrent", data))],
                                   headers={"Cookie": self.cookies[who],
                                            "Origin": self.server.url})


@pytest.fixture
def rtorrent(tmp_path: Path) -> Iterator[RTorrentProcess]:
    with RTorrentProcess(tmp_path / "rt") as process:
        yield process


@pytest.fixture
async def world(tmp_path: Path, rtorrent: RTorrentProcess) -> AsyncIterator[World]:
    data = tmp_path / "srv"
    data.mkdir()
    with ServerProcess(data, {"PYTORRENT_RTORRENT_POLL_INTERVAL": "0.2"}) as server:
        store = Store.from_url(database_url(data))
        profile = await store.create_profile("seedbox", rtorrent.url)
        users = {"admin": await settled_admin(store),
                 "ro": await store.create_user("ro", permissions={profile.id: "ro"}),
                 "none": await store.create_user("none")}
        # Cookies are signed with the server's key: build an app on the same data dir.
        from pytorrent_core.bootstrap import load
        settings, plugins = load(None, server.env)
        app = create_app(settings, plugins)
        cookies = {name: session_cookie(app, user) for name, user in users.items()
                   if user is not None}
        try:
            yield World(server, rtorrent, store, profile.id, cookies)
        finally:
            await store.close()


async def test_snapshot_then_diffs_after_api_actions(world: World) -> None:
    data, info_hash = make_torrent(world.rtorrent.download_dir, "live.bin", b"L" * 30_000)
    assert (await world.add("admin", data)).status_code == 201
    watcher = await world.client("ro")
    try:
        ack = await watcher.sio.call("profile:join", {"profile_id": world.profile_id},
                                     timeout=10)
        assert ack == {"ok": True, "room": f"profile:{world.profile_id}"}
        snapshot = await watcher.next_event("torrents:snapshot")
        assert snapshot["profile_id"] == world.profile_id
        assert [row["hash"] for row in snapshot["torrents"]] == [info_hash]
        assert set(snapshot["torrents"][0]) >= {"name", "size", "progress", "state"}
        # Fields at their default are left out of snapshot rows; the snapshot says which.
        assert "label" not in snapshot["torrents"][0] and snapshot["defaults"]["label"] == ""
        assert {**snapshot["defaults"], **snapshot["torrents"][0]}.keys() == set(FIELDS)
        revision = snapshot["revision"]

        assert (await world.act("admin", "stop", [info_hash])).status_code == 200
        diff = await watcher.next_event(
            "torrents:diff", lambda d: any(row.get("state") == "stopped"
                                           for row in d["changed"]))
        assert diff["revision"] > revision
        changed = next(row for row in diff["changed"] if row["hash"] == info_hash)
        assert "name" not in changed  # only what changed travels

        assert (await world.act("admin", "remove", [info_hash])).status_code == 200
        gone = await watcher.next_event("torrents:diff", lambda d: d["removed"])
        assert gone["removed"] == [info_hash]
    finally:
        await watcher.close()


async def test_status_follows_rtorrent_going_away(world: World) -> None:
    watcher = await world.client("admin")
    try:
        await watcher.sio.call("profile:join", {"profile_id": world.profile_id}, timeout=10)
        await watcher.next_event("torrents:snapshot")
        up = await watcher.next_event("profile:status")
        assert up["connected"] is True and up["client_version"].startswith("0.")
        world.rtorrent.stop()
        down = await watcher.next_event("profile:status", lambda d: not d["connected"])
        assert down["error"] and world.rtorrent.url not in down["error"]
    finally:
        await watcher.close()


async def test_none_cannot_join_and_ro_leaves_when_access_is_taken(world: World) -> None:
    stranger = await world.client("none")
    reader = await world.client("ro")
    try:
        refused = await stranger.sio.call("profile:join", {"profile_id": world.profile_id},
                                          timeout=10)
        assert refused["status"] == 403
        await reader.sio.call("profile:join", {"profile_id": world.profile_id}, timeout=10)
        await reader.next_event("torrents:snapshot")
        ro = await world.store.get_user_by_name("ro")
        assert ro is not None
        await world.store.set_permissions(ro.id, {})
        left = await reader.next_event("profile:left")
        assert left["profile_id"] == world.profile_id
        data, _ = make_torrent(world.rtorrent.download_dir, "after.bin", b"A" * 20_000)
        assert (await world.add("admin", data)).status_code == 201
        with pytest.raises(TimeoutError):  # nothing more reaches the removed reader
            await asyncio.wait_for(reader.next_event("torrents:diff"), 2.0)
    finally:
        await stranger.close()
        await reader.close()


async def test_a_reload_finds_the_list_warm(world: World) -> None:
    """The watcher outlives its last viewer for a while: the next one gets its rows at once."""
    data, info_hash = make_torrent(world.rtorrent.download_dir, "warm.bin", b"W" * 20_000)
    assert (await world.add("admin", data)).status_code == 201
    first = await world.client("admin")
    try:
        await first.sio.call("profile:join", {"profile_id": world.profile_id}, timeout=10)
        await first.next_event("torrents:snapshot")
        assert (await world.act("admin", "stop", [info_hash])).status_code == 200
        seen = await first.next_event("torrents:diff", lambda d: any(
            row.get("state") == "stopped" for row in d["changed"]))
    finally:
        await first.close()
    second = await world.client("admin")
    try:
        await second.sio.call("profile:join", {"profile_id": world.profile_id}, timeout=10)
        snapshot = await second.next_event("torrents:snapshot")
        # The same watcher: its revision went on (a new one would start again at 1).
        assert snapshot["revision"] >= seen["revision"] > 1
        defaults = snapshot["defaults"]
        row = {**defaults, **snapshot["torrents"][0]}
        assert row["hash"] == info_hash and row["state"] == "stopped"
    finally:
        await second.close()


class Mirror:
    """A client's copy of the list, kept the way the torrent page keeps it: a snapshot
    (defaults filled in), then only diffs newer than what it holds. Every diff it takes
    must be the next revision: a gap is a diff this client never got."""

    def __init__(self, client: Client) -> None:
        self.rows: dict[str, dict[str, Any]] | None = None
        self.revision = 0
        self.taken: list[int] = []
        self.gaps: list[tuple[int, int]] = []
        client.sio.on("torrents:snapshot", self._snapshot)
        client.sio.on("torrents:diff", self._diff)

    async def _snapshot(self, data: Any) -> None:
        defaults = data["defaults"]
        self.rows = {row["hash"]: {**defaults, **row} for row in data["torrents"]}
        self.revision = data["revision"]

    async def _diff(self, data: Any) -> None:
        if self.rows is None or data["revision"] <= self.revision:
            return  # already in the snapshot
        if data["revision"] != self.revision + 1:
            self.gaps.append((self.revision, data["revision"]))
        self.revision = data["revision"]
        self.taken.append(data["revision"])
        for change in data["changed"]:
            self.rows.setdefault(change["hash"], {}).update(change)
        for gone in data["removed"]:
            self.rows.pop(gone, None)


async def test_viewers_joining_while_diffs_flow_miss_none(world: World) -> None:
    """One connection watches; more join one by one while actions keep changing torrents
    (and REST reads the list in between, which may poll too). Every one ends with
    exactly the list REST returns, and none skipped a revision after its snapshot."""
    hashes = []
    for i in range(12):
        data, info_hash = make_torrent(world.rtorrent.download_dir, f"both-{i}.bin",
                                       bytes([i]) * 20_000)
        assert (await world.add("admin", data)).status_code == 201
        hashes.append(info_hash)
    clients = [await world.client("admin") for _ in range(4)]
    mirrors = [Mirror(client) for client in clients]
    step_done = [asyncio.Event() for _ in range(16)]

    async def changes() -> None:
        async with httpx.AsyncClient(base_url=world.server.url,
                                     headers={"Cookie": world.cookies["admin"]}) as http:
            for step in range(16):
                reply = await world.act("admin", "label", hashes[step % 3::3],
                                        label=f"step-{step}")
                assert reply.status_code == 200
                if step == 8:
                    assert (await world.act("admin", "stop", hashes[:4])).status_code == 200
                listed = await http.get(f"/api/profiles/{world.profile_id}/torrents")
                assert listed.status_code == 200
                step_done[step].set()

    async def list_now() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=world.server.url) as http:
            reply = await http.get(f"/api/profiles/{world.profile_id}/torrents",
                                   headers={"Cookie": world.cookies["admin"]})
        return {row["hash"]: row for row in reply.json()["torrents"]}

    try:
        join = {"profile_id": world.profile_id}
        await clients[0].sio.call("profile:join", join, timeout=10)
        flowing = asyncio.create_task(changes())
        await clients[1].sio.call("profile:join", join, timeout=10)  # as the first action goes
        for client, after in zip(clients[2:], (4, 10), strict=True):
            await asyncio.wait_for(step_done[after].wait(), WAIT)
            await client.sio.call("profile:join", join, timeout=10)
        await asyncio.wait_for(flowing, WAIT)

        async def converged() -> bool:
            listed = await list_now()
            return all(mirror.rows == listed for mirror in mirrors)

        async with asyncio.timeout(WAIT):
            while not await converged():  # noqa: ASYNC110 (REST has no change event)
                await asyncio.sleep(0.1)
        for index, mirror in enumerate(mirrors):
            assert mirror.gaps == [], index
        assert mirrors[0].taken  # diffs flowed to the first viewer throughout
        assert len({m.revision for m in mirrors}) == 1
    finally:
        for client in clients:
            await client.close()


async def test_a_viewer_follows_a_profile_whose_address_changes(world: World) -> None:
    """A new address means a new watcher, whose revisions start again: the room's
    viewers get its list whole instead of diffs numbered below what they hold."""
    data, info_hash = make_torrent(world.rtorrent.download_dir, "moved.bin", b"M" * 20_000)
    assert (await world.add("admin", data)).status_code == 201
    viewer = await world.client("admin")
    mirror = Mirror(viewer)
    try:
        await viewer.sio.call("profile:join", {"profile_id": world.profile_id}, timeout=10)
        await viewer.next_event("profile:status")
        for step in range(3):
            assert (await world.act("admin", "label", [info_hash], label=f"before-{step}")
                    ).status_code == 200
        await until(lambda: mirror.rows is not None
                    and mirror.rows[info_hash]["label"] == "before-2")
        held = mirror.revision
        # The same rtorrent under another name: the server restarts the profile's watcher.
        await world.store.update_profile(
            world.profile_id, scgi_url=f"scgi://localhost:{world.rtorrent.port}")
        restarted = await viewer.next_event("profile:status")  # the new watcher's first poll
        assert restarted["connected"] is True
        assert (await world.act("admin", "label", [info_hash], label="after")).status_code == 200
        await until(lambda: mirror.rows is not None
                    and mirror.rows[info_hash]["label"] == "after")
        assert mirror.gaps == [] and mirror.revision < held  # counted again from its list
    finally:
        await viewer.close()
