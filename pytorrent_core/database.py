"""Open the configured database for the server and the CLI, or say in one line why not.

A database that cannot be used is a setting to fix, not a crash: the message names
the setting (database.url or database.path, and where its value came from), the
database with any password masked, what went wrong and what to do.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from .config import ConfigError, Settings
from .storage import Store
from .storage.location import describe, sqlite_file
from .storage.upgrade import SchemaError

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
    except SQLAlchemyError as error:
        raise ConfigError(f"{settings.where(settings.database_setting)}: {error}") from None
    except OSError as error:
        raise _unusable(settings, error) from None


async def open_store(settings: Settings) -> Store:
    """The configured database, its schema brought up to date (see storage.upgrade)."""
    store = store_for(settings)
    try:
        await store.migrate()
    except SchemaError as error:
        await store.close()
        raise ConfigError(f"database {describe(settings.database_url)}: {error}") from None
    except (OSError, SQLAlchemyError) as error:
        await store.close()
        raise _unusable(settings, error) from None
    return store


def _unusable(settings: Settings, error: BaseException) -> ConfigError:
    where = settings.where(settings.database_setting)
    detail = error.orig if isinstance(error, DBAPIError) and error.orig else error
    text = " ".join(str(detail).split()) or type(detail).__name__
    if sqlite_file(settings.database_url) is not None:
        return ConfigError(f"{where}: cannot open the database: {text}; choose a writable "
                           "location")
    return ConfigError(
        f"{where}: cannot use the database {describe(settings.database_url)}: {text}; check "
        "that the server is running and reachable and that the URL's user, password and "
        "database are right")
