"""Storage: versioned migrations that keep data, WAL SQLite, the tables the app needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text

from pytorrent_core.storage import Store, StoreError, migrations, schema
from pytorrent_core.testing import database_url, running_app


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'db' / 'pytorrent.db'}")
    yield opened
    await opened.close()


async def schema_version(store: Store) -> int:
    async with store.engine.connect() as conn:
        return await conn.run_sync(migrations.current_version)


async def columns(store: Store) -> dict[str, dict[str, Any]]:
    def read(conn: Any) -> dict[str, dict[str, Any]]:
        found = inspect(conn)
        return {table: {c["name"]: c for c in found.get_columns(table)}
                for table in found.get_table_names()}

    async with store.engine.connect() as conn:
        return await conn.run_sync(read)


async def fill(store: Store) -> dict[str, int]:
    """One row in every table, through the Store."""
    user = await store.create_user("Alice", role="user", password_hash="x",
                                   display_name="Alice A.", email="a@example.com",
                                   provider="local", actor="test")
    profile = await store.create_profile("seedbox", "scgi://127.0.0.1:5000")
    await store.set_permissions(user.id, {profile.id: "ro", None: "full"})
    await store.set_active_profile(user.id, profile.id)
    await store.create_token(user.id, "ci", "pt_abcd", "d" * 64, None)
    return {"user": user.id, "profile": profile.id}


async def row_counts(store: Store) -> dict[str, int]:
    async with store.engine.connect() as conn:
        return {name: int(await conn.scalar(text(f"SELECT COUNT(*) FROM {name}")) or 0)
                for name in ("users", "profiles", "profile_permissions", "preferences",
                             "api_tokens", "audit_events")}


async def test_migrations_build_an_empty_database(store: Store) -> None:
    assert await schema_version(store) == 0
    applied = await store.migrate()
    assert applied == [number for number, _, _ in migrations.MIGRATIONS]
    assert await schema_version(store) == migrations.LATEST
    assert await store.generation() >= 1


async def test_rerunning_migrations_changes_nothing_and_keeps_rows(store: Store) -> None:
    await store.migrate()
    ids = await fill(store)
    before = await row_counts(store)
    assert all(count >= 1 for count in before.values()), before

    assert await store.migrate() == []
    reopened = Store(store.engine)
    assert await reopened.migrate() == []
    assert await row_counts(store) == before
    user = await store.get_user(ids["user"])
    assert user is not None and user.username == "Alice" and user.email == "a@example.com"
    assert await store.permissions(ids["user"]) == {ids["profile"]: "ro", None: "full"}
    assert await store.active_profile(ids["user"]) == ids["profile"]


async def test_upgrading_an_older_database_keeps_its_rows(store: Store,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    with monkeypatch.context() as old_release:
        old_release.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
        old_release.setattr(migrations, "LATEST", 1)
        assert await store.migrate() == [1]
    ids = await fill(store)
    before = await row_counts(store)

    applied = await store.migrate()
    assert applied == [number for number, _, _ in migrations.MIGRATIONS[1:]]
    assert await schema_version(store) == migrations.LATEST
    assert await row_counts(store) == before
    assert (await store.get_user(ids["user"])).username == "Alice"  # type: ignore[union-attr]


async def test_a_newer_database_is_refused(store: Store) -> None:
    await store.migrate()
    async with store.engine.begin() as conn:
        await conn.execute(schema.meta.update().where(schema.meta.c.key == "schema_version")
                           .values(value=str(migrations.LATEST + 1)))
    with pytest.raises(RuntimeError, match="newer than this pyTorrent"):
        await store.migrate()


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(store: Store, tmp_path: Path) -> None:
    await store.migrate()
    async with store.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    assert (tmp_path / "db" / "pytorrent.db-wal").exists()


REQUIRED_COLUMNS = {
    "users": {"username", "password_hash", "display_name", "email", "role", "active",
              "provider", "external_subject", "session_epoch", "created_at", "updated_at"},
    "profiles": {"name", "scgi_url"},
    "profile_permissions": {"user_id", "profile_id", "level"},
    "preferences": {"user_id", "active_profile_id"},
    "api_tokens": {"user_id", "name", "digest", "created_at", "expires_at", "last_used_at",
                   "revoked_at"},
    "audit_events": {"at", "actor", "action", "target", "detail"},
}


async def test_tables_and_columns(store: Store) -> None:
    await store.migrate()
    found = await columns(store)
    for table, required in REQUIRED_COLUMNS.items():
        assert required <= set(found[table]), (table, required - set(found[table]))
    assert found["users"]["password_hash"]["nullable"] is True
    assert found["users"]["email"]["nullable"] is True
    # NULL profile_id is the "all profiles" grant
    assert found["profile_permissions"]["profile_id"]["nullable"] is True


async def test_usernames_are_unique_ignoring_case(store: Store) -> None:
    await store.migrate()
    alice = await store.create_user("Alice")
    with pytest.raises(StoreError) as caught:
        await store.create_user("aLICE")
    assert (caught.value.field, caught.value.status) == ("username", 409)
    found = await store.get_user_by_name("ALICE")
    assert found is not None and found.id == alice.id and found.username == "Alice"
    bob = await store.create_user("bob")
    with pytest.raises(StoreError):
        await store.update_user(bob.id, username="alice")


async def test_one_all_profiles_grant_per_user(store: Store) -> None:
    await store.migrate()
    user = await store.create_user("carol")
    async with store.engine.begin() as conn:
        await conn.execute(schema.profile_permissions.insert().values(
            user_id=user.id, profile_id=None, level="ro"))
    with pytest.raises(Exception, match="UNIQUE"):
        async with store.engine.begin() as conn:
            await conn.execute(schema.profile_permissions.insert().values(
                user_id=user.id, profile_id=None, level="full"))


async def test_db_path_setting_is_honoured(tmp_path: Path) -> None:
    chosen = tmp_path / "elsewhere" / "my.db"
    async with running_app(tmp_path, {"PYTORRENT_DB_PATH": str(chosen)}) as app:
        assert app.services.settings.database_url == f"sqlite+aiosqlite:///{chosen}"
        admin = await app.services.store.get_user_by_name("admin")
        assert admin is not None
    assert chosen.is_file()
    assert not (tmp_path / "data" / "pytorrent.db").exists()
    check = Store.from_url(f"sqlite+aiosqlite:///{chosen}")
    try:
        async with check.engine.connect() as conn:
            names = await conn.scalar(select(schema.users.c.username))
        assert names == "admin"
    finally:
        await check.close()


async def test_default_database_lives_in_the_data_dir(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app:
        assert app.services.settings.database_url == (
            database_url(tmp_path))
    assert (tmp_path / "data" / "pytorrent.db").is_file()
