"""One rule for usernames, wherever they come from: a trusted proxy's header, the users
API, ``pytorrent users add``, and the store beneath them all.

Only ASCII spaces and tabs are trimmed; names with other spaces, invisible characters,
commas or mixed Latin/Greek/Cyrillic letters are refused; a name that reads the same
as an existing user's (case, letter width, compatibility forms) is refused naming that
user, and a header's name signs in only the user spelt exactly that way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text
from werkzeug.datastructures import Headers

from pytorrent_core.cli import main
from pytorrent_core.storage import Store, StoreError, migrations, schema
from pytorrent_core.testing import (
    issue_token,
    running_app,
    served_environment,
    settled_admin,
)
from pytorrent_core.usernames import header_username_problem, username_fold, username_from_headers
from pytorrent_core.web.app import PyTorrentApp

pytestmark = pytest.mark.usefixtures("on_every_engine")

ORIGIN = {"Origin": "http://localhost"}
PROVIDERS = ("proxy", "tinyauth")

KELVIN_KATE = "\u212aate"  # K here is U+212A KELVIN SIGN
FULLWIDTH_ADMIN = "\uff41\uff44\uff4d\uff49\uff4e"  # ａｄｍｉｎ
CYRILLIC_ADMIN = "\u0430dmin"  # the first letter is Cyrillic а

# name -> words the refusal must contain
REFUSED = {
    "admin\u00a0": "U+00A0 NO-BREAK SPACE",
    "admin\u3000": "U+3000 IDEOGRAPHIC SPACE",
    "admin\u2003": "U+2003 EM SPACE",
    "admin\u202f": "U+202F NARROW NO-BREAK SPACE",
    "ad\u00a0min": "U+00A0 NO-BREAK SPACE",
    "admin\u200b": "invisible characters (U+200B ZERO WIDTH SPACE)",
    "admin\u3164": "invisible characters (U+3164 HANGUL FILLER)",
    CYRILLIC_ADMIN: "must not mix letters of Latin and Cyrillic",
    "\u03bfscar": "must not mix letters of Latin and Greek",  # Greek omicron
    "alice,bob": "must not contain a comma",
    "alice, bob": "must not contain a comma",
    "first  last": "two spaces in a row",
}


def proxy_env(provider: str) -> dict[str, str]:
    return {"PYTORRENT_AUTH_PROVIDER": provider, "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true",
            "PYTORRENT_AUTH_PROXY_AUTO_CREATE_ROLE": "user",
            "PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION": "ro"}


async def usernames(app: PyTorrentApp) -> list[str]:
    return [user.username for user in await app.services.store.list_users()]


async def me(app: PyTorrentApp, name: str) -> tuple[int, dict]:
    """Who the app says a request from the proxy is: the test client sends the name as
    UTF-8 bytes, as a proxy does."""
    reply = await app.quart.test_client().get("/api/auth/me",
                                              headers={"Remote-User": name})
    return reply.status_code, await reply.get_json()


@pytest.fixture(params=PROVIDERS)
async def proxied(request: pytest.FixtureRequest, tmp_path: Path
                  ) -> AsyncIterator[PyTorrentApp]:
    async with running_app(tmp_path, proxy_env(request.param)) as app:
        yield app


# ------------------------------------------------------------ the rule itself


def test_names_that_read_the_same_share_one_fold() -> None:
    assert username_fold("Kate") == username_fold("KATE") == username_fold("\uff2b\uff41te")
    assert username_fold(FULLWIDTH_ADMIN) == username_fold("Admin") == "admin"
    assert username_fold("stra\u00dfe") == username_fold("STRASSE")
    assert username_fold(CYRILLIC_ADMIN) != username_fold("admin")  # hence the script rule


# ------------------------------------------------------------ proxy headers


async def test_header_names_with_refused_characters_sign_in_nobody(
        proxied: PyTorrentApp) -> None:
    for name, words in REFUSED.items():
        status, body = await me(proxied, name)
        assert status == 401, name
        assert words in body["error"] and "Remote-User" in body["error"], name
    assert await usernames(proxied) == ["admin"]


def test_no_break_space_as_a_raw_latin1_byte_is_refused_too() -> None:
    # The test client sends UTF-8; a proxy may send the single byte 0xA0, which the web
    # layer reads as latin-1 U+00A0.
    headers = Headers([("Remote-User", "admin\xa0")])
    assert username_from_headers(headers, "Remote-User") is None
    assert header_username_problem(headers, "Remote-User") == (
        "must not contain U+00A0 NO-BREAK SPACE: only the plain space (U+0020) may "
        "separate words")


async def test_fullwidth_admin_is_neither_admin_nor_a_new_user(proxied: PyTorrentApp) -> None:
    status, body = await me(proxied, FULLWIDTH_ADMIN)
    assert status == 401
    assert "existing user 'admin'" in body["error"]
    assert await usernames(proxied) == ["admin"]


async def test_kelvin_sign_does_not_become_kate(proxied: PyTorrentApp) -> None:
    kate = await proxied.services.store.create_user("kate")
    for name in (KELVIN_KATE, "Kate", "KATE", "\uff4b\uff41\uff54\uff45"):
        status, body = await me(proxied, name)
        assert status == 401, name
        assert "existing user 'kate'" in body["error"]
    status, body = await me(proxied, "kate")
    assert status == 200 and body["user"]["id"] == kate.id
    assert await usernames(proxied) == ["admin", "kate"]


async def test_kelvin_sign_alone_is_plain_kate_and_then_holds_the_name(
        proxied: PyTorrentApp) -> None:
    status, body = await me(proxied, KELVIN_KATE)
    assert status == 200 and body["user"]["username"] == "Kate"  # NFC: U+212A is K
    status, body = await me(proxied, "kate")
    assert status == 401 and "existing user 'Kate'" in body["error"]
    assert await usernames(proxied) == ["admin", "Kate"]


async def test_spaces_and_tabs_around_a_header_name_are_trimmed(proxied: PyTorrentApp) -> None:
    status, first = await me(proxied, " \talice \t")
    assert status == 200 and first["user"]["username"] == "alice"
    status, again = await me(proxied, "alice")
    assert status == 200 and again["user"]["id"] == first["user"]["id"]
    status, spaced = await me(proxied, "alice smith")
    assert status == 200 and spaced["user"]["username"] == "alice smith"


async def test_names_wholly_in_another_alphabet_are_welcome(proxied: PyTorrentApp) -> None:
    for name in ("\u0418\u0432\u0430\u043d", "\u0395\u03bb\u03ad\u03bd\u03b7", "jos\u00e9",
                 "\u5c71\u7530\u592a\u90ce"):
        status, body = await me(proxied, name)
        assert status == 200, name
        assert body["user"]["username"] == name


async def test_the_page_explains_a_refused_name(proxied: PyTorrentApp) -> None:
    await proxied.services.store.create_user("kate")
    page = await proxied.quart.test_client().get(
        "/", headers={"Remote-User": "KATE"})
    assert page.status_code == 401
    html = await page.get_data(as_text=True)
    assert "reads the same as the existing user" in html and "rename one of the users" in html
    bad = await proxied.quart.test_client().get(
        "/", headers={"Remote-User": "alice,bob"})
    assert bad.status_code == 401
    assert "must not contain a comma" in await bad.get_data(as_text=True)
    login = await proxied.quart.test_client().get("/login", headers={"Remote-User": "admin\u3000"})
    assert login.status_code == 401
    assert "U+3000 IDEOGRAPHIC SPACE" in await login.get_data(as_text=True)


async def test_similar_name_refusals_are_logged_once_a_minute(
        proxied: PyTorrentApp, caplog: pytest.LogCaptureFixture) -> None:
    await proxied.services.store.create_user("kate")
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert (await me(proxied, "KATE"))[0] == 401
    warnings = [r.getMessage() for r in caplog.records if "reads the same" in r.getMessage()]
    assert len(warnings) == 1
    assert "'KATE'" in warnings[0] and "'kate'" in warnings[0]


async def test_concurrent_lookalikes_create_one_user(proxied: PyTorrentApp) -> None:
    spellings = ["Kim", "kim", "KIM", "\uff2b\uff49\uff4d"]
    client = proxied.quart.test_client()
    replies = await asyncio.gather(*(
        client.get("/api/auth/me", headers={"Remote-User": spellings[n % 4]})
        for n in range(40)))
    names = await usernames(proxied)
    assert len(names) == 2 and names[0] == "admin"
    winner = names[1]
    for n, reply in enumerate(replies):
        if spellings[n % 4] == winner:
            assert reply.status_code == 200
            assert (await reply.get_json())["user"]["username"] == winner
        else:
            assert reply.status_code == 401


# ------------------------------------------------------------ users API


class AdminClient:
    """The users API as the built-in admin, with an API token (no password hashing)."""

    def __init__(self, app: PyTorrentApp, token: str) -> None:
        self.client = app.quart.test_client()
        self.headers = {"Authorization": f"Bearer {token}", **ORIGIN}

    async def post(self, url: str, json: object) -> Any:
        return await self.client.post(url, json=json, headers=self.headers)

    async def put(self, url: str, json: object) -> Any:
        return await self.client.put(url, json=json, headers=self.headers)


@pytest.fixture
async def api(app: PyTorrentApp) -> AdminClient:
    admin = await settled_admin(app.services.store)
    return AdminClient(app, await issue_token(app.services.store, admin.id))


async def post_user(api: AdminClient, name: str) -> tuple[int, dict]:
    reply = await api.post("/api/auth/users", json={"username": name})
    return reply.status_code, await reply.get_json()


async def test_api_refuses_refused_characters(app: PyTorrentApp, api: AdminClient) -> None:
    for name, words in REFUSED.items():
        status, body = await post_user(api, name)
        assert status == 400, name
        assert body["field"] == "username", name
        assert words in body["error"], name
    assert await usernames(app) == ["admin"]


@pytest.mark.parametrize(("name", "existing"), [
    (FULLWIDTH_ADMIN, "admin"), ("ADMIN", "admin"), (KELVIN_KATE, "kate"), ("KATE", "kate"),
])
async def test_api_refuses_names_that_read_like_an_existing_user(
        app: PyTorrentApp, api: AdminClient, name: str, existing: str) -> None:
    await app.services.store.create_user("kate")
    status, body = await post_user(api, name)
    assert status == 409
    assert body["field"] == "username"
    assert f"already exists: '{existing}'" in body["error"]
    assert await usernames(app) == ["admin", "kate"]


async def test_api_trims_spaces_and_tabs_only(app: PyTorrentApp, api: AdminClient) -> None:
    status, body = await post_user(api, " \tbob smith\t ")
    assert status == 201 and body["user"]["username"] == "bob smith"


async def test_api_renames_follow_the_same_rule(app: PyTorrentApp, api: AdminClient) -> None:
    await app.services.store.create_user("kate")
    _, created = await post_user(api, "bob")
    url = f"/api/auth/users/{created['user']['id']}"
    taken = await api.put(url, json={"username": "\uff2b\uff41\uff54\uff45"})
    assert taken.status_code == 409
    assert "'kate'" in (await taken.get_json())["error"]
    bad = await api.put(url, json={"username": "bob\u00a0"})
    assert bad.status_code == 400 and (await bad.get_json())["field"] == "username"
    recased = await api.put(url, json={"username": "Bob"})  # itself
    assert recased.status_code == 200
    assert (await recased.get_json())["user"]["username"] == "Bob"


# ------------------------------------------------------------ CLI


def cli(env: Mapping[str, str], *args: str):
    return CliRunner().invoke(main, list(args), env=dict(env), catch_exceptions=False)


@pytest.mark.parametrize("name", list(REFUSED))
def test_cli_refuses_refused_characters(tmp_path: Path, name: str) -> None:
    env = served_environment(tmp_path)
    result = cli(env, "users", "add", name, "--no-password")
    assert result.exit_code != 0
    assert REFUSED[name] in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("name", "existing"), [
    (FULLWIDTH_ADMIN, "admin"), (KELVIN_KATE, "kate"), ("\uff2b\uff41\uff54\uff45", "kate"),
])
def test_cli_refuses_names_that_read_like_an_existing_user(tmp_path: Path, name: str,
                                                           existing: str) -> None:
    env = served_environment(tmp_path)
    assert cli(env, "users", "add", "kate", "--no-password").exit_code == 0
    result = cli(env, "users", "add", name, "--no-password")
    assert result.exit_code != 0
    assert f"already exists: '{existing}'" in result.output
    listed = cli(env, "users", "list")
    assert "kate" in listed.output and name not in listed.output


def test_cli_trims_spaces_and_tabs(tmp_path: Path) -> None:
    env = served_environment(tmp_path)
    result = cli(env, "users", "add", " \tnina\t ", "--no-password")
    assert result.exit_code == 0, result.output
    assert "'nina'" in result.output


# ------------------------------------------------------------ store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'db' / 'pytorrent.db'}")
    yield opened
    await opened.close()


async def test_store_refuses_untrimmed_or_refused_names(store: Store) -> None:
    await store.migrate()
    for name in (" alice", "alice\t", "admin\u00a0", "e\u0301"):  # the last is not NFC
        with pytest.raises(StoreError) as caught:
            await store.create_user(name)
        assert (caught.value.field, caught.value.status) == ("username", 400)


async def test_unique_fold_stops_a_racing_lookalike(store: Store,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Even if two writers both found no similar user, the index lets one of them in."""
    await store.migrate()
    await store.create_user("kate")

    check = Store._user_by_fold
    missed: list[str] = []

    async def missed_once(conn: Any, fold: str) -> Any:
        """The check inside the write finds nobody, as if the other writer were not done."""
        if not missed:
            missed.append(fold)
            return None
        return await check(conn, fold)

    monkeypatch.setattr(Store, "_user_by_fold", staticmethod(missed_once))
    with pytest.raises(StoreError) as caught:
        await store.create_user("\uff4b\uff41\uff54\uff45")
    assert (caught.value.field, caught.value.status) == ("username", 409)
    assert missed == ["kate"]
    assert "already exists: 'kate'" in str(caught.value)
    assert [user.username for user in await store.list_users()] == ["kate"]


async def _v6_database(store: Store) -> None:
    """A database as pyTorrent left it before usernames had a fold key."""
    with pytest.MonkeyPatch.context() as old_release:
        old_release.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:6])
        old_release.setattr(migrations, "LATEST", 6)
        async with store.engine.begin() as conn:
            assert await conn.run_sync(migrations.apply_migrations) == [1, 2, 3, 4, 5, 6]
    async with store.engine.begin() as conn:
        # Migration 1 builds today's tables: take away what migration 7 adds.
        await conn.exec_driver_sql("DROP INDEX uq_users_username_fold")
        await conn.exec_driver_sql("ALTER TABLE users DROP COLUMN username_fold")
        for user_id, name in ((1, "kate"), (2, "\uff4b\uff41\uff54\uff45"), (3, "alice,bob"),
                              (4, "Bob")):
            await conn.execute(text(
                "INSERT INTO users (id, username, username_key, role, active, builtin, "
                "session_epoch, session_key, must_change_password, created_at, updated_at) "
                "VALUES (:id, :name, :key, 'user', 1, 0, 1, :sk, 0, :at, :at)"),
                {"id": user_id, "name": name, "key": name.lower(), "sk": f"k{user_id}",
                 "at": "2024-01-01 00:00:00"})


async def test_an_older_database_upgrades_even_with_colliding_users(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    await _v6_database(store)
    with caplog.at_level(logging.WARNING):
        await store.migrate()
    async with store.engine.connect() as conn:
        assert await conn.run_sync(migrations.current_version) == migrations.FINAL
    async with store.engine.connect() as conn:
        folds = dict((await conn.execute(
            select(schema.users.c.username, schema.users.c.username_fold))).all())
        assert int(await conn.scalar(select(func.count()).select_from(schema.users)) or 0) == 4
    assert folds == {"kate": "kate", "\uff4b\uff41\uff54\uff45": None,
                     "alice,bob": "alice,bob", "Bob": "bob"}
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "reads the same as the older user 'kate'" in logged
    assert "'alice,bob' (id 3): username must not contain a comma" in logged

    # Both old users are still there by their exact names; new lookalikes are refused.
    assert (await store.get_user_by_name("\uff4b\uff41\uff54\uff45")) is not None
    with pytest.raises(StoreError, match="already exists: 'kate'"):
        await store.create_user("KATE")
    with pytest.raises(StoreError, match="already exists: 'Bob'"):
        await store.create_user("\uff42\uff4f\uff42")

    # When the older one goes, the other takes up the key and keeps it enforced.
    kate = await store.get_user_by_name("kate")
    assert kate is not None
    await store.delete_user(kate.id)
    with pytest.raises(StoreError, match="already exists: '\uff4b\uff41\uff54\uff45'"):
        await store.create_user("Kate")
    assert await store.migrate() == []
