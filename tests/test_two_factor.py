"""TOTP two-factor sign-in, in process: enrolment, the two-step sign-in, replay refusal,
single-use recovery codes, throttling, the admin's and the CLI's reset, and the setting
that makes admins enrol before anything else."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from click.testing import CliRunner

from pytorrent_core.cli import main
from pytorrent_core.storage import Store
from pytorrent_core.storage.two_factor import TwoFactorStore
from pytorrent_core.testing import (
    database_url,
    environment,
    issue_token,
    running_app,
    set_password,
    settled_admin,
)
from pytorrent_core.web.app import PyTorrentApp

ORIGIN = {"Origin": "http://127.0.0.1"}
PASSWORD = "alice-Pass-1"
ADMIN_PASSWORD = "admin-Pass-1"


def client_for(app: PyTorrentApp, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=30,
                             headers=ORIGIN)


@dataclass
class Setup:
    app: PyTorrentApp
    alice_id: int

    def client(self, peer: str = "127.0.0.1") -> httpx.AsyncClient:
        return client_for(self.app, peer)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    async with running_app(tmp_path) as app:
        await settled_admin(app.services.store)
        await set_password(app, "admin", ADMIN_PASSWORD)
        alice = await app.services.store.create_user("alice")
        await set_password(app, "alice", PASSWORD)
        yield Setup(app, alice.id)


async def password_step(client: httpx.AsyncClient, username: str = "alice",
                        password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/auth/login", json={"username": username,
                                                      "password": password})


async def enrol(client: httpx.AsyncClient) -> tuple[pyotp.TOTP, list[str]]:
    """Enrol the signed-in user; return their authenticator and recovery codes."""
    started = await client.post("/api/auth/2fa/setup")
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["secret"].replace(" ", "") == body["secret_grouped"].replace(" ", "")
    assert body["otpauth_uri"].startswith("otpauth://totp/pyTorrent:")
    qr = await client.get("/api/auth/2fa/setup/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.content.startswith(b"<svg")
    totp = pyotp.TOTP(body["secret"])
    confirmed = await client.post("/api/auth/2fa/confirm", json={"code": totp.now()})
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return totp, codes


def next_code(totp: pyotp.TOTP) -> str:
    """A code the server has not seen: the next time-step's (inside the ±1 step window)."""
    return totp.at(time.time() + 30)


async def enrolled_alice(setup: Setup) -> tuple[pyotp.TOTP, list[str]]:
    async with setup.client() as client:
        assert (await password_step(client)).status_code == 200
        return await enrol(client)


async def code_step(client: httpx.AsyncClient, pending: str, code: str) -> httpx.Response:
    return await client.post("/api/auth/login/2fa", json={"pending": pending, "code": code})


async def test_password_then_code_and_the_seed_is_never_shown_again(setup: Setup) -> None:
    totp, _ = await enrolled_alice(setup)
    async with setup.client() as client:
        assert (await client.post("/api/auth/2fa/setup")).status_code == 401
        first = await password_step(client)
        assert first.status_code == 202
        assert first.json()["two_factor_required"] is True
        assert "user" not in first.json()
        # The pending state is not a session.
        assert (await client.get("/api/auth/me")).status_code == 401
        done = await code_step(client, first.json()["pending"], next_code(totp))
        assert done.status_code == 200, done.text
        assert done.json()["user"]["username"] == "alice"
        assert done.json()["user"]["two_factor"] is True
        assert (await client.get("/api/auth/me")).status_code == 200

        state = (await client.get("/api/auth/2fa")).json()
        assert state == {"available": True, "enabled": True, "required": False,
                         "codes_left": 10}
        again = await client.post("/api/auth/2fa/setup")
        assert again.status_code == 409 and "secret" not in again.text
        assert (await client.get("/api/auth/2fa/setup/qr.svg")).status_code == 404
        page = (await client.get("/account")).text
        assert totp.secret not in page


async def test_a_replayed_code_is_refused(setup: Setup) -> None:
    totp, _ = await enrolled_alice(setup)
    async with setup.client() as client:
        # The code that confirmed enrolment is already used.
        pending = (await password_step(client)).json()["pending"]
        assert (await code_step(client, pending, totp.now())).status_code == 401
        code = next_code(totp)
        assert (await code_step(client, pending, code)).status_code == 200
    async with setup.client() as other:
        pending = (await password_step(other)).json()["pending"]
        replay = await code_step(other, pending, code)
        assert replay.status_code == 401 and replay.json()["field"] == "code"
        assert (await other.get("/api/auth/me")).status_code == 401
        # Nor does an older code of the window work after a newer one was used.
        assert (await code_step(other, pending, totp.now())).status_code == 401


async def test_recovery_codes_work_once(setup: Setup) -> None:
    _, codes = await enrolled_alice(setup)
    async with setup.client() as client:
        pending = (await password_step(client)).json()["pending"]
        assert (await code_step(client, pending, codes[0])).status_code == 200
    async with setup.client() as client:
        pending = (await password_step(client)).json()["pending"]
        assert (await code_step(client, pending, codes[0])).status_code == 401
        typed = f"  {codes[1].upper().replace('-', ' ')} "
        assert (await code_step(client, pending, typed)).status_code == 200
        assert (await client.get("/api/auth/2fa")).json()["codes_left"] == 8


async def test_new_recovery_codes_replace_the_old_ones(setup: Setup) -> None:
    renew = "/api/auth/2fa/recovery-codes"
    async with setup.client() as client:
        assert (await password_step(client)).status_code == 200
        refused = await client.post(renew, json={"password": PASSWORD})
        assert refused.status_code == 409 and refused.json()["field"] == "two_factor"
        totp, old = await enrol(client)
        for body, status, field in (({}, 400, "password"),
                                    ({"password": "wrong-Pass-1"}, 403, "password"),
                                    ({"code": old[0]}, 400, "code"),
                                    ({"code": "000000"}, 403, "code")):
            reply = await client.post(renew, json=body)
            assert (reply.status_code, reply.json()["field"]) == (status, field), reply.text
            assert "Traceback" not in reply.text
        by_password = await client.post(renew, json={"password": PASSWORD})
        assert by_password.status_code == 200, by_password.text
        first = by_password.json()["recovery_codes"]
        assert len(set(first)) == 10 and not set(first) & set(old)
        code = next_code(totp)
        by_code = await client.post(renew, json={"code": code})
        assert by_code.status_code == 200, by_code.text
        latest = by_code.json()["recovery_codes"]
        assert len(set(latest)) == 10 and not set(latest) & set(first)
        replayed = await client.post(renew, json={"code": code})
        assert replayed.status_code == 403  # a code works once, here too
        assert (await client.get("/api/auth/2fa")).json()["codes_left"] == 10
    async with setup.client() as client:
        pending = (await password_step(client)).json()["pending"]
        for stale in (old[1], first[1]):
            assert (await code_step(client, pending, stale)).status_code == 401
        assert (await code_step(client, pending, latest[1])).status_code == 200
    await setup.app.services.audit.flush()
    made = await setup.app.services.store.audit_events(kind="user.2fa.new-recovery-codes")
    assert [(e["actor"], e["target"]) for e in made] == [("alice", "alice")] * 2


async def test_recovery_codes_are_stored_only_as_digests(setup: Setup, tmp_path: Path) -> None:
    _, codes = await enrolled_alice(setup)
    await setup.app.services.store.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("pytorrent.db*"))
    for code in codes:
        assert code.encode() not in raw and code.replace("-", "").encode() not in raw


async def test_wrong_codes_are_throttled(setup: Setup) -> None:
    totp, _ = await enrolled_alice(setup)
    async with setup.client(peer="10.9.8.7") as client:
        pending = (await password_step(client)).json()["pending"]
        statuses = [(await code_step(client, pending, "000000")).status_code
                    for _ in range(6)]
        assert statuses[:4] == [401] * 4 and statuses[-1] == 429, statuses
        refused = await code_step(client, pending, next_code(totp))
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert (await client.get("/api/auth/me")).status_code == 401


async def test_a_password_reset_voids_the_pending_sign_in(setup: Setup) -> None:
    totp, _ = await enrolled_alice(setup)
    async with setup.client() as client:
        pending = (await password_step(client)).json()["pending"]
        await set_password(setup.app, "alice", "alice-Pass-2")
        expired = await code_step(client, pending, next_code(totp))
        assert expired.status_code == 401 and expired.json()["field"] == "pending"
        forged = await code_step(client, pending[:-2] + "xx", next_code(totp))
        assert forged.status_code == 401


async def test_the_form_flow_asks_for_the_code_after_the_password(setup: Setup) -> None:
    totp, _ = await enrolled_alice(setup)
    async with setup.client() as client:
        assert (await client.get("/login/2fa")).headers["location"].endswith("/login")
        first = await client.post("/login", data={"username": "alice", "password": PASSWORD,
                                                  "next": "/account"})
        assert first.status_code in (302, 303)
        assert first.headers["location"] == "/login/2fa?next=/account"
        form = await client.get("/login/2fa?next=/account")
        assert form.status_code == 200 and 'id="code-form"' in form.text
        wrong = await client.post("/login/2fa?next=/account", data={"code": "123456",
                                                                    "next": "/account"})
        assert wrong.status_code == 401 and "Invalid code." in wrong.text
        done = await client.post("/login/2fa", data={"code": next_code(totp),
                                                     "next": "/account"})
        assert done.status_code in (302, 303) and done.headers["location"] == "/account"
        assert (await client.get("/api/auth/me")).status_code == 200


async def test_two_factor_events_name_the_user(setup: Setup) -> None:
    _, codes = await enrolled_alice(setup)
    async with setup.client(peer="192.0.2.8") as client:
        pending = (await password_step(client)).json()["pending"]
        assert (await code_step(client, pending, "000000")).status_code == 401
        assert (await code_step(client, pending, codes[0])).status_code == 200
    async with setup.client() as admin:
        assert (await password_step(admin, "admin", ADMIN_PASSWORD)).status_code == 200
        reset = await admin.post(f"/api/auth/users/{setup.alice_id}/2fa/reset")
        assert reset.status_code == 200
        found = (await admin.get("/api/audit", params={"user": "alice"})).json()["events"]
    seen = [(e["kind"], e["outcome"], e["actor"], e["target"])
            for e in sorted(found, key=lambda e: e["at"]) if "2fa" in e["kind"]
            or e["kind"] == "auth.sign-in.code"]
    assert seen == [("user.2fa.enable", "ok", "alice", "alice"),
                    ("auth.sign-in.code", "failed", "alice", None),
                    ("user.2fa.recovery_code", "ok", None, "alice"),
                    ("auth.sign-in.code", "ok", "alice", None),
                    ("user.2fa.reset", "ok", "admin", "alice")]


async def test_admin_resets_a_users_enrolment(setup: Setup) -> None:
    await enrolled_alice(setup)
    async with setup.client() as admin, setup.client() as alice:
        assert (await password_step(admin, "admin", ADMIN_PASSWORD)).status_code == 200
        users = {u["username"]: u for u in (await admin.get("/api/auth/users")).json()["users"]}
        assert users["alice"]["two_factor"] is True
        pending = (await password_step(alice)).json()["pending"]
        assert pending
        refused = await alice.post(f"/api/auth/users/{setup.alice_id}/2fa/reset")
        assert refused.status_code == 401
        reset = await admin.post(f"/api/auth/users/{setup.alice_id}/2fa/reset")
        assert reset.status_code == 200 and reset.json()["reset"] is True
        users = {u["username"]: u for u in (await admin.get("/api/auth/users")).json()["users"]}
        assert users["alice"]["two_factor"] is False
        signed_in = await password_step(alice)
        assert signed_in.status_code == 200 and signed_in.json()["user"]["username"] == "alice"
        # A user may not reset anyone's, not even as a signed-in user.
        other = await alice.post(f"/api/auth/users/{setup.alice_id}/2fa/reset")
        assert other.status_code == 403


def test_cli_resets_a_users_enrolment(tmp_path: Path) -> None:
    env = environment(tmp_path)

    async def enrolled() -> int:
        async with running_app(tmp_path) as app:
            user = await app.services.store.create_user("alice")
            store = TwoFactorStore(app.services.store)
            await store.begin(user.id, pyotp.random_base32(), "salt")
            assert await store.confirm(user.id, 1, ["d" * 64])
            return user.id

    alice = asyncio.run(enrolled())
    result = CliRunner().invoke(main, ["users", "reset-2fa", "alice"], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "two-factor sign-in of 'alice' reset" in result.output

    async def state() -> tuple[bool, Any]:
        store = Store.from_url(database_url(tmp_path))
        try:
            user = await store.get_user(alice)
            assert user is not None
            return user.two_factor, await TwoFactorStore(store).enrolment(alice)
        finally:
            await store.close()

    assert asyncio.run(state()) == (False, None)
    again = CliRunner().invoke(main, ["users", "reset-2fa", "alice"], env=env)
    assert again.exit_code == 0 and "nothing to reset" in again.output
    missing = CliRunner().invoke(main, ["users", "reset-2fa", "nobody"], env=env)
    assert missing.exit_code != 0 and "no user named 'nobody'" in missing.output


async def test_admins_must_enrol_first_when_the_setting_says_so(tmp_path: Path) -> None:
    env = {"PYTORRENT_AUTH_REQUIRE_2FA_ADMINS": "true"}
    async with running_app(tmp_path, env) as app:
        admin = await settled_admin(app.services.store)
        await set_password(app, "admin", ADMIN_PASSWORD)
        await app.services.store.create_user("alice")
        await set_password(app, "alice", PASSWORD)
        token = await issue_token(app.services.store, admin.id)
        async with client_for(app) as client, client_for(app) as alice:
            assert (await password_step(client, "admin", ADMIN_PASSWORD)).status_code == 200
            page = await client.get("/")
            assert page.status_code in (302, 303) and page.headers["location"] == "/account"
            refused = await client.get("/api/profiles")
            assert refused.status_code == 403
            assert "PYTORRENT_AUTH_REQUIRE_2FA_ADMINS" in refused.json()["error"]
            me = (await client.get("/api/auth/me")).json()["user"]
            assert me["two_factor_required"] is True
            account = await client.get("/account")
            assert account.status_code == 200 and 'id="two-factor-required"' in account.text
            # Users other than admins, and API tokens, are not held up.
            assert (await password_step(alice)).status_code == 200
            assert (await alice.get("/api/profiles")).status_code == 200
            assert (await client.get("/api/auth/users", headers={
                "Authorization": f"Bearer {token}"})).status_code == 200

            totp, _ = await enrol(client)
            assert (await client.get("/api/profiles")).status_code == 200
            off = await client.post("/api/auth/2fa/disable", json={"code": next_code(totp)})
            assert off.status_code == 409 and off.json()["field"] == "two_factor"


@pytest.mark.parametrize("remember", [True, False])
async def test_remember_me_is_carried_through_the_code_step(setup: Setup,
                                                            remember: bool) -> None:
    totp, _ = await enrolled_alice(setup)
    async with setup.client() as client:
        first = await client.post("/api/auth/login", json={
            "username": "alice", "password": PASSWORD, "remember": remember})
        assert first.status_code == 202
        assert "pytorrent_session" not in first.headers.get("set-cookie", "")
        done = await code_step(client, first.json()["pending"], next_code(totp))
        assert done.status_code == 200
        session = [c for c in done.headers.get_list("set-cookie")
                   if c.startswith("pytorrent_session=")]
        assert len(session) == 1
        assert ("Max-Age=" in session[0]) is remember
        sessions = await client.get("/api/auth/sessions")
        assert sessions.status_code == 200, sessions.text
