"""One client address for throttles and logs: X-Forwarded-For walked from the right over
trusted hops, across every header line (hardening, findings 5 and 6)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import Headers

from pytorrent_core.access.facts import RequestFacts, TrustedNetworks, facts_from_scope
from pytorrent_core.access.throttle import ADDRESS_LIMIT, TOKEN_LIMIT, USERNAME_LIMIT, LoginThrottle
from pytorrent_core.testing import issue_token, running_app, set_password

TRUSTED = TrustedNetworks(["127.0.0.0/8", "10.0.0.0/8", "fd00::/8"])
PROXY = "10.0.0.2"
CLIENT = "198.51.100.7"
OTHER = "198.51.100.8"
PASSWORD = "right-Pass-1"


def facts(lines: Sequence[str], peer: str = PROXY, proxy_fix: bool = False) -> RequestFacts:
    """Facts for a request with one ``X-Forwarded-For`` header line per item of ``lines``."""
    headers = [(b"host", b"10.0.0.1:8090")]
    headers += [(b"x-forwarded-for", line.encode("latin-1")) for line in lines]
    scope = {"type": "http", "method": "POST", "path": "/api/auth/login", "scheme": "http",
             "client": (peer, 50000), "server": ("10.0.0.1", 8090), "headers": headers}
    return facts_from_scope(scope, trusted=TRUSTED, proxy_fix=proxy_fix)


# ---------------------------------------------------------------- the parser


@pytest.mark.parametrize("proxy_fix", [False, True])
@pytest.mark.parametrize(("lines", "client"), [
    ([], PROXY),  # a proxy that adds nothing: only its own address is known
    ([CLIENT], CLIENT),
    # HAProxy `option forwardfor` appends its own line after the client's made-up one.
    (["203.0.113.66", CLIENT], CLIENT),
    (["203.0.113.66, 203.0.113.67", CLIENT], CLIENT),
    # nginx appends to the same line: everything left of the proxy's entry is a claim.
    (["1.2.3.4, 5.6.7.8, " + CLIENT], CLIENT),
    # A made-up entry inside a trusted range, left of the real client, is not believed.
    ([f"10.9.9.9, {CLIENT}"], CLIENT),
    # Trusted hops (a chain of own proxies) are skipped, in one line or several.
    ([f"{CLIENT}, 10.0.0.3, 10.0.0.4"], CLIENT),
    ([f"203.0.113.66, {CLIENT}", "10.0.0.3", "10.0.0.4"], CLIENT),
    # Every hop trusted: the leftmost.
    (["10.0.0.5, 10.0.0.3"], "10.0.0.5"),
    (["127.0.0.1", "10.0.0.3"], "127.0.0.1"),
])
def test_walks_from_the_right_over_trusted_hops(lines: list[str], client: str,
                                                proxy_fix: bool) -> None:
    got = facts(lines, proxy_fix=proxy_fix)
    assert got.client == client
    assert got.peer == PROXY


@pytest.mark.parametrize(("lines", "client"), [
    (["2001:db8::1"], "2001:db8::1"),
    (["2001:DB8:0:0::1"], "2001:db8::1"),
    (["[2001:db8::1]:4711"], "2001:db8::1"),
    (["[2001:db8::1]"], "2001:db8::1"),
    ([f"{CLIENT}:4711"], CLIENT),
    (["::ffff:198.51.100.7"], CLIENT),
    ([f"2001:db8::1, fd00::5, {PROXY}"], "2001:db8::1"),
])
def test_ipv6_and_ports(lines: list[str], client: str) -> None:
    assert facts(lines).client == client


@pytest.mark.parametrize(("lines", "client"), [
    # Garbage stops the walk at the last good hop, never a made-up string.
    ([f"{CLIENT}, garbage"], PROXY),
    (["unknown"], PROXY),
    ([""], PROXY),
    ([f"{CLIENT},"], PROXY),
    (["<script>"], PROXY),
    (["1.2.3.4.5"], PROXY),
    ([f"{CLIENT}:99999999"], PROXY),
    ([f"{CLIENT} 10.0.0.3"], PROXY),
    (["garbage, 10.0.0.3"], "10.0.0.3"),
    ([f"{CLIENT}, 10.0.0.3", "nonsense"], PROXY),
    (["nonsense", CLIENT], CLIENT),  # the walk never reaches the client's own line
])
def test_malformed_entries_end_the_walk(lines: list[str], client: str) -> None:
    got = facts(lines)
    assert got.client == client


def test_an_untrusted_peer_is_the_client_whatever_it_claims() -> None:
    got = facts([CLIENT, OTHER], peer="203.0.113.9", proxy_fix=True)
    assert got.client == "203.0.113.9"
    assert not got.client_shared


@pytest.mark.parametrize(("lines", "peer", "shared"), [
    ([], PROXY, True),  # a bare proxy: every user behind it has its address
    (["10.0.0.5"], PROXY, True),
    ([CLIENT], PROXY, False),
    ([], "203.0.113.9", False),
    (["garbage"], PROXY, True),
])
def test_client_shared_says_the_address_may_stand_for_many_users(
        lines: list[str], peer: str, shared: bool) -> None:
    assert facts(lines, peer=peer).client_shared is shared


def test_quart_and_socketio_headers_give_the_same_client() -> None:
    """The pages and REST pass Quart's headers; Socket.IO builds them from the scope."""
    scope = {"type": "http", "client": (PROXY, 1), "headers": []}
    headers = Headers([("X-Forwarded-For", "203.0.113.66"), ("X-Forwarded-For", CLIENT)])
    assert facts_from_scope(scope, trusted=TRUSTED, proxy_fix=False,
                            headers=headers).client == CLIENT


# ---------------------------------------------------------------- the login throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_shared_address_counts_per_username() -> None:
    throttle = LoginThrottle(clock=Clock())
    for _ in range(ADDRESS_LIMIT.failures):
        assert not throttle.begin(PROXY, "alice", shared=True).refused
    assert throttle.begin(PROXY, "alice", shared=True).refused
    assert not throttle.begin(PROXY, "bob", shared=True).refused
    # An address that is one client's locks out whoever tries from there.
    for _ in range(ADDRESS_LIMIT.failures):
        throttle.begin(PROXY, "alice")
    assert throttle.begin(PROXY, "bob").refused


@pytest.mark.parametrize("shared", [False, True])
def test_a_shared_address_earns_no_exemption_from_the_username_limit(shared: bool) -> None:
    throttle = LoginThrottle(clock=Clock())
    earlier = throttle.begin(PROXY, "alice", shared=shared)
    throttle.succeeded(earlier)
    for n in range(USERNAME_LIMIT.failures):  # guessing spread over many addresses
        throttle.begin(f"203.0.113.{n + 1}", "alice")
    # An address alice signed in from before stays open to her, unless anyone may share it.
    assert throttle.begin(PROXY, "alice", shared=shared).refused is shared


# ---------------------------------------------------------------- over HTTP


async def login(app: Any, username: str, password: str, headers: Headers) -> int:
    reply = await app.quart.test_client().post(
        "/api/auth/login", json={"username": username, "password": password},
        headers=headers, peer=PROXY)
    return int(reply.status_code)


def appended(client_line: str, address: str) -> Headers:
    """What a client's request looks like after a proxy appended its own line."""
    return Headers([("X-Forwarded-For", client_line), ("X-Forwarded-For", address)])


@pytest.mark.parametrize("proxy_fix", ["false", "true"])
async def test_throttle_behind_a_proxy_that_appends_a_line(
        tmp_path: Path, proxy_fix: str, caplog: pytest.LogCaptureFixture) -> None:
    env = {"PYTORRENT_PROXY_FIX_ENABLE": proxy_fix, "PYTORRENT_AUTH_TRUSTED_PROXIES": PROXY}
    async with running_app(tmp_path, env) as app:
        await set_password(app, "admin", PASSWORD)
        with caplog.at_level(logging.INFO):
            for n in range(ADDRESS_LIMIT.failures):
                # A fresh made-up address on every guess does not make a fresh client.
                status = await login(app, "admin", "guess-Pass-0",
                                     appended(f"203.0.113.{n + 1}", CLIENT))
                assert status == 401
        assert f"sign-in failed from {CLIENT}" in caplog.text
        assert "sign-in failed from 203.0.113." not in caplog.text
        assert await login(app, "admin", PASSWORD, appended("203.0.113.99", CLIENT)) == 429
        # Another client behind the same proxy is its own address.
        assert await login(app, "admin", PASSWORD, appended(CLIENT, OTHER)) == 200


async def test_a_bare_proxy_does_not_let_one_user_lock_out_another(tmp_path: Path) -> None:
    """No X-Forwarded-For: every user has the proxy's address (the default set-up)."""
    async with running_app(tmp_path) as app:
        store = app.services.store
        await store.create_user("bob", role="user")
        await set_password(app, "admin", PASSWORD)
        await set_password(app, "bob", PASSWORD)
        for _ in range(ADDRESS_LIMIT.failures):
            assert await login(app, "admin", "guess-Pass-0", Headers()) == 401
        assert await login(app, "admin", PASSWORD, Headers()) == 429
        assert await login(app, "bob", PASSWORD, Headers()) == 200


# ---------------------------------------------------------------- the token throttle


async def test_token_throttle_uses_the_same_client_address(tmp_path: Path) -> None:
    async with running_app(tmp_path, {"PYTORRENT_AUTH_TRUSTED_PROXIES": PROXY}) as app:
        admin = await app.services.store.get_user_by_name("admin")
        assert admin is not None
        good = await issue_token(app.services.store, admin.id)
        client = app.quart.test_client()

        async def me(token: str, headers: Headers) -> int:
            headers = Headers(headers)
            headers["Authorization"] = f"Bearer {token}"
            reply = await client.get("/api/auth/me", headers=headers, peer=PROXY)
            return int(reply.status_code)

        statuses = [await me(f"pt_bad{n}", appended(f"203.0.113.{n + 1}", CLIENT))
                    for n in range(TOKEN_LIMIT.failures)]
        assert statuses == [401] * TOKEN_LIMIT.failures
        assert await me(good, appended("203.0.113.99", CLIENT)) == 429
        assert await me(good, appended(CLIENT, OTHER)) == 200
