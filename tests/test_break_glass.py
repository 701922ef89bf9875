"""Break glass: pyTorrent passwords at /login/local beside an external provider, for named
local users only, with the local provider's check, throttle, two-step and session."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pyotp
import pytest

from pytorrent_core import twofactor
from pytorrent_core.access.throttle import ADDRESS_LIMIT
from pytorrent_core.bootstrap import warn_if_open
from pytorrent_core.storage.two_factor import TwoFactorStore
from pytorrent_core.testing import (
    load_for_test,
    running_app,
    session_cookie,
    set_password,
    settled_admin,
)
from pytorrent_core.web.app import PyTorrentApp

pytestmark = pytest.mark.usefixtures("on_every_engine")

ORIGIN = {"Origin": "http://127.0.0.1"}
ADMIN_PASSWORD = "admin-Pass-1"
BOB_PASSWORD = "bob-Pass-123"
TINYAUTH = {"PYTORRENT_AUTH_PROVIDER": "tinyauth", "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true"}
ON = {**TINYAUTH, "PYTORRENT_AUTH_BREAK_GLASS_USERS": "admin"}


def client_for(app: PyTorrentApp, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=30,
                             headers=ORIGIN)


async def prepared(app: PyTorrentApp) -> None:
    """The built-in admin and a local user bob, both with pyTorrent passwords."""
    await settled_admin(app.services.store)
    await set_password(app, "admin", ADMIN_PASSWORD)
    await app.services.store.create_user("bob")
    await set_password(app, "bob", BOB_PASSWORD)


@pytest.fixture
async def app_on(tmp_path: Path) -> AsyncIterator[PyTorrentApp]:
    async with running_app(tmp_path, ON) as app:
        await prepared(app)
        yield app


async def sign_in(client: httpx.AsyncClient, username: str, password: str,
                  next_url: str = "/") -> httpx.Response:
    return await client.post("/login/local", data={"username": username, "password": password,
                                                   "next": next_url})


async def audit(app: PyTorrentApp, kind: str) -> list[dict]:
    await app.services.audit.flush()
    return await app.services.store.audit_events(kind=kind)


def error_text(reply: httpx.Response) -> str:
    found = re.search(r'id="login-error" role="alert">([^<]*)<', reply.text)
    assert found, reply.text
    return found.group(1)


@pytest.mark.parametrize("env", [TINYAUTH, {"PYTORRENT_AUTH_BREAK_GLASS_USERS": "admin"}],
                         ids=["external-without-setting", "local-provider"])
async def test_off_unless_named_beside_an_external_provider(tmp_path: Path, env: dict) -> None:
    async with running_app(tmp_path, env) as app:
        await prepared(app)
        async with client_for(app) as client:
            missing = await client.get("/no-such-page")
            form = await client.get("/login/local")
            posted = await sign_in(client, "admin", ADMIN_PASSWORD)
        assert form.status_code == posted.status_code == missing.status_code == 404
        assert form.text == missing.text  # nothing tells it apart from a path that is not there


async def test_a_named_user_signs_in_and_gets_a_normal_session(app_on: PyTorrentApp) -> None:
    async with client_for(app_on) as client:
        form = await client.get("/login/local?next=/account")
        assert form.status_code == 200
        assert 'name="password"' in form.text and 'value="/account"' in form.text
        reply = await sign_in(client, "admin", ADMIN_PASSWORD, "/account")
        assert reply.status_code == 302 and reply.headers["location"] == "/account"
        assert "pytorrent_session" in reply.headers["set-cookie"]
        me = await client.get("/api/auth/me")
        assert me.status_code == 200
        user = me.json()["user"]
        assert (user["username"], user["via"], user["admin"]) == ("admin", "session", True)
        page = await client.get("/")
        assert page.status_code == 200 and 'id="logout"' in page.text
    (event,) = await audit(app_on, "auth.sign-in")
    assert (event["actor"], event["provider"], event["outcome"]) == ("admin", "break-glass", "ok")


async def test_an_unnamed_user_fails_like_a_wrong_password(
        app_on: PyTorrentApp, caplog: pytest.LogCaptureFixture) -> None:
    async with client_for(app_on) as client:
        with caplog.at_level(logging.INFO):
            unnamed = await sign_in(client, "bob", BOB_PASSWORD)
        assert "'bob' signed in" not in caplog.text  # checked as an unknown user
        wrong = await sign_in(client, "admin", "not-the-Pass-1")
        unknown = await sign_in(client, "nobody", "not-the-Pass-1")
        for reply in (unnamed, wrong, unknown):
            assert reply.status_code == 401
            assert error_text(reply) == "Invalid username or password."
            assert "set-cookie" not in reply.headers
        assert (await client.get("/api/auth/me")).status_code == 401
    outcomes = {(e["actor"], e["provider"], e["outcome"])
                for e in await audit(app_on, "auth.sign-in")}
    assert outcomes == {("bob", "break-glass", "failed"), ("admin", "break-glass", "failed"),
                        ("nobody", "break-glass", "failed")}


async def test_a_session_of_an_unnamed_user_is_not_believed(app_on: PyTorrentApp) -> None:
    bob = await app_on.services.store.get_user_by_name("bob")
    assert bob is not None
    async with client_for(app_on) as client:
        reply = await client.get("/api/auth/me", headers={"Cookie": session_cookie(app_on, bob)})
        assert reply.status_code == 401


async def test_wrong_passwords_are_throttled(app_on: PyTorrentApp) -> None:
    async with client_for(app_on) as client:
        for _ in range(ADDRESS_LIMIT.failures):
            assert (await sign_in(client, "admin", "guess-Pass-0")).status_code == 401
        refused = await sign_in(client, "admin", ADMIN_PASSWORD)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
        assert "Too many failed sign-in attempts" in error_text(refused)
        assert (await client.get("/api/auth/me")).status_code == 401
    assert {e["outcome"] for e in await audit(app_on, "auth.sign-in")} == {"failed",
                                                                           "throttled"}


async def test_an_enrolled_user_also_gives_a_code(app_on: PyTorrentApp) -> None:
    admin = await app_on.services.store.get_user_by_name("admin")
    assert admin is not None
    store = TwoFactorStore(app_on.services.store)
    secret = twofactor.new_secret()
    totp = pyotp.TOTP(secret)
    salt = twofactor.new_salt()
    await store.begin(admin.id, secret, salt)
    step = twofactor.matching_step(secret, totp.now())
    assert step is not None
    codes = [twofactor.recovery_digest(salt, code) for code in twofactor.new_recovery_codes()]
    assert await store.confirm(admin.id, step, codes, actor="admin")
    async with client_for(app_on) as client:
        first = await sign_in(client, "admin", ADMIN_PASSWORD, "/account")
        assert first.status_code == 302
        assert first.headers["location"] == "/login/2fa?next=/account"
        assert (await client.get("/api/auth/me")).status_code == 401
        form = await client.get("/login/2fa?next=/account")
        assert 'href="/login/local"' in form.text  # "start again" goes back to break glass
        # The next time-step's code: the one used to confirm is spent.
        done = await client.post("/login/2fa", data={"code": totp.at(time.time() + 30),
                                                     "next": "/account"})
        assert done.status_code == 302 and done.headers["location"] == "/account"
        assert (await client.get("/api/auth/me")).json()["user"]["username"] == "admin"
    (code,) = await audit(app_on, "auth.sign-in.code")
    assert (code["provider"], code["outcome"]) == ("break-glass", "ok")


async def test_identity_headers_still_decide_and_logout_ends_the_session(
        app_on: PyTorrentApp) -> None:
    async with client_for(app_on) as client:
        assert (await sign_in(client, "admin", ADMIN_PASSWORD)).status_code == 302
        carried = await client.get("/api/auth/me", headers={"Remote-User": "carol"})
        assert carried.json()["user"]["username"] == "carol"
        assert carried.json()["user"]["via"] == "provider"
        out = await client.post("/logout")
        assert out.status_code == 302 and out.headers["location"] == "/login/local"
        assert (await client.get("/api/auth/me")).status_code == 401
    assert {e["provider"] for e in await audit(app_on, "auth.sign-out")} == {"break-glass"}


async def test_a_break_glass_admin_may_change_their_password(app_on: PyTorrentApp) -> None:
    async with client_for(app_on) as client:
        assert (await sign_in(client, "admin", ADMIN_PASSWORD)).status_code == 302
        changed = await client.post("/api/auth/password", json={
            "current_password": ADMIN_PASSWORD, "new_password": "admin-Pass-2-new"})
        assert changed.status_code == 200, changed.text
        await client.post("/logout")
        assert (await sign_in(client, "admin", "admin-Pass-2-new")).status_code == 302


def test_names_must_be_usernames(tmp_path: Path) -> None:
    from pytorrent_core.config import ConfigError

    with pytest.raises(ConfigError, match=r"^PYTORRENT_AUTH_BREAK_GLASS_USERS=.*\(environment\)"
                                          r": 'a\\x00b' is not a username"):
        load_for_test(tmp_path, {**TINYAUTH, "PYTORRENT_AUTH_BREAK_GLASS_USERS": "a\x00b"})


def test_start_up_warns_while_it_is_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings, plugins = load_for_test(tmp_path, ON)
    with caplog.at_level(logging.WARNING):
        warn_if_open(settings, "127.0.0.1", plugins)
    assert "break-glass sign-in is on (PYTORRENT_AUTH_BREAK_GLASS_USERS=admin)" in caplog.text
    caplog.clear()
    settings, plugins = load_for_test(tmp_path, TINYAUTH)
    with caplog.at_level(logging.WARNING):
        warn_if_open(settings, "127.0.0.1", plugins)
    assert "break-glass" not in caplog.text


async def test_beside_openid_connect_too(tmp_path: Path) -> None:
    """oidc takes no passwords either: break glass opens /login/local for the named users
    (no identity provider needs to answer), and the oidc page stays the normal way in."""
    oidc = {"PYTORRENT_AUTH_PROVIDER": "oidc",
            "PYTORRENT_AUTH_OIDC_ISSUER": "http://127.0.0.1:9/unreachable",
            "PYTORRENT_AUTH_OIDC_CLIENT_ID": "pytorrent",
            "PYTORRENT_AUTH_OIDC_CLIENT_SECRET": "s3cret-value",
            "PYTORRENT_AUTH_BREAK_GLASS_USERS": "admin"}
    async with running_app(tmp_path, oidc) as app:
        await prepared(app)
        async with client_for(app) as client:
            assert (await sign_in(client, "bob", BOB_PASSWORD)).status_code == 401
            reply = await sign_in(client, "admin", ADMIN_PASSWORD, "/account")
            assert reply.status_code == 302 and reply.headers["location"] == "/account"
            user = (await client.get("/api/auth/me")).json()["user"]
            assert (user["username"], user["via"]) == ("admin", "session")
        (ok,) = [e for e in await audit(app, "auth.sign-in") if e["outcome"] == "ok"]
        assert (ok["actor"], ok["provider"]) == ("admin", "break-glass")
    (tmp_path / "off").mkdir()
    async with running_app(tmp_path / "off", {**oidc, "PYTORRENT_AUTH_BREAK_GLASS_USERS": ""}
                           ) as app:
        async with client_for(app) as client:
            assert (await client.get("/login/local")).status_code == 404
