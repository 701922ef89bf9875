"""Sign-in sessions: recorded at sign-in, listed with "this one" marked, ended by their
user, by an admin or from the CLI (the cookie is refused at the next request), and the
login form's "remember me"."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from pytorrent_core.access import agents
from pytorrent_core.storage import schema
from pytorrent_core.testing import (
    PeerClient,
    ServerProcess,
    environment,
    running_app,
    set_password,
    socketio_client,
)
from pytorrent_core.web.app import SESSION_COOKIE, PyTorrentApp

pytestmark = pytest.mark.each_database  # the app fixture: SQLite, then PostgreSQL

ORIGIN = {"Origin": "http://localhost"}
ADMIN_PASSWORD = "admin-Pass-1"
USER_PASSWORD = "erin-Pass-12"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"
PHONE = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/125.0.0.0 Mobile Safari/537.36")


def cookie_of(reply: Any) -> dict[str, str]:
    value = reply.headers["Set-Cookie"].split(";", 1)[0]
    assert value.startswith(f"{SESSION_COOKIE}=")
    return {"Cookie": value}


async def sign_in(app: PyTorrentApp, username: str, password: str, *, agent: str = FIREFOX,
                  peer: str = "127.0.0.1", remember: bool | None = None) -> dict[str, str]:
    body: dict[str, Any] = {"username": username, "password": password}
    if remember is not None:
        body["remember"] = remember
    client: PeerClient = app.quart.test_client()  # type: ignore[assignment]
    reply = await client.post("/api/auth/login", json=body, headers={"User-Agent": agent},
                              peer=peer)
    assert reply.status_code == 200, await reply.get_data(as_text=True)
    return cookie_of(reply)


async def call(app: PyTorrentApp, method: str, path: str, cookie: dict[str, str],
               **kwargs: Any) -> tuple[int, Any]:
    client: PeerClient = app.quart.test_client()  # type: ignore[assignment]
    reply = await client.open(path, method=method, headers={**cookie, **ORIGIN}, **kwargs)
    return reply.status_code, await reply.get_json()


@pytest.fixture
async def erin(app: PyTorrentApp) -> int:
    await set_password(app, "admin", ADMIN_PASSWORD)
    user = await app.services.store.create_user("erin")
    await set_password(app, "erin", USER_PASSWORD)
    return user.id


async def test_each_sign_in_is_listed_with_this_one_marked(app: PyTorrentApp,
                                                          erin: int) -> None:
    laptop = await sign_in(app, "erin", USER_PASSWORD, peer="192.0.2.10")
    phone = await sign_in(app, "erin", USER_PASSWORD, agent=PHONE, peer="192.0.2.20")
    await sign_in(app, "admin", ADMIN_PASSWORD)  # someone else's: never listed

    status, body = await call(app, "GET", "/api/auth/sessions", laptop)
    assert status == 200, body
    rows = {row["address"]: row for row in body["sessions"]}
    assert set(rows) == {"192.0.2.10", "192.0.2.20"}
    assert rows["192.0.2.10"]["current"] is True and rows["192.0.2.20"]["current"] is False
    assert rows["192.0.2.10"]["agent"] == "Firefox on Linux"
    assert rows["192.0.2.20"]["agent"] == "Chrome on Android"
    status, body = await call(app, "GET", "/api/auth/sessions", phone)
    assert [row["address"] for row in body["sessions"] if row["current"]] == ["192.0.2.20"]


async def test_ending_another_session_refuses_its_cookie_at_the_next_request(
        app: PyTorrentApp, erin: int) -> None:
    laptop = await sign_in(app, "erin", USER_PASSWORD)
    phone = await sign_in(app, "erin", USER_PASSWORD, agent=PHONE)
    _, body = await call(app, "GET", "/api/auth/sessions", laptop)
    other = next(row["id"] for row in body["sessions"] if not row["current"])

    status, body = await call(app, "DELETE", f"/api/auth/sessions/{other}", laptop)
    assert (status, body["ended"]) == (200, [other])
    assert (await call(app, "GET", "/api/auth/me", phone))[0] == 401
    assert (await call(app, "GET", "/api/auth/me", laptop))[0] == 200
    _, body = await call(app, "GET", "/api/auth/sessions", laptop)
    assert [row["current"] for row in body["sessions"]] == [True]
    await app.services.audit.flush()
    (event,) = await app.services.store.audit_events(kind="session.end")
    assert (event["actor"], event["target"], event["outcome"]) == ("erin", "erin", "ok")


async def test_end_others_keeps_only_this_one(app: PyTorrentApp, erin: int) -> None:
    keep = await sign_in(app, "erin", USER_PASSWORD)
    others = [await sign_in(app, "erin", USER_PASSWORD) for _ in range(2)]
    status, body = await call(app, "POST", "/api/auth/sessions/end-others", keep)
    assert status == 200 and len(body["ended"]) == 2
    for cookie in others:
        assert (await call(app, "GET", "/api/auth/me", cookie))[0] == 401
    assert (await call(app, "GET", "/api/auth/me", keep))[0] == 200


async def test_a_user_cannot_end_someone_elses_session(app: PyTorrentApp, erin: int) -> None:
    admin = await sign_in(app, "admin", ADMIN_PASSWORD)
    user = await sign_in(app, "erin", USER_PASSWORD)
    _, body = await call(app, "GET", "/api/auth/sessions", admin)
    admin_sid = body["sessions"][0]["id"]
    status, body = await call(app, "DELETE", f"/api/auth/sessions/{admin_sid}", user)
    assert status == 404 and body["field"] == "id"
    assert (await call(app, "GET", "/api/auth/me", admin))[0] == 200
    status, _ = await call(app, "GET", "/api/auth/users/1/sessions", user)
    assert status == 403


async def test_an_admin_lists_and_ends_anyones_sessions(app: PyTorrentApp, erin: int) -> None:
    admin = await sign_in(app, "admin", ADMIN_PASSWORD)
    user = await sign_in(app, "erin", USER_PASSWORD, peer="192.0.2.30")
    status, body = await call(app, "GET", f"/api/auth/users/{erin}/sessions", admin)
    assert status == 200
    (row,) = body["sessions"]
    assert (row["address"], row["current"]) == ("192.0.2.30", False)
    status, _ = await call(app, "DELETE", f"/api/auth/users/{erin}/sessions/{row['id']}", admin)
    assert status == 200
    assert (await call(app, "GET", "/api/auth/me", user))[0] == 401
    await app.services.audit.flush()
    (event,) = await app.services.store.audit_events(kind="session.end")
    assert (event["actor"], event["target"], event["remote_addr"]) == ("admin", "erin",
                                                                       "127.0.0.1")


async def test_an_admin_ends_all_of_a_users_sessions(app: PyTorrentApp, erin: int) -> None:
    admin = await sign_in(app, "admin", ADMIN_PASSWORD)
    spare = await sign_in(app, "admin", ADMIN_PASSWORD)
    phones = [await sign_in(app, "erin", USER_PASSWORD, agent=PHONE) for _ in range(2)]
    status, body = await call(app, "POST", f"/api/auth/users/{erin}/sessions/end-all", admin)
    assert status == 200 and len(body["ended"]) == 2
    for cookie in phones:
        assert (await call(app, "GET", "/api/auth/me", cookie))[0] == 401
    assert (await call(app, "GET", f"/api/auth/users/{erin}/sessions", admin))[1] == {
        "sessions": []}
    # The admin's own: every other one ends, the one asking goes on.
    status, body = await call(app, "POST", "/api/auth/users/1/sessions/end-all", admin)
    assert status == 200 and len(body["ended"]) == 1
    assert (await call(app, "GET", "/api/auth/me", spare))[0] == 401
    assert (await call(app, "GET", "/api/auth/me", admin))[0] == 200
    user = await sign_in(app, "erin", USER_PASSWORD)
    status, _ = await call(app, "POST", "/api/auth/users/1/sessions/end-all", user)
    assert status == 403
    status, body = await call(app, "POST", "/api/auth/users/999/sessions/end-all", admin)
    assert status == 404 and body["field"] == "user_id"
    await app.services.audit.flush()
    ended = await app.services.store.audit_events(kind="session.end", user="erin")
    assert [(e["actor"], e["target"]) for e in ended] == [("admin", "erin")] * 2


async def test_a_password_change_drops_the_other_sessions_from_the_list(
        app: PyTorrentApp, erin: int) -> None:
    keep = await sign_in(app, "erin", USER_PASSWORD, remember=True)
    await sign_in(app, "erin", USER_PASSWORD)
    client: PeerClient = app.quart.test_client()  # type: ignore[assignment]
    reply = await client.post("/api/auth/password", headers={**keep, **ORIGIN}, json={
        "current_password": USER_PASSWORD, "new_password": "erin-New-Pass-3"})
    assert reply.status_code == 200
    assert "Max-Age=" in reply.headers["Set-Cookie"]  # still remembered
    status, body = await call(app, "GET", "/api/auth/sessions", cookie_of(reply))
    assert status == 200
    assert [row["current"] for row in body["sessions"]] == [True]


async def test_last_seen_is_batched_not_written_per_request(app: PyTorrentApp,
                                                           erin: int) -> None:
    cookie = await sign_in(app, "erin", USER_PASSWORD)
    store = app.services.store

    async def stored() -> Any:
        async with store.engine.connect() as conn:
            return (await conn.execute(select(schema.user_sessions.c.last_seen_at))).scalar()

    before = await stored()
    await asyncio.sleep(0.01)  # let the clock move past the sign-in time
    for _ in range(3):
        assert (await call(app, "GET", "/api/auth/me", cookie))[0] == 200
    assert await stored() == before  # nothing written by the requests themselves
    _, body = await call(app, "GET", "/api/auth/sessions", cookie)
    assert body["sessions"][0]["last_seen_at"] > body["sessions"][0]["created_at"]
    await app.services.cache.flush_token_use()  # what the background loop does
    assert await stored() != before


@pytest.mark.parametrize(("remember", "persistent"), [(None, False), (False, False),
                                                      (True, True)])
async def test_remember_me_makes_the_cookie_persistent(app: PyTorrentApp, remember: bool | None,
                                                       persistent: bool) -> None:
    await set_password(app, "admin", ADMIN_PASSWORD)
    body: dict[str, Any] = {"username": "admin", "password": ADMIN_PASSWORD}
    if remember is not None:
        body["remember"] = remember
    reply = await app.quart.test_client().post("/api/auth/login", json=body)
    cookie = reply.headers["Set-Cookie"]
    hours = int(app.services.settings.session_lifetime_hours)
    if persistent:
        assert f"Max-Age={hours * 3600}" in cookie and "Expires=" in cookie
    else:
        assert "Max-Age" not in cookie and "Expires" not in cookie


@pytest.mark.parametrize("checked", [False, True])
async def test_the_login_forms_remember_me_box(tmp_path: Path, checked: bool) -> None:
    async with running_app(tmp_path, {"PYTORRENT_SESSION_LIFETIME_HOURS": "12"}) as app:
        await set_password(app, "admin", ADMIN_PASSWORD)
        client = app.quart.test_client()
        page = await (await client.get("/login")).get_data(as_text=True)
        assert 'name="remember" type="checkbox"' in page
        form = {"username": "admin", "password": ADMIN_PASSWORD, "next": "/"}
        if checked:
            form["remember"] = "on"
        reply = await client.post("/login", form=form, headers=ORIGIN)
        assert reply.status_code == 302
        cookie = reply.headers["Set-Cookie"]
        assert ("Max-Age=43200" in cookie) is checked
        assert ("Expires=" in cookie) is checked


@pytest.mark.parametrize(("header", "summary"), [
    (FIREFOX, "Firefox on Linux"),
    (PHONE, "Chrome on Android"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/125.0.0.0 Safari/537.36 Edg/125.0.0.0", "Edge on Windows"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iOS"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Safari/605.1.15", "Safari on macOS"),
    ("curl/8.5.0", "curl"),
    ("", "unknown client"),
    (None, "unknown client"),
])
def test_user_agent_summary(header: str | None, summary: str) -> None:
    assert agents.summary(header) == summary


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytorrent.cli", *args],
                          env=environment(tmp_path), capture_output=True, text=True,
                          timeout=60)


async def test_cli_lists_and_revokes_sessions(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app:
        user = await app.services.store.create_user("erin")
        await set_password(app, "erin", USER_PASSWORD)
        cookie = await sign_in(app, "erin", USER_PASSWORD, peer="192.0.2.40")
        listed = await asyncio.to_thread(cli, tmp_path, "sessions", "list", "erin", "--json")
        assert listed.returncode == 0, listed.stderr
        (row,) = json.loads(listed.stdout)
        assert (row["username"], row["address"], row["agent"]) == ("erin", "192.0.2.40",
                                                                   "Firefox on Linux")
        revoked = await asyncio.to_thread(cli, tmp_path, "sessions", "revoke", row["id"])
        assert revoked.returncode == 0, revoked.stderr
        assert "ended session" in revoked.stdout
        deadline = asyncio.get_running_loop().time() + 10
        while (await call(app, "GET", "/api/auth/me", cookie))[0] != 401:
            assert asyncio.get_running_loop().time() < deadline, "the CLI's end never arrived"
            await asyncio.sleep(0.05)
        assert await app.services.store.sessions(user.id) == []
        (event,) = await app.services.store.audit_events(kind="session.end")
        assert (event["actor"], event["target"]) == ("cli", "erin")
        unknown = await asyncio.to_thread(cli, tmp_path, "sessions", "revoke", "nope")
        assert unknown.returncode == 1 and "pytorrent sessions list" in unknown.stderr
        assert "Traceback" not in unknown.stderr


@pytest.mark.server
async def test_ending_a_session_drops_its_socketio_connection(tmp_path: Path) -> None:
    with ServerProcess(tmp_path) as server:
        assert server.cli("reset-password", "admin", ADMIN_PASSWORD).returncode == 0
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            cookies = []
            for _ in range(2):
                async with http.post(f"{server.url}/api/auth/login", json={
                        "username": "admin", "password": ADMIN_PASSWORD}) as reply:
                    assert reply.status == 200
                    cookies.append({"Cookie": reply.headers["Set-Cookie"].split(";", 1)[0]})
            here, there = cookies
            async with socketio_client() as sio:
                await sio.connect(server.url, headers=there, transports=["websocket"],
                                  wait_timeout=10)
                assert (await sio.call("whoami", timeout=10))["username"] == "admin"
                async with http.get(f"{server.url}/api/auth/sessions",
                                    headers=here) as reply:
                    sessions = (await reply.json())["sessions"]
                other = next(row["id"] for row in sessions if not row["current"])
                async with http.delete(f"{server.url}/api/auth/sessions/{other}",
                                       headers={**here, "Origin": server.url}) as reply:
                    assert reply.status == 200, await reply.text()
                deadline = asyncio.get_running_loop().time() + 10
                while sio.connected:
                    assert asyncio.get_running_loop().time() < deadline, "still connected"
                    await asyncio.sleep(0.05)
