"""Versioned schema migrations, applied in order at start-up.

Each migration runs once, inside a transaction, and records its number in the
``meta`` table. Migrations only add: a later schema change is a new function
appended to :data:`MIGRATIONS`, never an edit of an applied one.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from sqlalchemy import Connection, inspect, select

from ..usernames import username_fold, username_problem
from . import schema

log = logging.getLogger(__name__)

USER_ID_HIGH_WATER = "user_id_high_water"

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


def _v4_user_identity(conn: Connection) -> None:
    """Users get a never-reissued session key; user ids are never handed out twice.

    SQLite gives a new row the highest id + 1, so deleting the newest user used to
    make the next one inherit her id (and, with it, her old session cookies). Ids
    now come from a high-water mark in ``meta`` (see ``Store.create_user``).
    """
    columns = {column["name"] for column in inspect(conn).get_columns("users")}
    if "session_key" not in columns:
        conn.exec_driver_sql("ALTER TABLE users ADD COLUMN session_key VARCHAR(64)")
    for (user_id,) in conn.exec_driver_sql(
            "SELECT id FROM users WHERE session_key IS NULL").fetchall():
        conn.execute(schema.users.update().where(schema.users.c.id == user_id)
                     .values(session_key=secrets.token_hex(16)))
    highest = conn.exec_driver_sql("SELECT MAX(id) FROM users").scalar() or 0
    conn.execute(schema.meta.insert().values(key=USER_ID_HIGH_WATER, value=str(highest)))


def _v5_profile_data_root(conn: Connection) -> None:
    columns = {column["name"] for column in inspect(conn).get_columns("profiles")}
    if "data_root" not in columns:
        conn.exec_driver_sql("ALTER TABLE profiles ADD COLUMN data_root VARCHAR(1024)")


def _v6_must_change_password(conn: Connection) -> None:
    columns = {column["name"] for column in inspect(conn).get_columns("users")}
    if "must_change_password" not in columns:
        default = "false" if conn.dialect.name == "postgresql" else "0"
        conn.exec_driver_sql("ALTER TABLE users ADD COLUMN must_change_password BOOLEAN "
                             f"NOT NULL DEFAULT {default}")


def _v7_username_fold(conn: Connection) -> None:
    """Each user gets the key on which names that read the same collide, kept unique.

    Rows are keyed oldest first. A row whose key an older row already holds keeps a
    NULL key (the upgrade must not fail) and is logged: an admin should rename or
    delete one of the two. The store hands the key to it if the older row goes.
    """
    columns = {column["name"] for column in inspect(conn).get_columns("users")}
    if "username_fold" not in columns:
        conn.exec_driver_sql("ALTER TABLE users ADD COLUMN username_fold TEXT")
    rows = conn.exec_driver_sql(
        "SELECT id, username, username_fold FROM users ORDER BY id").fetchall()
    holders = {fold: username for _, username, fold in rows if fold is not None}
    for user_id, username, fold in rows:
        problem = username_problem(username)
        if problem:
            log.warning("user %r (id %d): username %s, so a proxy's header no longer "
                        "signs this user in; rename the user if it signs in that way",
                        username, user_id, problem)
        if fold is not None:
            continue
        fold = username_fold(username)
        if fold in holders:
            log.warning("user %r (id %d) reads the same as the older user %r; rename or "
                        "delete one of them (admin page or /api/auth/users)",
                        username, user_id, holders[fold])
            continue
        holders[fold] = username
        conn.execute(schema.users.update().where(schema.users.c.id == user_id)
                     .values(username_fold=fold))
    indexes = {index["name"] for index in inspect(conn).get_indexes("users")}
    if "uq_users_username_fold" not in indexes:
        conn.exec_driver_sql(
            "CREATE UNIQUE INDEX uq_users_username_fold ON users (username_fold)")


def _v8_audit_and_sessions(conn: Connection) -> None:
    """Audit events get provider and outcome; sign-in sessions get a table of their own.

    Frozen DDL: later changes to ``schema`` must not change what this revision built.
    """
    columns = {column["name"] for column in inspect(conn).get_columns("audit_events")}
    if "provider" not in columns:
        conn.exec_driver_sql("ALTER TABLE audit_events ADD COLUMN provider VARCHAR(64)")
    if "outcome" not in columns:
        conn.exec_driver_sql("ALTER TABLE audit_events ADD COLUMN outcome VARCHAR(16)")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_audit_events_at ON audit_events (at)")
    postgres = conn.dialect.name == "postgresql"
    moment = "TIMESTAMP WITH TIME ZONE" if postgres else "DATETIME"
    no = "false" if postgres else "0"
    conn.exec_driver_sql(
        "CREATE TABLE IF NOT EXISTS user_sessions ("
        "sid VARCHAR(64) NOT NULL PRIMARY KEY, "
        "user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE, "
        "epoch INTEGER NOT NULL, "
        f"created_at {moment} NOT NULL, "
        f"last_seen_at {moment} NOT NULL, "
        f"expires_at {moment} NOT NULL, "
        "address VARCHAR(64), "
        "agent VARCHAR(64), "
        f"remember BOOLEAN NOT NULL DEFAULT {no})")
    conn.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS ix_user_sessions_user ON user_sessions (user_id)")


def _v9_token_scope_two_factor(conn: Connection) -> None:
    """Scoped API tokens with their last address; TOTP two-factor sign-in.

    Frozen DDL: later changes to ``schema`` must not change what this revision built.
    """
    postgres = conn.dialect.name == "postgresql"
    stamp = "TIMESTAMP WITH TIME ZONE" if postgres else "DATETIME"
    serial = "SERIAL PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY"
    false = "false" if postgres else "0"
    if "two_factor" not in {c["name"] for c in inspect(conn).get_columns("users")}:
        conn.exec_driver_sql(f"ALTER TABLE users ADD COLUMN two_factor BOOLEAN NOT NULL "
                             f"DEFAULT {false}")
    columns = {column["name"] for column in inspect(conn).get_columns("api_tokens")}
    for name, ddl in (("scope_permission", "VARCHAR(8)"),
                      ("scope_profiles", f"BOOLEAN NOT NULL DEFAULT {false}"),
                      ("last_used_addr", "VARCHAR(64)")):
        if name not in columns:
            conn.exec_driver_sql(f"ALTER TABLE api_tokens ADD COLUMN {name} {ddl}")
    tables = set(inspect(conn).get_table_names())
    if "api_token_profiles" not in tables:
        conn.exec_driver_sql(
            "CREATE TABLE api_token_profiles ("
            "token_id INTEGER NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE, "
            "profile_id INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE, "
            "PRIMARY KEY (token_id, profile_id))")
    if "user_totp" not in tables:
        conn.exec_driver_sql(
            "CREATE TABLE user_totp ("
            "user_id INTEGER NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE, "
            f"secret VARCHAR(64) NOT NULL, confirmed_at {stamp}, "
            "last_step INTEGER NOT NULL DEFAULT 0, salt VARCHAR(64) NOT NULL, "
            f"created_at {stamp} NOT NULL)")
    if "recovery_codes" not in tables:
        conn.exec_driver_sql(
            f"CREATE TABLE recovery_codes (id {serial}, "
            "user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE, "
            f"digest VARCHAR(64) NOT NULL, used_at {stamp}, "
            "CONSTRAINT uq_recovery_code UNIQUE (user_id, digest))")


MIGRATIONS: tuple[tuple[int, str, Migration], ...] = (
    (1, "initial schema", _v1_initial),
    (2, "profile labels", _v2_profile_labels),
    (3, "ended sessions", _v3_ended_sessions),
    (4, "user session keys, ids never reused", _v4_user_identity),
    (5, "profile data root", _v5_profile_data_root),
    (6, "one-time passwords must be changed", _v6_must_change_password),
    (7, "usernames that read the same collide", _v7_username_fold),
    (8, "audit provider and outcome, sign-in sessions", _v8_audit_and_sessions),
    (9, "scoped API tokens, TOTP two-factor sign-in", _v9_token_scope_two_factor),
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
