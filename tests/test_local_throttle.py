"""Brute-force throttling of the login endpoints."""

from __future__ import annotations

import pytest

from pytorrent_core.access.throttle import (
    ADDRESS_LIMIT,
    USERNAME_LIMIT,
    LoginThrottle,
    client_key,
)
from pytorrent_core.testing import set_password
from pytorrent_core.web.app import PyTorrentApp

ORIGIN = {"Origin": "http://localhost"}
PASSWORD = "admin-Pass-1"
ATTACKER = "203.0.113.9"
OWNER = "198.51.100.7"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fail(throttle: LoginThrottle, client: str, username: str) -> int | None:
    attempt = throttle.begin(client, username)
    return attempt.retry_after


# ---------------------------------------------------------------- unit


def test_address_locks_after_limit_and_lockout_grows() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for n in range(ADDRESS_LIMIT.failures):
        assert _fail(throttle, ATTACKER, f"user{n}") is None
    first = _fail(throttle, ATTACKER, "admin")
    assert first == ADDRESS_LIMIT.lockout
    clock.now += first
    for _ in range(ADDRESS_LIMIT.failures):
        assert _fail(throttle, ATTACKER, "admin") is None
    second = _fail(throttle, ATTACKER, "admin")
    assert second == 2 * ADDRESS_LIMIT.lockout
    clock.now += second
    for _ in range(ADDRESS_LIMIT.failures):
        throttle.begin(ATTACKER, "admin")
    assert _fail(throttle, ATTACKER, "admin") == 4 * ADDRESS_LIMIT.lockout


def test_lockout_is_capped_and_forgotten_after_quiet_time() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    waits = []
    for _ in range(12):
        for _ in range(ADDRESS_LIMIT.failures):
            throttle.begin(ATTACKER, "admin")
        waits.append(_fail(throttle, ATTACKER, "admin"))
        clock.now += waits[-1]
    assert max(waits) == ADDRESS_LIMIT.max_lockout
    clock.now += ADDRESS_LIMIT.forget_after + 1
    for _ in range(ADDRESS_LIMIT.failures):
        throttle.begin(ATTACKER, "admin")
    assert _fail(throttle, ATTACKER, "admin") == ADDRESS_LIMIT.lockout


def test_failures_outside_the_window_do_not_count() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(ADDRESS_LIMIT.failures - 1):
        throttle.begin(ATTACKER, "admin")
    clock.now += ADDRESS_LIMIT.window + 1
    assert _fail(throttle, ATTACKER, "admin") is None
    assert _fail(throttle, ATTACKER, "admin") is None


def test_success_forgives_own_failures_only() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(3):
        throttle.begin(OWNER, "admin")
    throttle.succeeded(throttle.begin(OWNER, "admin"))
    for _ in range(ADDRESS_LIMIT.failures - 1):
        assert _fail(throttle, OWNER, "admin") is None
    # Guesses at other accounts are not wiped out by signing in to one's own.
    throttle2 = LoginThrottle(clock=clock)
    for n in range(ADDRESS_LIMIT.failures - 1):
        throttle2.begin(ATTACKER, f"victim{n}")
    throttle2.succeeded(throttle2.begin(ATTACKER, "mallory"))
    assert throttle2.begin(ATTACKER, "victim9").retry_after is None
    assert _fail(throttle2, ATTACKER, "victim9") is not None


def test_success_on_the_last_allowed_attempt_does_not_lock() -> None:
    throttle = LoginThrottle(clock=Clock())
    for _ in range(ADDRESS_LIMIT.failures - 1):
        throttle.begin(OWNER, "admin")
    throttle.succeeded(throttle.begin(OWNER, "admin"))
    assert _fail(throttle, OWNER, "admin") is None


def test_parallel_attempts_count_before_they_finish() -> None:
    throttle = LoginThrottle(clock=Clock())
    started = [throttle.begin(ATTACKER, "admin") for _ in range(50)]
    allowed = [a for a in started if not a.refused]
    assert len(allowed) == ADDRESS_LIMIT.failures


def test_other_address_is_not_locked_out_by_an_attacker() -> None:
    throttle = LoginThrottle(clock=Clock())
    for _ in range(ADDRESS_LIMIT.failures):
        throttle.begin(ATTACKER, "admin")
    assert _fail(throttle, ATTACKER, "admin") is not None
    assert throttle.begin(OWNER, "admin").retry_after is None


def test_spread_out_guessing_locks_the_username_briefly_but_not_known_addresses() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    throttle.succeeded(throttle.begin(OWNER, "admin"))  # the owner signed in before
    for n in range(USERNAME_LIMIT.failures):
        assert throttle.begin(f"203.0.113.{n + 1}", "admin").retry_after is None
    wait = _fail(throttle, "192.0.2.1", "admin")
    assert wait is not None and wait <= USERNAME_LIMIT.max_lockout
    assert throttle.begin("192.0.2.2", "other-user").retry_after is None
    # The owner's known address is not held up by the username lock.
    assert throttle.begin(OWNER, "admin").retry_after is None
    # Nor is anyone for longer than the cap, however long the attack lasts.
    for _ in range(10):
        clock.now += wait
        for n in range(USERNAME_LIMIT.failures):
            throttle.begin(f"198.18.{n}.1", "admin")
        wait = _fail(throttle, "192.0.2.1", "admin") or 0
        assert wait <= USERNAME_LIMIT.max_lockout


def test_ipv6_clients_are_grouped_by_64() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key(None) == "unknown"
    throttle = LoginThrottle(clock=Clock())
    for n in range(ADDRESS_LIMIT.failures):
        throttle.begin(f"2001:db8:1:2::{n + 1}", "admin")
    assert _fail(throttle, "2001:db8:1:2::99", "admin") is not None


def test_memory_is_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, max_keys=100)
    for n in range(1000):
        clock.now += 1
        throttle.begin(f"10.0.{n // 250}.{n % 250}", f"user{n}")
    assert len(throttle._addresses) <= 100
    assert len(throttle._usernames) <= 100


# ---------------------------------------------------------------- over HTTP


@pytest.fixture
async def admin_app(app: PyTorrentApp) -> PyTorrentApp:
    await set_password(app, "admin", PASSWORD)
    return app


async def test_form_login_answers_429_with_retry_after(admin_app: PyTorrentApp) -> None:
    client = admin_app.quart.test_client()
    for _ in range(ADDRESS_LIMIT.failures):
        reply = await client.post("/login", form={"username": "admin",
                                                  "password": "guess-Pass-0"},
                                  headers=ORIGIN, peer=ATTACKER)
        assert reply.status_code == 401
    reply = await client.post("/login", form={"username": "admin", "password": PASSWORD},
                              headers=ORIGIN, peer=ATTACKER)
    assert reply.status_code == 429
    assert int(reply.headers["Retry-After"]) == ADDRESS_LIMIT.lockout
    page = await reply.get_data(as_text=True)
    assert "Too many failed sign-in attempts" in page and 'name="password"' in page
    assert "Set-Cookie" not in reply.headers  # even the right password is not checked
    # Someone else, elsewhere, signs in as the same user at once.
    other = admin_app.quart.test_client()
    ok = await other.post("/login", form={"username": "admin", "password": PASSWORD},
                          headers=ORIGIN, peer=OWNER)
    assert ok.status_code == 302


async def test_api_login_answers_429_with_retry_after(admin_app: PyTorrentApp) -> None:
    client = admin_app.quart.test_client()
    for n in range(ADDRESS_LIMIT.failures):
        reply = await client.post("/api/auth/login", json={"username": f"nobody{n}",
                                                           "password": "guess-Pass-0"},
                                  peer=ATTACKER)
        assert reply.status_code == 401
    reply = await client.post("/api/auth/login", json={"username": "admin",
                                                       "password": PASSWORD}, peer=ATTACKER)
    assert reply.status_code == 429
    body = await reply.get_json()
    assert body["retry_after"] == int(reply.headers["Retry-After"]) > 0
    ok = await admin_app.quart.test_client().post(
        "/api/auth/login", json={"username": "admin", "password": PASSWORD}, peer=OWNER)
    assert ok.status_code == 200


async def test_throttle_uses_forwarded_client_only_from_trusted_proxies(tmp_path) -> None:
    from pytorrent_core.testing import running_app

    env = {"PYTORRENT_PROXY_FIX_ENABLE": "true", "PYTORRENT_AUTH_TRUSTED_PROXIES": "10.0.0.2"}
    async with running_app(tmp_path, env) as app:
        await set_password(app, "admin", PASSWORD)
        client = app.quart.test_client()
        for _ in range(ADDRESS_LIMIT.failures):
            await client.post("/api/auth/login", json={"username": "admin",
                                                       "password": "guess-Pass-0"},
                              peer="10.0.0.2", headers={"X-Forwarded-For": ATTACKER})
        locked = await client.post("/api/auth/login", json={"username": "admin",
                                                            "password": PASSWORD},
                                   peer="10.0.0.2", headers={"X-Forwarded-For": ATTACKER})
        assert locked.status_code == 429
        # The proxy's other clients are separate addresses.
        ok = await client.post("/api/auth/login", json={"username": "admin",
                                                        "password": PASSWORD},
                               peer="10.0.0.2", headers={"X-Forwarded-For": OWNER})
        assert ok.status_code == 200
        # An untrusted peer cannot dodge its own lockout with a made-up header.
        for _ in range(ADDRESS_LIMIT.failures):
            await client.post("/api/auth/login", json={"username": "admin",
                                                       "password": "guess-Pass-0"},
                              peer="192.0.2.50", headers={"X-Forwarded-For": "1.2.3.4"})
        dodged = await client.post("/api/auth/login", json={"username": "admin",
                                                            "password": PASSWORD},
                                   peer="192.0.2.50", headers={"X-Forwarded-For": "5.6.7.8"})
        assert dodged.status_code == 429
