"""Redis-backed pieces against a real redis-server: the shared sign-in throttle, the
rTorrent polling lease, the cluster channel, and start-up's one-line errors."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from support.redis import RedisProcess

from pytorrent_core.access.throttle import ADDRESS_LIMIT, LoginThrottle
from pytorrent_core.bootstrap import load
from pytorrent_core.cluster.lease import PollerLeases
from pytorrent_core.cluster.link import Cluster
from pytorrent_core.cluster.throttle import SharedLoginThrottle
from pytorrent_core.testing import environment, free_port


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    with RedisProcess(tmp_path / "redis") as process:
        yield process


@pytest.fixture
async def redis(redis_server: RedisProcess) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- throttle


async def test_shared_throttle_decides_as_the_in_process_one(redis: Redis) -> None:
    """A long random run of attempts (addresses, names, right and wrong passwords,
    proxies standing for many users, time passing) gets the same answers from the
    Redis throttle, split over two instances, as from the in-process one."""
    clock = Clock()
    local = LoginThrottle(clock=clock)
    shared = [SharedLoginThrottle(redis, "t:sign-in", clock=clock) for _ in range(2)]
    rng = random.Random(12)
    addresses = ["203.0.113.9", "198.51.100.7", "2001:db8::1", "2001:db8::2", None]
    names = ["admin", "Admin ", "alice", "bob"]
    refused = forgiven = 0
    for step in range(600):
        client, name = rng.choice(addresses), rng.choice(names)
        proxy = rng.random() < 0.2
        right = rng.random() < 0.15
        expected = local.begin(client, name, shared=proxy)
        got = await shared[step % 2].start(client, name, shared=proxy)
        assert (step, got.retry_after) == (step, expected.retry_after)
        if right and not expected.refused:
            local.succeeded(expected)
            await shared[(step + 1) % 2].forgive(got)  # any instance may finish it
            forgiven += 1
        refused += expected.refused
        clock.now += rng.choice([0.5, 1, 3, 20, 90])
    assert refused > 50 and forgiven > 20  # the run exercised lockouts and forgiveness


async def test_parallel_attempts_cannot_slip_past_the_limit(redis: Redis) -> None:
    throttles = [SharedLoginThrottle(redis, "t:burst") for _ in range(2)]
    attempts = await asyncio.gather(*(throttles[n % 2].start("203.0.113.9", f"user{n}")
                                      for n in range(40)))
    assert sum(not attempt.refused for attempt in attempts) == ADDRESS_LIMIT.failures


async def test_counters_expire_in_redis(redis: Redis) -> None:
    throttle = SharedLoginThrottle(redis, "t:ttl")
    await throttle.start("203.0.113.9", "alice")
    keys = sorted([key async for key in redis.scan_iter("t:ttl:*")])
    assert keys == ["t:ttl:address:203.0.113.9", "t:ttl:username:alice"]
    for key in keys:
        assert 0 < await redis.pttl(key) <= 24 * 3600 * 1000


async def test_without_redis_each_instance_still_throttles(redis_server: RedisProcess,
                                                          redis: Redis) -> None:
    throttle = SharedLoginThrottle(redis, "t:away")
    redis_server.stop()
    answers = [await throttle.start("203.0.113.9", "alice")
               for _ in range(ADDRESS_LIMIT.failures + 1)]
    assert [a.refused for a in answers] == [False] * ADDRESS_LIMIT.failures + [True]
    fresh = await throttle.start("198.51.100.7", "bob")
    await throttle.forgive(fresh)  # counted here, forgiven here: no error
    assert not fresh.refused


# ---------------------------------------------------------------- lease


async def test_one_holder_renews_releases_and_is_succeeded_on_expiry(redis: Redis) -> None:
    first = PollerLeases(redis, "first", seconds=0.5)
    second = PollerLeases(redis, "second", seconds=0.5)
    results = await asyncio.gather(first.acquire(1), second.acquire(1))
    assert sorted(results) == [False, True]
    holder, other = (first, second) if results[0] else (second, first)
    assert await holder.renew(1) and not await other.renew(1)
    await other.release(1)  # not its lease: nothing happens
    assert await holder.holder(1) == holder.instance
    # The holder dies: nobody renews, and the lease falls to the other.
    deadline = asyncio.get_running_loop().time() + 3
    while not await other.acquire(1):
        assert asyncio.get_running_loop().time() < deadline, "lease never expired"
        await asyncio.sleep(0.05)
    assert not await holder.renew(1)  # woke up late: it must not steal it back
    await other.release(1)
    assert await other.holder(1) is None


async def test_interest_of_others_is_seen_and_expires(redis: Redis) -> None:
    holder = PollerLeases(redis, "holder", seconds=0.3)
    viewer = PollerLeases(redis, "viewer", seconds=0.3)
    assert not await holder.wanted_elsewhere(7)
    await viewer.want(7)
    assert await holder.wanted_elsewhere(7) and not await viewer.wanted_elsewhere(7)
    deadline = asyncio.get_running_loop().time() + 3
    while await holder.wanted_elsewhere(7):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------- channel


async def test_channel_reaches_other_instances_not_itself(tmp_path: Path,
                                                          redis_server: RedisProcess) -> None:
    settings, _ = load(None, environment(tmp_path, {"PYTORRENT_REDIS_URL": redis_server.url}))
    one, two = Cluster(settings), Cluster(settings)
    heard: dict[str, list[dict[str, Any]]] = {"one": [], "two": []}

    async def hear_one(message: dict[str, Any]) -> None:
        heard["one"].append(message)

    async def hear_two(message: dict[str, Any]) -> None:
        heard["two"].append(message)

    one.on("hello", hear_one)
    two.on("hello", hear_two)
    await one.start()
    await two.start()
    try:
        await one.publish("hello", n=1)
        deadline = asyncio.get_running_loop().time() + 5
        while not heard["two"]:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.02)
        assert heard["two"][0]["n"] == 1 and heard["two"][0]["from"] == one.instance
        assert heard["one"] == []
    finally:
        await one.stop()
        await two.stop()


# ---------------------------------------------------------------- start-up errors


def _serve(tmp_path: Path, env: dict[str, str], *, hide_redis: bool = False
           ) -> subprocess.CompletedProcess[str]:
    code = ("import sys; sys.modules['redis'] = None; " if hide_redis else "") + \
        "from pytorrent_core.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, "serve", "--port", str(free_port())],
        env=environment(tmp_path, env), capture_output=True, text=True, timeout=60)


KEY = {"PYTORRENT_SECRET_KEY": "k" * 48}


@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1:6379/0", "not a Redis URL (scheme 'http')"),
    ("redis://:s3cret-pass@127.0.0.1:{port}/0", "cannot reach Redis"),
    ("redis://127.0.0.1:notaport/0", "not a usable Redis URL"),
])
def test_bad_or_unreachable_url_stops_start_up_in_one_line(tmp_path: Path, url: str,
                                                           expected: str) -> None:
    result = _serve(tmp_path, {**KEY, "PYTORRENT_REDIS_URL": url.format(port=free_port())})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "PYTORRENT_REDIS_URL" in lines[0] and expected in lines[0]
    assert "Traceback" not in result.stderr and "s3cret-pass" not in result.stderr


def test_missing_package_names_the_setting_and_the_extra(tmp_path: Path) -> None:
    result = _serve(tmp_path, {**KEY, "PYTORRENT_REDIS_URL": "redis://127.0.0.1:1/0"},
                    hide_redis=True)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "PYTORRENT_REDIS_URL" in lines[0] and "pytorrent-core[redis]" in lines[0]


def test_redis_without_a_shared_secret_key_stops_start_up(tmp_path: Path,
                                                          redis_server: RedisProcess) -> None:
    result = _serve(tmp_path, {"PYTORRENT_REDIS_URL": redis_server.url})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "PYTORRENT_SECRET_KEY" in lines[0] and "PYTORRENT_REDIS_URL" in lines[0]


# ---------------------------------------------------------------- the command beside servers


@pytest.mark.parametrize("command", [["users", "deactivate", "bob"],
                                     ["sessions", "revoke", "SID"]],
                         ids=["deactivate", "end-session"])
async def test_a_change_from_the_command_reaches_a_running_server_over_redis(
        tmp_path: Path, redis_server: RedisProcess, monkeypatch: pytest.MonkeyPatch,
        command: list[str]) -> None:
    """The database poll is pushed out of the way: only Redis can tell the server."""
    from pytorrent_core.access import session_ids
    from pytorrent_core.cluster import invalidation
    from pytorrent_core.testing import running_app
    from pytorrent_core.web.sessions import SESSION_COOKIE

    monkeypatch.setattr(invalidation, "SHARED_POLL_SECONDS", 3600.0)
    env = {**KEY, "PYTORRENT_REDIS_URL": redis_server.url}
    async with running_app(tmp_path, env) as app:
        bob = await app.services.store.create_user("bob")
        auth_id = session_ids.issue(bob)
        claim = session_ids.parse(auth_id)
        assert claim is not None
        await app.services.store.record_session(
            claim.sid, bob, expires_at=datetime.now(UTC) + timedelta(hours=1),
            address="127.0.0.1", agent="test", remember=False)
        command = [claim.sid if part == "SID" else part for part in command]
        token = app.quart.extensions["pytorrent"]["auth"].dump_token(auth_id, app.quart)
        cookie = {"Cookie": f"{SESSION_COOKIE}={token}"}
        client = app.quart.test_client()
        assert (await client.get("/api/auth/me", headers=cookie)).status_code == 200
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "pytorrent.cli", *command],
            env=environment(tmp_path, env), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        deadline = asyncio.get_running_loop().time() + 5
        while (await client.get("/api/auth/me", headers=cookie)).status_code == 200:
            assert asyncio.get_running_loop().time() < deadline, "the server never heard"
            await asyncio.sleep(0.02)
