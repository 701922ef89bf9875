"""AUTH.md "Reverse proxy origin checks": unsafe API requests carried by ambient credentials
(cookie, provider header, bypass) must come from this site or an allowed origin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytorrent_core.testing import issue_token, running_app, session_cookie, settled_admin
from pytorrent_core.web.app import PyTorrentApp

OWN = "http://localhost"  # the test client's Host is localhost


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[PyTorrentApp]:
    async with running_app(tmp_path) as running:
        yield running


async def activate(app: PyTorrentApp, headers: Mapping[str, str],
                   method: str = "post", peer: str | None = None) -> tuple[int, Any]:
    store = app.services.store
    profiles = await store.list_profiles()
    profile = profiles[0] if profiles else await store.create_profile("A", "scgi://h:1")
    client = app.quart.test_client()
    reply = await getattr(client, method)(f"/api/profiles/{profile.id}/activate",
                                          headers=dict(headers), peer=peer)
    return reply.status_code, await reply.get_json(silent=True)


async def cookie(app: PyTorrentApp) -> dict[str, str]:
    admin = await settled_admin(app.services.store)
    return {"Cookie": session_cookie(app, admin)}


@pytest.mark.parametrize(("extra", "status"), [
    ({"Origin": OWN}, 200),
    ({"Origin": OWN + "/"}, 200),
    ({"Origin": "HTTP://LOCALHOST"}, 200),
    ({"Referer": OWN + "/some/page?x=1"}, 200),
    ({"Origin": "null", "Referer": OWN + "/"}, 200),
    ({}, 403),
    ({"Origin": "null"}, 403),
    ({"Origin": "http://evil.example"}, 403),
    ({"Origin": "https://localhost"}, 403),
    ({"Origin": "http://localhost:8090"}, 403),
    ({"Origin": "http://localhost.evil.example"}, 403),
    ({"Referer": "http://evil.example/" + OWN}, 403),
    ({"Origin": "http://evil.example", "Referer": OWN + "/"}, 403),
])
async def test_cookie_requests(app: PyTorrentApp, extra: dict[str, str], status: int) -> None:
    got, body = await activate(app, {**await cookie(app), **extra})
    assert got == status, body
    if status == 403:
        assert "PYTORRENT_API_ALLOWED_ORIGINS" in body["error"]
        admin = await settled_admin(app.services.store)
        assert await app.services.store.active_profile(admin.id) is None


async def test_every_unsafe_method_is_checked(app: PyTorrentApp) -> None:
    store = app.services.store
    profile = await store.create_profile("A", "scgi://h:1")
    client = app.quart.test_client()
    foreign = {**await cookie(app), "Origin": "http://evil.example"}
    for method, path, body in (
            ("put", f"/api/profiles/{profile.id}/labels", {"labels": ["x"]}),
            ("patch", f"/api/profiles/{profile.id}", {"name": "B"}),
            ("delete", f"/api/profiles/{profile.id}", None),
            ("post", "/api/profiles", {"name": "C", "scgi_url": "scgi://h:2"})):
        reply = await getattr(client, method)(path, headers=foreign, json=body)
        assert reply.status_code == 403, method
    assert [(p.name, p.scgi_url) for p in await store.list_profiles()] == [("A", "scgi://h:1")]
    assert await store.profile_labels(profile.id) == []


async def test_safe_methods_are_not_checked(app: PyTorrentApp) -> None:
    client = app.quart.test_client()
    foreign = {**await cookie(app), "Origin": "http://evil.example"}
    for method in ("get", "head", "options"):
        reply = await getattr(client, method)("/api/profiles", headers=foreign)
        assert reply.status_code in (200, 204), method


async def test_anonymous_gets_401_not_403(app: PyTorrentApp) -> None:
    status, body = await activate(app, {"Origin": "http://evil.example"})
    assert status == 401


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
async def test_tokens_are_exempt(app: PyTorrentApp, header: str) -> None:
    admin = await settled_admin(app.services.store)
    token = await issue_token(app.services.store, admin.id)
    value = f"Bearer {token}" if header == "Authorization" else token
    for extra in ({}, {"Origin": "http://evil.example"}, {"Referer": "http://evil.example/"}):
        status, body = await activate(app, {header: value, **extra})
        assert status == 200, (extra, body)


@pytest.mark.parametrize(("env", "origin", "status"), [
    ({"PYTORRENT_API_ALLOWED_ORIGINS": "https://ui.example.com,https://b.example:8443"},
     "https://ui.example.com", 200),
    ({"PYTORRENT_API_ALLOWED_ORIGINS": "https://ui.example.com,https://b.example:8443"},
     "https://B.example:8443", 200),
    ({"PYTORRENT_API_ALLOWED_ORIGINS": "https://ui.example.com"}, OWN, 200),
    ({"PYTORRENT_API_ALLOWED_ORIGINS": "https://ui.example.com"}, "http://ui.example.com", 403),
    ({"PYTORRENT_API_ALLOWED_ORIGINS": "https://ui.example.com"}, "https://evil.example", 403),
    # Fallback: without an API list, the Socket.IO list is used ...
    ({"PYTORRENT_SOCKETIO_CORS_ALLOWED_ORIGINS": "https://ui.example.com"},
     "https://ui.example.com", 200),
    ({"PYTORRENT_SOCKETIO_CORS_ALLOWED_ORIGINS": "https://ui.example.com"},
     "https://evil.example", 403),
    # ... but an API list, when set, is the list.
    ({"PYTORRENT_API_ALLOWED_ORIGINS": "https://api.example.com",
      "PYTORRENT_SOCKETIO_CORS_ALLOWED_ORIGINS": "https://ui.example.com"},
     "https://ui.example.com", 403),
    ({"PYTORRENT_API_ALLOWED_ORIGINS": "https://api.example.com",
      "PYTORRENT_SOCKETIO_CORS_ALLOWED_ORIGINS": "https://ui.example.com"},
     "https://api.example.com", 200),
])
async def test_allow_lists(tmp_path: Path, env: dict[str, str], origin: str,
                           status: int) -> None:
    async with running_app(tmp_path, env) as app:
        got, body = await activate(app, {**await cookie(app), "Origin": origin})
        assert got == status, body


async def test_bypass_is_ambient_and_checked(tmp_path: Path) -> None:
    env = {"PYTORRENT_AUTH_PROVIDER": "tinyauth",
           "PYTORRENT_AUTH_BYPASS_HOSTS": "10.11.1.11:8090"}
    async with running_app(tmp_path, env) as app:
        direct = {"Host": "10.11.1.11:8090"}
        assert (await activate(app, {**direct, "Origin": "http://evil.example"}))[0] == 403
        assert (await activate(app, direct))[0] == 403
        assert (await activate(app, {**direct, "Origin": "http://10.11.1.11:8090"}))[0] == 200


async def test_provider_header_is_ambient_and_checked(tmp_path: Path) -> None:
    env = {"PYTORRENT_AUTH_PROVIDER": "proxy", "PYTORRENT_AUTH_PROXY_USER_HEADER": "X-User"}
    async with running_app(tmp_path, env) as app:
        admin = {"X-User": "admin"}
        assert (await activate(app, {**admin, "Origin": "http://evil.example"}))[0] == 403
        assert (await activate(app, {**admin, "Origin": OWN}))[0] == 200
