"""Session cookies: flags, lifetime, secret key, and sessions ended by account changes."""

from __future__ import annotations

import asyncio
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select

from pytorrent_core.storage import schema
from pytorrent_core.testing import PeerClient, running_app, set_password
from pytorrent_core.web.app import SESSION_COOKIE, PyTorrentApp

pytestmark = pytest.mark.each_database  # the app fixture: SQLite, then PostgreSQL

ORIGIN = {"Origin": "http://localhost"}
ADMIN_PASSWORD = "admin-Pass-1"
USER_PASSWORD = "erin-Pass-1"


async def _login(client: PeerClient, username: str, password: str) -> None:
    reply = await client.post("/api/auth/login", json={"username": username,
                                                       "password": password})
    assert reply.status_code == 200, await reply.get_data(as_text=True)


@pytest.fixture
async def two_clients(app: PyTorrentApp) -> tuple[PeerClient, PeerClient, int]:
    """An admin client and a signed-in user client, plus the user's id."""
    await set_password(app, "admin", ADMIN_PASSWORD)
    admin = app.quart.test_client()
    await _login(admin, "admin", ADMIN_PASSWORD)
    created = await admin.post("/api/auth/users", json={"username": "erin",
                                                        "password": USER_PASSWORD},
                               headers=ORIGIN)
    assert created.status_code == 201
    user = app.quart.test_client()
    await _login(user, "erin", USER_PASSWORD)
    assert (await user.get("/api/auth/me")).status_code == 200
    return admin, user, (await created.get_json())["user"]["id"]


async def test_cookie_is_httponly_lax_and_not_secure_by_default(app: PyTorrentApp) -> None:
    await set_password(app, "admin", ADMIN_PASSWORD)
    reply = await app.quart.test_client().post(
        "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    cookie = reply.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    assert "Path=/" in cookie


async def test_cookie_is_secure_when_configured(tmp_path: Path) -> None:
    async with running_app(tmp_path, {"PYTORRENT_SESSION_COOKIE_SECURE": "true"}) as app:
        await set_password(app, "admin", ADMIN_PASSWORD)
        reply = await app.quart.test_client().post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD},
            scheme="https")
        cookie = reply.headers["Set-Cookie"]
        assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


async def test_cookie_value_carries_no_password_and_is_signed(app: PyTorrentApp) -> None:
    await set_password(app, "admin", ADMIN_PASSWORD)
    client = app.quart.test_client()
    reply = await client.post("/api/auth/login", json={"username": "admin",
                                                       "password": ADMIN_PASSWORD})
    value = reply.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    assert ADMIN_PASSWORD not in value
    copied = app.quart.test_client()
    copied.set_cookie("localhost", SESSION_COOKIE, value)
    assert (await copied.get("/api/auth/me")).status_code == 200
    # The same cookie with a damaged signature is nobody.
    forged = app.quart.test_client()
    forged.set_cookie("localhost", SESSION_COOKIE,
                      value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    assert (await forged.get("/api/auth/me")).status_code == 401


async def test_session_lifetime_is_enforced(tmp_path: Path, monkeypatch) -> None:
    async with running_app(tmp_path, {"PYTORRENT_SESSION_LIFETIME_HOURS": "1"}) as app:
        await set_password(app, "admin", ADMIN_PASSWORD)
        client = app.quart.test_client()
        await _login(client, "admin", ADMIN_PASSWORD)
        assert (await client.get("/api/auth/me")).status_code == 200
        real = TimestampSigner.get_timestamp
        monkeypatch.setattr(TimestampSigner, "get_timestamp",
                            lambda self: real(self) + 3600 - 5)
        assert (await client.get("/api/auth/me")).status_code == 200
        monkeypatch.setattr(TimestampSigner, "get_timestamp",
                            lambda self: real(self) + 3600 + 5)
        assert (await client.get("/api/auth/me")).status_code == 401


async def test_generated_secret_key_is_kept_private(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app:
        key_file = app.services.settings.data_dir / "secret_key"
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        key = key_file.read_text().strip()
        assert len(key) >= 40 and app.quart.secret_key == key
    async with running_app(tmp_path) as again:
        assert again.quart.secret_key == key  # generated once, reused


async def test_configured_secret_key_is_used_and_not_written(tmp_path: Path) -> None:
    secret = "configured-secret-key-0123456789abcdef"
    async with running_app(tmp_path, {"PYTORRENT_SECRET_KEY": secret}) as app:
        assert app.quart.secret_key == secret
        assert not (app.services.settings.data_dir / "secret_key").exists()


async def test_password_reset_ends_sessions(app: PyTorrentApp, two_clients) -> None:
    admin, user, user_id = two_clients
    reply = await admin.put(f"/api/auth/users/{user_id}", json={"password": "new-Pass-22"},
                            headers=ORIGIN)
    assert reply.status_code == 200
    assert (await user.get("/api/auth/me")).status_code == 401
    assert (await user.get("/")).status_code == 302
    # The new password works; the old one does not.
    fresh = app.quart.test_client()
    bad = await fresh.post("/api/auth/login", json={"username": "erin",
                                                    "password": USER_PASSWORD})
    assert bad.status_code == 401
    await _login(fresh, "erin", "new-Pass-22")
    # The admin's own session is untouched.
    assert (await admin.get("/api/auth/me")).status_code == 200


async def test_deactivation_ends_sessions_and_blocks_login(app: PyTorrentApp,
                                                           two_clients) -> None:
    admin, user, user_id = two_clients
    reply = await admin.put(f"/api/auth/users/{user_id}", json={"active": False},
                            headers=ORIGIN)
    assert reply.status_code == 200
    assert (await user.get("/api/auth/me")).status_code == 401
    again = await app.quart.test_client().post(
        "/api/auth/login", json={"username": "erin", "password": USER_PASSWORD})
    assert again.status_code == 401
    # Reactivating does not revive the old cookie.
    await admin.put(f"/api/auth/users/{user_id}", json={"active": True}, headers=ORIGIN)
    assert (await user.get("/api/auth/me")).status_code == 401


async def test_deletion_ends_sessions(two_clients) -> None:
    admin, user, user_id = two_clients
    reply = await admin.delete(f"/api/auth/users/{user_id}", headers=ORIGIN)
    assert reply.status_code == 200
    assert (await user.get("/api/auth/me")).status_code == 401


async def test_role_change_ends_sessions(app: PyTorrentApp, two_clients) -> None:
    admin, user, user_id = two_clients
    reply = await admin.put(f"/api/auth/users/{user_id}", json={"role": "admin"},
                            headers=ORIGIN)
    assert reply.status_code == 200
    assert (await user.get("/api/auth/me")).status_code == 401
    await _login(user, "erin", USER_PASSWORD)
    assert (await (await user.get("/api/auth/me")).get_json())["user"]["role"] == "admin"


async def test_profile_fields_do_not_end_sessions(two_clients) -> None:
    admin, user, user_id = two_clients
    reply = await admin.put(f"/api/auth/users/{user_id}",
                            json={"display_name": "Erin E.", "email": "erin@example.com",
                                  "permissions": {"*": "ro"}}, headers=ORIGIN)
    assert reply.status_code == 200
    me = await user.get("/api/auth/me")
    assert me.status_code == 200
    body = (await me.get_json())["user"]
    assert body["display_name"] == "Erin E." and body["permissions"] == {"*": "ro"}


def _session_cookie_of(reply_headers) -> str:
    value = reply_headers["Set-Cookie"].split(";", 1)[0]
    assert value.startswith(f"{SESSION_COOKIE}=")
    return value


async def test_logout_ends_that_session_even_for_a_copied_cookie(app: PyTorrentApp) -> None:
    await set_password(app, "admin", ADMIN_PASSWORD)
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    first = await app.quart.test_client().post("/api/auth/login", json=login)
    second = await app.quart.test_client().post("/api/auth/login", json=login)
    copied = {"Cookie": _session_cookie_of(first.headers)}
    other_device = {"Cookie": _session_cookie_of(second.headers)}
    client = app.quart.test_client()
    assert (await client.get("/api/auth/me", headers=copied)).status_code == 200

    out = await client.post("/api/auth/logout", headers={**copied, **ORIGIN})
    assert out.status_code == 200
    assert f"{SESSION_COOKIE}=;" in out.headers["Set-Cookie"]  # the browser's copy is cleared

    # A copy of the cookie taken before logout is refused from now on...
    again = await app.quart.test_client().get("/api/auth/me", headers=copied)
    assert again.status_code == 401
    # ...while the same user's other session goes on.
    assert (await client.get("/api/auth/me", headers=other_device)).status_code == 200


async def test_a_logout_reaches_another_server_on_the_same_database(tmp_path: Path) -> None:
    async with running_app(tmp_path) as one, running_app(tmp_path) as two:
        await set_password(one, "admin", ADMIN_PASSWORD)
        reply = await one.quart.test_client().post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        cookie = {"Cookie": _session_cookie_of(reply.headers)}
        assert (await two.quart.test_client().get("/api/auth/me",
                                                  headers=cookie)).status_code == 200
        out = await one.quart.test_client().post("/logout", headers={**cookie, **ORIGIN})
        assert out.status_code == 302 and out.headers["Location"] == "/login"
        for _ in range(100):  # the other server polls the change counter every 0.5 s
            status = (await two.quart.test_client().get("/api/auth/me",
                                                        headers=cookie)).status_code
            if status == 401:
                break
            await asyncio.sleep(0.05)
        assert status == 401


async def test_ended_sessions_are_forgotten_once_their_cookies_expire(
        app: PyTorrentApp) -> None:
    store = app.services.store
    admin = await store.get_user_by_name("admin")
    assert admin is not None
    past = datetime.now(UTC) - timedelta(seconds=1)
    await store.end_session("old", admin.id, past)
    assert not await store.ended_sessions()
    await store.end_session("new", admin.id, past + timedelta(hours=1))
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(schema.ended_sessions.c.sid))).scalars().all()
    assert rows == ["new"]  # "old" was pruned by the next logout
