"""Schema changes: Alembic revisions, shipped in ``revisions/``, run on the store's engine.

Start-up and ``pytorrent db upgrade`` call :func:`upgrade` through ``run_sync`` on a
connection of the async engine, inside one transaction, so a failed revision
leaves the database as it was. Three kinds of database arrive here:

- a new, empty one: every revision runs, the first builds the tables;
- one made by a release before Alembic (``meta.schema_version``, no Alembic
  table): below version 9 it is first brought to 9 by those releases' own,
  frozen migrations (:mod:`.migrations`); at 9 it is stamped at the first
  revision, which describes the same tables, and the later revisions run;
- one Alembic already manages: the revisions it lacks run. One stamped with a
  revision this pyTorrent does not ship (a newer release's) is refused.

On PostgreSQL a transaction-scoped advisory lock makes servers that start
together take turns: the second finds the work done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection

from . import migrations

log = logging.getLogger(__name__)

SCRIPTS = Path(__file__).parent / "revisions"
FIRST = "0001"  # the schema of hand-written version 9
_LOCK = 0x7079_746F_7272  # advisory lock key: "pytorr" in ASCII


class SchemaError(Exception):
    """The database's schema cannot be brought up to date by this pyTorrent."""


@dataclass(frozen=True)
class Revision:
    id: str
    title: str
    applied: bool


def config(connection: Connection | None = None) -> Config:
    settings = Config()
    settings.set_main_option("script_location", str(SCRIPTS))
    settings.attributes["connection"] = connection
    return settings


def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def head() -> str:
    revision = scripts().get_current_head()
    assert revision is not None
    return revision


def current(conn: Connection) -> str | None:
    """The database's Alembic revision; None when Alembic has not stamped it yet."""
    return MigrationContext.configure(conn).get_current_revision()


def history(conn: Connection | None = None) -> list[Revision]:
    """Every revision shipped, oldest first; ``applied`` is known only with ``conn``."""
    directory = scripts()
    at = current(conn) if conn is not None else None
    done = {rev.revision for rev in directory.iterate_revisions(at, "base")} if at else set()
    return [Revision(rev.revision, (rev.doc or "").strip().splitlines()[0], rev.revision in done)
            for rev in reversed(list(directory.walk_revisions()))]


def pending(conn: Connection) -> list[str]:
    """The revisions :func:`upgrade` would run, oldest first."""
    at = current(conn)
    directory = scripts()
    if at is not None:
        _known(directory, at)
    newer = directory.iterate_revisions("heads", at or "base")
    return [rev.revision for rev in reversed(list(newer)) if rev.revision != at]


def upgrade(conn: Connection) -> list[str]:
    """Bring the schema to the newest revision; return the revisions run (oldest first).

    Runs inside the caller's transaction. Raises :class:`SchemaError` for a database
    this pyTorrent cannot upgrade (a newer release's).
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK})")
    settings = config(conn)
    if current(conn) is None:
        legacy = migrations.current_version(conn)
        if legacy > migrations.FINAL:
            raise SchemaError(
                f"database schema version {legacy} is newer than this pyTorrent knows "
                f"(up to {migrations.FINAL}); upgrade pyTorrent")
        if legacy:
            applied = migrations.apply_migrations(conn)
            if applied:
                log.info("database: hand-written migrations %s applied", applied)
            if migrations.current_version(conn) != migrations.FINAL:
                raise SchemaError(f"database schema version {legacy} could not be brought to "
                                  f"{migrations.FINAL}; restore a backup and report this")
            command.stamp(settings, FIRST)
            log.info("database: schema version %d stamped as revision %s", legacy, FIRST)
    todo = pending(conn)
    if todo:
        command.upgrade(settings, "heads")
        log.info("database: revisions %s applied", ", ".join(todo))
    return todo


def _known(directory: ScriptDirectory, revision: str) -> None:
    try:
        directory.get_revision(revision)
    except CommandError:
        raise SchemaError(
            f"database schema revision {revision!r} is newer than this pyTorrent knows "
            f"(up to {directory.get_current_head()}); upgrade pyTorrent") from None
