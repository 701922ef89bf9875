"""API tokens on Socket.IO: accepted in the auth payload or headers, never the query;
a revoked or expired token, or a deactivated owner, drops the live connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import httpx
import pytest
import socketio

from pytorrent_core.storage import Store
from pytorrent_core.storage.store import now
from pytorrent_core.testing import ServerProcess, database_url, issue_token, socketio_client

pytestmark = pytest.mark.server
DROP_WAIT = 15.0  # generous: a CLI-side change reaches the server within a 0.5 s poll


@dataclass
class Live:
    server: ServerProcess
    db_url: str
    admin_token: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("tokens-live")
    with ServerProcess(tmp) as server:
        url = database_url(tmp)

        async def admin_token() -> str:
            store = Store.from_url(url)
            try:
                admin = await store.get_user_by_name("admin")
                assert admin is not None
                return await issue_token(store, admin.id)
            finally:
                await store.close()

        yield Live(server, url, asyncio.run(admin_token()))


@pytest.fixture
async def store(live: Live) -> AsyncIterator[Store]:
    opened = Store.from_url(live.db_url)
    yield opened
    await opened.close()


class Watched:
    """A Socket.IO client that records when the server drops it."""

    def __init__(self) -> None:
        self.session = aiohttp.ClientSession()
        self.client = socketio.AsyncClient(reconnection=False, http_session=self.session)
        self.dropped = asyncio.Event()
        self.client.on("disconnect", self._dropped)

    def _dropped(self, *args: Any) -> None:
        self.dropped.set()

    async def connect(self, url: str, **kwargs: Any) -> Watched:
        await self.client.connect(url, transports=["websocket"], wait_timeout=10, **kwargs)
        return self

    async def whoami(self) -> Any:
        return await self.client.call("whoami", timeout=10)

    async def wait_dropped(self) -> bool:
        try:
            await asyncio.wait_for(self.dropped.wait(), DROP_WAIT)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()
        await self.session.close()


async def user_with_token(store: Store, name: str, **token: Any) -> tuple[int, str]:
    user = await store.create_user(name)
    return user.id, await issue_token(store, user.id, **token)


@pytest.mark.parametrize("how", ["auth", "bearer", "x-api-key"])
async def test_token_connects(live: Live, store: Store, how: str) -> None:
    _, token = await user_with_token(store, f"conn-{how}")
    kwargs: dict[str, Any] = {
        "auth": {"auth": {"token": token}},
        "bearer": {"headers": {"Authorization": f"Bearer {token}"}},
        "x-api-key": {"headers": {"X-API-Key": token}},
    }[how]
    watched = await Watched().connect(live.server.url, **kwargs)
    try:
        assert await watched.whoami() == {"username": f"conn-{how}", "role": "user",
                                          "via": "token"}
    finally:
        await watched.close()


async def test_token_in_query_string_is_refused(live: Live, store: Store) -> None:
    _, token = await user_with_token(store, "query")
    async with socketio_client() as client:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(f"{live.server.url}?token={token}&api_key={token}",
                                 transports=["websocket"], wait_timeout=10)
        assert not client.connected


async def test_unknown_token_is_refused(live: Live) -> None:
    errors: list[Any] = []
    async with socketio_client() as client:
        client.on("connect_error", errors.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(live.server.url, auth={"token": "pt_unknown"},
                                 transports=["websocket"], wait_timeout=10)
    assert errors == [{"message": "invalid, expired or revoked API token"}]


async def test_revocation_over_rest_drops_the_connection(live: Live, store: Store) -> None:
    user_id, token = await user_with_token(store, "revoked-rest")
    token_id = (await store.list_tokens(user_id))[0].id
    watched = await Watched().connect(live.server.url, auth={"token": token})
    try:
        assert (await watched.whoami())["username"] == "revoked-rest"
        async with httpx.AsyncClient() as http:
            reply = await http.delete(
                f"{live.server.url}/api/auth/users/{user_id}/tokens/{token_id}",
                headers={"X-API-Key": live.admin_token})
        assert reply.status_code == 204
        assert await watched.wait_dropped()
    finally:
        await watched.close()
    async with socketio_client() as again:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await again.connect(live.server.url, auth={"token": token},
                                transports=["websocket"], wait_timeout=10)


async def test_revocation_from_another_process_drops_the_connection(
        live: Live, store: Store) -> None:
    user_id, token = await user_with_token(store, "revoked-cli")
    token_id = (await store.list_tokens(user_id))[0].id
    watched = await Watched().connect(live.server.url, auth={"token": token})
    try:
        await store.revoke_token(user_id, token_id)  # as `pytorrent tokens revoke` would
        assert await watched.wait_dropped()
    finally:
        await watched.close()


async def test_deactivated_owner_is_dropped(live: Live, store: Store) -> None:
    user_id, token = await user_with_token(store, "deactivated")
    watched = await Watched().connect(live.server.url, auth={"token": token})
    try:
        await store.update_user(user_id, active=False)
        assert await watched.wait_dropped()
    finally:
        await watched.close()
    async with httpx.AsyncClient() as http:
        reply = await http.get(f"{live.server.url}/api/auth/me", headers={"X-API-Key": token})
    assert reply.status_code == 401


async def test_expiry_drops_the_connection(live: Live, store: Store) -> None:
    _, token = await user_with_token(store, "expiring",
                                     expires_at=now() + timedelta(seconds=2))
    watched = await Watched().connect(live.server.url, auth={"token": token})
    try:
        assert (await watched.whoami())["username"] == "expiring"
        assert await watched.wait_dropped()
    finally:
        await watched.close()
    async with httpx.AsyncClient() as http:
        reply = await http.get(f"{live.server.url}/api/auth/me", headers={"X-API-Key": token})
    assert reply.status_code == 401


async def test_other_connections_survive(live: Live, store: Store) -> None:
    keep_id, keep = await user_with_token(store, "keeper")
    drop_id, drop = await user_with_token(store, "dropper")
    kept = await Watched().connect(live.server.url, auth={"token": keep})
    dropped = await Watched().connect(live.server.url, auth={"token": drop})
    try:
        await store.revoke_token(drop_id, (await store.list_tokens(drop_id))[0].id)
        assert await dropped.wait_dropped()
        assert not kept.dropped.is_set()
        assert (await kept.whoami())["username"] == "keeper"
    finally:
        await kept.close()
        await dropped.close()
