"""The local provider on a real uvicorn server: CLI resets, Socket.IO, and no leaked secrets."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
import socketio

from pytorrent_core.testing import ServerProcess
from pytorrent_core.web.app import SESSION_COOKIE

pytestmark = pytest.mark.server

PASSWORD = "server-Pass-1"
SECRET_KEY = "test-secret-key-that-signs-cookies-0123456789"


def _login(server: ServerProcess, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, follow_redirects=False, timeout=10)
    reply = client.post("/api/auth/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return client


def _until(condition, deadline: float = 10.0) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_cli_reset_ends_sessions_on_a_running_server(tmp_path: Path) -> None:
    with ServerProcess(tmp_path) as server:
        assert server.cli("reset-password", "admin", PASSWORD).returncode == 0
        client = _login(server, "admin", PASSWORD)
        assert client.get("/api/auth/me").status_code == 200
        reset = server.cli("reset-password", "admin", "changed-Pass-2")
        assert reset.returncode == 0, reset.stderr
        assert _until(lambda: client.get("/api/auth/me").status_code == 401)
        assert client.get("/").status_code == 302
        assert _login(server, "admin", "changed-Pass-2").get("/api/auth/me").status_code == 200


def test_cli_deactivate_and_role_change_reach_a_running_server(tmp_path: Path) -> None:
    with ServerProcess(tmp_path) as server:
        server.cli("reset-password", "admin", PASSWORD)
        assert server.cli("users", "add", "quinn", "--password", "quinn-Pass-1",
                          "--role", "admin").returncode == 0
        quinn = _login(server, "quinn", "quinn-Pass-1")
        assert server.cli("users", "set-role", "quinn", "user").returncode == 0
        assert _until(lambda: quinn.get("/api/auth/me").status_code == 401)
        quinn = _login(server, "quinn", "quinn-Pass-1")
        assert quinn.get("/api/auth/me").json()["user"]["role"] == "user"
        assert server.cli("users", "deactivate", "quinn").returncode == 0
        assert _until(lambda: quinn.get("/api/auth/me").status_code == 401)


async def test_socketio_needs_a_session_and_drops_ended_ones(tmp_path: Path) -> None:
    with ServerProcess(tmp_path) as server:
        server.cli("reset-password", "admin", PASSWORD)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            reply = await http.post("/api/auth/login", json={"username": "admin",
                                                             "password": PASSWORD})
            assert reply.status_code == 200
            cookie = f"{SESSION_COOKIE}={http.cookies[SESSION_COOKIE]}"

        # The Python client is slow to give up on a refused polling connection, so
        # refusals go over WebSocket here and over raw long-polling below.
        for headers in ({}, {"Cookie": f"{SESSION_COOKIE}=1:1.x.y"}):
            refused = socketio.AsyncClient(reconnection=False)
            with pytest.raises(socketio.exceptions.ConnectionError):
                await refused.connect(server.url, headers=headers, transports=["websocket"],
                                      wait_timeout=10)
        assert _outcome(await _polling_connect(server.url, {})) == "refused"
        assert _outcome(await _polling_connect(server.url, {"Cookie": cookie})) == "accepted"

        for transports in (["websocket"], ["polling", "websocket"]):
            client = socketio.AsyncClient(reconnection=False)
            await client.connect(server.url, headers={"Cookie": cookie},
                                 transports=transports, wait_timeout=10)
            try:
                assert client.connected
                who = await client.call("whoami", timeout=10)
                assert who["username"] == "admin" and who["via"] == "session"
            finally:
                await client.disconnect()

        live = socketio.AsyncClient(reconnection=False)
        await live.connect(server.url, headers={"Cookie": cookie}, transports=["websocket"],
                           wait_timeout=10)
        try:
            assert server.cli("reset-password", "admin", "changed-Pass-2").returncode == 0
            end = time.monotonic() + 10
            while live.connected and time.monotonic() < end:
                await _sleep(0.05)
            assert not live.connected
        finally:
            await live.disconnect()
        stale = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await stale.connect(server.url, headers={"Cookie": cookie},
                                transports=["websocket"], wait_timeout=10)
        assert _outcome(await _polling_connect(server.url, {"Cookie": cookie})) == "refused"


def _outcome(payload: str) -> str:
    """Socket.IO packets 40 (connect ack) / 44 (connect error) in a polling payload."""
    kinds = {packet[:2] for packet in payload.split("\x1e")}
    if "44" in kinds:
        return "refused"
    return "accepted" if "40" in kinds else f"unclear: {payload!r}"


async def _polling_connect(url: str, headers: dict[str, str]) -> str:
    """Open an Engine.IO long-polling session, ask to join ``/``, return the answer."""
    import json

    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
        opened = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        assert opened.status_code == 200 and opened.text.startswith("0")
        sid = json.loads(opened.text[1:])["sid"]
        query = {"EIO": "4", "transport": "polling", "sid": sid}
        sent = await http.post("/socket.io/", params=query, content="40")
        assert sent.status_code == 200
        answer = await http.get("/socket.io/", params=query)
        return answer.text


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def test_no_secret_in_any_response_or_log_line(tmp_path: Path) -> None:
    env = {"PYTORRENT_SECRET_KEY": SECRET_KEY}
    admin_password = "first-Pass-1"
    user_password = "rita-Secret-Pass-1"
    wrong_password = "wrong-Guess-Pass-1"
    bodies: list[str] = []
    cookies: list[str] = []
    with ServerProcess(tmp_path, env, log_level="debug") as server:
        assert server.cli("reset-password", "admin", admin_password).returncode == 0
        admin = _login(server, "admin", admin_password)
        cookies.append(admin.cookies[SESSION_COOKIE])
        origin = {"Origin": server.url}
        steps = [
            admin.get("/"),
            admin.get("/api/auth/me"),
            admin.post("/api/auth/users", json={"username": "rita", "password": user_password},
                       headers=origin),
            admin.get("/api/auth/users"),
            admin.put("/api/auth/users/2", json={"password": "x"}, headers=origin),
            admin.post("/api/auth/users", json={"username": "rita"}, headers=origin),
            admin.put("/api/auth/users/1", json={"role": "user"}, headers=origin),
            httpx.post(f"{server.url}/login", data={"username": "rita",
                                                    "password": wrong_password}),
            httpx.post(f"{server.url}/api/auth/login", json={"username": "ghost",
                                                             "password": wrong_password}),
            httpx.get(f"{server.url}/login?next=/x"),
            httpx.get(f"{server.url}/api/auth/users"),
            httpx.get(f"{server.url}/does-not-exist"),
        ]
        rita = _login(server, "rita", user_password)
        cookies.append(rita.cookies[SESSION_COOKIE])
        steps += [rita.get("/api/auth/users"), rita.post("/api/auth/logout", headers=origin)]
        for _ in range(6):
            steps.append(httpx.post(f"{server.url}/api/auth/login",
                                    json={"username": "rita", "password": wrong_password}))
        assert steps[-1].status_code == 429
        bodies = [f"{reply.headers}\n{reply.text}" for reply in steps]
        bodies[0:0] = [f"{reply.headers}\n{reply.text}" for reply in
                       (rita.get("/api/auth/me"), admin.post("/api/auth/logout",
                                                             headers=origin))]
        log = server.log()
    with sqlite3.connect(tmp_path / "data" / "pytorrent.db") as db:
        hashes = [row[0] for row in db.execute(
            "select password_hash from users where password_hash is not null")]
    assert len(hashes) == 2
    one_time = re.findall(r"one-time password: (\S+)", log)
    secrets = [admin_password, user_password, wrong_password, SECRET_KEY, *hashes, *cookies,
               *[h.split("$")[-1] for h in hashes]]
    log_without_first_start = log.replace(one_time[0], "<one-time>") if one_time else log
    for secret in secrets:
        assert secret not in log_without_first_start, "secret found in the server log"
        for body in bodies:
            # The session cookie is meant to be in Set-Cookie; bodies never carry it.
            if secret in cookies:
                body = body.split("\n", 1)[1]
            assert secret not in body, "secret found in a response"
    assert "$argon2" not in log
    assert "sign-in failed from 127.0.0.1" in log  # the log is really being captured
