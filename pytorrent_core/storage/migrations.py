"""The hand-written migrations of the releases before Alembic, frozen.

Databases made by those releases keep their version in the ``meta`` table
(``schema_version``, 1 to 9). :mod:`.upgrade` brings one below 9 to 9 with these
functions, then stamps it at Alembic's first revision, which is the schema that 9
describes; new schema changes are Alembic revisions, never functions here.

Nothing here reads :mod:`.schema` (today's tables): the tables migrations 1 to 3
created are frozen below as they were at version 9 (later migrations skip what
is already there), so a future change of ``schema`` cannot change this path.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    inspect,
    select,
    text,
    true,
)

from ..usernames import username_fold, username_problem

log = logging.getLogger(__name__)

USER_ID_HIGH_WATER = "user_id_high_water"

Migration = Callable[[Connection], None]

# The last hand-written version: Alembic's first revision describes the same tables.
FINAL = 9

_V9 = MetaData()

_t_meta = Table(
    "meta",
    _V9,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

_t_users = Table(
    "users",
    _V9,
    Column("id", Integer, primary_key=True),
    Column("username", String(128), nullable=False),
    Column("username_key", String(128), nullable=False, unique=True),
    Column("username_fold", Text, nullable=True),
    Column("password_hash", Text, nullable=True),
    Column("display_name", String(256), nullable=True),
    Column("email", String(320), nullable=True),
    Column("groups", Text, nullable=True),
    Column("role", String(16), nullable=False, server_default="user"),
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("builtin", Boolean, nullable=False, server_default=false()),
    Column("provider", String(64), nullable=True),
    Column("external_subject", String(256), nullable=True),
    Column("session_epoch", Integer, nullable=False, server_default="1"),
    Column("session_key", String(64), nullable=True),
    Column("must_change_password", Boolean, nullable=False, server_default=false()),
    Column("two_factor", Boolean, nullable=False, server_default=false()),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("uq_users_username_fold", "username_fold", unique=True),
)

_t_profiles = Table(
    "profiles",
    _V9,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("scgi_url", String(1024), nullable=False),
    Column("data_root", String(1024), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

_t_profile_labels = Table(
    "profile_labels",
    _V9,
    Column("id", Integer, primary_key=True),
    Column("profile_id", Integer, ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("label", String(64), nullable=False),
    UniqueConstraint("profile_id", "position", name="uq_profile_label_position"),
)

_t_ended_sessions = Table(
    "ended_sessions",
    _V9,
    Column("sid", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

_t_profile_permissions = Table(
    "profile_permissions",
    _V9,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("profile_id", Integer, ForeignKey("profiles.id", ondelete="CASCADE"), nullable=True),
    Column("level", String(8), nullable=False),
    UniqueConstraint("user_id", "profile_id", name="uq_permission_user_profile"),
    Index(
        "uq_permission_user_all",
        "user_id",
        unique=True,
        sqlite_where=text("profile_id IS NULL"),
        postgresql_where=text("profile_id IS NULL"),
    ),
)

_t_preferences = Table(
    "preferences",
    _V9,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("active_profile_id", Integer,
           ForeignKey("profiles.id", ondelete="SET NULL"), nullable=True),
    Column("data", Text, nullable=False, server_default="{}"),
)

_t_api_tokens = Table(
    "api_tokens",
    _V9,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("scope_permission", String(8), nullable=True),
    Column("scope_profiles", Boolean, nullable=False, server_default=false()),
    Column("last_used_addr", String(64), nullable=True),
)

_t_audit_events = Table(
    "audit_events",
    _V9,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=True),
    Column("action", String(64), nullable=False),
    Column("target", String(256), nullable=True),
    Column("detail", Text, nullable=True),
    Column("remote_addr", String(64), nullable=True),
    Column("provider", String(64), nullable=True),
    Column("outcome", String(16), nullable=True),
    Index("ix_audit_events_at", "at"),
)


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
            _V9.tables[name].create(conn)
    conn.execute(_t_meta.insert().values(key="auth_generation", value="1"))


def _v2_profile_labels(conn: Connection) -> None:
    if "profile_labels" not in set(inspect(conn).get_table_names()):
        _t_profile_labels.create(conn)


def _v3_ended_sessions(conn: Connection) -> None:
    if "ended_sessions" not in set(inspect(conn).get_table_names()):
        _t_ended_sessions.create(conn)


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
        conn.execute(_t_users.update().where(_t_users.c.id == user_id)
                     .values(session_key=secrets.token_hex(16)))
    highest = conn.exec_driver_sql("SELECT MAX(id) FROM users").scalar() or 0
    conn.execute(_t_meta.insert().values(key=USER_ID_HIGH_WATER, value=str(highest)))


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
        conn.execute(_t_users.update().where(_t_users.c.id == user_id)
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
        select(_t_meta.c.value).where(_t_meta.c.key == "schema_version")
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
            conn.execute(_t_meta.insert().values(key="schema_version", value="1"))
        else:
            conn.execute(
                _t_meta.update()
                .where(_t_meta.c.key == "schema_version")
                .values(value=str(number))
            )
        applied.append(number)
    return applied
