"""``pytorrent db ...``: the database schema's revision, its history, and upgrading it.

``pytorrent serve`` upgrades the schema at start-up; ``db upgrade`` does the same
without starting a server (before a rolling restart, or to see an upgrade's error
on its own). ``current`` and ``history`` only read.
"""

from __future__ import annotations

import click

from .cli_common import Context, changes_database, echo_table, pass_context, run_async, user_errors
from .database import SchemaState, schema_state, upgrade_schema
from .storage import upgrade


@click.group()
def db() -> None:
    """The database schema: upgrade it, show its revision and the revisions shipped."""


def _state(obj: Context) -> SchemaState:
    obj.require_database()
    return run_async(schema_state(obj.settings))


@db.command("upgrade")
@pass_context
@user_errors
@changes_database()
def db_upgrade(obj: Context) -> None:
    """Apply the revisions the database lacks (what `pytorrent serve` does at start-up)."""

    applied = run_async(upgrade_schema(obj.settings))
    if applied:
        click.echo(f"applied: {', '.join(applied)}")
    else:
        click.echo("the schema is up to date; nothing to apply")


@db.command("current")
@pass_context
@user_errors
def db_current(obj: Context) -> None:
    """The database's revision, and the revisions an upgrade would apply."""
    state = _state(obj)
    click.echo(f"database: {obj.database}")
    if state.revision is not None:
        click.echo(f"revision: {state.revision}" + ("" if state.pending else " (newest)"))
    elif state.legacy_version:
        click.echo(f"revision: none yet; schema version {state.legacy_version} of a release "
                   f"before Alembic (an upgrade brings it to revision {upgrade.FIRST})")
    else:
        click.echo("revision: none; the database is empty")
    if state.pending:
        click.echo(f"to apply: {', '.join(state.pending)} (pytorrent db upgrade, or start "
                   "the server)")


@db.command("history")
@pass_context
@user_errors
def db_history(obj: Context) -> None:
    """Every revision this pyTorrent ships, oldest first, and whether the database has it."""
    state = _state(obj)
    echo_table(("revision", "applied", "title"),
               [(step.id, "yes" if step.applied else "no", step.title)
                for step in state.history], right=())


def register(main: click.Group) -> None:
    main.add_command(db)
