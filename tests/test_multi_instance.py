"""Two ``pytorrent serve`` processes sharing one database and one Redis, behind a real
nginx that spreads requests over both (round-robin, no stickiness, WebSocket
transport for Socket.IO).

Proves what several instances must share: a sign-in made through one is good on
the other; a sign-out or a deactivation on one drops the other's live Socket.IO
connections within a second; a throttled username is throttled on both; one
instance polls rTorrent and its diffs reach the viewers of both; when that
instance dies the other takes polling over within the lease. The database is a
real PostgreSQL (``postgres_url`` in conftest.py); two of the tests run again on
one SQLite file both processes open. Every wait polls with a deadline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import socketio
from redis import Redis
from support.nginx import NginxProcess, proxy_to, run_nginx
from support.redis import RedisProcess
from support.rtorrent import RTorrentProcess, make_torrent

from pytorrent_core.access.throttle import ADDRESS_LIMIT
from pytorrent_core.cluster.lease import LEASE_SECONDS, PollerLeases
from pytorrent_core.testing import ServerProcess
from pytorrent_core.web.sessions import SESSION_COOKIE

pytestmark = [pytest.mark.server, pytest.mark.nginx]

WAIT = 20.0
PASSWORD = "Correct-Horse-42"
ADMIN_PASSWORD = "Admin-Battery-77"


@dataclass
class Stack:
    a: ServerProcess
    b: ServerProcess
    nginx: NginxProcess
    redis: RedisProcess
    rtorrent: RTorrentProcess

    @property
    def servers(self) -> tuple[ServerProcess, ServerProcess]:
        return self.a, self.b

    def sign_in(self, base: str, username: str, password: str = PASSWORD) -> httpx.Response:
        return httpx.post(f"{base}/api/auth/login", json={"username": username,
                                                          "password": password},
                          headers={"Origin": base}, timeout=30)

    def cookie(self, username: str, password: str = PASSWORD) -> str:
        reply = self.sign_in(self.nginx.url, username, password)
        assert reply.status_code == 200, reply.text
        return f"{SESSION_COOKIE}={reply.cookies[SESSION_COOKIE]}"

    def upstreams(self) -> list[str]:
        """nginx's log of which instance answered each request, ``uri address``."""
        log = self.nginx.root.parent / "upstreams.log"
        return log.read_text(encoding="utf-8").splitlines() if log.exists() else []

    def user_id(self, cookie: str) -> int:
        me = httpx.get(f"{self.nginx.url}/api/auth/me", headers={"Cookie": cookie})
        return int(me.json()["user"]["id"])

    def poller(self) -> str | None:
        with Redis.from_url(self.redis.url, decode_responses=True) as client:
            value = client.get(PollerLeases.key(1))
            return None if value is None else str(value)

    def holder_of_lease(self) -> ServerProcess | None:
        """The server process whose instance holds profile 1's lease (host:pid:nonce)."""
        holder = self.poller()
        for server in self.servers:
            assert server.process is not None
            if holder is not None and holder.split(":")[1] == str(server.process.pid):
                return server
        return None


def upstream(a: ServerProcess, b: ServerProcess, log: Path) -> str:
    """Round-robin over both, no stickiness; each request's instance goes to ``log``."""
    return f"""
    upstream pytorrent {{
        server {a.host}:{a.port};
        server {b.host}:{b.port};
    }}
    log_format upstreams '$request_uri $upstream_addr';
    access_log {log} upstreams;"""


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """Both instances, nginx, Redis and rTorrent; the database is PostgreSQL unless the
    test asks for ``sqlite`` (``parametrize("stack", [...], indirect=True)``)."""
    engine = getattr(request, "param", "postgresql")
    if engine == "postgresql":
        database = {"PYTORRENT_DATABASE_URL": request.getfixturevalue("postgres_url")}
    else:
        (tmp_path / "shared").mkdir()
        database = {"PYTORRENT_DB_PATH": str(tmp_path / "shared" / "pytorrent.db")}
    with RedisProcess(tmp_path / "redis") as redis, \
            RTorrentProcess(tmp_path / "rtorrent") as rtorrent:
        env = {"PYTORRENT_REDIS_URL": redis.url, "PYTORRENT_SECRET_KEY": "s" * 48,
               "PYTORRENT_RTORRENT_POLL_INTERVAL": "0.2", **database}
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a = ServerProcess(tmp_path / "a", env)
        with a:  # the first start creates the database; then the second joins it
            b = ServerProcess(tmp_path / "b", env)  # now a's port is taken: b gets another
            for args in (["users", "add", "alice", "--password", PASSWORD,
                          "--permission", "full"],
                         ["users", "add", "boss", "--role", "admin", "--password",
                          ADMIN_PASSWORD],
                         ["profiles", "add", "box", rtorrent.url]):
                done = a.cli(*args)
                assert done.returncode == 0, done.stderr
            with b, run_nginx(tmp_path, f"location / {{ {proxy_to('http://pytorrent')} }}",
                              http_extra=upstream(a, b, tmp_path / "upstreams.log")) as nginx:
                yield Stack(a, b, nginx, redis, rtorrent)


class Viewer:
    """A Socket.IO client (WebSocket only) recording the events it gets."""

    def __init__(self) -> None:
        self.session = aiohttp.ClientSession()
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self.session)
        self.events: dict[str, list[Any]] = {"torrents:snapshot": [], "torrents:diff": []}
        self.dropped_at: float | None = None
        for name, seen in self.events.items():
            self.sio.on(name, self._recorder(seen))
        self.sio.on("disconnect", self._dropped)

    def _recorder(self, seen: list[Any]) -> Any:
        async def record(data: Any) -> None:
            seen.append(data)
        return record

    async def _dropped(self, *args: Any) -> None:
        self.dropped_at = time.monotonic()

    async def connect(self, url: str, cookie: str) -> Viewer:
        await self.sio.connect(url, transports=["websocket"], wait_timeout=10,
                               headers={"Cookie": cookie})
        return self

    async def join(self, profile_id: int = 1) -> None:
        answer = await self.sio.call("profile:join", {"profile_id": profile_id}, timeout=10)
        assert answer.get("ok"), answer

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await self.session.close()


@pytest.fixture
async def viewers() -> AsyncIterator[list[Viewer]]:
    made: list[Viewer] = []
    yield made
    for viewer in made:
        await viewer.close()


async def until(check: Any, what: str, wait: float = WAIT) -> None:
    deadline = time.monotonic() + wait
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


# ---------------------------------------------------------------- sign-in


@pytest.mark.parametrize("stack", ["postgresql", "sqlite"], indirect=True)
def test_a_sign_in_through_either_is_good_on_both(stack: Stack) -> None:
    for _ in range(2):  # round-robin: the two sign-ins land on different instances
        cookie = stack.cookie("alice")
        for server in (*stack.servers, stack.nginx, stack.nginx):
            me = httpx.get(f"{server.url}/api/auth/me", headers={"Cookie": cookie})
            assert me.status_code == 200 and me.json()["user"]["username"] == "alice"
    # nginx logs a request after answering it: wait for both lines.
    deadline = time.monotonic() + WAIT
    while len(sign_ins := [line.split()[1] for line in stack.upstreams()
                           if line.startswith("/api/auth/login ")]) < 2:
        assert time.monotonic() < deadline, stack.upstreams()
        time.sleep(0.02)
    assert sorted(sign_ins) == sorted(f"{s.host}:{s.port}" for s in stack.servers)


def test_a_throttled_username_is_throttled_on_both(stack: Stack) -> None:
    # Failures spread over both instances by nginx count against one budget: no
    # instance saw all of them, yet the limit holds.
    for _ in range(ADDRESS_LIMIT.failures):
        assert stack.sign_in(stack.nginx.url, "alice", "wrong-password").status_code == 401
    for server in stack.servers:  # now even the right password waits, on each instance
        refused = stack.sign_in(server.url, "alice")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert stack.sign_in(stack.nginx.url, "boss", ADMIN_PASSWORD).status_code == 200


# ---------------------------------------------------------------- revocation


async def _connected_on_each(stack: Stack, cookie: str, viewers: list[Viewer]
                             ) -> list[Viewer]:
    made = [await Viewer().connect(url, cookie)
            for url in (stack.a.url, stack.b.url, stack.nginx.url)]
    viewers.extend(made)
    return made


async def test_a_sign_out_on_one_drops_the_others_connections_within_a_second(
        stack: Stack, viewers: list[Viewer]) -> None:
    cookie = stack.cookie("alice")
    on_a, on_b, via_nginx = await _connected_on_each(stack, cookie, viewers)
    async with httpx.AsyncClient() as http:
        ended = await http.post(f"{stack.a.url}/api/auth/logout",
                                headers={"Cookie": cookie, "Origin": stack.a.url})
    assert ended.status_code == 200
    signed_out = time.monotonic()
    await until(lambda: all(v.dropped_at is not None for v in (on_a, on_b, via_nginx)),
                "every connection of the ended session to drop", wait=5)
    assert on_b.dropped_at is not None and on_b.dropped_at - signed_out < 1.0
    assert max(v.dropped_at or 0 for v in (on_a, on_b, via_nginx)) - signed_out < 1.0
    async with httpx.AsyncClient() as http:
        me = await http.get(f"{stack.b.url}/api/auth/me", headers={"Cookie": cookie})
    assert me.status_code == 401
    late = Viewer()  # nor can the ended session connect again, anywhere
    viewers.append(late)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await late.connect(stack.b.url, cookie)


async def test_a_deactivation_on_one_drops_the_others_connections_within_a_second(
        stack: Stack, viewers: list[Viewer]) -> None:
    cookie = stack.cookie("alice")
    admin = stack.cookie("boss", ADMIN_PASSWORD)
    on_a, on_b, via_nginx = await _connected_on_each(stack, cookie, viewers)
    alice = stack.user_id(cookie)
    async with httpx.AsyncClient() as http:
        changed = await http.put(f"{stack.a.url}/api/auth/users/{alice}",
                                 json={"active": False},
                                 headers={"Cookie": admin, "Origin": stack.a.url})
    assert changed.status_code == 200, changed.text
    deactivated = time.monotonic()
    await until(lambda: all(v.dropped_at is not None for v in (on_a, on_b, via_nginx)),
                "every connection of the deactivated user to drop", wait=5)
    assert max(v.dropped_at or 0 for v in (on_a, on_b, via_nginx)) - deactivated < 1.0


# ---------------------------------------------------------------- rTorrent polling


def _diffs_with(viewer: Viewer, info_hash: str) -> list[dict[str, Any]]:
    return [diff for diff in viewer.events["torrents:diff"]
            if any(row.get("hash") == info_hash for row in diff["changed"])]


@pytest.mark.parametrize("stack", ["postgresql", "sqlite"], indirect=True)
async def test_one_poller_feeds_both_and_polling_moves_when_its_instance_dies(
        stack: Stack, viewers: list[Viewer]) -> None:
    cookie = stack.cookie("alice")
    on_a = await Viewer().connect(stack.a.url, cookie)
    on_b = await Viewer().connect(stack.b.url, cookie)
    viewers.extend([on_a, on_b])
    for viewer in (on_a, on_b):
        await viewer.join()
    # Both get the list, whichever instance polls.
    await until(lambda: bool(on_a.events["torrents:snapshot"])
                and bool(on_b.events["torrents:snapshot"]), "a snapshot on both")
    holder = stack.holder_of_lease()
    assert holder is not None, stack.poller()
    survivor = stack.b if holder is stack.a else stack.a
    watching_survivor = on_b if holder is stack.a else on_a

    # A torrent added behind pyTorrent's back shows on both, as one diff each: a second
    # poller would send each viewer a second diff of its own.
    data, info_hash = make_torrent(stack.rtorrent.download_dir, "one.bin", b"1" * 40_000)
    stack.rtorrent.call("load.raw", "", data)
    await until(lambda: bool(_diffs_with(on_a, info_hash)) and bool(_diffs_with(on_b,
                                                                               info_hash)),
                "the new torrent's diff on both")
    await asyncio.sleep(1.0)  # room for a duplicate to arrive if there were two pollers
    for viewer in (on_a, on_b):
        revisions = [diff["revision"] for diff in viewer.events["torrents:diff"]]
        assert len(revisions) == len(set(revisions)), revisions
        assert len(_diffs_with(viewer, info_hash)) == 1
    assert [d["revision"] for d in _diffs_with(on_a, info_hash)] == \
        [d["revision"] for d in _diffs_with(on_b, info_hash)]

    # The poller's instance dies without a word: the lease runs out and the survivor
    # polls; its viewer gets the list again (revisions start over), then diffs.
    assert holder.process is not None
    os.kill(holder.process.pid, signal.SIGKILL)
    holder.process.wait(timeout=10)
    killed = time.monotonic()
    snapshots = len(watching_survivor.events["torrents:snapshot"])
    await until(lambda: stack.holder_of_lease() is survivor, "the survivor to take the lease",
                wait=LEASE_SECONDS + 5)
    took_over = time.monotonic() - killed
    assert took_over < LEASE_SECONDS + 1.5, took_over
    await until(lambda: len(watching_survivor.events["torrents:snapshot"]) > snapshots,
                "the new poller's snapshot")
    data, second = make_torrent(stack.rtorrent.download_dir, "two.bin", b"2" * 40_000)
    stack.rtorrent.call("load.raw", "", data)
    await until(lambda: bool(_diffs_with(watching_survivor, second)),
                "a diff from the new poller")
