"""Storage on SQLite and PostgreSQL: revisions that keep data, WAL SQLite, the tables."""

from __future__ import annotations

import ast
import pathlib
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from support.postgres import PostgresServer

from pytorrent_core import testing
from pytorrent_core.storage import Store, StoreError, migrations, schema, upgrade
from pytorrent_core.testing import running_app

REVISIONS = pathlib.Path(upgrade.__file__).parent / "revisions" / "versions"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = Store.from_url(database_url)
    yield opened
    await opened.close()


async def schema_version(store: Store) -> int:
    """The version the hand-written migrations of releases before Alembic read."""
    async with store.engine.connect() as conn:
        return await conn.run_sync(migrations.current_version)


async def revision(store: Store) -> str | None:
    async with store.engine.connect() as conn:
        return await conn.run_sync(upgrade.current)


async def legacy_migrate(store: Store) -> list[int]:
    """What a release before Alembic did at start-up."""
    async with store.engine.begin() as conn:
        return await conn.run_sync(migrations.apply_migrations)


async def columns(store: Store) -> dict[str, dict[str, Any]]:
    def read(conn: Any) -> dict[str, dict[str, Any]]:
        found = inspect(conn)
        return {table: {c["name"]: c for c in found.get_columns(table)}
                for table in found.get_table_names()}

    async with store.engine.connect() as conn:
        return await conn.run_sync(read)


async def described(store: Store) -> dict[str, Any]:
    """Every table's columns (type, nullability, default), keys and indexes."""
    def read(conn: Any) -> dict[str, Any]:
        found = inspect(conn)
        tables: dict[str, Any] = {}
        for table in sorted(set(found.get_table_names()) - {"alembic_version"}):
            primary = found.get_pk_constraint(table)["constrained_columns"]
            tables[table] = {
                # A primary key column is NOT NULL however the DDL spelt it.
                "columns": [(c["name"], str(c["type"]),
                             c["nullable"] and c["name"] not in primary,
                             c.get("default")) for c in found.get_columns(table)],
                "primary": primary,
                "foreign": foreign_keys(conn, found, table),
                "unique": sorted(tuple(u["column_names"])
                                 for u in found.get_unique_constraints(table)),
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                                  for i in found.get_indexes(table)),
            }
        return tables

    async with store.engine.connect() as conn:
        return await conn.run_sync(read)


def foreign_keys(conn: Any, found: Any, table: str) -> list[tuple[Any, ...]]:
    if conn.dialect.name == "sqlite":  # reflection misses ON DELETE of inline REFERENCES
        rows = conn.exec_driver_sql(f"PRAGMA foreign_key_list({table})").fetchall()
        return sorted(((row[3],), row[2], row[6]) for row in rows)
    return sorted((tuple(f["constrained_columns"]), f["referred_table"],
                   f.get("options", {}).get("ondelete", "NO ACTION"))
                  for f in found.get_foreign_keys(table))


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


async def test_revisions_build_an_empty_database(store: Store) -> None:
    assert await revision(store) is None
    applied = await store.migrate()
    assert applied == [step.id for step in upgrade.history()]
    assert applied[0] == upgrade.FIRST
    assert await revision(store) == upgrade.head()
    assert await store.generation() >= 1
    # The release before Alembic opens a database at the first revision as its own.
    assert await schema_version(store) == migrations.FINAL


async def test_the_newest_revision_is_the_schema_the_code_uses(store: Store) -> None:
    await store.migrate()

    def compare(conn: Any) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_server_default": True})
        return list(compare_metadata(context, schema.metadata))

    async with store.engine.connect() as conn:
        assert await conn.run_sync(compare) == []


async def test_the_first_revision_builds_what_the_last_hand_written_version_built(
        database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if database_url.startswith("postgresql"):
        server: PostgresServer = request.getfixturevalue("postgres_server")
        legacy_url = server.create_database()
    else:
        legacy_url = f"sqlite+aiosqlite:///{tmp_path / 'legacy' / 'pytorrent.db'}"
    new, legacy = Store.from_url(database_url), Store.from_url(legacy_url)
    try:
        await new.migrate()
        assert await legacy_migrate(legacy) == list(range(1, migrations.FINAL + 1))
        assert await described(new) == await described(legacy)
    finally:
        await new.close()
        await legacy.close()
        if database_url.startswith("postgresql"):
            server.drop_database(legacy_url)


def test_revisions_are_frozen_ddl() -> None:
    """A revision that built tables from today's definitions would change what it does
    whenever schema.py changes, and break the upgrade of every older database."""
    scripts = sorted(REVISIONS.glob("*.py"))
    assert scripts
    for script in scripts:
        tree = ast.parse(script.read_text(encoding="utf-8"))
        imported = {node.module or "" for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names}
        assert imported <= {"__future__", "alembic", "sqlalchemy"}, (script.name, imported)
        names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert not names & {"create_all", "metadata", "tables"}, script.name


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


async def test_a_database_of_the_release_before_alembic_is_stamped_and_keeps_its_rows(
        store: Store) -> None:
    assert await legacy_migrate(store) == list(range(1, migrations.FINAL + 1))
    ids = await fill(store)
    before = await row_counts(store)

    assert await store.migrate() == [step.id for step in upgrade.history()][1:]
    assert await revision(store) == upgrade.head()
    assert await row_counts(store) == before
    assert (await store.get_user(ids["user"])).username == "Alice"  # type: ignore[union-attr]


async def test_an_older_hand_written_version_goes_through_its_own_migrations_first(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as old_release:
        old_release.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
        old_release.setattr(migrations, "LATEST", 1)
        assert await legacy_migrate(store) == [1]
    ids = await fill(store)
    before = await row_counts(store)

    await store.migrate()
    assert await schema_version(store) == migrations.FINAL
    assert await revision(store) == upgrade.head()
    assert await row_counts(store) == before
    assert (await store.get_user(ids["user"])).username == "Alice"  # type: ignore[union-attr]


async def test_a_newer_database_is_refused(store: Store) -> None:
    await store.migrate()
    async with store.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    with pytest.raises(upgrade.SchemaError, match="'f00d' is newer than this pyTorrent"):
        await store.migrate()


async def test_a_newer_hand_written_version_is_refused(store: Store) -> None:
    await legacy_migrate(store)
    async with store.engine.begin() as conn:
        await conn.execute(schema.meta.update().where(schema.meta.c.key == "schema_version")
                           .values(value=str(migrations.FINAL + 1)))
    with pytest.raises(upgrade.SchemaError, match="newer than this pyTorrent"):
        await store.migrate()
    assert await revision(store) is None


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'db' / 'pytorrent.db'}")
    try:
        await store.migrate()
        async with store.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (tmp_path / "db" / "pytorrent.db-wal").exists()
        assert stat.S_IMODE((tmp_path / "db" / "pytorrent.db").stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "db").stat().st_mode) == 0o700
    finally:
        await store.close()


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
    with pytest.raises(IntegrityError):
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
            testing.database_url(tmp_path))
    assert (tmp_path / "data" / "pytorrent.db").is_file()


def test_the_revisions_ship_inside_the_package() -> None:
    """Not Python packages (no __init__.py): only package-data puts them in a wheel."""
    import fnmatch
    import tomllib

    root = pathlib.Path(__file__).parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["pytorrent_core"]
    package = root / "pytorrent_core"
    shipped = [path.relative_to(package).as_posix()
               for path in (package / "storage" / "revisions").rglob("*")
               if path.is_file() and "__pycache__" not in path.parts]
    assert "storage/revisions/versions/0001_release_schema.py" in shipped
    for name in shipped:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
