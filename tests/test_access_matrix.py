"""Who may read and change a profile: roles x levels x (read, write) x (REST, Socket.IO).

Two profiles, A and B. Each case is a user with some grants; the expected level
per profile follows AUTH.md: admin -> full everywhere; user -> the highest of
its per-profile and all-profiles grants (none | ro | full). ``ro`` reads,
``full`` also writes, everything else is 403 with a JSON reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import socketio
from support.postgres import ENGINES, PostgresServer

from pytorrent_core.models import Identity
from pytorrent_core.storage import Store
from pytorrent_core.testing import (
    ServerProcess,
    database_url,
    issue_token,
    running_app,
    session_cookie,
    socketio_client,
)
from pytorrent_core.web.app import PyTorrentApp

pytestmark = pytest.mark.asyncio(loop_scope="module")

# case -> (role, grants by "A" / "B" / "*" (all profiles), expected level on A and B)
CASES: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
    "admin": ("admin", {}, {"A": "full", "B": "full"}),
    "admin-with-ro-grant": ("admin", {"A": "ro"}, {"A": "full", "B": "full"}),
    "user-no-grants": ("user", {}, {"A": "none", "B": "none"}),
    "user-A-ro": ("user", {"A": "ro"}, {"A": "ro", "B": "none"}),
    "user-A-full": ("user", {"A": "full"}, {"A": "full", "B": "none"}),
    "user-all-ro": ("user", {"*": "ro"}, {"A": "ro", "B": "ro"}),
    "user-all-full": ("user", {"*": "full"}, {"A": "full", "B": "full"}),
    "user-A-full-all-ro": ("user", {"A": "full", "*": "ro"}, {"A": "full", "B": "ro"}),
    "user-A-ro-all-full": ("user", {"A": "ro", "*": "full"}, {"A": "full", "B": "full"}),
}
OPS = ["read", "write"]
PROFILES = ["A", "B"]


def allowed(case: str, profile: str, op: str) -> bool:
    level = CASES[case][2][profile]
    return level == "full" or (op == "read" and level == "ro")


@dataclass
class World:
    profiles: dict[str, int]
    tokens: dict[str, str]
    users: dict[str, Any]


async def populate(store: Store) -> World:
    profiles = {name: (await store.create_profile(name, f"scgi://rt-{name.lower()}:5000")).id
                for name in PROFILES}
    tokens: dict[str, str] = {}
    users: dict[str, Any] = {}
    for case, (role, grants, _) in CASES.items():
        permissions = {(None if key == "*" else profiles[key]): level
                       for key, level in grants.items()}
        user = await store.create_user(f"u-{case}", role=role, permissions=permissions)
        users[case] = user
        tokens[case] = await issue_token(store, user.id, name=case)
    return World(profiles, tokens, users)


def expect(reply_status: int, body: Any, ok: bool, op: str) -> None:
    if ok:
        assert reply_status == 200, body
        return
    assert reply_status == 403, body
    reason = body["error"]
    assert ("read" in reason) if op == "read" else ("write" in reason), reason


# ---------------------------------------------------------------- REST


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=ENGINES)
async def rest(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> AsyncIterator[tuple[PyTorrentApp, World]]:
    """One app per engine: the whole matrix runs on SQLite and on PostgreSQL."""
    env: dict[str, str] = {}
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        env["PYTORRENT_DATABASE_URL"] = server.create_database()
    async with running_app(tmp_path_factory.mktemp("rest"), env) as app:
        yield app, await populate(app.services.store)


async def rest_op(app: PyTorrentApp, headers: dict[str, str], profile_id: int, op: str,
                  label: str) -> tuple[int, Any]:
    client = app.quart.test_client()
    if op == "read":
        reply = await client.get(f"/api/profiles/{profile_id}/labels", headers=headers)
    else:
        reply = await client.put(f"/api/profiles/{profile_id}/labels", headers=headers,
                                 json={"labels": [label]})
    return reply.status_code, await reply.get_json()


@pytest.mark.parametrize("via", ["token", "session"])
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("case", list(CASES))
async def test_rest(rest: tuple[PyTorrentApp, World], case: str, profile: str, op: str,
                    via: str) -> None:
    app, world = rest
    if via == "token":
        headers = {"Authorization": f"Bearer {world.tokens[case]}"}
    else:
        headers = {"Cookie": session_cookie(app, world.users[case]),
                   "Origin": "http://localhost"}
    pid = world.profiles[profile]
    label = f"{case}-{via}-{op}"
    status, body = await rest_op(app, headers, pid, op, label)
    expect(status, body, allowed(case, profile, op), op)
    stored = await app.services.store.profile_labels(pid)
    if op == "write":
        assert (label in stored) is allowed(case, profile, op)
        assert body.get("labels") == ([label] if allowed(case, profile, op) else None)
    else:
        assert body.get("labels") == (stored if allowed(case, profile, op) else None)


@pytest.mark.parametrize("case", list(CASES))
async def test_rest_profile_detail_and_listing(rest: tuple[PyTorrentApp, World],
                                               case: str) -> None:
    app, world = rest
    client = app.quart.test_client()
    headers = {"X-API-Key": world.tokens[case]}
    listed = await (await client.get("/api/profiles", headers=headers)).get_json()
    expected = {name: level for name, level in CASES[case][2].items() if level != "none"}
    assert {p["name"]: p["level"] for p in listed["profiles"]} == expected
    for name, pid in world.profiles.items():
        detail = await client.get(f"/api/profiles/{pid}", headers=headers)
        readable = CASES[case][2][name] != "none"
        assert detail.status_code == (200 if readable else 403)
        if readable:
            assert (await detail.get_json())["profile"]["level"] == CASES[case][2][name]


async def test_rest_anonymous_is_401(rest: tuple[PyTorrentApp, World]) -> None:
    app, world = rest
    for op in OPS:
        status, body = await rest_op(app, {}, world.profiles["A"], op, "x")
        assert status == 401
        assert body["error"]


async def test_rest_rw_alias_from_auto_create_is_full(tmp_path: Path) -> None:
    """AUTH.md: PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION=rw means full."""

    class HeaderProvider:
        @staticmethod
        def pytorrent_provider_info() -> ProviderInfo:
            return ProviderInfo(external=True, description="test", headers=("Remote-User",))

        @staticmethod
        def pytorrent_identify(request: Any) -> Identity | None:
            name = request.headers.get("Remote-User")
            return Identity(name, "test") if name else None

    from pytorrent_core.provider import ProviderInfo, hookimpl

    hookimpl(HeaderProvider.pytorrent_provider_info)
    hookimpl(HeaderProvider.pytorrent_identify)
    env = {"PYTORRENT_AUTH_PROVIDER": "proxy", "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true",
           "PYTORRENT_AUTH_PROXY_AUTO_CREATE_ROLE": "user",
           "PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION": "rw"}
    async with running_app(tmp_path, env, provider_plugin=HeaderProvider) as app:
        store = app.services.store
        pid = (await store.create_profile("A", "scgi://h:1")).id
        client = app.quart.test_client()
        headers = {"Remote-User": "newbie", "Origin": "http://localhost"}
        reply = await client.put(f"/api/profiles/{pid}/labels", headers=headers,
                                 json={"labels": ["ok"]})
        assert reply.status_code == 200, await reply.get_json()
        user = await store.get_user_by_name("newbie")
        assert user is not None and user.role == "user"
        assert await store.permissions(user.id) == {None: "full"}


# ---------------------------------------------------------------- Socket.IO


@dataclass
class Live:
    server: ServerProcess
    world: World
    store_url: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    with ServerProcess(tmp) as server:
        url = database_url(tmp)

        async def setup() -> World:
            store = Store.from_url(url)
            try:
                return await populate(store)
            finally:
                await store.close()

        yield Live(server, asyncio.run(setup()), url)


async def sio_calls(server: ServerProcess, token: str,
                    calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    async with socketio_client() as client:
        await client.connect(server.url, auth={"token": token}, transports=["websocket"],
                             wait_timeout=10)
        return [await client.call(event, data, timeout=10) for event, data in calls]


async def stored_labels(url: str, profile_id: int) -> list[str]:
    store = Store.from_url(url)
    try:
        return await store.profile_labels(profile_id)
    finally:
        await store.close()


def expect_event(reply: dict[str, Any], ok: bool, op: str) -> None:
    if ok:
        assert "error" not in reply, reply
        return
    assert reply["status"] == 403, reply
    assert ("read" in reply["error"]) if op == "read" else ("write" in reply["error"])


@pytest.mark.server
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("case", list(CASES))
async def test_socketio(live: Live, case: str, profile: str, op: str) -> None:
    pid = live.world.profiles[profile]
    ok = allowed(case, profile, op)
    label = f"{case}-sio-{op}"
    if op == "read":
        join, labels = await sio_calls(live.server, live.world.tokens[case], [
            ("profile:join", {"profile_id": pid}), ("profile:labels", {"profile_id": pid})])
        expect_event(join, ok, op)
        expect_event(labels, ok, op)
        if ok:
            assert join == {"ok": True, "room": f"profile:{pid}"}
            assert labels["labels"] == await stored_labels(live.store_url, pid)
    else:
        (reply,) = await sio_calls(live.server, live.world.tokens[case], [
            ("profile:labels:set", {"profile_id": pid, "labels": [label]})])
        expect_event(reply, ok, op)
        assert (label in await stored_labels(live.store_url, pid)) is ok
        if ok:
            assert reply == {"profile_id": pid, "labels": [label]}


@pytest.mark.server
async def test_socketio_profile_event_without_profile_id_is_refused(live: Live) -> None:
    (reply,) = await sio_calls(live.server, live.world.tokens["admin"],
                               [("profile:labels", {"profile": 1})])
    assert reply["status"] == 400


@pytest.mark.server
async def test_socketio_without_credentials_is_refused(live: Live) -> None:
    async with socketio_client() as client:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(live.server.url, transports=["websocket"], wait_timeout=10)
        assert not client.connected
