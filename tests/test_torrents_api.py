"""The torrents API per profile, against a real rtorrent, through the whole ASGI app.

Access is checked for every way in (session cookie, token, proxy header, bypass):
``ro`` lists and reads, ``full`` also acts and adds, ``none`` gets nothing.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.rtorrent import DEAD_TRACKER, RTorrentProcess, make_torrent

from pytorrent_core.testing import free_port, issue_token, running_app, set_password
from pytorrent_core.web.app import PyTorrentApp

ORIGIN = {"Origin": "http://127.0.0.1"}
ADMIN_PASSWORD = "admin-Pass-1"
TRACKER = DEAD_TRACKER.replace(":", "%3A").replace("/", "%2F")  # rtorrent drops trackerless


@pytest.fixture
def rtorrent(tmp_path: Path) -> Iterator[RTorrentProcess]:
    with RTorrentProcess(tmp_path / "rt") as process:
        yield process


def client_for(app: PyTorrentApp, host: str = "127.0.0.1",
               peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url=f"http://{host}", timeout=30)


async def eventually(check: Callable[[], Any], within: float = 15.0) -> Any:
    """Poll an async ``check`` until it returns something truthy, within a deadline."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.05)


class Setup:
    """An app with a profile on the real rtorrent and an admin, ro, full and none user."""

    def __init__(self, app: PyTorrentApp, rtorrent: RTorrentProcess, profile_id: int,
                 clients: dict[str, httpx.AsyncClient]) -> None:
        self.app = app
        self.rtorrent = rtorrent
        self.profile_id = profile_id
        self.clients = clients

    @property
    def base(self) -> str:
        return f"/api/profiles/{self.profile_id}"

    def torrent(self, name: str, size: int = 40_000) -> tuple[bytes, str]:
        return make_torrent(self.rtorrent.download_dir, name, bytes(range(256)) * (size // 256))

    async def rows(self, who: str = "admin") -> dict[str, dict[str, Any]]:
        reply = await self.clients[who].get(f"{self.base}/torrents")
        assert reply.status_code == 200, reply.text
        return {row["hash"]: row for row in reply.json()["torrents"]}

    async def add(self, data: bytes, who: str = "admin", **fields: str) -> httpx.Response:
        return await self.clients[who].post(
            f"{self.base}/torrents", files=[("torrent", ("t.torrent", data))],
            data=fields, headers=ORIGIN)

    async def act(self, action: str, hashes: list[str], who: str = "admin",
                  **extra: Any) -> httpx.Response:
        return await self.clients[who].post(f"{self.base}/torrents/actions",
                                            json={"action": action, "hashes": hashes, **extra},
                                            headers=ORIGIN)


async def _login(client: httpx.AsyncClient, username: str, password: str) -> None:
    reply = await client.post("/api/auth/login", json={"username": username,
                                                       "password": password})
    assert reply.status_code == 200, reply.text


@pytest.fixture
async def setup(tmp_path: Path, rtorrent: RTorrentProcess) -> AsyncIterator[Setup]:
    env = {"PYTORRENT_RTORRENT_POLL_INTERVAL": "0.2"}
    async with running_app(tmp_path, env) as app:
        store = app.services.store
        await set_password(app, "admin", ADMIN_PASSWORD)
        profile = await store.create_profile("seedbox", rtorrent.url)
        clients = {name: client_for(app) for name in ("admin", "ro", "full", "none")}
        for name, level in (("ro", "ro"), ("full", "full"), ("none", None)):
            user = await store.create_user(name, permissions={profile.id: level}
                                           if level else None)
            await set_password(app, name, f"{name}-Pass-12")
            await _login(clients[name], name, f"{name}-Pass-12")
            assert user.id
        await _login(clients["admin"], "admin", ADMIN_PASSWORD)
        try:
            yield Setup(app, rtorrent, profile.id, clients)
        finally:
            for client in clients.values():
                await client.aclose()


async def test_status_of_a_reachable_profile(setup: Setup) -> None:
    reply = await setup.clients["ro"].get(f"{setup.base}/status")
    assert reply.status_code == 200
    body = reply.json()
    assert body["connected"] is True
    assert body["client_version"].startswith("0.")
    assert body["torrents"] == 0 and body["down_rate"] >= 0 and body["up_rate"] >= 0


async def test_add_list_details_and_act_as_full(setup: Setup) -> None:
    data, info_hash = setup.torrent("alpha.bin")
    added = await setup.add(data, who="full", label="linux isos", start="true")
    assert added.status_code == 201, added.text
    assert added.json() == {"added": [info_hash]}
    row = (await eventually(lambda: _has(setup, info_hash, "seeding")))[info_hash]
    assert row["name"] == "alpha.bin" and row["label"] == "linux isos"
    assert row["progress"] == 1.0 and row["size"] == 40_000 - 40_000 % 256

    details = await setup.clients["ro"].get(f"{setup.base}/torrents/{info_hash.lower()}")
    assert details.status_code == 200
    body = details.json()
    assert body["hash"] == info_hash
    assert [f["path"] for f in body["files"]] == ["alpha.bin"]
    assert body["trackers"][0]["url"].startswith("http://127.0.0.1:1/")
    assert body["peers"] == []

    stopped = await setup.act("stop", [info_hash], who="full")
    assert stopped.json() == {"results": {info_hash: "ok"}}
    await eventually(lambda: _has(setup, info_hash, "stopped"))
    assert (await setup.act("start", [info_hash], who="full")).status_code == 200
    await eventually(lambda: _has(setup, info_hash, "seeding"))
    assert (await setup.act("pause", [info_hash], who="full")).status_code == 200
    await eventually(lambda: _has(setup, info_hash, "paused"))
    labelled = await setup.act("label", [info_hash], who="full", label="keep")
    assert labelled.status_code == 200
    assert (await setup.rows())[info_hash]["label"] == "keep"
    assert (await setup.act("recheck", [info_hash], who="full")).status_code == 200
    await eventually(lambda: _settled(setup, info_hash))
    removed = await setup.act("remove", [info_hash], who="full")
    assert removed.json() == {"results": {info_hash: "ok"}}
    assert info_hash not in await setup.rows()
    assert (setup.rtorrent.download_dir / "alpha.bin").exists()  # data kept


async def _has(setup: Setup, info_hash: str, state: str) -> dict[str, dict[str, Any]] | None:
    rows = await setup.rows()
    return rows if info_hash in rows and rows[info_hash]["state"] == state else None


async def _settled(setup: Setup, info_hash: str) -> bool:
    return (await setup.rows())[info_hash]["state"] != "checking"


async def test_add_a_magnet_stopped(setup: Setup) -> None:
    info_hash = "C12FE1C06BBA254A9DC9F519B335AA7C1367A88A"
    magnet = f"magnet:?xt=urn:btih:{info_hash}&dn=x&tr={TRACKER}"
    reply = await setup.clients["full"].post(
        f"{setup.base}/torrents", json={"uris": [magnet], "start": False}, headers=ORIGIN)
    assert reply.status_code == 201, reply.text
    assert reply.json() == {"added": [info_hash]}
    assert (await setup.rows())[info_hash]["state"] == "stopped"
    base32 = base64.b32encode(bytes.fromhex("AB" * 20)).decode()
    again = await setup.clients["full"].post(
        f"{setup.base}/torrents", json={"uris": [f"magnet:?xt=urn:btih:{base32}&tr={TRACKER}"]},
        headers=ORIGIN)
    assert again.json() == {"added": ["AB" * 20]}


@pytest.mark.parametrize(("payload", "item"), [
    ({"uris": ["https://example.com/x.torrent"]}, "https://example.com/x.torrent"),
    ({"uris": ["magnet:?dn=nohash"]}, "magnet:?dn=nohash"),
])
async def test_a_bad_magnet_is_refused_naming_it(setup: Setup, payload: dict[str, Any],
                                                 item: str) -> None:
    reply = await setup.clients["full"].post(f"{setup.base}/torrents", json=payload,
                                             headers=ORIGIN)
    assert reply.status_code == 400
    assert reply.json()["item"] == item
    assert await setup.rows() == {}


async def test_nothing_is_added_when_one_file_is_not_a_torrent(setup: Setup) -> None:
    good, _ = setup.torrent("good.bin")
    reply = await setup.clients["full"].post(
        f"{setup.base}/torrents", files=[("torrent", ("good.torrent", good)),
                                         ("torrent", ("notes.txt", b"hello"))],
        headers=ORIGIN)
    assert reply.status_code == 400
    body = reply.json()
    assert body["item"] == "notes.txt" and "not a torrent" in body["error"]
    assert await setup.rows() == {}


async def test_bad_actions_are_400(setup: Setup) -> None:
    for payload in ({"action": "explode", "hashes": ["A" * 40]},
                    {"action": "start", "hashes": []},
                    {"action": "start", "hashes": ["not-a-hash"]},
                    {"action": "label", "hashes": ["A" * 40], "label": "a\nb"}):
        reply = await setup.clients["full"].post(f"{setup.base}/torrents/actions",
                                                 json=payload, headers=ORIGIN)
        assert reply.status_code == 400, payload
        assert "error" in reply.json()


async def test_an_unknown_hash_is_404(setup: Setup) -> None:
    reply = await setup.clients["admin"].get(f"{setup.base}/torrents/{'B' * 40}")
    assert reply.status_code == 404
    assert (await setup.clients["admin"].get(f"{setup.base}/torrents/xyz")).status_code == 404
    missing = await setup.act("start", ["B" * 40])
    assert missing.status_code == 200 and missing.json()["results"]["B" * 40] != "ok"


async def test_ro_reads_but_every_change_is_403(setup: Setup) -> None:
    data, info_hash = setup.torrent("ro.bin")
    assert (await setup.add(data)).status_code == 201
    ro = setup.clients["ro"]
    assert info_hash in await setup.rows("ro")
    assert (await ro.get(f"{setup.base}/torrents/{info_hash}")).status_code == 200
    assert (await setup.add(data, who="ro")).status_code == 403
    for action in ("start", "stop", "pause", "recheck", "label", "remove"):
        assert (await setup.act(action, [info_hash], who="ro")).status_code == 403
    assert (await ro.post(f"{setup.base}/torrents", json={"uris": ["magnet:?xt=urn:btih:"
                                                                   + "C" * 40]},
                          headers=ORIGIN)).status_code == 403
    assert info_hash in await setup.rows()


async def test_none_gets_nothing(setup: Setup) -> None:
    none = setup.clients["none"]
    for path in ("/status", "/torrents", f"/torrents/{'A' * 40}"):
        assert (await none.get(setup.base + path)).status_code in (403, 404)
    assert (await setup.act("start", ["A" * 40], who="none")).status_code in (403, 404)


async def test_tokens_headers_and_bypass_follow_the_same_rules(tmp_path: Path,
                                                               rtorrent: RTorrentProcess
                                                               ) -> None:
    env = {"PYTORRENT_AUTH_PROVIDER": "proxy"}
    async with running_app(tmp_path, env) as app:  # the bypass user must exist first
        store = app.services.store
        profile = await store.create_profile("box", rtorrent.url)
        # With a password they are not synchronised with the auto-create settings.
        bob = await store.create_user("bob", permissions={profile.id: "ro"},
                                      password_hash="x")
        await store.create_user("carl", permissions={profile.id: "full"}, password_hash="x")
    env.update(PYTORRENT_AUTH_BYPASS_HOSTS="10.11.1.11", PYTORRENT_AUTH_BYPASS_USER="bob")
    async with running_app(tmp_path, env) as app:
        store = app.services.store
        token = await issue_token(store, bob.id)
        data, _ = make_torrent(rtorrent.download_dir, "t.bin", b"x" * 5000)
        base = f"/api/profiles/{profile.id}/torrents"
        upload = [("torrent", ("t.torrent", data))]
        async with client_for(app) as client:
            by_token = {"Authorization": f"Bearer {token}"}
            assert (await client.get(base, headers=by_token)).status_code == 200
            assert (await client.post(base, files=upload, headers=by_token)).status_code == 403
            as_bob = {"Remote-User": "bob", **ORIGIN}
            assert (await client.get(base, headers=as_bob)).status_code == 200
            assert (await client.post(base, files=upload, headers=as_bob)).status_code == 403
            as_carl = {"Remote-User": "carl", **ORIGIN}
            assert (await client.post(base, files=upload, headers=as_carl)).status_code == 201
        async with client_for(app, host="10.11.1.11", peer="10.11.1.20") as direct:
            listing = await direct.get(base)
            assert listing.status_code == 200, listing.text
            refused = await direct.post(base, files=upload,
                                        headers={"Origin": "http://10.11.1.11"})
            assert refused.status_code == 403


async def test_remove_with_data_needs_a_data_root(setup: Setup) -> None:
    data, info_hash = setup.torrent("big.bin")
    assert (await setup.add(data)).status_code == 201
    await eventually(lambda: _has(setup, info_hash, "seeding"))
    refused = await setup.act("remove", [info_hash], delete_data=True)
    assert refused.status_code == 409
    assert "data_root" in refused.json()["error"]
    assert info_hash in await setup.rows()

    profile = await setup.clients["admin"].get(f"{setup.base}")
    assert profile.json()["profile"]["delete_data"] is False
    changed = await setup.clients["admin"].patch(
        setup.base, json={"data_root": str(setup.rtorrent.download_dir)}, headers=ORIGIN)
    assert changed.status_code == 200, changed.text
    assert changed.json()["profile"]["delete_data"] is True
    ro_view = (await setup.clients["ro"].get(setup.base)).json()["profile"]
    assert ro_view["delete_data"] is True and "data_root" not in ro_view
    removed = await setup.act("remove", [info_hash], who="full", delete_data=True)
    assert removed.json() == {"results": {info_hash: "ok"}}
    assert not (setup.rtorrent.download_dir / "big.bin").exists()
    assert info_hash not in await setup.rows()


async def test_data_outside_the_root_is_never_deleted(setup: Setup, tmp_path: Path) -> None:
    data, info_hash = setup.torrent("outside.bin")
    assert (await setup.add(data)).status_code == 201
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    await setup.app.services.store.update_profile(setup.profile_id, data_root=str(elsewhere))
    reply = await setup.act("remove", [info_hash], delete_data=True)
    assert reply.status_code == 200
    assert reply.json()["results"][info_hash] != "ok"
    assert (setup.rtorrent.download_dir / "outside.bin").exists()
    assert info_hash in await setup.rows()


@pytest.mark.parametrize("kind", ["stopped", "wrong-port", "not-a-socket", "not-rtorrent",
                                  "silent"])
async def test_failures_are_clear_json_never_500(tmp_path: Path, kind: str) -> None:
    url, cleanup = await _broken(tmp_path, kind)
    env = {"PYTORRENT_RTORRENT_TIMEOUT": "1"}
    try:
        async with running_app(tmp_path, env) as app:
            await set_password(app, "admin", ADMIN_PASSWORD)
            profile = await app.services.store.create_profile("broken", url)
            other = await app.services.store.create_profile("other", "scgi://127.0.0.1:1")
            async with client_for(app) as client:
                await _login(client, "admin", ADMIN_PASSWORD)
                base = f"/api/profiles/{profile.id}"
                status = await client.get(f"{base}/status")
                listing = await client.get(f"{base}/torrents")
                action = await client.post(f"{base}/torrents/actions", headers=ORIGIN,
                                           json={"action": "start", "hashes": ["A" * 40]})
                health = await client.get("/api/health")
                assert (await client.get(f"/api/profiles/{other.id}")).status_code == 200
    finally:
        cleanup()
    assert status.status_code == 200
    assert status.json()["connected"] is False
    reason = status.json()["error"]
    assert reason and url not in reason
    for reply in (listing, action):
        assert reply.status_code == 502
        assert reply.json()["error"].startswith("rTorrent: ")
    assert health.status_code == 200
    expected = {"stopped": "refused", "wrong-port": "refused", "not-a-socket": "socket",
                "not-rtorrent": "rtorrent", "silent": "did not answer"}[kind]
    assert expected in reason.lower()


async def _broken(tmp_path: Path, kind: str) -> tuple[str, Callable[[], None]]:
    if kind in ("stopped", "wrong-port"):
        return f"scgi://127.0.0.1:{free_port()}", lambda: None
    if kind == "not-a-socket":
        plain = tmp_path / "plain-file"
        plain.write_text("not a socket")
        return f"scgi://{plain}", lambda: None
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        if kind == "not-rtorrent":
            writer.write(b"HTTP/1.0 200 OK\r\n\r\n<html>hello</html>")
            await writer.drain()
            writer.close()
        else:
            await asyncio.sleep(30)

    server = await asyncio.start_server(answer, sock=listener)
    return f"scgi://127.0.0.1:{port}", server.close


async def test_a_unix_socket_profile(tmp_path: Path) -> None:
    with RTorrentProcess(tmp_path / "rt", transport="unix") as process:
        async with running_app(tmp_path) as app:
            await set_password(app, "admin", ADMIN_PASSWORD)
            profile = await app.services.store.create_profile("local", process.url)
            data, info_hash = make_torrent(process.download_dir, "u.bin", b"u" * 9000)
            async with client_for(app) as client:
                await _login(client, "admin", ADMIN_PASSWORD)
                base = f"/api/profiles/{profile.id}"
                assert (await client.get(f"{base}/status")).json()["connected"] is True
                added = await client.post(f"{base}/torrents", headers=ORIGIN,
                                          files=[("torrent", ("u.torrent", data))])
                assert added.status_code == 201
                listing = (await client.get(f"{base}/torrents")).json()["torrents"]
                assert [row["hash"] for row in listing] == [info_hash]
