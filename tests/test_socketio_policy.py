"""Socket.IO under the same policy as REST: rooms follow grants, writes broadcast to a
profile's room, CORS is same-origin unless configured (never ``*``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import socketio

from pytorrent_core.config import ConfigError
from pytorrent_core.storage import Store
from pytorrent_core.testing import (
    ServerProcess,
    database_url,
    issue_token,
    load_for_test,
    session_cookie,
)
from pytorrent_core.web.app import create_app

pytestmark = pytest.mark.server
WAIT = 15.0


@dataclass
class Live:
    server: ServerProcess
    tmp: Path
    db_url: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("sio-policy")
    with ServerProcess(tmp) as server:
        yield Live(server, tmp, database_url(tmp))


@pytest.fixture
async def store(live: Live) -> AsyncIterator[Store]:
    opened = Store.from_url(live.db_url)
    yield opened
    await opened.close()


class Client:
    def __init__(self) -> None:
        self.session = aiohttp.ClientSession()
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self.session)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        for name in ("profile:left", "profile:labels"):
            self.sio.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        async def record(data: Any) -> None:
            await self.events.put((name, data))
        return record

    async def connect(self, url: str, **kwargs: Any) -> Client:
        await self.sio.connect(url, transports=["websocket"], wait_timeout=10, **kwargs)
        return self

    async def call(self, event: str, data: Any = None) -> Any:
        return await self.sio.call(event, data, timeout=10)

    async def next_event(self, name: str) -> Any:
        while True:
            got, data = await asyncio.wait_for(self.events.get(), WAIT)
            if got == name:
                return data

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await self.session.close()


async def user(store: Store, name: str, **permissions: str) -> tuple[int, str]:
    profiles = {p.name: p.id for p in await store.list_profiles()}
    grants = {(None if k == "every" else profiles[k]): v for k, v in permissions.items()}
    created = await store.create_user(name, permissions=grants)
    return created.id, await issue_token(store, created.id)


async def profiles(store: Store, *names: str) -> list[int]:
    existing = {p.name: p.id for p in await store.list_profiles()}
    return [existing.get(n) or (await store.create_profile(n, "scgi://h:1")).id for n in names]


async def until_refused(client: Client, data: dict[str, Any]) -> Any:
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        reply = await client.call("profile:labels:set", data)
        if "error" in reply or asyncio.get_running_loop().time() > deadline:
            return reply
        await asyncio.sleep(0.1)


async def test_losing_read_access_removes_the_connection_from_the_room(
        live: Live, store: Store) -> None:
    a, b = await profiles(store, "PA", "PB")
    user_id, token = await user(store, "roomie", PA="full")
    client = await Client().connect(live.server.url, auth={"token": token})
    try:
        assert (await client.call("profile:join", {"profile_id": a}))["ok"]
        await store.set_permissions(user_id, {b: "ro"})  # another process changes grants
        left = await client.next_event("profile:left")
        assert left["profile_id"] == a
        assert "read" in left["reason"]
        assert client.sio.connected  # still signed in, only out of the room
        refused = await client.call("profile:labels:set", {"profile_id": a, "labels": ["x"]})
        assert refused["status"] == 403
        assert (await client.call("profile:join", {"profile_id": a}))["status"] == 403
        assert (await client.call("profile:join", {"profile_id": b}))["ok"]
    finally:
        await client.close()


async def test_downgrade_to_ro_keeps_the_room_but_refuses_writes(
        live: Live, store: Store) -> None:
    (a,) = await profiles(store, "PC")
    user_id, token = await user(store, "downgraded", PC="full")
    admin = await store.get_user_by_name("admin")
    assert admin is not None
    admin_token = await issue_token(store, admin.id)
    client = await Client().connect(live.server.url, auth={"token": token})
    watcher = await Client().connect(live.server.url, auth={"token": admin_token})
    try:
        await client.call("profile:join", {"profile_id": a})
        await watcher.call("profile:join", {"profile_id": a})
        assert "error" not in await client.call("profile:labels:set",
                                                {"profile_id": a, "labels": ["one"]})
        assert (await watcher.next_event("profile:labels"))["labels"] == ["one"]
        await store.set_permissions(user_id, {a: "ro"})
        # Another process changed the grant; the server sees it within a poll interval.
        refused = await until_refused(client, {"profile_id": a, "labels": ["one"]})
        assert refused["status"] == 403 and "write" in refused["error"]
        # The admin's write reaches the downgraded reader: it is still in the room.
        async with httpx.AsyncClient() as http:
            put = await http.put(f"{live.server.url}/api/profiles/{a}/labels",
                                 headers={"X-API-Key": admin_token}, json={"labels": ["two"]})
        assert put.status_code == 200
        seen = await client.next_event("profile:labels")
        while seen["labels"] != ["two"]:
            seen = await client.next_event("profile:labels")
        assert seen == {"profile_id": a, "labels": ["two"]}
        refused = await client.call("profile:labels:set", {"profile_id": a, "labels": ["x"]})
        assert refused["status"] == 403 and "write" in refused["error"]
        assert await store.profile_labels(a) == ["two"]
    finally:
        await client.close()
        await watcher.close()


async def test_admin_keeps_rooms_whatever_the_grants(live: Live, store: Store) -> None:
    (a,) = await profiles(store, "PD")
    boss = await store.create_user("boss", role="admin", permissions={a: "ro"})
    client = await Client().connect(live.server.url,
                                    auth={"token": await issue_token(store, boss.id)})
    user_id, token = await user(store, "bystander", PD="ro")
    bystander = await Client().connect(live.server.url, auth={"token": token})
    try:
        await client.call("profile:join", {"profile_id": a})
        await bystander.call("profile:join", {"profile_id": a})
        await store.set_permissions(boss.id, {})
        await store.set_permissions(user_id, {})
        # The bystander's eviction proves the recheck ran after both changes.
        assert (await bystander.next_event("profile:left"))["profile_id"] == a
        reply = await client.call("profile:labels:set", {"profile_id": a, "labels": ["b"]})
        assert reply == {"profile_id": a, "labels": ["b"]}
        assert (await client.next_event("profile:labels"))["labels"] == ["b"]
    finally:
        await client.close()
        await bystander.close()


async def test_session_cookie_connects_from_own_origin_only(live: Live, store: Store) -> None:
    dave = await store.create_user("dave")
    settings, plugins = load_for_test(live.tmp)  # same data dir: same signing key
    cookie = session_cookie(create_app(settings, plugins), dave)
    own = await Client().connect(live.server.url,
                                 headers={"Cookie": cookie, "Origin": live.server.url})
    try:
        assert await own.call("whoami") == {"username": "dave", "role": "user",
                                            "via": "session"}
    finally:
        await own.close()
    foreign = Client()
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await foreign.connect(live.server.url,
                                  headers={"Cookie": cookie, "Origin": "http://evil.example"})
    finally:
        await foreign.close()


def handshake(url: str, origin: str) -> httpx.Response:
    return httpx.get(f"{url}/socket.io/?EIO=4&transport=polling", headers={"Origin": origin})


def test_cors_is_same_origin_by_default(live: Live) -> None:
    own = handshake(live.server.url, live.server.url)
    assert own.status_code == 200
    assert own.headers["Access-Control-Allow-Origin"] == live.server.url
    for origin in ("http://evil.example", "https://pytorrent.example.com",
                   f"http://127.0.0.1:{live.server.port + 1}", "null"):
        reply = handshake(live.server.url, origin)
        assert reply.status_code == 400, origin
        assert "Access-Control-Allow-Origin" not in reply.headers


def test_cors_allow_list(tmp_path: Path) -> None:
    env = {"PYTORRENT_SOCKETIO_CORS_ALLOWED_ORIGINS":
           "https://pytorrent.example.com, https://Other.example:8443"}
    with ServerProcess(tmp_path, env) as server:
        for origin in ("https://pytorrent.example.com", "https://other.example:8443",
                       server.url):
            reply = handshake(server.url, origin)
            assert reply.status_code == 200, origin
            assert reply.headers["Access-Control-Allow-Origin"] == origin
        assert handshake(server.url, "https://evil.example").status_code == 400


@pytest.mark.parametrize("value", ["*", "https://ok.example,*"])
def test_wildcard_origin_is_refused_at_start_up(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_for_test(tmp_path, {"PYTORRENT_SOCKETIO_CORS_ALLOWED_ORIGINS": value})
    assert "PYTORRENT_SOCKETIO_CORS_ALLOWED_ORIGINS" in str(refused.value)
