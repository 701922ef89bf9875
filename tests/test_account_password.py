"""The first-start one-time password must be replaced at first sign-in; then a user
changes their own password on the account page (local provider)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytorrent_core.bootstrap import ensure_admin
from pytorrent_core.testing import PeerClient, environment, running_app, set_password
from pytorrent_core.web.app import PyTorrentApp

ORIGIN = {"Origin": "http://localhost"}


async def _one_time(app: PyTorrentApp) -> str:
    """Recreate the first-start admin the way a fresh install does; its password."""
    store = app.services.store
    admin = await store.get_user_by_name("admin")
    assert admin is not None
    async with store.engine.begin() as conn:
        from pytorrent_core.storage import schema
        await conn.execute(schema.users.delete().where(schema.users.c.id == admin.id))
    password = await ensure_admin(store)
    assert password
    app.services.cache.clear()
    return password


async def _login(client: PeerClient, username: str, password: str) -> None:
    reply = await client.post("/api/auth/login", json={"username": username,
                                                       "password": password})
    assert reply.status_code == 200, await reply.get_data(as_text=True)


async def test_the_one_time_password_must_be_changed_before_anything_else(
        app: PyTorrentApp) -> None:
    password = await _one_time(app)
    client = app.quart.test_client()
    await _login(client, "admin", password)
    me = await (await client.get("/api/auth/me")).get_json()
    assert me["user"]["password_change_required"] is True
    page = await client.get("/")
    assert page.status_code == 302 and page.headers["Location"] == "/account"
    account = await client.get("/account")
    assert account.status_code == 200
    assert "one-time password" in await account.get_data(as_text=True)
    refused = await client.get("/api/profiles")
    assert refused.status_code == 403
    assert "one-time password" in (await refused.get_json())["error"]
    made = await client.post("/api/auth/users", json={"username": "x"}, headers=ORIGIN)
    assert made.status_code == 403

    wrong = await client.post("/api/auth/password", headers=ORIGIN, json={
        "current_password": "not-it-at-all", "new_password": "my-own-Pass-1"})
    assert wrong.status_code == 403
    assert (await wrong.get_json())["field"] == "current_password"
    short = await client.post("/api/auth/password", headers=ORIGIN, json={
        "current_password": password, "new_password": "x"})
    assert short.status_code == 400 and (await short.get_json())["field"] == "new_password"
    changed = await client.post("/api/auth/password", headers=ORIGIN, json={
        "current_password": password, "new_password": "my-own-Pass-1"})
    assert changed.status_code == 200, await changed.get_data(as_text=True)

    assert (await client.get("/api/profiles")).status_code == 200  # same session goes on
    me = await (await client.get("/api/auth/me")).get_json()
    assert me["user"]["password_change_required"] is False
    fresh = app.quart.test_client()
    await _login(fresh, "admin", "my-own-Pass-1")


async def test_other_sessions_end_when_the_password_changes(app: PyTorrentApp) -> None:
    await set_password(app, "admin", "admin-Pass-1")
    one, two = app.quart.test_client(), app.quart.test_client()
    await _login(one, "admin", "admin-Pass-1")
    await _login(two, "admin", "admin-Pass-1")
    assert (await one.post("/api/auth/password", headers=ORIGIN, json={
        "current_password": "admin-Pass-1", "new_password": "admin-Pass-2"})).status_code == 200
    assert (await one.get("/api/auth/me")).status_code == 200
    assert (await two.get("/api/auth/me")).status_code == 401


async def test_a_cross_site_password_change_is_refused(app: PyTorrentApp) -> None:
    await set_password(app, "admin", "admin-Pass-1")
    client = app.quart.test_client()
    await _login(client, "admin", "admin-Pass-1")
    reply = await client.post("/api/auth/password", headers={"Origin": "https://evil.example"},
                              json={"current_password": "admin-Pass-1",
                                    "new_password": "admin-Pass-2"})
    assert reply.status_code == 403
    assert (await client.get("/api/auth/me")).status_code == 200


async def test_tokens_cannot_change_a_password(app: PyTorrentApp) -> None:
    from pytorrent_core.testing import issue_token
    await set_password(app, "admin", "admin-Pass-1")
    admin = await app.services.store.get_user_by_name("admin")
    assert admin is not None
    token = await issue_token(app.services.store, admin.id)
    reply = await app.quart.test_client().post(
        "/api/auth/password", headers={"Authorization": f"Bearer {token}"},
        json={"current_password": "admin-Pass-1", "new_password": "admin-Pass-2"})
    assert reply.status_code == 403


@pytest.mark.parametrize("how", ["reset-password", "api"])
async def test_a_password_an_operator_sets_forces_nothing(tmp_path: Path, how: str) -> None:
    env = environment(tmp_path)
    async with running_app(tmp_path) as app:
        password = await _one_time(app)
        if how == "api":
            await set_password(app, "admin", "operator-Pass-1")
    if how == "reset-password":
        result = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "pytorrent.cli", "reset-password", "admin",
                             "operator-Pass-1"], env=env, capture_output=True, text=True,
            timeout=60)
        assert result.returncode == 0, result.stderr
    assert password
    async with running_app(tmp_path) as app:
        client = app.quart.test_client()
        await _login(client, "admin", "operator-Pass-1")
        assert (await client.get("/api/profiles")).status_code == 200
        assert (await client.get("/")).status_code == 200


async def test_first_start_prints_a_password_that_must_be_changed(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture
                                                                  ) -> None:
    async with running_app(tmp_path) as app:
        printed = capsys.readouterr().err
        password = re.search(r"one-time password: (\S+)", printed)
        assert password is not None
        client = app.quart.test_client()
        await _login(client, "admin", password.group(1))
        assert (await client.get("/api/profiles")).status_code == 403
