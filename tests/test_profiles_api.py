"""Profiles: admin CRUD with validation, per-user listing, activation, labels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pytorrent_core.profiles import clean_scgi_url
from pytorrent_core.storage import StoreError
from pytorrent_core.testing import issue_token, running_app, session_cookie
from pytorrent_core.web.app import PyTorrentApp

pytestmark = pytest.mark.each_database  # the app fixture: SQLite, then PostgreSQL


@pytest.fixture
async def app(tmp_path: Path, app_database: dict[str, str]) -> AsyncIterator[PyTorrentApp]:
    async with running_app(tmp_path, app_database) as running:
        yield running


async def bearer(app: PyTorrentApp, username: str, role: str = "user",
                 permissions: dict[int | None, Any] | None = None) -> dict[str, str]:
    store = app.services.store
    user = await store.get_user_by_name(username)
    if user is None:
        user = await store.create_user(username, role=role, permissions=permissions)
    return {"Authorization": f"Bearer {await issue_token(store, user.id)}"}


@pytest.mark.parametrize("url", [
    "scgi://127.0.0.1:5000",
    "scgi://rtorrent:5000/RPC2",
    "scgi://rtorrent_1.lan:65535",
    "scgi://[::1]:5000",
    "scgi:///run/rtorrent/rpc.socket",
    "SCGI://Host:1",
])
def test_valid_scgi_urls(url: str) -> None:
    assert clean_scgi_url(f"  {url} ") == url


@pytest.mark.parametrize("url", [
    "", "   ", None, 5000, "http://127.0.0.1:5000", "127.0.0.1:5000", "scgi://127.0.0.1",
    "scgi://127.0.0.1:0", "scgi://127.0.0.1:70000", "scgi://127.0.0.1:port",
    "scgi://user:pw@host:5000", "scgi://host:5000?x=1", "scgi://host:5000#frag",
    "scgi://", "scgi:///", "scgi://ho st:5000", "scgi://host:5000/a b",
    "scgi://-bad-:5000", "scgi://[not-ipv6]:5000", "scgi:relative/socket",
    "scgi://host:5000/a\nb", "scgi://host:5000/\x00",
])
def test_invalid_scgi_urls(url: Any) -> None:
    with pytest.raises(StoreError) as raised:
        clean_scgi_url(url)
    assert raised.value.field == "scgi_url"
    assert raised.value.status == 400


async def test_admin_crud(app: PyTorrentApp) -> None:
    client = app.quart.test_client()
    admin = await bearer(app, "admin")
    created = await client.post("/api/profiles", headers=admin,
                                json={"name": " Seedbox ", "scgi_url": "scgi://10.0.0.5:5000"})
    assert created.status_code == 201
    profile = (await created.get_json())["profile"]
    assert profile["name"] == "Seedbox"
    assert profile["scgi_url"] == "scgi://10.0.0.5:5000"
    assert profile["level"] == "full"
    pid = profile["id"]

    one = await client.get(f"/api/profiles/{pid}", headers=admin)
    assert (await one.get_json())["profile"] == {**profile, "labels": []}

    changed = await client.patch(f"/api/profiles/{pid}", headers=admin,
                                 json={"scgi_url": "scgi:///run/rtorrent.sock"})
    assert changed.status_code == 200
    assert (await changed.get_json())["profile"]["scgi_url"] == "scgi:///run/rtorrent.sock"
    assert (await app.services.store.get_profile(pid)).scgi_url == "scgi:///run/rtorrent.sock"

    renamed = await client.put(f"/api/profiles/{pid}", headers=admin, json={"name": "Box"})
    assert (await renamed.get_json())["profile"]["name"] == "Box"

    listed = await client.get("/api/profiles", headers=admin)
    assert [p["name"] for p in (await listed.get_json())["profiles"]] == ["Box"]

    deleted = await client.delete(f"/api/profiles/{pid}", headers=admin)
    assert deleted.status_code == 204
    assert await app.services.store.get_profile(pid) is None
    gone = await client.get(f"/api/profiles/{pid}", headers=admin)
    assert gone.status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"scgi_url": "scgi://h:1"}, "name"),
    ({"name": "", "scgi_url": "scgi://h:1"}, "name"),
    ({"name": "x" * 129, "scgi_url": "scgi://h:1"}, "name"),
    ({"name": "ok"}, "scgi_url"),
    ({"name": "ok", "scgi_url": "http://h:1"}, "scgi_url"),
    ({"name": "ok", "scgi_url": "scgi://h"}, "scgi_url"),
])
async def test_create_rejects_bad_input_naming_the_field(
        app: PyTorrentApp, body: dict[str, Any], field: str) -> None:
    client = app.quart.test_client()
    reply = await client.post("/api/profiles", headers=await bearer(app, "admin"), json=body)
    assert reply.status_code == 400
    data = await reply.get_json()
    assert data["field"] == field
    assert data["error"]
    assert await app.services.store.list_profiles() == []


async def test_not_json_is_400(app: PyTorrentApp) -> None:
    client = app.quart.test_client()
    reply = await client.post("/api/profiles", headers=await bearer(app, "admin"),
                              data="name=x")
    assert reply.status_code == 400


async def test_duplicate_name_is_409_and_unknown_is_404(app: PyTorrentApp) -> None:
    client = app.quart.test_client()
    admin = await bearer(app, "admin")
    first = await client.post("/api/profiles", headers=admin,
                              json={"name": "A", "scgi_url": "scgi://h:1"})
    assert first.status_code == 201
    again = await client.post("/api/profiles", headers=admin,
                              json={"name": "A", "scgi_url": "scgi://h:2"})
    assert again.status_code == 409
    assert (await again.get_json())["field"] == "name"
    other = await client.post("/api/profiles", headers=admin,
                              json={"name": "B", "scgi_url": "scgi://h:2"})
    rename = await client.patch(f"/api/profiles/{(await other.get_json())['profile']['id']}",
                                headers=admin, json={"name": "A"})
    assert rename.status_code == 409
    for method in ("get", "patch", "delete"):
        reply = await getattr(client, method)("/api/profiles/999", headers=admin,
                                              json={"name": "Z"})
        assert reply.status_code == 404, method
    activate = await client.post("/api/profiles/999/activate", headers=admin)
    assert activate.status_code == 404


async def test_crud_is_admin_only(app: PyTorrentApp) -> None:
    store = app.services.store
    profile = await store.create_profile("A", "scgi://h:1")
    client = app.quart.test_client()
    user = await bearer(app, "alice", permissions={None: "full"})
    create = await client.post("/api/profiles", headers=user,
                               json={"name": "B", "scgi_url": "scgi://h:2"})
    update = await client.patch(f"/api/profiles/{profile.id}", headers=user, json={"name": "C"})
    delete = await client.delete(f"/api/profiles/{profile.id}", headers=user)
    for reply in (create, update, delete):
        assert reply.status_code == 403
        assert (await reply.get_json())["error"] == "admin role required"
    assert [p.name for p in await store.list_profiles()] == ["A"]
    anonymous = await client.get("/api/profiles")
    assert anonymous.status_code == 401


async def test_listing_shows_only_readable_profiles_with_levels(app: PyTorrentApp) -> None:
    store = app.services.store
    a = await store.create_profile("A", "scgi://h:1")
    b = await store.create_profile("B", "scgi://h:2")
    await store.create_profile("C", "scgi://h:3")
    client = app.quart.test_client()
    mixed = await bearer(app, "mixed", permissions={a.id: "ro", b.id: "full"})
    reply = await (await client.get("/api/profiles", headers=mixed)).get_json()
    assert reply["profiles"] == [
        {"id": a.id, "name": "A", "level": "ro", "delete_data": False},
        {"id": b.id, "name": "B", "level": "full", "delete_data": False}]
    assert reply["active_profile"] is None
    nobody = await bearer(app, "nobody")
    assert (await (await client.get("/api/profiles", headers=nobody)).get_json())[
        "profiles"] == []
    every = await bearer(app, "every", permissions={None: "ro", b.id: "full"})
    levels = {p["name"]: p["level"] for p in
              (await (await client.get("/api/profiles", headers=every)).get_json())["profiles"]}
    assert levels == {"A": "ro", "B": "full", "C": "ro"}


async def test_activate_saves_preference_and_needs_read(app: PyTorrentApp) -> None:
    store = app.services.store
    a = await store.create_profile("A", "scgi://h:1")
    b = await store.create_profile("B", "scgi://h:2")
    client = app.quart.test_client()
    reader = await bearer(app, "reader", permissions={a.id: "ro"})
    user = await store.get_user_by_name("reader")
    ok = await client.post(f"/api/profiles/{a.id}/activate", headers=reader)
    assert ok.status_code == 200
    assert await store.active_profile(user.id) == a.id
    refused = await client.post(f"/api/profiles/{b.id}/activate", headers=reader)
    assert refused.status_code == 403
    assert "read" in (await refused.get_json())["error"]
    assert await store.active_profile(user.id) == a.id
    listed = await (await client.get("/api/profiles", headers=reader)).get_json()
    assert listed["active_profile"] == a.id


async def test_activate_with_session_cookie_needs_same_origin(app: PyTorrentApp) -> None:
    store = app.services.store
    a = await store.create_profile("A", "scgi://h:1")
    user = await store.create_user("carol", permissions={a.id: "ro"})
    client = app.quart.test_client()
    cookie = {"Cookie": session_cookie(app, user)}
    foreign = await client.post(f"/api/profiles/{a.id}/activate",
                                headers={**cookie, "Origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert await store.active_profile(user.id) is None
    own = await client.post(f"/api/profiles/{a.id}/activate",
                            headers={**cookie, "Origin": "http://localhost"})
    assert own.status_code == 200
    assert await store.active_profile(user.id) == a.id


async def test_labels_are_stored_and_validated(app: PyTorrentApp) -> None:
    store = app.services.store
    a = await store.create_profile("A", "scgi://h:1")
    client = app.quart.test_client()
    writer = await bearer(app, "writer", permissions={a.id: "full"})
    saved = await client.put(f"/api/profiles/{a.id}/labels", headers=writer,
                             json={"labels": ["movies", " Linux ISOs ", "MOVIES"]})
    assert saved.status_code == 200
    assert (await saved.get_json())["labels"] == ["movies", "Linux ISOs"]
    assert await store.profile_labels(a.id) == ["movies", "Linux ISOs"]
    read = await client.get(f"/api/profiles/{a.id}/labels", headers=writer)
    assert (await read.get_json())["labels"] == ["movies", "Linux ISOs"]
    for bad in ("movies", [""], [3], ["x" * 65]):
        reply = await client.put(f"/api/profiles/{a.id}/labels", headers=writer,
                                 json={"labels": bad})
        assert reply.status_code == 400, bad
        assert (await reply.get_json())["field"] == "labels"
    assert await store.profile_labels(a.id) == ["movies", "Linux ISOs"]
    await store.delete_profile(a.id)
    assert await store.profile_labels(a.id) == []


async def test_admin_missing_profile_labels_is_404(app: PyTorrentApp) -> None:
    client = app.quart.test_client()
    admin = await bearer(app, "admin")
    assert (await client.get("/api/profiles/42/labels", headers=admin)).status_code == 404
    put = await client.put("/api/profiles/42/labels", headers=admin, json={"labels": ["a"]})
    assert put.status_code == 404
