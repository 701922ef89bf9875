"""The schema of the last release before Alembic (hand-written version 9).

Revision ID: 0001
Revises:
Create Date: 2026-12-01

A database that release made is stamped at this revision without running it
(see pytorrent_core.storage.upgrade); a new database is built by it.

Frozen DDL: every table and column is written out here; never build from
pytorrent_core.storage.schema, which changes with later revisions.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("username_key", sa.String(128), nullable=False, unique=True),
        sa.Column("username_fold", sa.Text, nullable=True),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("display_name", sa.String(256), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("groups", sa.Text, nullable=True),
        sa.Column("role", sa.String(16), nullable=False, server_default="user"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("builtin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("external_subject", sa.String(256), nullable=True),
        sa.Column("session_epoch", sa.Integer, nullable=False, server_default="1"),
        sa.Column("session_key", sa.String(64), nullable=True),
        sa.Column("must_change_password", sa.Boolean, nullable=False,
                  server_default=sa.false()),
        sa.Column("two_factor", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.Column("updated_at", _MOMENT, nullable=False),
    )
    op.create_index("uq_users_username_fold", "users", ["username_fold"], unique=True)
    op.create_table(
        "profiles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("scgi_url", sa.String(1024), nullable=False),
        sa.Column("data_root", sa.String(1024), nullable=True),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.Column("updated_at", _MOMENT, nullable=False),
    )
    op.create_table(
        "profile_labels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("profile_id", sa.Integer,
                  sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.UniqueConstraint("profile_id", "position", name="uq_profile_label_position"),
    )
    op.create_table(
        "ended_sessions",
        sa.Column("sid", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("ended_at", _MOMENT, nullable=False),
        sa.Column("expires_at", _MOMENT, nullable=False),
    )
    op.create_table(
        "profile_permissions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("profile_id", sa.Integer,
                  sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=True),
        sa.Column("level", sa.String(8), nullable=False),
        sa.UniqueConstraint("user_id", "profile_id", name="uq_permission_user_profile"),
    )
    op.create_index("uq_permission_user_all", "profile_permissions", ["user_id"], unique=True,
                    sqlite_where=sa.text("profile_id IS NULL"),
                    postgresql_where=sa.text("profile_id IS NULL"))
    op.create_table(
        "preferences",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("active_profile_id", sa.Integer,
                  sa.ForeignKey("profiles.id", ondelete="SET NULL"), nullable=True),
        sa.Column("data", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.Column("expires_at", _MOMENT, nullable=True),
        sa.Column("last_used_at", _MOMENT, nullable=True),
        sa.Column("revoked_at", _MOMENT, nullable=True),
        sa.Column("scope_permission", sa.String(8), nullable=True),
        sa.Column("scope_profiles", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("last_used_addr", sa.String(64), nullable=True),
    )
    op.create_table(
        "api_token_profiles",
        sa.Column("token_id", sa.Integer, sa.ForeignKey("api_tokens.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("profile_id", sa.Integer,
                  sa.ForeignKey("profiles.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_table(
        "user_totp",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("confirmed_at", _MOMENT, nullable=True),
        sa.Column("last_step", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("used_at", _MOMENT, nullable=True),
        sa.UniqueConstraint("user_id", "digest", name="uq_recovery_code"),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", _MOMENT, nullable=False),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(256), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("remote_addr", sa.String(64), nullable=True),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_table(
        "user_sessions",
        sa.Column("sid", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.Column("last_seen_at", _MOMENT, nullable=False),
        sa.Column("expires_at", _MOMENT, nullable=False),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("remember", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_user_sessions_user", "user_sessions", ["user_id"])
    # The counters the store bumps, and the version the release before Alembic reads:
    # that release opens a database at this revision as its own latest schema.
    op.bulk_insert(meta, [
        {"key": "auth_generation", "value": "1"},
        {"key": "sessions_generation", "value": "0"},
        {"key": "user_id_high_water", "value": "0"},
        {"key": "schema_version", "value": "9"},
    ])


def downgrade() -> None:
    raise NotImplementedError("pyTorrent upgrades only; restore a backup to go back")
