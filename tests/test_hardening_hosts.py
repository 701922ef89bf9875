"""DNS rebinding (hardening, finding 2): pyTorrent answers only to host names that are its own.

The check sits in front of Quart and Socket.IO alike, so these tests drive the
whole ASGI application, and a real server for the raw-socket cases.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx
import pytest

from pytorrent_core.access.hosts import HostPolicy
from pytorrent_core.testing import ServerProcess, running_app
from pytorrent_core.web.app import PyTorrentApp

PROXY = {"PYTORRENT_AUTH_PROVIDER": "proxy", "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true"}


def client_for(app: PyTorrentApp, host: str, peer: str = "192.168.1.50") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url=f"http://{host}")


@pytest.fixture
async def proxy_app(tmp_path: Path) -> AsyncIterator[PyTorrentApp]:
    async with running_app(tmp_path, PROXY) as app:
        yield app


async def test_rebound_name_cannot_assert_identity_or_create_an_admin(
        proxy_app: PyTorrentApp) -> None:
    rebound = "attacker.example:8090"
    async with client_for(proxy_app, rebound) as client:
        headers = {"Remote-User": "admin", "Origin": f"http://{rebound}"}
        made = await client.post("/api/auth/users", json={"username": "eve", "role": "admin"},
                                 headers=headers)
        me = await client.get("/api/auth/me", headers=headers)
        page = await client.get("/", headers=headers)
    assert made.status_code == me.status_code == page.status_code == 400
    assert "PYTORRENT_ALLOWED_HOSTS" in made.json()["error"]
    assert "PYTORRENT_ALLOWED_HOSTS" in page.text
    assert page.headers["content-type"].startswith("text/plain")
    assert await proxy_app.services.store.get_user_by_name("eve") is None


async def test_the_same_request_by_address_is_served(proxy_app: PyTorrentApp) -> None:
    async with client_for(proxy_app, "192.168.1.10:8090") as client:
        me = await client.get("/api/auth/me", headers={"Remote-User": "admin"})
    assert me.status_code == 200


async def test_auth_disabled_on_loopback_still_refuses_a_rebound_name(tmp_path: Path) -> None:
    async with running_app(tmp_path, {"PYTORRENT_AUTH_ENABLE": "false"}) as app:
        async with client_for(app, "attacker.example", peer="127.0.0.1") as client:
            refused = await client.get("/api/auth/me")
        async with client_for(app, "localhost:8090", peer="127.0.0.1") as client:
            served = await client.get("/api/auth/me")
    assert refused.status_code == 400
    assert served.status_code == 200


async def test_socketio_handshake_is_refused_for_a_rebound_name(
        proxy_app: PyTorrentApp) -> None:
    async with client_for(proxy_app, "attacker.example") as client:
        reply = await client.get("/socket.io/", params={"EIO": "4", "transport": "polling"},
                                 headers={"Remote-User": "admin"})
    assert reply.status_code == 400


@pytest.mark.parametrize(("env", "host"), [
    ({"PYTORRENT_ALLOWED_HOSTS": "pytorrent.example.com"}, "pytorrent.example.com"),
    ({"PYTORRENT_ALLOWED_HOSTS": "pytorrent.example.com"}, "PyTorrent.Example.com:8443"),
    ({"PYTORRENT_ALLOWED_HOSTS": ".example.com"}, "torrents.example.com"),
    ({"PYTORRENT_API_ALLOWED_ORIGINS": "https://pt.example.org"}, "pt.example.org"),
    ({"PYTORRENT_SOCKETIO_CORS_ALLOWED_ORIGINS": "https://pt.example.org"}, "pt.example.org"),
    ({"PYTORRENT_AUTH_BYPASS_HOSTS": "nas.lan:8090"}, "nas.lan:8090"),
    ({"PYTORRENT_ALLOWED_HOSTS": "*"}, "anything.example"),
    ({}, "[fd00::5]:8090"),
    ({}, "10.11.1.11"),
    ({}, "localhost"),
])
async def test_names_that_are_ours(tmp_path: Path, env: Mapping[str, str], host: str) -> None:
    async with running_app(tmp_path, env) as app, client_for(app, host) as client:
        assert (await client.get("/api/health")).status_code == 200


@pytest.mark.parametrize("host", ["pytorrent.example.com.evil.example", "example.com.",
                                  "other.example", "xexample.com"])
def test_names_that_are_not(host: str) -> None:
    policy = HostPolicy(["pytorrent.example.com", ".sub.example.com"])
    assert not policy.allows(host)
    assert policy.allows("a.sub.example.com") and policy.allows("sub.example.com")


async def test_forwarded_host_must_be_ours_when_proxy_fix_believes_it(tmp_path: Path) -> None:
    env = {"PYTORRENT_PROXY_FIX_ENABLE": "true", "PYTORRENT_ALLOWED_HOSTS": "pt.example.com"}
    async with running_app(tmp_path, env) as app, client_for(app, "127.0.0.1:8090",
                                                             peer="127.0.0.1") as client:
        ours = await client.get("/api/health", headers={"X-Forwarded-Host": "pt.example.com"})
        theirs = await client.get("/api/health",
                                  headers={"X-Forwarded-Host": "attacker.example"})
    assert ours.status_code == 200
    assert theirs.status_code == 400


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.server
def test_missing_or_duplicate_host_is_refused_by_the_real_server(tmp_path: Path) -> None:
    with ServerProcess(tmp_path) as server:
        missing = _raw(server.port, b"GET /api/health HTTP/1.1\r\nConnection: close\r\n\r\n")
        twice = _raw(server.port, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  b"Host: attacker.example\r\nConnection: close\r\n\r\n")
        fine = _raw(server.port, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 b"Connection: close\r\n\r\n")
    assert missing.startswith(b"HTTP/1.1 400")
    assert twice.startswith(b"HTTP/1.1 400")
    assert fine.startswith(b"HTTP/1.1 200")


@pytest.mark.server
def test_websocket_upgrade_for_a_rebound_name_is_refused(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, {"PYTORRENT_AUTH_ENABLE": "false"}) as server:
        reply = _raw(server.port, b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                                  b"Host: attacker.example\r\nUpgrade: websocket\r\n"
                                  b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    assert not reply.startswith(b"HTTP/1.1 101")
    assert reply.startswith(b"HTTP/1.1 403") or reply.startswith(b"HTTP/1.1 400")
