"""tinyauth and proxy modes through the app: AUTH.md "Tinyauth authentication",
"Generic reverse proxy authentication", "Troubleshooting" and "External provider logout"."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pytorrent_core.access import session_ids
from pytorrent_core.storage import schema
from pytorrent_core.testing import running_app, set_password
from pytorrent_core.web.app import SESSION_COOKIE, PyTorrentApp

pytestmark = pytest.mark.usefixtures("on_every_engine")

PROVIDERS = ("tinyauth", "proxy")
UNTRUSTED = "203.0.113.9"
SAME_ORIGIN = {"Origin": "http://localhost"}


def env(provider: str, **extra: str) -> dict[str, str]:
    base = {"PYTORRENT_AUTH_PROVIDER": provider, "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true",
            "PYTORRENT_AUTH_PROXY_AUTO_CREATE_ROLE": "user",
            "PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION": "rw"}
    base.update({f"PYTORRENT_AUTH_{key.upper()}": value for key, value in extra.items()})
    return base


async def user_count(app: PyTorrentApp) -> int:
    async with app.services.store.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(schema.users)) or 0)


async def me(app: PyTorrentApp, headers: Mapping[str, str], peer: str | None = None
             ) -> tuple[int, dict]:
    reply = await app.quart.test_client().get("/api/auth/me", headers=dict(headers), peer=peer)
    return reply.status_code, await reply.get_json()


# ------------------------------------------------------------ identity and trust


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_trusted_header_identifies_and_auto_creates(tmp_path: Path, provider: str) -> None:
    async with running_app(tmp_path, env(provider)) as app:
        status, body = await me(app, {"Remote-User": "alice"})
        assert status == 200
        assert body["user"]["username"] == "alice"
        assert body["user"]["via"] == "provider"
        assert body["user"]["provider"] == provider
        assert body["external"] is True
        page = await app.quart.test_client().get("/", headers={"Remote-User": "alice"})
        assert page.status_code == 200
        assert 'id="username">alice<' in await page.get_data(as_text=True)


async def test_generic_proxy_reads_only_the_configured_header(tmp_path: Path) -> None:
    config = env("proxy", proxy_user_header="X-Forwarded-User")
    async with running_app(tmp_path, config) as app:
        status, _ = await me(app, {"Remote-User": "alice"})
        assert status == 401
        status, body = await me(app, {"X-Forwarded-User": "bob"})
        assert status == 200
        assert body["user"]["username"] == "bob"
        assert await user_count(app) == 2  # admin + bob; alice was never created


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_header_from_untrusted_peer_is_ignored_and_logged_once(
        tmp_path: Path, provider: str, caplog: pytest.LogCaptureFixture) -> None:
    async with running_app(tmp_path, env(provider)) as app:
        client = app.quart.test_client()
        with caplog.at_level(logging.WARNING):
            api = await client.get("/api/auth/me", headers={"Remote-User": "admin"},
                                   peer=UNTRUSTED)
            page = await client.get("/", headers={"Remote-User": "admin"}, peer=UNTRUSTED)
        assert api.status_code == 401
        assert page.status_code == 401
        assert UNTRUSTED in await page.get_data(as_text=True)
        warnings = [r for r in caplog.records if "not in auth.trusted_proxies" in r.getMessage()]
        assert len(warnings) == 1  # rate-limited
        assert UNTRUSTED in warnings[0].getMessage()
        assert await user_count(app) == 1


async def test_trusted_proxies_setting_narrows_who_may_send_the_header(tmp_path: Path) -> None:
    async with running_app(tmp_path, env("proxy", trusted_proxies="10.9.9.9/32")) as app:
        status, _ = await me(app, {"Remote-User": "alice"})  # from 127.0.0.1
        assert status == 401
        status, body = await me(app, {"Remote-User": "alice"}, peer="10.9.9.9")
        assert status == 200
        assert body["user"]["username"] == "alice"
        status, _ = await me(app, {"Remote-User": "alice"}, peer="::ffff:10.9.9.9")
        assert status == 200


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("value", ["", "   ", "a" * 129, "ali\x01ce", "ali\x7fce"])
async def test_unusable_usernames_are_refused(tmp_path: Path, provider: str,
                                              value: str) -> None:
    async with running_app(tmp_path, env(provider)) as app:
        status, _ = await me(app, {"Remote-User": value})
        assert status == 401
        assert await user_count(app) == 1


async def test_underscore_header_is_not_the_identity_header(tmp_path: Path) -> None:
    async with running_app(tmp_path, env("tinyauth")) as app:
        status, _ = await me(app, {"Remote_User": "admin"})
        assert status == 401


async def test_longest_allowed_username_works(tmp_path: Path) -> None:
    async with running_app(tmp_path, env("proxy")) as app:
        status, body = await me(app, {"Remote-User": "b" * 128})
        assert status == 200
        assert body["user"]["username"] == "b" * 128


# ------------------------------------------------------------ existing users


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_existing_user_matches_by_exact_name(tmp_path: Path, provider: str) -> None:
    async with running_app(tmp_path, env(provider)) as app:
        alice = await app.services.store.create_user("Alice", role="user")
        for spelling in ("Alice", " Alice ", "\tAlice"):
            status, body = await me(app, {"Remote-User": spelling})
            assert status == 200
            assert body["user"]["id"] == alice.id
            assert body["user"]["username"] == "Alice"
        # Another spelling is neither Alice nor a new user that reads the same.
        for spelling in ("alice", "ALICE"):
            status, body = await me(app, {"Remote-User": spelling})
            assert status == 401
            assert "existing user 'Alice'" in body["error"]
        assert await user_count(app) == 2


async def test_user_with_local_password_is_used_but_never_synchronised(tmp_path: Path) -> None:
    config = env("tinyauth", proxy_auto_create_role="admin")
    async with running_app(tmp_path, config) as app:
        store = app.services.store
        carol = await store.create_user("carol", role="user", display_name="Carol",
                                        permissions={None: "ro"})
        await set_password(app, "carol", "a long local password")
        status, body = await me(app, {"Remote-User": "carol", "Remote-Name": "Someone Else"})
        assert status == 200
        assert body["user"]["id"] == carol.id
        assert body["user"]["role"] == "user"
        assert body["user"]["display_name"] == "Carol"
        assert body["user"]["permissions"] == {"*": "ro"}
        stored = await store.get_user(carol.id)
        assert stored is not None and stored.role == "user" and stored.display_name == "Carol"
        assert await store.permissions(carol.id) == {None: "ro"}


async def test_builtin_admin_is_never_synchronised(tmp_path: Path) -> None:
    async with running_app(tmp_path, env("proxy", proxy_auto_create_role="user")) as app:
        status, body = await me(app, {"Remote-User": "admin"})
        assert status == 200
        assert body["user"]["builtin"] is True
        assert body["user"]["role"] == "admin"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_deactivated_user_is_refused_and_not_recreated(tmp_path: Path,
                                                             provider: str) -> None:
    async with running_app(tmp_path, env(provider)) as app:
        status, body = await me(app, {"Remote-User": "dave"})
        assert status == 200
        store = app.services.store
        await store.update_user(body["user"]["id"], active=False)
        status, _ = await me(app, {"Remote-User": "Dave"})
        assert status == 401
        page = await app.quart.test_client().get("/", headers={"Remote-User": "dave"})
        assert page.status_code == 401
        assert "deactivated" in await page.get_data(as_text=True)
        assert await user_count(app) == 2
        dave = await store.get_user_by_name("dave")
        assert dave is not None and not dave.active


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_auto_create_off_answers_401_saying_the_user_is_unknown(tmp_path: Path,
                                                                      provider: str) -> None:
    async with running_app(tmp_path, env(provider, proxy_auto_create="false")) as app:
        client = app.quart.test_client()
        page = await client.get("/", headers={"Remote-User": "erin"})
        assert page.status_code == 401
        text = await page.get_data(as_text=True)
        assert "erin&#39; does not exist in pyTorrent" in text
        assert "PYTORRENT_AUTH_PROXY_AUTO_CREATE=true" in text
        api = await client.get("/api/auth/me", headers={"Remote-User": "erin"})
        assert api.status_code == 401
        assert "does not exist" in (await api.get_json())["error"]
        assert await user_count(app) == 1
        await app.services.store.create_user("erin")
        status, _ = await me(app, {"Remote-User": "erin"})
        assert status == 200


# ------------------------------------------------------------ AUTH.md: auto-created permissions


@pytest.mark.parametrize(("role", "permission", "expected_role", "expected_grants"), [
    ("admin", "rw", "admin", {}),
    ("admin", "none", "admin", {}),
    ("user", "none", "user", {}),
    ("user", "ro", "user", {"*": "ro"}),
    ("user", "rw", "user", {"*": "full"}),
    ("user", "full", "user", {"*": "full"}),
])
async def test_auto_created_role_and_permission(tmp_path: Path, role: str, permission: str,
                                                expected_role: str,
                                                expected_grants: dict[str, str]) -> None:
    config = env("tinyauth", proxy_auto_create_role=role,
                 proxy_auto_create_permission=permission)
    async with running_app(tmp_path, config) as app:
        status, body = await me(app, {"Remote-User": "frank"})
        assert status == 200
        assert body["user"]["role"] == expected_role
        assert body["user"]["permissions"] == expected_grants
        user = await app.services.store.get_user_by_name("frank")
        assert user is not None and not user.has_password
        grants = await app.services.store.permissions(user.id)
        assert {("*" if k is None else k): v for k, v in grants.items()} == expected_grants


async def test_auto_created_admin_sees_and_writes_every_profile(tmp_path: Path) -> None:
    config = env("tinyauth", proxy_auto_create_role="admin")
    async with running_app(tmp_path, config) as app:
        store = app.services.store
        first = await store.create_profile("first", "scgi://127.0.0.1:5000")
        second = await store.create_profile("second", "scgi://127.0.0.1:5001")
        status, _ = await me(app, {"Remote-User": "grace"})
        assert status == 200
        user = await store.get_user_by_name("grace")
        assert user is not None
        principal = await app.resolver.principal_for(user, "provider")
        assert all(principal.can_write(p.id) for p in (first, second))


# ------------------------------------------------------------ Troubleshooting: sync on login


async def test_fixing_the_config_and_logging_in_again_repairs_the_user(tmp_path: Path) -> None:
    steps = [
        ("user", "none", "user", {}),
        ("user", "ro", "user", {"*": "ro"}),
        ("user", "rw", "user", {"*": "full"}),
        ("admin", "rw", "admin", {}),
        ("user", "ro", "user", {"*": "ro"}),
    ]
    for role, permission, expected_role, expected_grants in steps:
        config = env("tinyauth", proxy_auto_create_role=role,
                     proxy_auto_create_permission=permission)
        async with running_app(tmp_path, config) as app:
            status, body = await me(app, {"Remote-User": "heidi"})
            assert status == 200, (role, permission)
            assert body["user"]["role"] == expected_role
            assert body["user"]["permissions"] == expected_grants
            assert await user_count(app) == 2


async def test_deleting_the_wrong_user_recreates_it_from_current_config(tmp_path: Path) -> None:
    async with running_app(tmp_path, env("proxy", proxy_auto_create_role="user",
                                         proxy_auto_create_permission="none")) as app:
        status, body = await me(app, {"Remote-User": "ivan"})
        assert status == 200 and body["user"]["permissions"] == {}
        await app.services.store.delete_user(body["user"]["id"])
    async with running_app(tmp_path, env("proxy", proxy_auto_create_role="admin")) as app:
        status, body = await me(app, {"Remote-User": "ivan"})
        assert status == 200
        assert body["user"]["role"] == "admin"


async def test_sync_costs_no_write_when_nothing_changed(tmp_path: Path) -> None:
    async with running_app(tmp_path, env("tinyauth")) as app:
        await me(app, {"Remote-User": "judy", "Remote-Name": "Judy"})
        generation = await app.services.store.generation()
        for _ in range(5):
            status, _ = await me(app, {"Remote-User": "judy", "Remote-Name": "Judy"})
            assert status == 200
        assert await app.services.store.generation() == generation


# ------------------------------------------------------------ concurrency


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_fifty_concurrent_first_requests_create_one_user(tmp_path: Path,
                                                               provider: str) -> None:
    import asyncio

    async with running_app(tmp_path, env(provider)) as app:
        client = app.quart.test_client()
        replies = await asyncio.gather(*(
            client.get("/api/auth/me", headers={"Remote-User": "kim"})
            for n in range(50)))
        assert [reply.status_code for reply in replies] == [200] * 50
        ids = {(await reply.get_json())["user"]["id"] for reply in replies}
        assert len(ids) == 1
        assert await user_count(app) == 2
        async with app.services.store.engine.connect() as conn:
            rows = (await conn.execute(select(schema.users.c.username).where(
                schema.users.c.username_key == "kim"))).all()
        assert len(rows) == 1


# ------------------------------------------------------------ no cookie outlives the header


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_every_request_rechecks_the_header(tmp_path: Path, provider: str) -> None:
    async with running_app(tmp_path, env(provider)) as app:
        client = app.quart.test_client()
        ok = await client.get("/api/auth/me", headers={"Remote-User": "liam"})
        assert ok.status_code == 200
        assert "Set-Cookie" not in ok.headers
        # Even a validly signed session cookie for the admin is not an identity here.
        admin = await app.services.store.get_user_by_name("admin")
        assert admin is not None
        auth = app.quart.extensions["pytorrent"]["auth"]
        cookie = auth.dump_token(session_ids.issue(admin), app.quart)
        client.set_cookie("localhost", SESSION_COOKIE, cookie)
        refused = await client.get("/api/auth/me")
        assert refused.status_code == 401
        page = await client.get("/")
        assert page.status_code == 401
        still_liam = await client.get("/api/auth/me", headers={"Remote-User": "liam"})
        assert (await still_liam.get_json())["user"]["username"] == "liam"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_no_local_login_in_external_modes(tmp_path: Path, provider: str) -> None:
    async with running_app(tmp_path, env(provider)) as app:
        await set_password(app, "admin", "a correct horse battery")
        client = app.quart.test_client()
        form = await client.post("/login", form={"username": "admin",
                                                 "password": "a correct horse battery"},
                                 headers=SAME_ORIGIN)
        assert form.status_code in (401, 403, 405)
        api = await client.post("/api/auth/login", json={
            "username": "admin", "password": "a correct horse battery"}, headers=SAME_ORIGIN)
        assert api.status_code in (401, 403, 405)
        for reply in (form, api):
            assert SESSION_COOKIE not in reply.headers.get("set-cookie", "")
        assert (await client.get("/api/auth/me")).status_code == 401


# ------------------------------------------------------------ /login explains the provider


@pytest.mark.parametrize(("provider", "name"), [("tinyauth", "Tinyauth"),
                                                ("proxy", "your reverse proxy")])
async def test_login_page_says_which_header_was_expected_and_from_where(
        tmp_path: Path, provider: str, name: str) -> None:
    async with running_app(tmp_path, env(provider)) as app:
        client = app.quart.test_client()
        missing = await client.get("/login")
        assert missing.status_code == 401
        text = await missing.get_data(as_text=True)
        assert f"Sign-in is handled by {name}" in text
        assert "No <code>Remote-User</code> header reached pyTorrent" in text
        assert "came\n    from 127.0.0.1" in text or "from 127.0.0.1" in text
        assert "<form" not in text and 'type="password"' not in text

        untrusted = await client.get("/login", headers={"Remote-User": "x"}, peer=UNTRUSTED)
        assert untrusted.status_code == 401
        text = await untrusted.get_data(as_text=True)
        assert UNTRUSTED in text and "PYTORRENT_AUTH_TRUSTED_PROXIES" in text

        invalid = await client.get("/login", headers={"Remote-User": "a\x01b"})
        assert invalid.status_code == 401
        assert "did not hold a usable" in await invalid.get_data(as_text=True)

        present = await client.get("/login?next=/settings", headers={"Remote-User": "mia"})
        assert present.status_code == 200
        assert 'href="/settings"' in await present.get_data(as_text=True)


async def test_login_page_escapes_what_it_echoes(tmp_path: Path) -> None:
    async with running_app(tmp_path, env("proxy")) as app:
        reply = await app.quart.test_client().get("/login?next=/<script>")
        text = await reply.get_data(as_text=True)
        assert "<script>" not in text


# ------------------------------------------------------------ External provider logout


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_no_active_logout_action_is_rendered(tmp_path: Path, provider: str) -> None:
    async with running_app(tmp_path, env(provider)) as app:
        page = await app.quart.test_client().get("/", headers={"Remote-User": "nina"})
        assert page.status_code == 200
        text = await page.get_data(as_text=True)
        assert 'action="/logout"' not in text
        assert 'id="logout"' not in text
        assert "Log out" not in text


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_logout_is_a_safe_no_op_redirect(tmp_path: Path, provider: str) -> None:
    async with running_app(tmp_path, env(provider)) as app:
        client = app.quart.test_client()
        headers = {"Remote-User": "oscar", **SAME_ORIGIN}
        for method in (client.get, client.post):
            for sent in (headers, {}):
                reply = await method("/logout", headers=sent)
                assert reply.status_code == 302
                assert reply.headers["Location"] == "/"
        api = await client.post("/api/auth/logout", headers=headers)
        assert api.status_code == 200
        body = await api.get_json()
        assert body["provider_managed"] is True
        assert body["ok"] is False
        assert "managed by" in body["message"]
        # Nothing was ended: the provider still vouches for oscar.
        status, _ = await me(app, {"Remote-User": "oscar"})
        assert status == 200


async def test_tinyauth_logout_goes_to_the_configured_logout_url(tmp_path: Path) -> None:
    url = "https://auth.example.com/logout"
    async with running_app(tmp_path, env("tinyauth", tinyauth_logout_url=url)) as app:
        client = app.quart.test_client()
        reply = await client.get("/logout", headers={"Remote-User": "pat"})
        assert reply.status_code == 302
        assert reply.headers["Location"] == url
        api = await client.post("/api/auth/logout",
                                headers={"Remote-User": "pat", **SAME_ORIGIN})
        body = await api.get_json()
        assert body["provider_managed"] is True and body["redirect"] == url
        login = await client.get("/login")
        assert f'href="{url}"' in await login.get_data(as_text=True)


# ------------------------------------------------------------ no pyTorrent passwords


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_passwords_cannot_be_set_for_users_in_external_modes(tmp_path: Path,
                                                                   provider: str) -> None:
    async with running_app(tmp_path, env(provider)) as app:
        client = app.quart.test_client()
        status, body = await me(app, {"Remote-User": "quinn"})
        assert status == 200
        as_admin = {"Remote-User": "admin", **SAME_ORIGIN}
        change = await client.put(f"/api/auth/users/{body['user']['id']}",
                                  json={"password": "a long new password"}, headers=as_admin)
        assert change.status_code == 400
        assert (await change.get_json())["field"] == "password"
        create = await client.post("/api/auth/users", json={
            "username": "rita", "password": "a long new password"}, headers=as_admin)
        assert create.status_code == 400
        assert (await create.get_json())["field"] == "password"
        quinn = await app.services.store.get_user_by_name("quinn")
        assert quinn is not None and not quinn.has_password
        assert await app.services.store.get_user_by_name("rita") is None
