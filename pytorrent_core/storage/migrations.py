"""Versioned schema migrations, applied in order at start-up.

Each migration runs once, inside a transaction, and records its number in the
``meta`` table. Migrations only add: a later schema change is a new function
appended to :data:`MIGRATIONS`, never an edit of an applied one.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, inspect, select

from . import schema

Migration = Callable[[Connection], None]

_V1_TABLES = (
    "meta",
    "users",
    "profiles",
    "profile_permissions",
    "preferences",
    "api_tokens",
    "audit_events",
)


def _v1_initial(conn: Connection) -> None:
    existing = set(inspect(conn).get_table_names())
    for name in _V1_TABLES:
        if name not in existing:
            schema.metadata.tables[name].create(conn)
    conn.execute(schema.meta.insert().values(key="auth_generation", value="1"))


def _v2_profile_labels(conn: Connection) -> None:
    if "profile_labels" not in set(inspect(conn).get_table_names()):
        schema.profile_labels.create(conn)


def _v3_ended_sessions(conn: Connection) -> None:
    if "ended_sessions" not in set(inspect(conn).get_table_names()):
        schema.ended_sessions.create(conn)


MIGRATIONS: tuple[tuple[int, str, Migration], ...] = (
    (1, "initial schema", _v1_initial),
    (2, "profile labels", _v2_profile_labels),
    (3, "ended sessions", _v3_ended_sessions),
)

LATEST = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    if "meta" not in inspect(conn).get_table_names():
        return 0
    row = conn.execute(
        select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
    ).first()
    return int(row[0]) if row else 0


def apply_migrations(conn: Connection) -> list[int]:
    """Bring the schema up to date; return the versions applied (empty if none)."""
    version = current_version(conn)
    if version > LATEST:
        raise RuntimeError(
            f"database schema version {version} is newer than this pyTorrent "
            f"(knows up to {LATEST}); upgrade pyTorrent"
        )
    applied = []
    for number, _title, migrate in MIGRATIONS:
        if number <= version:
            continue
        migrate(conn)
        if number == 1:
            conn.execute(schema.meta.insert().values(key="schema_version", value="1"))
        else:
            conn.execute(
                schema.meta.update()
                .where(schema.meta.c.key == "schema_version")
                .values(value=str(number))
            )
        applied.append(number)
    return applied
