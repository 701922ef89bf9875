"""Socket.IO behind an external provider: connect and events resolve the header like REST
(AUTH.md "Connection badge behind Tinyauth"). Runs the real server under uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
import socketio

from pytorrent_core.testing import ServerProcess

pytestmark = pytest.mark.server

ENV = {"PYTORRENT_AUTH_PROVIDER": "tinyauth", "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true",
       "PYTORRENT_AUTH_PROXY_AUTO_CREATE_ROLE": "user",
       "PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION": "ro"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Only nginx's address in the nginx test; here the client binds 127.0.0.2 to be trusted.
    env = {**ENV, "PYTORRENT_AUTH_TRUSTED_PROXIES": "127.0.0.2/32"}
    with ServerProcess(tmp_path_factory.mktemp("sio"), env) as running:
        yield running


@asynccontextmanager
async def client_from(source: str) -> AsyncIterator[socketio.AsyncClient]:
    """A Socket.IO client whose TCP connections leave from ``source``."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        client = socketio.AsyncClient(http_session=session, reconnection=False)
        try:
            yield client
        finally:
            if client.connected:
                await client.disconnect()


@pytest.mark.parametrize("transports", [["polling", "websocket"], ["websocket"]])
async def test_header_from_trusted_peer_connects_and_events_resolve(
        server: ServerProcess, transports: list[str]) -> None:
    async with client_from("127.0.0.2") as client:
        await client.connect(server.url, headers={"Remote-User": "Alice"},
                             transports=transports, wait_timeout=10)
        assert client.connected
        answer = await client.call("whoami", timeout=10)
        assert answer == {"username": "Alice", "role": "user", "via": "provider"}


async def test_missing_header_is_refused(server: ServerProcess) -> None:
    async with client_from("127.0.0.2") as client:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(server.url, wait_timeout=10)
        assert not client.connected


async def test_underscore_spelling_is_not_merged_into_the_header(server: ServerProcess) -> None:
    # A WSGI-style environ would turn Remote_User into HTTP_REMOTE_USER, like Remote-User.
    async with client_from("127.0.0.2") as client:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(server.url, headers={"Remote_User": "admin"},
                                 wait_timeout=10)


async def test_header_from_untrusted_peer_is_refused(server: ServerProcess) -> None:
    async with client_from("127.0.0.1") as client:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(server.url, headers={"Remote-User": "admin"},
                                 transports=["websocket"], wait_timeout=10)
    assert "ignored Remote-User header from 127.0.0.1" in server.log()


async def test_each_connection_is_its_own_user(server: ServerProcess) -> None:
    async with client_from("127.0.0.2") as first, client_from("127.0.0.2") as second:
        await first.connect(server.url, headers={"Remote-User": "bob"}, wait_timeout=10)
        await second.connect(server.url, headers={"Remote-User": "carol"}, wait_timeout=10)
        assert (await first.call("whoami", timeout=10))["username"] == "bob"
        assert (await second.call("whoami", timeout=10))["username"] == "carol"

