"""Scoped API tokens over REST, against a real rtorrent: a token may be limited to some
profiles and to ``ro``, never reaches further than its owner does at the moment of use,
and a scoped token of an admin has no admin powers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.rtorrent import RTorrentProcess

from pytorrent_core.models import User
from pytorrent_core.testing import running_app, session_cookie, settled_admin
from pytorrent_core.web.app import PyTorrentApp

pytestmark = pytest.mark.usefixtures("on_every_engine")

ORIGIN = "http://127.0.0.1"
MAGNET = "magnet:?xt=urn:btih:" + "C1" * 20 + "&dn=x&tr=http%3A%2F%2F127.0.0.1%3A1%2Fannounce"


@pytest.fixture
def rtorrent(tmp_path: Path) -> Iterator[RTorrentProcess]:
    with RTorrentProcess(tmp_path / "rt") as process:
        yield process


@dataclass
class Setup:
    app: PyTorrentApp
    client: httpx.AsyncClient
    alice: User
    admin: User
    own: int  # the profile tokens get scoped to
    other: int  # another profile on the same rtorrent: readable by alice unscoped

    def cookie(self, user: User) -> dict[str, str]:
        return {"Cookie": session_cookie(self.app, user), "Origin": ORIGIN}

    async def token(self, user: User, **scope: Any) -> str:
        reply = await self.client.post(f"/api/auth/users/{user.id}/tokens",
                                       headers=self.cookie(user), json={"name": "s", **scope})
        assert reply.status_code == 201, reply.text
        return str(reply.json()["token"])


@pytest.fixture
async def setup(tmp_path: Path, rtorrent: RTorrentProcess) -> AsyncIterator[Setup]:
    async with running_app(tmp_path) as app:
        store = app.services.store
        admin = await settled_admin(store)
        own = await store.create_profile("own", rtorrent.url)
        other = await store.create_profile("other", rtorrent.url)
        alice = await store.create_user("alice", permissions={own.id: "full",
                                                              other.id: "full"})
        transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 40000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1",
                                     timeout=30) as client:
            yield Setup(app, client, alice, admin, own.id, other.id)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_ro_token_scoped_to_one_profile_reads_it_and_nothing_else(setup: Setup) -> None:
    c, own, other = setup.client, setup.own, setup.other
    token = bearer(await setup.token(setup.alice, permission="ro", profiles=[own]))

    # It reads its profile.
    status = await c.get(f"/api/profiles/{own}/status", headers=token)
    assert status.status_code == 200 and status.json()["connected"] is True
    listing = await c.get(f"/api/profiles/{own}/torrents", headers=token)
    assert listing.status_code == 200 and listing.json()["torrents"] == []
    profiles = (await c.get("/api/profiles", headers=token)).json()["profiles"]
    assert [(p["id"], p["level"]) for p in profiles] == [(own, "ro")]
    me = (await c.get("/api/auth/me", headers=token)).json()["user"]
    assert me["token_scope"] == {"permission": "ro", "profiles": [own]}

    # The other profile, which its owner may read, is closed to it.
    for path in (f"/api/profiles/{other}/status", f"/api/profiles/{other}/torrents",
                 f"/api/profiles/{other}", f"/api/profiles/{other}/labels"):
        assert (await c.get(path, headers=token)).status_code == 403, path

    # On its own profile it cannot add, act or change anything.
    refusals = [
        c.post(f"/api/profiles/{own}/torrents", headers=token, json={"uris": [MAGNET]}),
        c.post(f"/api/profiles/{own}/torrents/actions", headers=token,
               json={"action": "stop", "hashes": ["C1" * 20]}),
        c.put(f"/api/profiles/{own}/labels", headers=token, json={"labels": ["x"]}),
        c.post(f"/api/profiles/{own}/activate", headers=token),
    ]
    for pending in refusals:
        reply = await pending
        assert reply.status_code == 403, reply.text
        assert "read-only" in reply.json()["error"]
    assert (await c.get(f"/api/profiles/{own}/torrents", headers=token)).json()["torrents"] == []

    # No user or profile administration, no tokens.
    for method, path, body in (
            ("GET", "/api/auth/users", None), ("POST", "/api/auth/users", {"username": "x"}),
            ("PUT", f"/api/auth/users/{setup.alice.id}", {"role": "admin"}),
            ("POST", "/api/profiles", {"name": "n", "scgi_url": "scgi://127.0.0.1:1"}),
            ("PATCH", f"/api/profiles/{own}", {"name": "renamed"}),
            ("DELETE", f"/api/profiles/{own}", None),
            ("POST", "/api/auth/tokens", {"name": "more"}),
            ("POST", f"/api/auth/users/{setup.alice.id}/tokens", {"name": "more"})):
        reply = await c.request(method, path, headers=token, json=body)
        assert reply.status_code == 403, (method, path, reply.text)
    assert len(await setup.app.services.store.list_tokens(setup.alice.id)) == 1


async def test_owner_demoted_demotes_the_token_on_the_next_request(setup: Setup) -> None:
    c, store = setup.client, setup.app.services.store
    token = bearer(await setup.token(setup.alice, permission="ro", profiles=[setup.own]))
    assert (await c.get(f"/api/profiles/{setup.own}/torrents", headers=token)).status_code \
        == 200
    await store.set_permissions(setup.alice.id, {setup.own: "none", setup.other: "full"})
    assert (await c.get(f"/api/profiles/{setup.own}/torrents", headers=token)).status_code \
        == 403
    assert (await c.get("/api/profiles", headers=token)).json()["profiles"] == []


async def test_a_full_scope_never_exceeds_the_owner(setup: Setup) -> None:
    c, store = setup.client, setup.app.services.store
    token = bearer(await setup.token(setup.alice, permission="full", profiles=[setup.own]))
    reply = await c.put(f"/api/profiles/{setup.own}/labels", headers=token,
                        json={"labels": ["a"]})
    assert reply.status_code == 200, reply.text
    await store.set_permissions(setup.alice.id, {setup.own: "ro"})
    reply = await c.put(f"/api/profiles/{setup.own}/labels", headers=token,
                        json={"labels": ["b"]})
    assert reply.status_code == 403
    assert (await c.get(f"/api/profiles/{setup.own}/labels", headers=token)).json() == {
        "labels": ["a"]}


async def test_scoped_token_of_an_admin_has_no_admin_powers(setup: Setup) -> None:
    c, admin = setup.client, setup.admin
    unscoped = bearer(await setup.token(admin))
    ro = bearer(await setup.token(admin, permission="ro"))
    full_one = bearer(await setup.token(admin, permission="full", profiles=[setup.own]))

    assert (await c.get("/api/auth/users", headers=unscoped)).status_code == 200
    me = (await c.get("/api/auth/me", headers=ro)).json()["user"]
    assert me["role"] == "admin" and me["admin"] is False
    for token in (ro, full_one):
        assert (await c.get("/api/auth/users", headers=token)).status_code == 403
        assert (await c.get("/api/auth/tokens", headers=token)).status_code == 403
        assert (await c.post("/api/profiles", headers=token, json={
            "name": "n", "scgi_url": "scgi://127.0.0.1:1"})).status_code == 403
        assert (await c.get("/admin/users", headers=token)).status_code == 403
        assert (await c.post("/api/auth/tokens", headers=token,
                             json={"name": "escalate"})).status_code == 403
    # ro on every profile: reads both, changes neither; admin details stay hidden.
    profiles = (await c.get("/api/profiles", headers=ro)).json()["profiles"]
    assert {p["id"]: p["level"] for p in profiles} == {setup.own: "ro", setup.other: "ro"}
    assert all("scgi_url" not in p for p in profiles)
    assert (await c.put(f"/api/profiles/{setup.other}/labels", headers=ro,
                        json={"labels": ["x"]})).status_code == 403
    # full on one profile: acts there, not elsewhere.
    assert (await c.put(f"/api/profiles/{setup.own}/labels", headers=full_one,
                        json={"labels": ["x"]})).status_code == 200
    assert (await c.get(f"/api/profiles/{setup.other}/torrents",
                        headers=full_one)).status_code == 403


async def test_scope_is_validated_naming_the_field(setup: Setup) -> None:
    c, alice = setup.client, setup.alice
    stranger = await setup.app.services.store.create_profile("stranger", "scgi://127.0.0.1:1")
    await setup.app.services.store.set_permissions(alice.id, {setup.own: "full"})
    for body, field in (({"permission": "admin"}, "permission"),
                        ({"permission": 1}, "permission"),
                        ({"profiles": []}, "profiles"),
                        ({"profiles": "1"}, "profiles"),
                        ({"profiles": [True]}, "profiles"),
                        ({"profiles": [9999]}, "profiles"),
                        ({"profiles": [stranger.id]}, "profiles")):
        reply = await c.post("/api/auth/tokens", headers=setup.cookie(alice),
                             json={"name": "x", **body})
        assert reply.status_code == 400, body
        assert reply.json()["field"] == field, body
        assert field in reply.json()["error"]
    assert await setup.app.services.store.list_tokens(alice.id) == []


async def test_listing_shows_scope_and_last_use_with_address(setup: Setup) -> None:
    c, alice = setup.client, setup.alice
    reply = await c.post("/api/auth/tokens", headers=setup.cookie(alice),
                         json={"name": "watch", "permission": "ro", "profiles": [setup.own],
                               "expires_in_days": 30})
    assert reply.status_code == 201
    record = reply.json()["record"]
    assert record["scope"] == {"permission": "ro", "profiles": [setup.own]}
    assert record["last_used_at"] is None and record["last_used_address"] is None
    plain = await setup.token(alice)
    await c.get("/api/auth/me", headers=bearer(reply.json()["token"]))

    async def listed() -> dict[str, Any]:
        rows = (await c.get(f"/api/auth/users/{alice.id}/tokens",
                            headers=setup.cookie(alice))).json()["tokens"]
        return {row["name"]: row for row in rows}

    rows = await listed()
    assert rows["watch"]["last_used_address"] == "192.0.2.7"
    assert rows["watch"]["last_used_at"] is not None
    assert rows["s"]["scope"] is None and rows["s"]["last_used_address"] is None
    # The batched write keeps the address too.
    await setup.app.services.cache.flush_token_use()
    (stored,) = [t for t in await setup.app.services.store.list_tokens(alice.id)
                 if t.name == "watch"]
    assert stored.last_used_addr == "192.0.2.7" and stored.last_used_at is not None
    assert (await listed())["watch"]["last_used_address"] == "192.0.2.7"
    assert plain
