"""Per-request reads come from memory, and every change still shows on the next request.

Each test first makes the server remember (a request that fills the caches or
verifies a cookie), then changes something, then checks the very next request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from quart import Quart

from pytorrent_core.storage import Store
from pytorrent_core.testing import issue_token, session_cookie, set_password
from pytorrent_core.web import sessions
from pytorrent_core.web.app import PyTorrentApp
from pytorrent_core.web.sessions import SessionAuth


async def _listing(client: Any, headers: dict[str, str]) -> tuple[list[str], int | None]:
    reply = await client.get("/api/profiles", headers=headers)
    assert reply.status_code == 200
    data = await reply.get_json()
    return [p["name"] for p in data["profiles"]], data["active_profile"]


async def test_listing_follows_profile_grant_and_activation_changes(app: PyTorrentApp) -> None:
    store = app.services.store
    user = await store.create_user("erin", permissions={None: "ro"})
    headers = {"Authorization": f"Bearer {await issue_token(store, user.id)}"}
    client = app.quart.test_client()
    assert await _listing(client, headers) == ([], None)
    first = await store.create_profile("A", "scgi://h:1")
    assert await _listing(client, headers) == (["A"], None)
    await store.update_profile(first.id, name="B")
    assert await _listing(client, headers) == (["B"], None)
    await store.set_active_profile(user.id, first.id)
    assert await _listing(client, headers) == (["B"], first.id)
    await store.set_permissions(user.id, {})
    assert await _listing(client, headers) == ([], None)
    await store.set_permissions(user.id, {first.id: "ro"})
    assert await _listing(client, headers) == (["B"], first.id)
    await store.delete_profile(first.id)
    assert await _listing(client, headers) == ([], None)
    await store.update_user(user.id, active=False)
    assert (await client.get("/api/profiles", headers=headers)).status_code == 401


async def test_changes_from_another_process_reach_the_running_server(app: PyTorrentApp) -> None:
    store = app.services.store
    user = await store.create_user("erin", permissions={None: "ro"})
    headers = {"Authorization": f"Bearer {await issue_token(store, user.id)}"}
    client = app.quart.test_client()
    assert await _listing(client, headers) == ([], None)
    other = Store.from_url(app.services.settings.database_url)  # as the CLI or a 2nd server
    try:
        profile = await other.create_profile("A", "scgi://h:1")
        await other.set_active_profile(user.id, profile.id)
        for _ in range(100):  # the generation watcher polls every 0.5 s
            if await _listing(client, headers) == (["A"], profile.id):
                break
            await asyncio.sleep(0.05)
        assert await _listing(client, headers) == (["A"], profile.id)
    finally:
        await other.close()


async def test_a_verified_cookie_still_ends_with_its_session(app: PyTorrentApp) -> None:
    await set_password(app, "admin", "admin-Pass-1")
    admin = await app.services.store.get_user_by_name("admin")
    assert admin is not None
    cookie = {"Cookie": session_cookie(app, admin)}
    client = app.quart.test_client()
    for _ in range(2):  # the second request is answered from the verified-cookie memo
        assert (await client.get("/api/auth/me", headers=cookie)).status_code == 200
    await set_password(app, "admin", "admin-Pass-2")
    assert (await client.get("/api/auth/me", headers=cookie)).status_code == 401


async def test_a_new_secret_key_forgets_verified_cookies(app: PyTorrentApp) -> None:
    admin = await app.services.store.get_user_by_name("admin")
    assert admin is not None
    cookie = {"Cookie": session_cookie(app, admin)}
    client = app.quart.test_client()
    assert (await client.get("/api/auth/me", headers=cookie)).status_code == 200
    app.quart.secret_key = "a different key"
    assert (await client.get("/api/auth/me", headers=cookie)).status_code == 401


async def test_memo_is_bounded_and_forgotten_cookies_still_verify(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions, "MEMO_SIZE", 2)
    quart = Quart(__name__)
    quart.secret_key = "k" * 32
    auth = SessionAuth(quart)
    async with quart.app_context():
        cookies = {f"{n}:1": auth.dump_token(f"{n}:1") for n in range(5)}
        for _ in range(2):
            for auth_id, cookie in cookies.items():
                assert auth.load_token(cookie) == auth_id
        assert auth.load_token(cookies["0:1"][:-2] + "xx") is None
        assert len(auth._verified) <= 2


async def test_who_am_i_follows_user_and_grant_changes(app: PyTorrentApp) -> None:
    store = app.services.store
    user = await store.create_user("erin", display_name="Erin", permissions={None: "ro"})
    headers = {"Authorization": f"Bearer {await issue_token(store, user.id)}"}
    client = app.quart.test_client()

    async def me() -> dict[str, Any]:
        reply = await client.get("/api/auth/me", headers=headers)
        assert reply.status_code == 200
        return (await reply.get_json())["user"]

    assert (await me())["display_name"] == "Erin"
    await store.update_user(user.id, display_name="Erin E.")
    assert (await me())["display_name"] == "Erin E."
    await store.set_permissions(user.id, {None: "full"})
    assert (await me())["permissions"] == {"*": "full"}
    await store.update_user(user.id, role="admin")
    assert (await me())["role"] == "admin"
