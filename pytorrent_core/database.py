"""Open the configured database for the server and the CLI, or say in one line why not.

A database that cannot be used is a setting to fix, not a crash: the message names
the setting (database.url or database.path, and where its value came from), the
database with any password masked, what went wrong and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from .config import ConfigError, Settings
from .storage import Store, migrations, upgrade
from .storage.location import describe, sqlite_file
from .storage.upgrade import Revision, SchemaError

_EXTRAS = {"asyncpg": "pip install 'pytorrent-core[postgres]'",
           "aiosqlite": "pip install aiosqlite"}


def store_for(settings: Settings) -> Store:
    """A :class:`Store` for the configured database, not yet connected."""
    try:
        return Store.from_url(settings.database_url,
                              pool_size=int(settings.get("database.pool_size", 5)))
    except ModuleNotFoundError as error:
        name = error.name or "its driver"
        fix = _EXTRAS.get(name.split(".")[0], f"pip install {name}")
        raise ConfigError(f"{settings.where(settings.database_setting)}: the database "
                          f"driver {name} is not installed; install it ({fix})") from None
    except (OSError, SQLAlchemyError) as error:
        raise _unusable(settings, error) from None


async def open_store(settings: Settings) -> Store:
    """The configured database, its schema brought up to date (see storage.upgrade)."""
    return (await _migrated(settings))[0]


async def upgrade_schema(settings: Settings) -> list[str]:
    """Bring the configured database's schema up to date; the revisions applied."""
    store, applied = await _migrated(settings)
    await store.close()
    return applied


async def _migrated(settings: Settings) -> tuple[Store, list[str]]:
    store = store_for(settings)
    try:
        return store, await store.migrate()
    except SchemaError as error:
        await store.close()
        raise ConfigError(f"database {describe(settings.database_url)}: {error}") from None
    except (OSError, SQLAlchemyError) as error:
        await store.close()
        raise _unusable(settings, error) from None


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands, read without changing anything."""

    revision: str | None  # Alembic's; None before the first upgrade
    legacy_version: int  # meta.schema_version of the releases before Alembic; 0 if none
    pending: list[str]  # what `pytorrent db upgrade` would run
    history: list[Revision]


async def schema_state(settings: Settings) -> SchemaState:
    def read(conn: Connection) -> SchemaState:
        revision = upgrade.current(conn)
        legacy = migrations.current_version(conn)
        pending = upgrade.pending(conn)
        if revision is None and legacy:  # stamped at the first revision, not run
            pending = [step for step in pending if step != upgrade.FIRST]
        return SchemaState(revision, legacy, pending, upgrade.history(conn))

    store = store_for(settings)
    try:
        async with store.engine.connect() as conn:
            return await conn.run_sync(read)
    except SchemaError as error:
        raise ConfigError(f"database {describe(settings.database_url)}: {error}") from None
    except (OSError, SQLAlchemyError) as error:
        raise _unusable(settings, error) from None
    finally:
        await store.close()


def _unusable(settings: Settings, error: BaseException) -> ConfigError:
    where = settings.where(settings.database_setting)
    detail = error.orig if isinstance(error, DBAPIError) and error.orig else error
    text = " ".join(str(detail).split()).split(" (Background on this error")[0]
    text = text or type(detail).__name__
    if sqlite_file(settings.database_url) is not None:
        return ConfigError(f"{where}: cannot open the database: {text}; choose a writable "
                           "location")
    return ConfigError(
        f"{where}: cannot use the database {describe(settings.database_url)}: {text}; check "
        "that the server is running and reachable and that the URL's user, password and "
        "database are right")
