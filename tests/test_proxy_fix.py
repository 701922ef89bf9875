"""PYTORRENT_PROXY_FIX_ENABLE: X-Forwarded-For/Proto/Host/Port/Prefix are believed only from
trusted proxies, for REST and Socket.IO alike, so origin checks and secure cookies work
behind HTTPS (AUTH.md "Recommended variables for reverse proxy mode")."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from pytorrent_core.access.facts import TrustedNetworks, facts_from_scope, mounted_at_prefix
from pytorrent_core.storage import Store
from pytorrent_core.testing import (
    ServerProcess,
    database_url,
    issue_token,
    running_app,
    session_cookie,
    set_password,
    settled_admin,
    socketio_client,
)
from pytorrent_core.web.app import SESSION_COOKIE, PyTorrentApp

SITE = "https://pytorrent.example.com"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "pytorrent.example.com",
             "X-Forwarded-For": "198.51.100.23"}
PROXY_MODE = {"PYTORRENT_PROXY_FIX_ENABLE": "true", "PYTORRENT_SESSION_COOKIE_SECURE": "true",
              "PYTORRENT_ALLOWED_HOSTS": "pytorrent.example.com"}
TRUSTED = TrustedNetworks(["10.0.0.0/8", "127.0.0.0/8"])


def facts(headers: Mapping[str, str], peer: str = "10.0.0.2", proxy_fix: bool = True,
          **scope: Any) -> Any:
    raw = {"type": "http", "method": "GET", "path": "/", "scheme": "http",
           "client": (peer, 50000), "server": ("10.0.0.1", 8090),
           "headers": [(k.lower().encode(), v.encode()) for k, v in
                       {"Host": "10.0.0.1:8090", **headers}.items()], **scope}
    return facts_from_scope(raw, trusted=TRUSTED, proxy_fix=proxy_fix)


def asgi_client(app: PyTorrentApp, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    """The whole ASGI application, as uvicorn would call it, from ``peer``."""
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://10.0.0.1:8090")


def test_trusted_proxy_headers_are_applied() -> None:
    got = facts({"X-Forwarded-For": "203.0.113.7, 198.51.100.23", "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "Pytorrent.Example.com", "X-Forwarded-Port": "8443",
                 "X-Forwarded-Prefix": "/pytorrent/"})
    assert got.client == "198.51.100.23"  # the hop the trusted proxy saw, not a claim
    assert got.peer == "10.0.0.2" and got.peer_trusted
    assert got.scheme == "https"
    assert got.host == "pytorrent.example.com:8443"
    assert got.origin == "https://pytorrent.example.com:8443"
    assert got.prefix == "/pytorrent"
    assert got.raw_host == "10.0.0.1:8090"  # the bypass check still sees the real Host


@pytest.mark.parametrize(("headers", "host"), [
    ({"X-Forwarded-Port": "443"}, "pytorrent.example.com"),
    ({"X-Forwarded-Host": "pytorrent.example.com:8443", "X-Forwarded-Port": "443"},
     "pytorrent.example.com"),
    ({"X-Forwarded-Host": "[fd00::1]:8443", "X-Forwarded-Port": "9443"}, "[fd00::1]:9443"),
    ({"X-Forwarded-Host": "[fd00::1]", "X-Forwarded-Port": "443"}, "[fd00::1]"),
    ({"X-Forwarded-Host": "a.example, b.example"}, "a.example"),
])
def test_forwarded_port_and_host_forms(headers: dict[str, str], host: str) -> None:
    got = facts({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "pytorrent.example.com",
                 **headers})
    assert got.host == host


@pytest.mark.parametrize("prefix", ["//evil.example", "/a b", "https://evil.example",
                                    "pytorrent", "/ok/../x\\y"])
def test_unsafe_prefixes_are_ignored(prefix: str) -> None:
    assert facts({"X-Forwarded-Prefix": prefix}).prefix == ""


@pytest.mark.parametrize(("peer", "proxy_fix"), [("203.0.113.7", True), ("10.0.0.2", False)])
def test_headers_are_ignored_from_untrusted_peers_or_when_disabled(peer: str,
                                                                   proxy_fix: bool) -> None:
    got = facts({**FORWARDED, "X-Forwarded-Port": "8443", "X-Forwarded-Prefix": "/p"},
                peer=peer, proxy_fix=proxy_fix)
    assert (got.scheme, got.host, got.prefix) == ("http", "10.0.0.1:8090", "")
    # X-Forwarded-For changes no origin: a trusted peer's is read even with proxy-fix off.
    assert got.client == (peer if peer == "203.0.113.7" else "198.51.100.23")
    assert got.forwarded  # still seen as proxied, so no direct-IP bypass either way


def test_websocket_scheme_counts_as_http() -> None:
    assert facts({}, scheme="wss", type="websocket").scheme == "https"
    assert facts({}, scheme="ws", type="websocket").origin == "http://10.0.0.1:8090"


# ---------------------------------------------------------------- REST


async def post_as(app: PyTorrentApp, headers: Mapping[str, str], peer: str) -> int:
    store = app.services.store
    profiles = await store.list_profiles()
    profile = profiles[0] if profiles else await store.create_profile("A", "scgi://h:1")
    admin = await settled_admin(store)
    reply = await app.quart.test_client().post(
        f"/api/profiles/{profile.id}/activate", peer=peer,
        headers={"Cookie": session_cookie(app, admin), **headers})
    return reply.status_code


@pytest.mark.parametrize(("env", "peer", "headers", "status"), [
    (PROXY_MODE, "127.0.0.1", FORWARDED, 200),
    (PROXY_MODE, "10.1.2.3", FORWARDED, 200),
    (PROXY_MODE, "203.0.113.9", FORWARDED, 403),  # same headers, untrusted peer
    ({**PROXY_MODE, "PYTORRENT_AUTH_TRUSTED_PROXIES": "10.9.9.9"}, "127.0.0.1", FORWARDED, 403),
    ({"PYTORRENT_SESSION_COOKIE_SECURE": "true"}, "127.0.0.1", FORWARDED, 403),  # fix off
    (PROXY_MODE, "127.0.0.1", {}, 403),  # no forwarded headers: origin is http://localhost
    (PROXY_MODE, "127.0.0.1", {"X-Forwarded-Proto": "https"}, 403),  # host still localhost
    # An explicit allow-list works without forwarded headers (AUTH.md's alternative).
    ({**PROXY_MODE, "PYTORRENT_API_ALLOWED_ORIGINS": SITE}, "203.0.113.9", {}, 200),
])
async def test_https_origin_behind_the_proxy(tmp_path: Path, env: dict[str, str], peer: str,
                                             headers: dict[str, str], status: int) -> None:
    async with running_app(tmp_path, env) as app:
        assert await post_as(app, {**headers, "Origin": SITE}, peer) == status


async def test_secure_session_cookie_behind_the_proxy(tmp_path: Path) -> None:
    async with running_app(tmp_path, PROXY_MODE) as app:
        await set_password(app, "admin", "correct horse battery")
        client = app.quart.test_client()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. "Secure cookies will be ignored ..."
            login = await client.post(
                "/api/auth/login", headers={**FORWARDED, "Origin": SITE},
                json={"username": "admin", "password": "correct horse battery"})
        assert login.status_code == 200, await login.get_json()
        jar: SimpleCookie = SimpleCookie()
        jar.load(login.headers["Set-Cookie"])
        morsel = jar[SESSION_COOKIE]
        assert morsel["secure"] and morsel["httponly"]
        assert morsel["samesite"].lower() == "lax"
        # The browser sends it back over HTTPS via the proxy; the unsafe call passes.
        profile = await app.services.store.create_profile("A", "scgi://h:1")
        reply = await client.post(
            f"/api/profiles/{profile.id}/activate",
            headers={**FORWARDED, "Origin": SITE,
                     "Cookie": f"{SESSION_COOKIE}={morsel.value}"})
        assert reply.status_code == 200


async def test_prefix_reaches_pages_and_redirects(tmp_path: Path) -> None:
    env = {"PYTORRENT_PROXY_FIX_ENABLE": "true",
           "PYTORRENT_ALLOWED_HOSTS": "pytorrent.example.com"}
    async with running_app(tmp_path, env) as app:
        behind = {**FORWARDED, "X-Forwarded-Prefix": "/pytorrent"}
        async with asgi_client(app) as client:
            page = await client.get("/", headers=behind)
            assert page.status_code == 302
            assert page.headers["Location"] == "/pytorrent/login?next=/"
            login = await client.get("/login", headers=behind)
            assert 'action="/pytorrent/login"' in login.text
            admin = await settled_admin(app.services.store)
            signed_in = {**behind, "Cookie": session_cookie(app, admin)}
            html = (await client.get("/", headers=signed_in)).text
            assert 'href="/pytorrent/static/app.css"' in html
            assert 'src="/pytorrent/static/app.js"' in html
            assert 'action="/pytorrent/logout"' in html
            assert '<meta name="pytorrent-socket-path" content="/pytorrent/socket.io">' in html
            account = (await client.get("/account", headers=signed_in)).text
            assert 'href="/pytorrent/admin/users"' in account
            plain = (await client.get("/", headers={"Cookie": signed_in["Cookie"]})).text
            assert 'href="/static/app.css"' in plain
            assert '<meta name="pytorrent-socket-path" content="/socket.io">' in plain
        async with asgi_client(app, peer="203.0.113.9") as untrusted:
            refused = await untrusted.get("/", headers=behind)
            assert refused.headers["Location"] == "/login?next=/"


def test_a_trusted_prefix_mounts_the_app_there() -> None:
    scope = {"type": "http", "path": "/admin/users", "raw_path": b"/admin/users",
             "root_path": "", "headers": [(b"x-forwarded-prefix", b"/pytorrent/")]}
    mounted = mounted_at_prefix(scope)
    assert (mounted["root_path"], mounted["path"], mounted["raw_path"]) == (
        "/pytorrent", "/pytorrent/admin/users", b"/pytorrent/admin/users")
    assert scope["path"] == "/admin/users"  # the caller's scope is left alone
    # Facts keep the path inside pyTorrent: /api/... is still the API.
    api = facts({"X-Forwarded-Prefix": "/pytorrent"}, path="/pytorrent/api/profiles",
                root_path="/pytorrent")
    assert (api.path, api.is_api, api.prefix) == ("/api/profiles", True, "/pytorrent")
    for bad in (b"//evil.example", b"https://evil.example", b""):
        unsafe = {**scope, "headers": [(b"x-forwarded-prefix", bad)]}
        assert mounted_at_prefix(unsafe) is unsafe
    assert mounted_at_prefix({**scope, "headers": []})["path"] == "/admin/users"


# ---------------------------------------------------------------- Socket.IO


def handshake(server: ServerProcess, headers: Mapping[str, str]) -> httpx.Response:
    return httpx.get(f"{server.url}/socket.io/?EIO=4&transport=polling",
                     headers={"Origin": SITE, **headers})


@pytest.mark.server
def test_socketio_origin_follows_forwarded_headers_from_trusted_peers(tmp_path: Path) -> None:
    for name in ("trusted", "untrusted", "disabled"):
        (tmp_path / name).mkdir()
    with ServerProcess(tmp_path / "trusted", PROXY_MODE) as server:  # 127.0.0.1 is trusted
        assert handshake(server, FORWARDED).status_code == 200
        assert handshake(server, FORWARDED).headers["Access-Control-Allow-Origin"] == SITE
        assert handshake(server, {}).status_code == 400
        assert handshake(server, {"X-Forwarded-Proto": "https"}).status_code == 400
    untrusted = {**PROXY_MODE, "PYTORRENT_AUTH_TRUSTED_PROXIES": "10.9.9.9/32"}
    with ServerProcess(tmp_path / "untrusted", untrusted) as server:
        assert handshake(server, FORWARDED).status_code == 400
    disabled = {"PYTORRENT_SESSION_COOKIE_SECURE": "true"}
    with ServerProcess(tmp_path / "disabled", disabled) as server:
        assert handshake(server, FORWARDED).status_code == 400


@pytest.mark.server
async def test_socketio_connects_with_forwarded_https_origin(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, PROXY_MODE) as server:
        store = Store.from_url(database_url(tmp_path))
        try:
            admin = await settled_admin(store)
            token = await issue_token(store, admin.id)
        finally:
            await store.close()
        async with socketio_client() as client:
            await client.connect(server.url, transports=["websocket"], auth={"token": token},
                                 headers={**FORWARDED, "Origin": SITE}, wait_timeout=10)
            assert (await client.call("whoami", timeout=10))["username"] == "admin"
        async with socketio_client() as refused:
            with pytest.raises(socketio.exceptions.ConnectionError):
                await refused.connect(server.url, transports=["websocket"],
                                      auth={"token": token}, headers={"Origin": SITE},
                                      wait_timeout=10)
