"""Sign-in throttling counted in Redis, so several instances share one budget.

The rules are :class:`~pytorrent_core.access.throttle.LoginThrottle`'s, run by
that very class: each attempt reads the two counters it touches (its address's
and its username's) and the username's known addresses from Redis, lets a
``LoginThrottle`` holding just those decide, and writes the counters back in a
transaction that fails if another attempt changed them meanwhile (then it reads
again). The clock is the wall clock, which instances share; each key expires
once its counter would be forgotten anyway.

While Redis does not answer, an in-process ``LoginThrottle`` counts instead: sign-in
keeps working with each instance's own budget, rather than failing or going
unthrottled.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..access.throttle import (
    ADDRESS_LIMIT,
    KNOWN_ADDRESS_DAYS,
    USERNAME_LIMIT,
    Attempt,
    Limit,
    LoginThrottle,
    _Counter,
    client_key,
    username_key,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline

log = logging.getLogger(__name__)

MAX_TRIES = 50  # transactions lost to other attempts on the same keys before giving up
KNOWN_TTL_MS = KNOWN_ADDRESS_DAYS * 86400 * 1000


class SharedLoginThrottle:
    """A :class:`~pytorrent_core.access.throttle.SignInThrottle` whose counters live in
    Redis under ``prefix``."""

    def __init__(self, redis: Redis, prefix: str, *, address_limit: Limit = ADDRESS_LIMIT,
                 username_limit: Limit = USERNAME_LIMIT,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.prefix = prefix
        self.address_limit = address_limit
        self.username_limit = username_limit
        self.clock = clock
        self.fallback = LoginThrottle(address_limit=address_limit,
                                      username_limit=username_limit)
        self._counted_here: weakref.WeakValueDictionary[int, Attempt] = \
            weakref.WeakValueDictionary()

    def _keys(self, address: str, username: str) -> tuple[str, str, str]:
        return (f"{self.prefix}:address:{address}", f"{self.prefix}:username:{username}",
                f"{self.prefix}:known:{username}")

    def _rules(self, now: float) -> LoginThrottle:
        return LoginThrottle(address_limit=self.address_limit,
                             username_limit=self.username_limit, clock=lambda: now)

    async def start(self, client: str | None, username: str, *,
                    shared: bool = False) -> Attempt:
        from redis.exceptions import RedisError

        try:
            return await self._start(client, username, shared=shared)
        except (RedisError, OSError):
            log.warning("sign-in throttle: Redis did not answer; counting in this instance "
                        "alone until it does")
            attempt = self.fallback.begin(client, username, shared=shared)
            self._counted_here[id(attempt)] = attempt
            return attempt

    async def forgive(self, attempt: Attempt) -> None:
        from redis.exceptions import RedisError

        if self._counted_here.get(id(attempt)) is attempt:
            self.fallback.succeeded(attempt)
            return
        try:
            await self._forgive(attempt)
        except (RedisError, OSError):
            log.warning("sign-in throttle: Redis did not answer; a right password's earlier "
                        "failures stay counted")

    async def _start(self, client: str | None, username: str, *,
                     shared: bool = False) -> Attempt:
        user = username_key(username)
        address = client_key(client)
        if shared:
            address = f"{address} {user}"
        address_key, username_key_, known_key = self._keys(address, user)
        from redis.exceptions import WatchError

        for _ in range(MAX_TRIES):
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(address_key, username_key_, known_key)
                    rules = await self._load(pipe, address, user, now=self.clock())
                    rules._serial = secrets.randbits(52)  # unique across instances
                    attempt = rules.begin(client, username, shared=shared)
                    if attempt.refused:
                        return attempt
                    pipe.multi()
                    self._store(pipe, rules, address, user)
                    await pipe.execute()
                    return attempt
                except WatchError:
                    continue
        return Attempt(address, user, shared, retry_after=1)  # a flood on one name: wait

    async def _forgive(self, attempt: Attempt) -> None:
        if attempt.refused:
            return
        address_key, username_key_, known_key = self._keys(attempt.address, attempt.username)
        from redis.exceptions import WatchError

        for _ in range(MAX_TRIES):
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(address_key, username_key_, known_key)
                    rules = await self._load(pipe, attempt.address, attempt.username,
                                             now=self.clock())
                    rules.succeeded(attempt)
                    pipe.multi()
                    self._store(pipe, rules, attempt.address, attempt.username)
                    until = rules._known.get(attempt.username, {}).get(attempt.address)
                    if until is not None:
                        pipe.hset(known_key, attempt.address, repr(until))
                        pipe.pexpire(known_key, KNOWN_TTL_MS)
                    await pipe.execute()
                    return
                except WatchError:
                    continue

    async def _load(self, pipe: Pipeline, address: str, user: str, *,
                    now: float) -> LoginThrottle:
        address_key, username_key_, known_key = self._keys(address, user)
        stored_address, stored_user = await pipe.mget(address_key, username_key_)
        known = await pipe.hget(known_key, address)
        rules = self._rules(now)
        if stored_address:
            rules._addresses[address] = _load_counter(stored_address)
        if stored_user:
            rules._usernames[user] = _load_counter(stored_user)
        if known:
            rules._known[user] = {address: float(known)}
        return rules

    def _store(self, pipe: Pipeline, rules: LoginThrottle, address: str, user: str) -> None:
        address_key, username_key_, _ = self._keys(address, user)
        for table, key, stored, limit in (
                (rules._addresses, address, address_key, self.address_limit),
                (rules._usernames, user, username_key_, self.username_limit)):
            counter = table.get(key)
            if counter is not None:
                pipe.set(stored, _dump_counter(counter), px=_keep_ms(limit))


def _keep_ms(limit: Limit) -> int:
    """How long a counter matters: its window, its longest lockout, its repeat memory."""
    return int(max(limit.window, limit.max_lockout, limit.forget_after) * 1000)


def _dump_counter(counter: _Counter) -> str:
    return json.dumps({"failures": counter.failures, "strikes": counter.strikes,
                       "locked_until": counter.locked_until, "last_seen": counter.last_seen})


def _load_counter(text: str | bytes) -> _Counter:
    data: dict[str, Any] = json.loads(text)
    return _Counter(failures=[(float(at), int(serial), str(user))
                              for at, serial, user in data["failures"]],
                    strikes=int(data["strikes"]), locked_until=float(data["locked_until"]),
                    last_seen=float(data["last_seen"]))
