"""Table definitions (SQLAlchemy Core), as the newest revision leaves them.

A change here needs a new revision in ``revisions/versions`` that makes the same
change in its own DDL (see :mod:`pytorrent_core.storage.upgrade`).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
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
    text,
    true,
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(128), nullable=False),
    # lower-cased username: the unique, case-insensitive key
    Column("username_key", String(128), nullable=False, unique=True),
    # usernames.username_fold(username): names that read the same share it, so it is
    # unique; NULL only for a row that already collided when migration 7 added it.
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
    # Random per user row, never reissued: a session cookie names it, so a cookie can
    # never match another user, even one that were given the same id (migration 4).
    Column("session_key", String(64), nullable=True),
    # The one-time password printed at first start must be replaced at first sign-in.
    Column("must_change_password", Boolean, nullable=False, server_default=false()),
    # TOTP enrolment confirmed (migration 9; the seed is in user_totp).
    Column("two_factor", Boolean, nullable=False, server_default=false()),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("uq_users_username_fold", "username_fold", unique=True),
)

profiles = Table(
    "profiles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("scgi_url", String(1024), nullable=False),
    # Folder under which pyTorrent may delete a removed torrent's data (migration 5).
    Column("data_root", String(1024), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Labels users may give torrents in a profile (added in migration 2).
profile_labels = Table(
    "profile_labels",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("profile_id", Integer, ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("label", String(64), nullable=False),
    UniqueConstraint("profile_id", "position", name="uq_profile_label_position"),
)

ended_sessions = Table(
    "ended_sessions",
    metadata,
    # A session id from a logged-out cookie; kept until that cookie would expire anyway.
    Column("sid", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

profile_permissions = Table(
    "profile_permissions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # NULL means every profile
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

preferences = Table(
    "preferences",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("active_profile_id", Integer,
           ForeignKey("profiles.id", ondelete="SET NULL"), nullable=True),
    Column("data", Text, nullable=False, server_default="{}"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    # Scope (migration 9): NULL permission and no profile rows = the owner's own access.
    Column("scope_permission", String(8), nullable=True),
    Column("scope_profiles", Boolean, nullable=False, server_default=false()),
    Column("last_used_addr", String(64), nullable=True),
)

# The profiles a token with scope_profiles is limited to (migration 9); a deleted
# profile leaves every scope, so a later profile given the same id is never in one.
api_token_profiles = Table(
    "api_token_profiles",
    metadata,
    Column("token_id", Integer, ForeignKey("api_tokens.id", ondelete="CASCADE"),
           primary_key=True),
    Column("profile_id", Integer, ForeignKey("profiles.id", ondelete="CASCADE"),
           primary_key=True),
)

# TOTP two-factor sign-in (migration 9). The seed must be readable to check codes;
# it is shown only while enrolment is unconfirmed.
user_totp = Table(
    "user_totp",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("secret", String(64), nullable=False),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    # The newest time-step a code was accepted for: a code is good once.
    Column("last_step", Integer, nullable=False, server_default=text("0")),
    # Salt of the recovery code digests.
    Column("salt", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("user_id", "digest", name="uq_recovery_code"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=True),
    Column("action", String(64), nullable=False),
    Column("target", String(256), nullable=True),
    Column("detail", Text, nullable=True),
    Column("remote_addr", String(64), nullable=True),
    # How the actor signed in (local, tinyauth, token, bypass, ...) and the result
    # (ok, failed, throttled, refused): migration 8.
    Column("provider", String(64), nullable=True),
    Column("outcome", String(16), nullable=True),
    Index("ix_audit_events_at", "at"),
)

# One row per sign-in session (migration 8); the sid is the one in the cookie.
# last_seen_at is written in batches, never once per request.
user_sessions = Table(
    "user_sessions",
    metadata,
    Column("sid", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("address", String(64), nullable=True),
    Column("agent", String(64), nullable=True),
    Column("remember", Boolean, nullable=False, server_default=false()),
    Index("ix_user_sessions_user", "user_id"),
)
