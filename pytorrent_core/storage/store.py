"""The one gateway to the database: users, permissions, profiles, tokens, audit.

Every write that can change who someone is or what they may do bumps the
``auth_generation`` counter in the same transaction; servers watch it to drop
cached principals (see :mod:`pytorrent_core.access.cache`), so a change made by
the CLI in another process reaches a running server too.

A change's audit event is written only once the change has committed, and never in
its transaction: a failing audit insert must not fail or undo the change it
describes. A running server hands the event to its background writer
(:meth:`Store.on_audit`); without one (the CLI) it is written at once, and a
failure is logged.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Integer,
    Table,
    Text,
    bindparam,
    cast,
    delete,
    event,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ..models import Level, Role, TokenScope, User
from ..usernames import username_fold, username_problem
from . import schema
from .migrations import USER_ID_HIGH_WATER
from .records import AuditEvent, SessionRecord, audit_origin
from .upgrade import upgrade

SESSIONS_GENERATION = "sessions_generation"
_AUDIT_EVENTS = "pytorrent_audit_events"  # key in a connection's info: events to record

log = logging.getLogger(__name__)

_USER_COLUMNS = (
    schema.users.c.id,
    schema.users.c.username,
    schema.users.c.role,
    schema.users.c.active,
    schema.users.c.builtin,
    schema.users.c.password_hash.isnot(None).label("has_password"),
    schema.users.c.provider,
    schema.users.c.session_epoch,
    schema.users.c.session_key,
    schema.users.c.must_change_password,
    schema.users.c.display_name,
    schema.users.c.email,
    schema.users.c.groups,
    schema.users.c.external_subject,
    schema.users.c.two_factor,
)


class StoreError(Exception):
    """A write was refused: ``field`` names the offending input."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


def now() -> datetime:
    return datetime.now(UTC)


def _new_id(result: Any) -> int:
    """The primary key an INSERT just created."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _user(row: Any) -> User:
    return User(
        id=row.id,
        username=row.username,
        role=row.role,
        active=bool(row.active),
        builtin=bool(row.builtin),
        has_password=bool(row.has_password),
        provider=row.provider,
        session_epoch=row.session_epoch,
        session_key=row.session_key or "",
        must_change_password=bool(row.must_change_password),
        display_name=row.display_name,
        email=row.email,
        groups=tuple(json.loads(row.groups)) if row.groups else (),
        external_subject=row.external_subject,
        two_factor=bool(row.two_factor),
    )


@dataclass(frozen=True)
class Profile:
    id: int
    name: str
    scgi_url: str
    data_root: str | None = None  # where pyTorrent may delete removed torrents' data


_PROFILE_COLUMNS = (schema.profiles.c.id, schema.profiles.c.name, schema.profiles.c.scgi_url,
                    schema.profiles.c.data_root)


def _profile(row: Any) -> Profile:
    return Profile(row.id, row.name, row.scgi_url, row.data_root)


@dataclass(frozen=True)
class TokenRecord:
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    scope: TokenScope | None = None
    last_used_addr: str | None = None

    def is_live(self, at: datetime | None = None) -> bool:
        at = at or now()
        return self.revoked_at is None and (self.expires_at is None or _aware(self.expires_at) > at)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _token(row: Any, profiles: Iterable[int] = ()) -> TokenRecord:
    scope = None
    if row.scope_permission is not None or row.scope_profiles:
        scope = TokenScope(row.scope_permission or "full",
                           frozenset(profiles) if row.scope_profiles else None)
    return TokenRecord(
        id=row.id, user_id=row.user_id, name=row.name, prefix=row.prefix,
        created_at=_aware(row.created_at),
        expires_at=_aware(row.expires_at) if row.expires_at else None,
        last_used_at=_aware(row.last_used_at) if row.last_used_at else None,
        revoked_at=_aware(row.revoked_at) if row.revoked_at else None,
        scope=scope, last_used_addr=row.last_used_addr,
    )


async def _tokens(conn: AsyncConnection, query: Any) -> list[TokenRecord]:
    """Token rows with the profiles of their scopes (one more query, for all of them)."""
    rows = list(await conn.execute(query))
    scoped = [row.id for row in rows if row.scope_profiles]
    profiles: dict[int, list[int]] = {}
    if scoped:
        links = await conn.execute(
            select(schema.api_token_profiles.c.token_id, schema.api_token_profiles.c.profile_id)
            .where(schema.api_token_profiles.c.token_id.in_(scoped)))
        for link in links:
            profiles.setdefault(link.token_id, []).append(link.profile_id)
    return [_token(row, profiles.get(row.id, ())) for row in rows]


def _private_file(path: Path) -> None:
    """A new database lives in a 0700 folder and is created 0600 (its -wal and -shm
    files take the database's mode): it holds password hashes and token digests."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


DEFAULT_POOL_SIZE = 5
_WRITER = "pytorrent_writer"  # execution option of the engine writes go through


def make_engine(url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> AsyncEngine:
    """An engine for ``url``; ``pool_size`` connections kept open (not for SQLite,
    where writers take turns on one file anyway)."""
    # SQL logs would carry password hashes and token digests (parameters and rows), so
    # the database layers never log below WARNING and errors hide their parameters.
    for name in ("sqlalchemy.engine", "aiosqlite", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            _private_file(Path(path))
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # The driver's own transaction handling off: _sqlite_begin below says BEGIN.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A writer takes SQLite's write lock when it begins, not at its first write:
            # a transaction that read first could otherwise not write at all once
            # another writer committed meanwhile ("database is locked").
            immediate = conn.get_execution_options().get(_WRITER)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    # A server that does not answer is an error in seconds, not after the driver's minute.
    return create_async_engine(url, pool_pre_ping=True, hide_parameters=True,
                               pool_size=pool_size, max_overflow=pool_size * 2,
                               connect_args={"timeout": 15})


def dialect_insert(conn: AsyncConnection, table: Table) -> Any:
    """An INSERT that can say ON CONFLICT, in the dialect of ``conn`` (SQLite or
    PostgreSQL: both spell ``on_conflict_do_nothing``/``_do_update`` the same way)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def deletion_refusal(user: User, active_admins: int) -> str | None:
    """Why ``user`` may not be deleted, or None: someone must always be able to administer."""
    if user.builtin:
        return "the built-in admin cannot be deleted"
    if user.is_admin and user.active and active_admins <= 1:
        return "the last active admin cannot be deleted"
    return None


class Store:
    """Async data access. One per process; cheap methods, one transaction each.

    Reads use ``engine``; every transaction that writes begins on ``writer`` (the same
    pool; on SQLite it takes the write lock at BEGIN). Correct with other processes
    writing too: auth changes take turns on the change counter's row (see ``_write``),
    other writes use INSERT ... ON CONFLICT, conditional updates or row locks.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.writer = engine.execution_options(**{_WRITER: True})
        self._listeners: list[Callable[[], None]] = []
        self._session_listeners: list[Callable[[str, datetime], None]] = []
        self._audit_sink: Callable[[AuditEvent], None] | None = None

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> Store:
        return cls(make_engine(url, pool_size=pool_size))

    async def migrate(self) -> list[str]:
        """Bring the schema up to date (:mod:`.upgrade`); return the revisions run."""
        async with self.writer.begin() as conn:
            return await conn.run_sync(upgrade)

    async def close(self) -> None:
        await self.engine.dispose()

    # ------------------------------------------------------------ generation

    async def generation(self) -> int:
        return (await self.generations())[0]

    async def generations(self) -> tuple[int, int]:
        """The auth change counter and the logout counter, in one query."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(schema.meta.c.key, schema.meta.c.value)
                .where(schema.meta.c.key.in_(("auth_generation", SESSIONS_GENERATION))))
            values = {row.key: int(row.value) for row in rows}
        return values.get("auth_generation", 0), values.get(SESSIONS_GENERATION, 0)

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every committed change to users, grants or tokens."""
        self._listeners.append(callback)

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction whose audit events (:meth:`_audit`) are recorded once it
        has committed; a rolled-back change records nothing."""
        events: list[AuditEvent] = []
        async with self.writer.begin() as conn:
            conn.info[_AUDIT_EVENTS] = events
            try:
                yield conn
            finally:
                conn.info.pop(_AUDIT_EVENTS, None)
        await self._record(events)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that bumps the auth generation and, once committed, tells listeners.

        The bump comes first: its row lock makes auth changes take turns, on PostgreSQL
        as on SQLite, so each one's checks (a name is free, an admin remains) read what
        the one before it committed.
        """
        async with self._begin() as conn:
            await self._bump(conn)
            yield conn
        for callback in self._listeners:
            callback()

    @staticmethod
    async def _bump(conn: AsyncConnection) -> None:
        await conn.execute(
            update(schema.meta)
            .where(schema.meta.c.key == "auth_generation")
            .values(value=cast(cast(schema.meta.c.value, Integer) + 1, Text))
        )

    # ------------------------------------------------------------ users

    async def get_user(self, user_id: int) -> User | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                select(*_USER_COLUMNS).where(schema.users.c.id == user_id))).first()
        return _user(row) if row else None

    async def get_user_by_name(self, username: str) -> User | None:
        """The user called ``username``, ignoring case. A sign-in by a proxy's header
        must also compare ``User.username`` exactly (see the resolver)."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                select(*_USER_COLUMNS).where(schema.users.c.username_key == username.lower())
            )).first()
        return _user(row) if row else None

    async def users_by_email(self, email: str) -> list[User]:
        """Users whose e-mail address is ``email``, ignoring case (none, one or several)."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(
                select(*_USER_COLUMNS).where(func.lower(schema.users.c.email) == email.lower())
                .order_by(schema.users.c.id))).all()
        return [_user(row) for row in rows]

    async def get_user_by_fold(self, username: str) -> User | None:
        """The user whose name reads the same as ``username`` (see usernames.username_fold)."""
        async with self.engine.connect() as conn:
            return await self._user_by_fold(conn, username_fold(username))

    @staticmethod
    async def _user_by_fold(conn: AsyncConnection, fold: str) -> User | None:
        row = (await conn.execute(
            select(*_USER_COLUMNS).where(schema.users.c.username_fold == fold))).first()
        return _user(row) if row else None

    @staticmethod
    def _check_username(username: str) -> str:
        """The fold of a new or changed username; StoreError when the name is refused."""
        problem = username_problem(username)
        if problem:
            raise StoreError(f"username {username!r} {problem}", "username")
        return username_fold(username)

    @staticmethod
    def _taken(username: str, holder: str | None) -> StoreError:
        if holder is None or holder == username:
            return StoreError(f"user {username!r} already exists", "username", 409)
        return StoreError(
            f"a user that reads the same as {username!r} already exists: {holder!r} (names "
            "are compared ignoring case, letter width and compatibility forms); choose "
            "another name", "username", 409)

    async def _similar_name(self, username: str) -> str | None:
        similar = await self.get_user_by_fold(username) or await self.get_user_by_name(username)
        return similar.username if similar else None

    async def password_hash(self, user_id: int) -> str | None:
        async with self.engine.connect() as conn:
            return await conn.scalar(
                select(schema.users.c.password_hash).where(schema.users.c.id == user_id))

    async def list_users(self) -> list[User]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(*_USER_COLUMNS).order_by(schema.users.c.id))
            return [_user(row) for row in rows]

    async def count_active_admins(self) -> int:
        query = select(func.count()).select_from(schema.users).where(
            schema.users.c.role == "admin", schema.users.c.active.is_(True))
        async with self.engine.connect() as conn:
            return int(await conn.scalar(query) or 0)

    @staticmethod
    async def _lock_active_admins(conn: AsyncConnection) -> int:
        """How many active admins there are, their rows locked (FOR UPDATE on PostgreSQL)
        until the caller's transaction ends: the last-admin guard counts, then writes."""
        rows = await conn.execute(
            select(schema.users.c.id)
            .where(schema.users.c.role == "admin", schema.users.c.active.is_(True))
            .order_by(schema.users.c.id).with_for_update())
        return len(rows.all())

    async def create_user(
        self,
        username: str,
        *,
        role: Role = "user",
        password_hash: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
        groups: Iterable[str] = (),
        provider: str | None = None,
        external_subject: str | None = None,
        builtin: bool = False,
        active: bool = True,
        permissions: Mapping[int | None, Level] | None = None,
        must_change_password: bool = False,
        actor: str | None = None,
    ) -> User:
        """Insert a user; raise StoreError(field="username") if the name is refused
        (usernames.username_problem, status 400) or reads the same as an existing
        user's (status 409, naming that user)."""
        fold = self._check_username(username)
        stamp = now()
        groups = list(groups)
        try:
            async with self._write() as conn:
                similar = await self._user_by_fold(conn, fold)
                if similar is not None:
                    raise self._taken(username, similar.username)
                user_id = await self._next_user_id(conn)
                await conn.execute(schema.users.insert().values(
                    id=user_id, session_key=secrets.token_hex(16),
                    must_change_password=must_change_password,
                    username=username, username_key=username.lower(), username_fold=fold,
                    password_hash=password_hash, display_name=display_name, email=email,
                    groups=json.dumps(groups) if groups else None, role=role, active=active,
                    builtin=builtin, provider=provider, external_subject=external_subject,
                    session_epoch=1, created_at=stamp, updated_at=stamp,
                ))
                if permissions:
                    await self._write_permissions(conn, user_id, permissions)
                await self._audit(conn, actor, "user.create", username)
        except IntegrityError:  # created by another writer meanwhile
            raise self._taken(username, await self._similar_name(username)) from None
        user = await self.get_user(user_id)
        assert user is not None
        return user

    @staticmethod
    async def _next_user_id(conn: AsyncConnection) -> int:
        """One past the highest id ever given: a deleted user's id is never handed out again.

        The high-water row is read FOR UPDATE, so concurrent creators queue on it
        (SQLite already allows one writer at a time).
        """
        high_water = await conn.scalar(
            select(schema.meta.c.value).where(schema.meta.c.key == USER_ID_HIGH_WATER)
            .with_for_update())
        highest = await conn.scalar(select(func.max(schema.users.c.id)))
        user_id = max(int(high_water or 0), int(highest or 0)) + 1
        await conn.execute(update(schema.meta).where(schema.meta.c.key == USER_ID_HIGH_WATER)
                           .values(value=str(user_id)))
        return user_id

    async def update_user(self, user_id: int, *, actor: str | None = None,
                          **fields: Any) -> User:
        """Change fields; a change to role, active or password ends the user's sessions.

        Accepts: username, display_name, email, groups, role, active, password_hash,
        provider, external_subject, must_change_password (a new password clears it
        unless given). Refuses changes that would leave no active admin.
        """
        allowed = {"username", "display_name", "email", "groups", "role", "active",
                   "password_hash", "provider", "external_subject", "must_change_password"}
        unknown = set(fields) - allowed
        if unknown:
            raise TypeError(f"unknown user fields: {sorted(unknown)}")
        async with self._write() as conn:
            row = (await conn.execute(
                select(*_USER_COLUMNS).where(schema.users.c.id == user_id)
                .with_for_update())).first()
            if row is None:
                raise StoreError("no such user", "id", 404)
            user = _user(row)
            values: dict[str, Any] = {}
            if "password_hash" in fields:
                values["must_change_password"] = False
            for key, value in fields.items():
                if key == "groups":
                    value = json.dumps(list(value)) if value else None
                values[key] = value
            renaming = "username" in values and values["username"] != user.username
            if renaming:
                if user.builtin:
                    raise StoreError("the built-in admin cannot be renamed", "username")
                fold = self._check_username(values["username"])
                similar = await self._user_by_fold(conn, fold)
                if similar is not None and similar.id != user_id:
                    raise self._taken(values["username"], similar.username)
                values["username_key"] = values["username"].lower()
                values["username_fold"] = fold
            demoting = values.get("role", user.role) != "admin" or not values.get(
                "active", user.active)
            if user.is_admin and user.active and demoting:
                if user.builtin:
                    raise StoreError("the built-in admin cannot be demoted or deactivated",
                                     "role" if "role" in values else "active")
                if await self._lock_active_admins(conn) <= 1:
                    raise StoreError("the last active admin cannot be demoted or deactivated",
                                     "role" if "role" in values else "active")
            ends_sessions = (
                values.get("role", user.role) != user.role
                or bool(values.get("active", user.active)) != user.active
                or "password_hash" in values
            )
            if ends_sessions:
                values["session_epoch"] = user.session_epoch + 1
            values["updated_at"] = now()
            try:
                await conn.execute(
                    update(schema.users).where(schema.users.c.id == user_id).values(**values))
            except IntegrityError:
                raise self._taken(values.get("username", user.username), None) from None
            await self._audit(conn, actor, _update_kind(fields, user), user.username,
                              sorted(k for k in fields if k != "password_hash")
                              + (["password"] if "password_hash" in fields else []))
        updated = await self.get_user(user_id)
        assert updated is not None
        return updated

    async def set_password_hash_quietly(self, user_id: int, password_hash: str) -> None:
        """Rehash on login: same password, new parameters; sessions stay valid."""
        async with self.writer.begin() as conn:
            await conn.execute(update(schema.users).where(schema.users.c.id == user_id)
                               .values(password_hash=password_hash))

    async def delete_user(self, user_id: int, *, actor: str | None = None) -> None:
        async with self._write() as conn:
            row = (await conn.execute(
                select(*_USER_COLUMNS).where(schema.users.c.id == user_id)
                .with_for_update())).first()
            if row is None:
                raise StoreError("no such user", "id", 404)
            user = _user(row)
            problem = deletion_refusal(user, await self._lock_active_admins(conn))
            if problem is not None:
                raise StoreError(problem, "id")
            await conn.execute(delete(schema.users).where(schema.users.c.id == user_id))
            await self._hand_on_folds(conn)
            await self._audit(conn, actor, "user.delete", user.username)

    @staticmethod
    async def _hand_on_folds(conn: AsyncConnection) -> None:
        """Rows left without a fold key by migration 7 (they collided with an older
        row) take it up once no row holds it any more, so it stays enforced."""
        waiting = (await conn.execute(
            select(schema.users.c.id, schema.users.c.username)
            .where(schema.users.c.username_fold.is_(None)).order_by(schema.users.c.id)
        )).all()
        for row in waiting:
            fold = username_fold(row.username)
            if await conn.scalar(select(schema.users.c.id)
                                 .where(schema.users.c.username_fold == fold)) is None:
                await conn.execute(update(schema.users).where(schema.users.c.id == row.id)
                                   .values(username_fold=fold))

    # ------------------------------------------------------------ permissions

    async def permissions(self, user_id: int) -> dict[int | None, Level]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(schema.profile_permissions.c.profile_id,
                       schema.profile_permissions.c.level)
                .where(schema.profile_permissions.c.user_id == user_id))
            return {row.profile_id: row.level for row in rows}

    async def set_permissions(self, user_id: int, permissions: Mapping[int | None, Level],
                              *, actor: str | None = None) -> None:
        """Replace the user's grants. Key None = all profiles; level none = no row."""
        async with self._write() as conn:
            await self._write_permissions(conn, user_id, permissions)
            username = await conn.scalar(select(schema.users.c.username)
                                         .where(schema.users.c.id == user_id))
            await self._audit(conn, actor, "user.permissions", username or str(user_id),
                              {("*" if k is None else str(k)): v  # as the API writes it
                               for k, v in permissions.items()})

    @staticmethod
    async def _write_permissions(conn: AsyncConnection, user_id: int,
                                 permissions: Mapping[int | None, Level]) -> None:
        await conn.execute(delete(schema.profile_permissions)
                           .where(schema.profile_permissions.c.user_id == user_id))
        rows = [{"user_id": user_id, "profile_id": pid, "level": level}
                for pid, level in permissions.items() if level != "none"]
        if rows:
            await conn.execute(schema.profile_permissions.insert(), rows)

    # ------------------------------------------------------------ profiles

    async def list_profiles(self) -> list[Profile]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(*_PROFILE_COLUMNS)
                                      .order_by(schema.profiles.c.name))
            return [_profile(row) for row in rows]

    async def get_profile(self, profile_id: int) -> Profile | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                select(*_PROFILE_COLUMNS).where(schema.profiles.c.id == profile_id))).first()
        return _profile(row) if row else None

    async def get_profile_by_name(self, name: str) -> Profile | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                select(*_PROFILE_COLUMNS).where(schema.profiles.c.name == name))).first()
        return _profile(row) if row else None

    async def create_profile(self, name: str, scgi_url: str, *, data_root: str | None = None,
                             actor: str | None = None) -> Profile:
        stamp = now()
        try:
            async with self._write() as conn:
                result = await conn.execute(schema.profiles.insert().values(
                    name=name, scgi_url=scgi_url, data_root=data_root,
                    created_at=stamp, updated_at=stamp))
                await self._audit(conn, actor, "profile.create", name)
        except IntegrityError:
            raise StoreError(f"profile {name!r} already exists", "name", 409) from None
        return Profile(_new_id(result), name, scgi_url, data_root)

    async def update_profile(self, profile_id: int, *, actor: str | None = None,
                             **fields: Any) -> Profile:
        fields = {k: v for k, v in fields.items() if k in ("name", "scgi_url", "data_root")}
        try:
            async with self._write() as conn:
                result = await conn.execute(
                    update(schema.profiles).where(schema.profiles.c.id == profile_id)
                    .values(**fields, updated_at=now()))
                if result.rowcount == 0:
                    raise StoreError("no such profile", "id", 404)
                await self._audit(conn, actor, "profile.update", str(profile_id))
        except IntegrityError:
            raise StoreError(f"profile {fields.get('name')!r} already exists",
                             "name", 409) from None
        profile = await self.get_profile(profile_id)
        assert profile is not None
        return profile

    async def delete_profile(self, profile_id: int, *, actor: str | None = None) -> None:
        async with self._write() as conn:
            result = await conn.execute(
                delete(schema.profiles).where(schema.profiles.c.id == profile_id))
            if result.rowcount == 0:
                raise StoreError("no such profile", "id", 404)
            await self._audit(conn, actor, "profile.delete", str(profile_id))

    async def profile_labels(self, profile_id: int) -> list[str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(schema.profile_labels.c.label)
                .where(schema.profile_labels.c.profile_id == profile_id)
                .order_by(schema.profile_labels.c.position))
            return [row.label for row in rows]

    async def set_profile_labels(self, profile_id: int, labels: Iterable[str], *,
                                 actor: str | None = None) -> list[str]:
        """Replace a profile's labels (not an auth change: no cache invalidation)."""
        labels = list(labels)
        async with self._begin() as conn:
            exists = await conn.scalar(  # locked: two label edits replace in turn
                select(schema.profiles.c.id).where(schema.profiles.c.id == profile_id)
                .with_for_update())
            if exists is None:
                raise StoreError("no such profile", "id", 404)
            await conn.execute(delete(schema.profile_labels)
                               .where(schema.profile_labels.c.profile_id == profile_id))
            if labels:
                await conn.execute(schema.profile_labels.insert(), [
                    {"profile_id": profile_id, "position": i, "label": label}
                    for i, label in enumerate(labels)])
            await self._audit(conn, actor, "profile.labels", str(profile_id), labels)
        return labels

    # ------------------------------------------------------------ preferences

    async def active_profile(self, user_id: int) -> int | None:
        async with self.engine.connect() as conn:
            return await conn.scalar(
                select(schema.preferences.c.active_profile_id)
                .where(schema.preferences.c.user_id == user_id))

    async def set_active_profile(self, user_id: int, profile_id: int | None) -> None:
        # Through the change path: servers cache each user's active profile.
        async with self._write() as conn:
            pick = dialect_insert(conn, schema.preferences).values(
                user_id=user_id, active_profile_id=profile_id, data="{}")
            await conn.execute(pick.on_conflict_do_update(
                index_elements=[schema.preferences.c.user_id],
                set_={"active_profile_id": pick.excluded.active_profile_id}))

    # ------------------------------------------------------------ sessions

    def on_session_end(self, callback: Callable[[str, datetime], None]) -> None:
        """Call ``callback(sid, expires_at)`` after this process records a logout."""
        self._session_listeners.append(callback)

    async def end_session(self, sid: str, user_id: int, expires_at: datetime) -> None:
        """Record a logged-out session id so its cookie is refused everywhere; prune old ones.

        Not an auth change: it bumps its own counter, so other servers load just the
        new ids and keep every cached user, grant and token.
        """
        ended = schema.ended_sessions
        try:
            async with self.writer.begin() as conn:
                await conn.execute(delete(ended).where(ended.c.expires_at < now()))
                await conn.execute(delete(schema.user_sessions)
                                   .where(schema.user_sessions.c.sid == sid))
                # One row per sid whoever logs it out first, and only for a user that
                # still exists (a deleted user has no sessions).
                record = dialect_insert(conn, ended).from_select(
                    ["sid", "user_id", "ended_at", "expires_at"],
                    select(literal(sid), schema.users.c.id, literal(now(), ended.c.ended_at.type),
                           literal(expires_at, ended.c.expires_at.type))
                    .where(schema.users.c.id == user_id))
                result = await conn.execute(record.on_conflict_do_nothing(
                    index_elements=[ended.c.sid]))
                recorded = result.rowcount == 1
                if recorded:
                    counter = dialect_insert(conn, schema.meta).values(
                        key=SESSIONS_GENERATION, value="1")
                    await conn.execute(counter.on_conflict_do_update(
                        index_elements=[schema.meta.c.key],
                        set_={"value": cast(cast(schema.meta.c.value, Integer) + 1, Text)}))
        except IntegrityError:  # the user was deleted meanwhile: nothing left to end
            recorded = False
        if recorded:
            for callback in self._session_listeners:
                callback(sid, expires_at)

    async def ended_sessions(self, since: datetime | None = None) -> dict[str, datetime]:
        """Logged-out session ids whose cookies have not expired yet, with their expiry;
        with ``since``, only those ended from then on."""
        query = select(schema.ended_sessions.c.sid, schema.ended_sessions.c.expires_at).where(
            schema.ended_sessions.c.expires_at >= now())
        if since is not None:
            query = query.where(schema.ended_sessions.c.ended_at >= since)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return {row.sid: _aware(row.expires_at) for row in rows}

    # ------------------------------------------------------------ API tokens

    async def create_token(self, user_id: int, name: str, prefix: str, digest: str,
                           expires_at: datetime | None, *, scope: TokenScope | None = None,
                           actor: str | None = None) -> TokenRecord:
        stamp = now()
        if expires_at is not None:  # the database keeps no zone: always write UTC
            expires_at = _aware(expires_at).astimezone(UTC)
        async with self._begin() as conn:
            result = await conn.execute(schema.api_tokens.insert().values(
                user_id=user_id, name=name, prefix=prefix, digest=digest,
                created_at=stamp, expires_at=expires_at,
                scope_permission=scope.permission if scope else None,
                scope_profiles=bool(scope and scope.profiles is not None)))
            token_id = _new_id(result)
            if scope is not None and scope.profiles:
                await conn.execute(schema.api_token_profiles.insert(), [
                    {"token_id": token_id, "profile_id": pid} for pid in sorted(scope.profiles)])
            await self._audit(conn, actor, "token.create", f"{user_id}:{name}",
                              scope.as_json() if scope else None)
        return TokenRecord(token_id, user_id, name, prefix, stamp, expires_at, None, None,
                           scope)

    async def token_by_digest(self, digest: str) -> TokenRecord | None:
        async with self.engine.connect() as conn:
            found = await _tokens(conn, select(schema.api_tokens)
                                  .where(schema.api_tokens.c.digest == digest))
        return found[0] if found else None

    async def list_tokens(self, user_id: int) -> list[TokenRecord]:
        async with self.engine.connect() as conn:
            return await _tokens(conn, select(schema.api_tokens)
                                 .where(schema.api_tokens.c.user_id == user_id)
                                 .order_by(schema.api_tokens.c.id))

    async def revoke_token(self, user_id: int, token_id: int, *,
                           actor: str | None = None) -> None:
        async with self._write() as conn:
            result = await conn.execute(
                update(schema.api_tokens)
                .where(schema.api_tokens.c.id == token_id,
                       schema.api_tokens.c.user_id == user_id,
                       schema.api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now()))
            if result.rowcount == 0:
                raise StoreError("no such live token", "token_id", 404)
            await self._audit(conn, actor, "token.revoke", f"{user_id}:{token_id}")

    async def touch_tokens(self, used: Mapping[int, tuple[datetime, str | None]]) -> None:
        """Write batched last use times and client addresses (one transaction for many)."""
        if not used:
            return
        tokens = schema.api_tokens
        moment = bindparam("b_at", type_=tokens.c.last_used_at.type)
        # Only ever forward: servers flush their batches in any order.
        query = (update(tokens)
                 .where(tokens.c.id == bindparam("b_id"),
                        or_(tokens.c.last_used_at.is_(None), tokens.c.last_used_at < moment))
                 .values(last_used_at=bindparam("b_at"), last_used_addr=bindparam("b_addr")))
        async with self.writer.begin() as conn:
            await conn.execute(query, [
                {"b_id": token_id, "b_at": moment, "b_addr": address[:64] if address else None}
                for token_id, (moment, address) in used.items()])

    # ------------------------------------------------------------ audit

    def on_audit(self, sink: Callable[[AuditEvent], None] | None) -> None:
        """Hand the events of committed changes to ``sink`` (a server's background
        writer), or with None write them at once again."""
        self._audit_sink = sink

    async def audit(self, action: str, *, actor: str | None = None, target: str | None = None,
                    detail: Any = None, remote_addr: str | None = None,
                    provider: str | None = None, outcome: str = "ok") -> None:
        """Record an event that goes with no change (the CLI ending a session)."""
        await self._record([_event(actor, action, target, detail, remote_addr,
                                   provider=provider, outcome=outcome)])

    @staticmethod
    async def _audit(conn: AsyncConnection, actor: str | None, action: str,
                     target: str | None, detail: Any = None,
                     remote_addr: str | None = None, *, provider: str | None = None,
                     outcome: str = "ok") -> None:
        """Record an event of the change ``conn``'s transaction makes, once it commits.
        Address and provider default to the current request's (``audit_origin``)."""
        conn.info[_AUDIT_EVENTS].append(_event(actor, action, target, detail, remote_addr,
                                               provider=provider, outcome=outcome))

    async def _record(self, events: Sequence[AuditEvent]) -> None:
        """To the writer if a server runs one, else into the database now; never raises."""
        if not events:
            return
        sink = self._audit_sink
        if sink is not None:
            for audit_event in events:
                sink(audit_event)
            return
        try:
            await self.write_audit(events)
        except Exception:  # noqa: BLE001 - the change is made; only its record is lost
            log.error("could not write the audit event %s (the change itself was made): "
                      "check that the database is writable",
                      ", ".join(e.action for e in events), exc_info=True)

    async def write_audit(self, events: Sequence[AuditEvent]) -> None:
        """Insert queued events in one transaction."""
        if not events:
            return
        async with self.writer.begin() as conn:
            await conn.execute(schema.audit_events.insert(), [
                {"at": e.at, "actor": _clip(e.actor, 128), "action": e.action,
                 "target": _clip(e.target, 256),
                 "detail": json.dumps(e.detail) if e.detail is not None else None,
                 "remote_addr": _clip(e.remote_addr, 64), "provider": _clip(e.provider, 64),
                 "outcome": e.outcome} for e in events])

    async def audit_events(self, limit: int = 100, *, user: str | None = None,
                           kind: str | None = None, since: datetime | None = None,
                           until: datetime | None = None,
                           before_id: int | None = None) -> list[dict[str, Any]]:
        """Newest first. ``user`` matches the actor or the target; ``kind`` an action or
        its family (``user`` matches ``user.create``, ``user.role``, ...)."""
        table = schema.audit_events
        query = select(table).order_by(table.c.id.desc()).limit(limit)
        if user:
            query = query.where(or_(table.c.actor == user, table.c.target == user))
        if kind:
            query = query.where(or_(table.c.action == kind, table.c.action.startswith(
                kind.rstrip(".") + ".", autoescape=True)))
        if since is not None:
            query = query.where(table.c.at >= _aware(since).astimezone(UTC))
        if until is not None:
            query = query.where(table.c.at < _aware(until).astimezone(UTC))
        if before_id is not None:
            query = query.where(table.c.id < before_id)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return [{**row._mapping, "at": _aware(row.at),
                     "detail": json.loads(row.detail) if row.detail else None}
                    for row in rows]

    async def prune_audit(self, older_than_days: int) -> int:
        """Delete events older than the retention; return how many went."""
        cutoff = now() - timedelta(days=older_than_days)
        async with self.writer.begin() as conn:
            result = await conn.execute(delete(schema.audit_events)
                                        .where(schema.audit_events.c.at < cutoff))
            return int(result.rowcount or 0)

    # ------------------------------------------------------------ sign-in sessions

    async def record_session(self, sid: str, user: User, *, expires_at: datetime,
                             address: str | None, agent: str | None,
                             remember: bool) -> None:
        stamp = now()
        async with self.writer.begin() as conn:
            await conn.execute(schema.user_sessions.insert().values(
                sid=sid, user_id=user.id, epoch=user.session_epoch, created_at=stamp,
                last_seen_at=stamp, expires_at=_aware(expires_at).astimezone(UTC),
                address=_clip(address, 64), agent=_clip(agent, 64), remember=remember))

    async def sessions(self, user_id: int | None = None) -> list[SessionRecord]:
        """Live sessions (current epoch, not expired, not ended), newest first; of one user
        or of everyone."""
        sessions, users = schema.user_sessions, schema.users
        query = (select(sessions).join(users, users.c.id == sessions.c.user_id)
                 .where(sessions.c.epoch == users.c.session_epoch,
                        users.c.active.is_(True), sessions.c.expires_at > now())
                 .order_by(sessions.c.created_at.desc()))
        if user_id is not None:
            query = query.where(sessions.c.user_id == user_id)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return [_session(row) for row in rows]

    async def session(self, sid: str) -> SessionRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(schema.user_sessions)
                                      .where(schema.user_sessions.c.sid == sid))).first()
        return _session(row) if row else None

    async def touch_sessions(self, seen: Mapping[str, datetime]) -> None:
        """Write batched ``last_seen_at`` values."""
        if not seen:
            return
        sessions = schema.user_sessions
        query = (update(sessions)  # only ever forward: servers flush in any order
                 .where(sessions.c.sid == bindparam("b_sid"),
                        sessions.c.last_seen_at < bindparam("b_at",
                                                            type_=sessions.c.last_seen_at.type))
                 .values(last_seen_at=bindparam("b_at")))
        async with self.writer.begin() as conn:
            await conn.execute(query, [{"b_sid": sid, "b_at": moment}
                                       for sid, moment in seen.items()])

    async def prune_sessions(self) -> int:
        """Forget expired sessions and those a password, role or activation change ended."""
        sessions, users = schema.user_sessions, schema.users
        stale = select(users.c.session_epoch).where(users.c.id == sessions.c.user_id) \
            .scalar_subquery()
        async with self.writer.begin() as conn:
            result = await conn.execute(delete(sessions).where(
                or_(sessions.c.expires_at <= now(), sessions.c.epoch != stale)))
            return int(result.rowcount or 0)


def _event(actor: str | None, action: str, target: str | None, detail: Any = None,
           remote_addr: str | None = None, *, provider: str | None = None,
           outcome: str = "ok") -> AuditEvent:
    origin = audit_origin.get()
    return AuditEvent(action=action, actor=actor, target=target, detail=detail,
                      remote_addr=remote_addr or origin.address,
                      provider=provider or origin.provider, outcome=outcome)


def _clip(text: str | None, limit: int) -> str | None:
    return text[:limit] if text else text


def _session(row: Any) -> SessionRecord:
    return SessionRecord(sid=row.sid, user_id=row.user_id, epoch=row.epoch,
                         created_at=_aware(row.created_at),
                         last_seen_at=_aware(row.last_seen_at),
                         expires_at=_aware(row.expires_at), address=row.address,
                         agent=row.agent, remember=bool(row.remember))


def _update_kind(fields: Mapping[str, Any], user: User) -> str:
    """The audit kind of a user change: the most security-relevant field changed."""
    if "password_hash" in fields:
        return "user.password"
    if "role" in fields and fields["role"] != user.role:
        return "user.role"
    if "active" in fields and bool(fields["active"]) != user.active:
        return "user.activate" if fields["active"] else "user.deactivate"
    return "user.update"
