"""What the ``pytorrent`` subcommands share: the context object, one-line errors, tables."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .config import ConfigError, Settings
from .plugins import AuthPlugins

if TYPE_CHECKING:
    from .services import Services
    from .storage import Store

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def with_store(obj: Context, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` on the configured database; with Redis, running servers hear of
    what it changed at once (cluster.announce)."""
    obj.require_database()

    async def run() -> T:
        from .cluster.announce import announced
        from .database import open_store

        store = await open_store(obj.settings)
        try:
            async with announced(store, obj.settings):
                return await work(store)
        finally:
            await store.close()

    return run_async(run())


def with_services(obj: Context, work: Callable[[Services], Awaitable[T]]) -> T:
    """:func:`with_store` for work that needs the services (plugins, provisioning)."""
    settings, plugins = obj.load()
    obj.require_database()

    async def run() -> T:
        from .bootstrap import open_services
        from .cluster.announce import announced

        services = await open_services(settings, plugins)
        try:
            async with announced(services.store, settings):
                return await work(services)
        finally:
            await services.store.close()

    return run_async(run())


def user_errors(func: Callable[..., T]) -> Callable[..., T]:
    """Turn ConfigError (and other expected failures) into a one-line exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        from .storage import StoreError

        try:
            return func(*args, **kwargs)
        except (ConfigError, StoreError) as error:
            raise click.ClickException(str(error)) from None

    return wrapper


class Context:
    def __init__(self, config: str | None) -> None:
        self.config = config
        self._loaded: tuple[Settings, AuthPlugins] | None = None
        self.writing = False  # set by @changes_database
        self.may_create = False  # --create

    def load(self) -> tuple[Settings, AuthPlugins]:
        from .bootstrap import load

        if self._loaded is None:
            self._loaded = load(self.config)
        return self._loaded

    @property
    def settings(self) -> Settings:
        return self.load()[0]

    @property
    def database(self) -> str:
        """The database commands use: SQLite file path, or URL with the password masked."""
        from .storage.location import describe

        return describe(self.settings.database_url)

    def require_database(self) -> None:
        """Refuse to go on when the SQLite file is missing, unless --create asked for one.

        Opening a missing SQLite file creates it: a command run under another user,
        HOME or config would change a new, empty database instead of the server's.
        """
        from .storage.location import sqlite_file

        settings = self.settings
        path = sqlite_file(settings.database_url)
        if path is None or path.exists() or self.may_create:
            return
        if self.writing:
            raise click.ClickException(
                f"no database at {path} ({_chosen_by(settings)}); nothing was changed. "
                f"To change the database your server uses, {_SAME_SETTINGS}; "
                "to create a new database there, add --create")
        raise click.ClickException(
            f"no database at {path} ({_chosen_by(settings)}). To read the database your "
            f"server uses, {_SAME_SETTINGS}; `pytorrent serve` creates one on first start")


_SAME_SETTINGS = ("run this command with the server's settings (PYTORRENT_DATA_DIR, "
                  "PYTORRENT_DB_PATH or PYTORRENT_DATABASE_URL, or its --config file)")


def _chosen_by(settings: Settings) -> str:
    """Which settings chose the SQLite file, as the user wrote them."""
    if settings.database_url_is_set:
        return f"from {settings.where('database.url')}"
    if settings.get("database.path"):
        return f"from {settings.where('database.path')}"
    if settings.get("server.data_dir"):
        return f"pytorrent.db in {settings.where('server.data_dir')}"
    config = (f"config file {settings.config_path}" if settings.config_path
              else "no config file found")
    return ("pytorrent.db in the user data folder: PYTORRENT_DATA_DIR and PYTORRENT_DB_PATH "
            f"are unset; {config}")


def changes_database(*, report_to_stderr: bool = False) -> Callable[[Callable[..., T]],
                                                                     Callable[..., T]]:
    """Mark a command that writes to the database.

    It gains ``--create``; without it a missing SQLite database is refused before
    anything is asked or changed. After the command succeeds it prints the database
    it changed, on stderr when stdout is for scripts (a new token).
    """

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(func)
        def wrapper(*args: Any, create: bool, **kwargs: Any) -> T:
            obj = click.get_current_context().find_root().obj
            if not isinstance(obj, Context):
                raise RuntimeError("a database command must run under `pytorrent`")
            obj.writing, obj.may_create = True, create
            obj.require_database()
            result = func(*args, **kwargs)
            click.echo(f"database: {obj.database}", err=report_to_stderr)
            return result

        return click.option("--create", is_flag=True,
                            help="Create the database if it does not exist yet "
                                 "(without it, a missing database is an error).")(wrapper)

    return decorate


pass_context = click.make_pass_decorator(Context)


def echo_table(columns: Sequence[str], rows: Sequence[Sequence[object]], *,
               right: Collection[str] = ("id",)) -> None:
    """Print a header row and the rows, each column as wide as its widest cell."""
    cells = [list(columns), *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        click.echo("  ".join(cell.rjust(width) if name in right else cell.ljust(width)
                             for cell, width, name in zip(line, widths, columns, strict=True)
                             ).rstrip())
