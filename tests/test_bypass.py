"""AUTH.md "Direct-IP auth bypass": direct private requests to a listed Host act as the
bypass user; anything proxied, forged or public goes through the configured provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from quart.testing.app import LifespanError

from pytorrent_core.config import ConfigError
from pytorrent_core.storage import Store
from pytorrent_core.testing import (
    ServerProcess,
    database_url,
    free_port,
    load_for_test,
    running_app,
    socketio_client,
)
from pytorrent_core.web.app import PyTorrentApp

HOSTS = "10.11.1.11:8090,10.11.1.11,NAS.lan"
ENV = {"PYTORRENT_AUTH_ENABLE": "true", "PYTORRENT_AUTH_PROVIDER": "tinyauth",
       "PYTORRENT_AUTH_PROXY_USER_HEADER": "Remote-User",
       "PYTORRENT_AUTH_BYPASS_HOSTS": HOSTS}


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[PyTorrentApp]:
    async with running_app(tmp_path, ENV) as running:
        yield running


async def me(app: PyTorrentApp, host: str, peer: str | None = None,
             **headers: str) -> tuple[int, Any]:
    reply = await app.quart.test_client().get(
        "/api/auth/me", headers={"Host": host, **{k.replace("_", "-"): v
                                                  for k, v in headers.items()}}, peer=peer)
    return reply.status_code, await reply.get_json()


@pytest.mark.parametrize("host", ["10.11.1.11:8090", "10.11.1.11", "nas.lan", "NAS.LAN",
                                  "10.11.1.11:8090".upper()])
async def test_listed_host_from_private_peer_acts_as_bypass_user(app: PyTorrentApp,
                                                                 host: str) -> None:
    status, body = await me(app, host)
    assert status == 200, body
    assert (body["user"]["username"], body["user"]["via"]) == ("admin", "bypass")


@pytest.mark.parametrize("host", ["10.11.1.11:9999", "nas.lan:8090", "10.11.1.12",
                                  "pytorrent.example.com", "10.11.1.11.", ""])
async def test_other_hosts_need_the_provider(app: PyTorrentApp, host: str) -> None:
    status, body = await me(app, host)
    assert status == 401, body


@pytest.mark.parametrize("header", ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                                    "X-Forwarded-Port", "X-Forwarded-Prefix", "Forwarded",
                                    "X-Real-IP", "x-forwarded-for"])
async def test_any_forwarding_header_disables_bypass(app: PyTorrentApp, header: str) -> None:
    status, body = await me(app, "10.11.1.11:8090", **{header: "10.0.0.9"})
    assert status == 401, body
    # The same request without the header is bypassed: the header alone decided.
    assert (await me(app, "10.11.1.11:8090"))[0] == 200


async def test_provider_user_header_means_the_provider_decides(app: PyTorrentApp) -> None:
    await app.services.store.create_user("bob")
    status, body = await me(app, "10.11.1.11:8090", Remote_User="bob")
    assert status == 200
    assert (body["user"]["username"], body["user"]["via"]) == ("bob", "provider")
    # An unknown user in the header is refused, not turned into the bypass admin.
    status, body = await me(app, "10.11.1.11:8090", Remote_User="mallory")
    assert status == 401
    # From an untrusted peer the header is ignored and there is still no bypass.
    status, _ = await me(app, "10.11.1.11:8090", peer="203.0.113.9", Remote_User="bob")
    assert status == 401


@pytest.mark.parametrize("peer", ["203.0.113.9", "8.8.8.8", "2a00:1450:4001::1",
                                  "::ffff:203.0.113.9"])
async def test_public_peer_gets_no_bypass(app: PyTorrentApp, peer: str) -> None:
    status, _ = await me(app, "10.11.1.11:8090", peer=peer)
    assert status == 401


@pytest.mark.parametrize("peer", ["127.0.0.1", "10.1.2.3", "192.168.1.20", "172.16.0.4",
                                  "::1", "fe80::1", "fd00::5", "::ffff:10.0.0.7"])
async def test_private_peers_get_bypass(app: PyTorrentApp, peer: str) -> None:
    status, body = await me(app, "10.11.1.11:8090", peer=peer)
    assert status == 200, (peer, body)


async def test_a_token_is_still_checked_first(app: PyTorrentApp) -> None:
    status, body = await me(app, "10.11.1.11:8090", X_API_Key="pt_bogus")
    assert status == 401
    assert "token" in body["error"]


async def test_admin_bypass_ignores_profile_permissions(app: PyTorrentApp) -> None:
    store = app.services.store
    admin = await store.get_user_by_name("admin")
    a = await store.create_profile("A", "scgi://h:1")
    await store.set_permissions(admin.id, {a.id: "ro"})  # ignored for admins
    client = app.quart.test_client()
    reply = await client.put(f"/api/profiles/{a.id}/labels",
                             headers={"Host": "10.11.1.11:8090",
                                      "Origin": "http://10.11.1.11:8090"},
                             json={"labels": ["ok"]})
    assert reply.status_code == 200, await reply.get_json()
    made = await client.post("/api/profiles", headers={"Host": "10.11.1.11",
                                                       "Origin": "http://10.11.1.11"},
                             json={"name": "B", "scgi_url": "scgi://h:2"})
    assert made.status_code == 201


async def test_user_bypass_follows_its_grants(tmp_path: Path) -> None:
    await seed(tmp_path, "viewer", active=True, grants={"A": "ro"})
    env = {**ENV, "PYTORRENT_AUTH_BYPASS_USER": "viewer"}
    async with running_app(tmp_path, env) as app:
        store = app.services.store
        a, b = (p.id for p in await store.list_profiles())
        client = app.quart.test_client()
        direct = {"Host": "10.11.1.11", "Origin": "http://10.11.1.11"}
        assert (await client.get(f"/api/profiles/{a}/labels", headers=direct)).status_code == 200
        assert (await client.get(f"/api/profiles/{b}/labels", headers=direct)).status_code == 403
        write = await client.put(f"/api/profiles/{a}/labels", headers=direct,
                                 json={"labels": ["x"]})
        assert write.status_code == 403
        assert (await client.post("/api/profiles", headers=direct,
                                   json={"name": "C", "scgi_url": "scgi://h:3"})
                ).status_code == 403


async def seed(tmp_path: Path, username: str | None, *, active: bool = True,
               grants: dict[str, str] | None = None) -> None:
    """Prepare the database before start-up: profiles A and B, and maybe a user."""
    store = Store.from_url(database_url(tmp_path))
    try:
        await store.migrate()
        ids = {n: (await store.create_profile(n, f"scgi://h-{n}:1")).id for n in ("A", "B")}
        if username:
            await store.create_user(username, active=active, permissions={
                ids[k]: v for k, v in (grants or {}).items()})
    finally:
        await store.close()


async def test_missing_bypass_user_fails_start_up(tmp_path: Path) -> None:
    env = {**ENV, "PYTORRENT_AUTH_BYPASS_USER": "ghost"}
    with pytest.raises((ConfigError, LifespanError)) as failed:
        async with running_app(tmp_path, env):
            pass
    message = str(failed.value)
    assert "PYTORRENT_AUTH_BYPASS_USER" in message and "ghost" in message
    assert "does not exist" in message


async def test_inactive_bypass_user_fails_start_up(tmp_path: Path) -> None:
    await seed(tmp_path, "ops", active=False)
    with pytest.raises((ConfigError, LifespanError)) as failed:
        async with running_app(tmp_path, {**ENV, "PYTORRENT_AUTH_BYPASS_USER": "ops"}):
            pass
    assert "is deactivated" in str(failed.value)


async def test_no_check_without_bypass_hosts(tmp_path: Path) -> None:
    env = {**ENV, "PYTORRENT_AUTH_BYPASS_HOSTS": "", "PYTORRENT_AUTH_BYPASS_USER": "ghost"}
    async with running_app(tmp_path, env) as app:
        assert (await me(app, "10.11.1.11"))[0] == 401


async def test_bypass_user_deactivated_later_is_refused_not_downgraded(tmp_path: Path) -> None:
    await seed(tmp_path, "ops")
    async with running_app(tmp_path, {**ENV, "PYTORRENT_AUTH_BYPASS_USER": "ops"}) as app:
        assert (await me(app, "10.11.1.11"))[1]["user"]["username"] == "ops"
        ops = await app.services.store.get_user_by_name("ops")
        await app.services.store.update_user(ops.id, active=False)
        status, body = await me(app, "10.11.1.11")
        assert status == 401
        assert "bypass user 'ops'" in body["error"]
        page = await app.quart.test_client().get("/", headers={"Host": "10.11.1.11"})
        assert page.status_code == 401
        assert "admin" not in (await page.get_data(as_text=True)).split("<main>")[-1]


@pytest.mark.parametrize("public", ["pytorrent.example.com", "203.0.113.5:8090", "8.8.8.8"])
async def test_start_up_refuses_public_bypass_hosts(tmp_path: Path, public: str) -> None:
    """Hardening, finding 14: AUTH.md says "Do not add public domains to this list"."""
    env = {**ENV, "PYTORRENT_AUTH_BYPASS_HOSTS": f"10.11.1.11:8090,{public},nas,box.lan"}
    with pytest.raises(ConfigError) as refused:
        load_for_test(tmp_path, env)
    message = str(refused.value)
    assert message.startswith("PYTORRENT_AUTH_BYPASS_HOSTS=")
    assert repr(public) in message and "Do not add public domains to this list." in message
    assert "\n" not in message


async def test_private_bypass_hosts_start(tmp_path: Path) -> None:
    env = {**ENV, "PYTORRENT_AUTH_BYPASS_HOSTS": "10.11.1.11:8090,nas,box.lan,[fd00::1]:8090"}
    async with running_app(tmp_path, env) as app:
        assert app.services.settings.auth_bypass_hosts[0] == "10.11.1.11:8090"


# ---------------------------------------------------------------- real server


@pytest.mark.server
def test_server_refuses_to_start_without_the_bypass_user(tmp_path: Path) -> None:
    env = {**ENV, "PYTORRENT_AUTH_BYPASS_USER": "ghost"}
    with pytest.raises(RuntimeError) as failed:
        ServerProcess(tmp_path, env).start()
    assert "PYTORRENT_AUTH_BYPASS_USER" in str(failed.value)


@pytest.mark.server
async def test_socketio_bypass_matches_rest(tmp_path: Path) -> None:
    port = free_port()
    env = {**ENV, "PYTORRENT_AUTH_BYPASS_HOSTS": f"127.0.0.1:{port}"}
    with ServerProcess(tmp_path, env, port=port) as server:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{server.url}/api/auth/me")).status_code == 200
            proxied = await http.get(f"{server.url}/api/auth/me",
                                     headers={"X-Forwarded-For": "198.51.100.7"})
            assert proxied.status_code == 401
        async with socketio_client() as client:
            await client.connect(server.url, transports=["websocket"], wait_timeout=10)
            assert await client.call("whoami", timeout=10) == {
                "username": "admin", "role": "admin", "via": "bypass"}
        for headers in ({"X-Forwarded-For": "198.51.100.7"}, {"X-Real-IP": "198.51.100.7"},
                        {"Host": "localhost"}):
            async with socketio_client() as refused:
                with pytest.raises(socketio.exceptions.ConnectionError):
                    await refused.connect(server.url, transports=["websocket"],
                                          headers=headers, wait_timeout=10)


async def test_a_via_header_means_a_proxy_so_no_bypass(tmp_path: Path) -> None:
    """Hardening, finding 11: a proxy that adds only ``Via`` must not expose the bypass."""
    async with running_app(tmp_path, {**ENV, "PYTORRENT_AUTH_BYPASS_HOSTS": "10.11.1.11"}) \
            as app:
        client = app.quart.test_client()
        direct = await client.get("/api/auth/me", headers={"Host": "10.11.1.11"},
                                  peer="10.11.1.20")
        proxied = await client.get("/api/auth/me", headers={"Host": "10.11.1.11",
                                                            "Via": "1.1 proxy"},
                                   peer="10.11.1.20")
    assert direct.status_code == 200
    assert proxied.status_code == 401
