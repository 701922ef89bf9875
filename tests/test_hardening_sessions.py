"""A deleted user's session can never become someone else's (hardening, finding 1)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from pytorrent_core.storage import Store, schema
from pytorrent_core.testing import PeerClient, set_password
from pytorrent_core.web.app import PyTorrentApp

ORIGIN = {"Origin": "http://localhost"}
ADMIN_PASSWORD = "admin-Pass-1"


async def _login(client: PeerClient, username: str, password: str) -> None:
    reply = await client.post("/api/auth/login", json={"username": username,
                                                       "password": password})
    assert reply.status_code == 200, await reply.get_data(as_text=True)


async def test_deleted_users_cookie_does_not_sign_in_the_next_user(app: PyTorrentApp) -> None:
    await set_password(app, "admin", ADMIN_PASSWORD)
    admin = app.quart.test_client()
    await _login(admin, "admin", ADMIN_PASSWORD)
    made = await admin.post("/api/auth/users", json={"username": "mallory",
                                                     "password": "mallory-Pass-1"},
                            headers=ORIGIN)
    assert made.status_code == 201
    mallory_id = (await made.get_json())["user"]["id"]
    mallory = app.quart.test_client()
    await _login(mallory, "mallory", "mallory-Pass-1")
    assert (await mallory.get("/api/auth/me")).status_code == 200

    assert (await admin.delete(f"/api/auth/users/{mallory_id}",
                               headers=ORIGIN)).status_code == 200
    boss = await admin.post("/api/auth/users", json={"username": "boss", "role": "admin",
                                                     "password": "boss-Pass-1"},
                            headers=ORIGIN)
    assert boss.status_code == 201
    assert (await boss.get_json())["user"]["id"] != mallory_id

    reply = await mallory.get("/api/auth/me")
    assert reply.status_code == 401
    assert (await mallory.post("/api/auth/users", json={"username": "eve", "role": "admin"},
                               headers=ORIGIN)).status_code == 401


async def test_user_ids_are_never_reused_even_for_the_newest_user(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'ids.db'}")
    try:
        await store.migrate()
        first = await store.create_user("first")
        newest = await store.create_user("newest")
        await store.delete_user(newest.id)
        again = await store.create_user("again")
        assert again.id > newest.id > first.id
        assert again.session_key and again.session_key != newest.session_key
    finally:
        await store.close()


async def test_a_cookie_names_the_user_row_it_was_issued_for(app: PyTorrentApp) -> None:
    """Even if a database handed out an old id again, the old cookie would not match."""
    await set_password(app, "admin", ADMIN_PASSWORD)
    store = app.services.store
    user = await store.create_user("kate")
    await set_password(app, "kate", "kate-Pass-1")
    client = app.quart.test_client()
    await _login(client, "kate", "kate-Pass-1")
    assert (await client.get("/api/auth/me")).status_code == 200
    async with store.engine.begin() as conn:  # what a reused id would look like
        await conn.execute(schema.users.update().where(schema.users.c.id == user.id)
                           .values(session_key="another-row", username="kate2",
                                   username_key="kate2"))
    app.services.cache.clear()
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_migration_gives_existing_users_keys_and_a_high_water_mark(
        tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await store.migrate()
        users = [await store.create_user(name) for name in ("ann", "bob", "cid")]
        async with store.engine.begin() as conn:  # the state a version-3 database is in
            await conn.execute(schema.users.update().values(session_key=None))
            await conn.execute(schema.meta.delete().where(
                schema.meta.c.key == "user_id_high_water"))
            await conn.execute(schema.meta.update().where(
                schema.meta.c.key == "schema_version").values(value="3"))
            await conn.exec_driver_sql("DROP TABLE alembic_version")  # before Alembic
        await store.migrate()
        async with store.engine.connect() as conn:
            keys = (await conn.execute(select(schema.users.c.session_key))).scalars().all()
        assert len(set(keys)) == 3 and all(keys)
        await store.delete_user(users[-1].id)
        assert (await store.create_user("dan")).id == users[-1].id + 1
    finally:
        await store.close()


async def test_logout_with_a_deleted_users_cookie_is_not_an_error(app: PyTorrentApp) -> None:
    await set_password(app, "admin", ADMIN_PASSWORD)
    user = await app.services.store.create_user("gone")
    await set_password(app, "gone", "gone-Pass-1")
    client = app.quart.test_client()
    await _login(client, "gone", "gone-Pass-1")
    await app.services.store.delete_user(user.id)
    reply = await client.post("/api/auth/logout", headers=ORIGIN)
    assert reply.status_code == 200


async def _signed_in(app: PyTorrentApp) -> PeerClient:
    await set_password(app, "admin", ADMIN_PASSWORD)
    client = app.quart.test_client()
    await _login(client, "admin", ADMIN_PASSWORD)
    return client


async def test_cross_site_logout_requests_do_not_end_the_session(app: PyTorrentApp) -> None:
    """Hardening, finding 9: logout CSRF."""
    client = await _signed_in(app)
    foreign = {"Origin": "https://evil.example"}
    assert (await client.post("/logout", headers=foreign)).status_code == 403
    assert (await client.post("/api/auth/logout", headers=foreign)).status_code == 403
    assert (await client.post("/api/auth/logout")).status_code == 403  # no origin at all
    page = await client.get("/logout", headers={"Sec-Fetch-Site": "cross-site"})
    assert page.status_code == 200
    assert "Log out of pyTorrent?" in await page.get_data(as_text=True)
    assert (await client.get("/api/auth/me")).status_code == 200
    own = await client.get("/logout", headers={"Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 302
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_login_from_an_opaque_origin_is_refused(app: PyTorrentApp) -> None:
    await set_password(app, "admin", ADMIN_PASSWORD)
    client = app.quart.test_client()
    form = await client.post("/login", form={"username": "admin", "password": ADMIN_PASSWORD},
                             headers={"Origin": "null"})
    api = await client.post("/api/auth/login", json={"username": "admin",
                                                     "password": ADMIN_PASSWORD},
                            headers={"Origin": "null"})
    assert form.status_code == api.status_code == 403
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_a_new_data_dir_and_database_are_private(tmp_path: Path) -> None:
    """Hardening, finding 16: the database holds hashes and digests."""
    import stat

    from pytorrent_core.testing import running_app
    async with running_app(tmp_path):
        pass
    data = tmp_path / "data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "pytorrent.db").stat().st_mode) == 0o600
    for extra in data.glob("pytorrent.db-*"):
        assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0, extra


async def test_a_logout_keeps_every_other_cached_answer(app: PyTorrentApp) -> None:
    """Hardening, finding 12: a logout used to empty every cache on every server."""
    await set_password(app, "admin", ADMIN_PASSWORD)
    first, second = app.quart.test_client(), app.quart.test_client()
    await _login(first, "admin", ADMIN_PASSWORD)
    await _login(second, "admin", ADMIN_PASSWORD)
    assert (await second.get("/api/auth/me")).status_code == 200
    cache = app.services.cache
    loads = []
    original = app.services.store.ended_sessions

    async def counted(since=None):  # type: ignore[no-untyped-def]
        loads.append(since)
        return await original(since)

    app.services.store.ended_sessions = counted  # type: ignore[method-assign]
    users_before = dict(cache._users)
    assert users_before
    assert (await first.post("/api/auth/logout", headers=ORIGIN)).status_code == 200
    assert cache._users == users_before  # nothing was dropped
    assert (await first.get("/api/auth/me")).status_code == 401
    assert (await second.get("/api/auth/me")).status_code == 200
    assert loads == []  # the ended id was added in memory, no reload
