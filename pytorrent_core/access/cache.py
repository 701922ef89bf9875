"""In-process cache of users, grants, tokens, profiles and each user's active profile.

A request that only reads these costs no database work. Correctness rests on
invalidation, not on expiry: the store tells us after every committed change in
this process, and a watcher polls the database's ``auth_generation`` counter so
changes made by another process (the CLI, a second server) are seen within a
poll interval. Servers that share Redis also tell each other at once
(``cluster.invalidation``); then the poll runs less often, for the CLI's changes
and any message lost while Redis was away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from datetime import UTC, datetime, timedelta

from ..models import Level, Principal, TokenScope, User, Via
from ..storage import Profile, Store, TokenRecord
from ..storage.store import now
from ..tasks import cancel_all
from ..usernames import username_fold

log = logging.getLogger(__name__)

GENERATION_POLL_SECONDS = 0.5
SHARED_POLL_SECONDS = 2.0  # with Redis telling us at once, the poll is only a safety net
ENDED_OVERLAP = timedelta(seconds=30)
TOKEN_FLUSH_SECONDS = 15.0
MAX_RENDERED = 2048


class AuthCache:
    def __init__(self, store: Store, *, require_two_factor_admins: bool = False) -> None:
        self.store = store
        self.require_two_factor_admins = require_two_factor_admins
        self._users: dict[int, User | None] = {}
        self._names: dict[str, int | None] = {}
        self._folds: dict[str, int | None] = {}
        self._permissions: dict[int, dict[int | None, Level]] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._principals: dict[tuple[int, str, int | None], Principal] = {}
        self._profiles: tuple[Profile, ...] | None = None
        self._active: dict[int, int | None] = {}
        self._views: dict[Hashable, bytes] = {}
        self._ended: dict[str, datetime] | None = None  # sid -> when its cookie expires
        self._ended_loaded_at: datetime | None = None
        self._sessions_generation: int | None = None
        self._token_use: dict[int, tuple[float, str | None]] = {}  # id -> time.time(), from
        self._session_seen: dict[str, float] = {}  # sid -> time.time(), cheaper than now()
        self._generation: int | None = None
        self._epoch = 0
        self.poll_seconds = GENERATION_POLL_SECONDS
        self._tasks: list[asyncio.Task[None]] = []
        self.listeners: list[Callable[[], None]] = []
        store.on_change(self.clear)
        store.on_session_end(self._session_ended)

    def clear(self) -> None:
        # Loads that started before a clear must not store what they read.
        self._epoch += 1
        self._users.clear()
        self._names.clear()
        self._folds.clear()
        self._permissions.clear()
        self._tokens.clear()
        self._principals.clear()
        self._profiles = None
        self._active.clear()
        self._views.clear()
        for callback in self.listeners:
            callback()

    async def user(self, user_id: int) -> User | None:
        try:
            return self._users[user_id]
        except KeyError:
            epoch = self._epoch
            user = await self.store.get_user(user_id)
            if epoch == self._epoch:
                self._users[user_id] = user
            return user

    async def user_by_name(self, username: str) -> User | None:
        key = username.lower()
        try:
            user_id = self._names[key]
        except KeyError:
            epoch = self._epoch
            user = await self.store.get_user_by_name(username)
            if epoch == self._epoch:
                self._names[key] = user.id if user else None
                if user:
                    self._users[user.id] = user
            return user
        return None if user_id is None else await self.user(user_id)

    async def user_like(self, username: str) -> User | None:
        """The user whose name reads the same as ``username`` (Store.get_user_by_fold)."""
        key = username_fold(username)
        try:
            user_id = self._folds[key]
        except KeyError:
            epoch = self._epoch
            user = await self.store.get_user_by_fold(username)
            if epoch == self._epoch:
                self._folds[key] = user.id if user else None
                if user:
                    self._users[user.id] = user
            return user
        return None if user_id is None else await self.user(user_id)

    async def permissions(self, user_id: int) -> dict[int | None, Level]:
        try:
            return self._permissions[user_id]
        except KeyError:
            epoch = self._epoch
            grants = await self.store.permissions(user_id)
            if epoch == self._epoch:
                self._permissions[user_id] = grants
            return grants

    async def principal(self, user: User, via: Via, token_id: int | None = None,
                        scope: TokenScope | None = None) -> Principal:
        """The Principal for ``user`` reached ``via``: built once, dropped on any change.

        A scoped token's permissions are its owner's as they are now, cut down to
        the scope: a grant lowered or removed lowers the token on the next request.
        """
        key = (user.id, via, token_id)
        known = self._principals.get(key)
        if known is not None and known.user is user:  # not built from an older User
            return known
        epoch = self._epoch
        grants = {} if user.is_admin else await self.permissions(user.id)
        principal = Principal(
            user=user, via=via, permissions=grants, token_id=token_id,
            must_enrol_two_factor=(self.require_two_factor_admins and via == "session"
                                   and user.is_admin and not user.two_factor))
        if scope is not None:
            principal = Principal(user=user, via=via, permissions=scope.limit(principal),
                                  token_id=token_id, scope=scope)
        if epoch == self._epoch:
            self._principals[key] = principal
        return principal

    async def profiles(self) -> tuple[Profile, ...]:
        """Every profile, by name. Profile writes go through the Store's change path too."""
        if self._profiles is None:
            epoch = self._epoch
            loaded = tuple(await self.store.list_profiles())
            if epoch != self._epoch:
                return loaded
            self._profiles = loaded
        return self._profiles

    async def profile(self, profile_id: int) -> Profile | None:
        """One profile. One made by another process a moment ago is read from the
        database, not reported missing until the next poll clears the cache."""
        for profile in await self.profiles():
            if profile.id == profile_id:
                return profile
        return await self.store.get_profile(profile_id)

    async def active_profile(self, user_id: int) -> int | None:
        try:
            return self._active[user_id]
        except KeyError:
            epoch = self._epoch
            active = await self.store.active_profile(user_id)
            if epoch == self._epoch:
                self._active[user_id] = active
            return active

    async def rendered(self, key: Hashable, render: Callable[[], Awaitable[bytes]]) -> bytes:
        """A response body that depends only on cached auth data, rendered once per change.

        ``key`` must name everything the body depends on (the view and the principal).
        """
        body = self._views.get(key)
        if body is None:
            epoch = self._epoch
            body = await render()
            if epoch == self._epoch:
                if len(self._views) >= MAX_RENDERED:
                    self._views.pop(next(iter(self._views)))
                self._views[key] = body
        return body

    async def ended_sessions(self) -> Mapping[str, datetime]:
        """Session ids ended by logout, loaded once, then kept up to date one logout at a
        time (they stay only until their cookies would expire anyway)."""
        if self._ended is None or self._ended_loaded_at is None:
            loaded_at = now()
            ended = await self.store.ended_sessions()
            if self._ended is None:
                self._ended = ended
            else:  # logouts in this process, recorded before or while we read
                self._ended.update(ended)
            self._ended_loaded_at = loaded_at
        return self._ended

    def session_ended(self, sid: str, expires_at: datetime) -> None:
        """A sign-out recorded by another server: its cookie is refused here at once."""
        self._session_ended(sid, expires_at)

    def _session_ended(self, sid: str, expires_at: datetime) -> None:
        if self._ended is None:
            self._ended = {}  # a load in progress merges into this; _ended_loaded_at is None
        self._ended[sid] = expires_at
        for callback in self.listeners:  # live connections on that session must drop
            callback()

    async def _load_new_ended_sessions(self) -> None:
        if self._ended is None or self._ended_loaded_at is None:
            return
        moment = now()
        # Another server's clock may run a little behind: look back a few seconds.
        fresh = await self.store.ended_sessions(since=self._ended_loaded_at - ENDED_OVERLAP)
        self._ended_loaded_at = moment
        self._ended = {sid: at for sid, at in self._ended.items() if at >= moment}
        self._ended.update(fresh)
        for callback in self.listeners:
            callback()

    async def token(self, digest: str) -> TokenRecord | None:
        """Look a token up by digest. Unknown digests are not cached (no memory growth)."""
        record = self._tokens.get(digest)
        if record is None:
            epoch = self._epoch
            record = await self.store.token_by_digest(digest)
            if record is not None and epoch == self._epoch:
                self._tokens[digest] = record
        return record

    def peek_token(self, digest: str) -> TokenRecord | None:
        """The cached record for a digest, if loaded; never touches the database."""
        return self._tokens.get(digest)

    def note_token_use(self, token_id: int, address: str | None = None) -> None:
        self._token_use[token_id] = (time.time(), address)

    def pending_use(self, token_id: int) -> tuple[datetime, str | None] | None:
        """A use (when, from which address) noted in memory but not yet written:
        listings show it without a flush."""
        use = self._token_use.get(token_id)
        return None if use is None else (_utc(use[0]), use[1])

    async def flush_token_use(self) -> None:
        pending, self._token_use = self._token_use, {}
        if pending:
            await self.store.touch_tokens({token_id: (_utc(at), address)
                                           for token_id, (at, address) in pending.items()})
        seen, self._session_seen = self._session_seen, {}
        if seen:
            await self.store.touch_sessions({sid: _utc(at) for sid, at in seen.items()})

    def note_session_seen(self, sid: str) -> None:
        self._session_seen[sid] = time.time()

    def pending_session_seen(self, sid: str) -> datetime | None:
        """A sign-in session's last request, noted in memory but not yet written."""
        at = self._session_seen.get(sid)
        return None if at is None else _utc(at)

    # ------------------------------------------------------------ background

    async def start(self) -> None:
        self._generation, self._sessions_generation = await self.store.generations()
        self._tasks = [asyncio.create_task(self._watch_generation()),
                       asyncio.create_task(self._flush_loop())]

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        self._tasks = []
        await self.flush_token_use()

    async def _watch_generation(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                generation, sessions = await self.store.generations()
                if sessions != self._sessions_generation:
                    self._sessions_generation = sessions
                    await self._load_new_ended_sessions()
            except Exception:  # noqa: BLE001 - keep watching through a transient DB error
                log.warning("could not read auth generation; will retry", exc_info=True)
                continue
            if generation != self._generation:
                self._generation = generation
                self.clear()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(TOKEN_FLUSH_SECONDS)
            try:
                await self.flush_token_use()
            except Exception:  # noqa: BLE001
                log.warning("could not record token and session use; will retry", exc_info=True)


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
