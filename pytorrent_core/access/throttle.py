"""Brute-force throttling for the login endpoints, kept in memory (or in Redis).

Two counters decide, both over a sliding window:

* per client address (IPv6 grouped by /64): a few failures lock that address
  out, for a time that doubles with each repeat. This is what slows guessing.
* per username, across addresses: a much higher limit catches guessing spread
  over many addresses. Its lockout is short and capped, and it does not apply to
  addresses this user has signed in from before, so an attacker elsewhere
  cannot keep a real user out for long.

When the address may stand for many users (a trusted proxy's own address, as
behind a proxy that adds no ``X-Forwarded-For``, or no address at all), the
address counter is kept per address and username, so one user's failures do
not lock out everyone behind that proxy, and such an address never earns the
"signed in from here before" exemption.

Every attempt counts as a failure from the moment it starts and is forgiven
when it succeeds, so a burst of parallel requests cannot slip past the limit
while the password hashes are being checked. Nothing touches the database; the
state is lost on restart, which is acceptable. Several instances that share Redis
count in it instead (``cluster.throttle``), by these same rules.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

UNKNOWN_CLIENT = "unknown"
MAX_KEY_LENGTH = 128


@dataclass(frozen=True)
class Limit:
    failures: int  # this many failures inside ``window`` seconds start a lockout
    window: float
    lockout: float  # first lockout, doubled on each repeat
    max_lockout: float
    forget_after: float  # a quiet key loses its repeat count after this long


ADDRESS_LIMIT = Limit(failures=5, window=300, lockout=60, max_lockout=3600,
                      forget_after=24 * 3600)
USERNAME_LIMIT = Limit(failures=30, window=300, lockout=30, max_lockout=300, forget_after=3600)
KNOWN_ADDRESS_DAYS = 30
MAX_KEYS = 50_000


@dataclass
class _Counter:
    failures: list[tuple[float, int, str]] = field(default_factory=list)  # when, attempt, user
    strikes: int = 0
    locked_until: float = 0.0
    last_seen: float = 0.0


@dataclass
class _Undo:
    """What an attempt changed when it started a lockout, to restore if it succeeds."""

    failures: list[tuple[float, int, str]]
    strikes: int
    locked_until: float
    set_until: float


@dataclass
class Attempt:
    """One login attempt. ``retry_after`` set: refused, nothing was checked or recorded."""

    address: str
    username: str
    shared: bool = False  # the address may stand for many users
    retry_after: int | None = None
    serial: int = 0
    undo: dict[str, _Undo] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return self.retry_after is not None


def client_key(client: str | None) -> str:
    if not client:
        return UNKNOWN_CLIENT
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return client[:MAX_KEY_LENGTH]
    if isinstance(ip, ipaddress.IPv6Address):
        # One subscriber usually holds a whole /64.
        return str(ipaddress.IPv6Network((int(ip), 64), strict=False))
    return str(ip)


def username_key(username: str) -> str:
    return username.strip().lower()[:MAX_KEY_LENGTH]


class SignInThrottle(Protocol):
    """What the sign-in routes use: this process's :class:`LoginThrottle`, or the one
    several instances share in Redis."""

    async def start(self, client: str | None, username: str, *,
                    shared: bool = False) -> Attempt: ...

    async def forgive(self, attempt: Attempt) -> None: ...


class LoginThrottle:
    def __init__(self, *, address_limit: Limit = ADDRESS_LIMIT,
                 username_limit: Limit = USERNAME_LIMIT,
                 clock: Callable[[], float] = time.monotonic,
                 max_keys: int = MAX_KEYS) -> None:
        self.address_limit = address_limit
        self.username_limit = username_limit
        self.clock = clock
        self.max_keys = max_keys
        self._addresses: dict[str, _Counter] = {}
        self._usernames: dict[str, _Counter] = {}
        self._known: dict[str, dict[str, float]] = {}  # username -> address -> until
        self._serial = 0

    # ------------------------------------------------------------ public

    async def start(self, client: str | None, username: str, *,
                    shared: bool = False) -> Attempt:
        """:meth:`begin`, as :class:`SignInThrottle` asks for it."""
        return self.begin(client, username, shared=shared)

    async def forgive(self, attempt: Attempt) -> None:
        """:meth:`succeeded`, as :class:`SignInThrottle` asks for it."""
        self.succeeded(attempt)

    def begin(self, client: str | None, username: str, *, shared: bool = False) -> Attempt:
        """Start an attempt: refuse it while locked out, otherwise count it as failed.

        ``shared``: the client address may stand for many users (``RequestFacts.client_shared``).
        """
        now = self.clock()
        user = username_key(username)
        address = client_key(client)
        if shared:
            address = f"{address} {user}"
        attempt = Attempt(address, user, shared)
        counted = self._counted_by_username(attempt, now)
        waits = [self._remaining(self._addresses.get(attempt.address), now)]
        if counted:
            waits.append(self._remaining(self._usernames.get(attempt.username), now))
        wait = max(waits)
        if wait > 0:
            attempt.retry_after = max(1, math.ceil(wait))
            return attempt
        self._serial += 1
        attempt.serial = self._serial
        self._record(self._addresses, "address", attempt.address, self.address_limit,
                     attempt, now)
        if counted:
            self._record(self._usernames, "username", attempt.username, self.username_limit,
                         attempt, now)
        self._prune(now)
        return attempt

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: forgive this user's failures from this address."""
        if attempt.refused:
            return
        now = self.clock()
        for kind, table, key in (("address", self._addresses, attempt.address),
                                 ("username", self._usernames, attempt.username)):
            counter = table.get(key)
            if counter is None:
                continue
            undo = attempt.undo.get(kind)
            if undo is not None and counter.locked_until == undo.set_until:
                counter.failures = undo.failures
                counter.strikes = undo.strikes
                counter.locked_until = undo.locked_until
            counter.failures = [entry for entry in counter.failures
                                if entry[1] != attempt.serial
                                and (kind == "username" or entry[2] != attempt.username)]
        if not attempt.shared:
            known = self._known.setdefault(attempt.username, {})
            known[attempt.address] = now + KNOWN_ADDRESS_DAYS * 86400

    # ------------------------------------------------------------ internals

    def _counted_by_username(self, attempt: Attempt, now: float) -> bool:
        if attempt.shared:
            return True
        until = self._known.get(attempt.username, {}).get(attempt.address)
        return until is None or until <= now

    @staticmethod
    def _remaining(counter: _Counter | None, now: float) -> float:
        return 0.0 if counter is None else max(0.0, counter.locked_until - now)

    def _record(self, table: dict[str, _Counter], kind: str, key: str, limit: Limit,
                attempt: Attempt, now: float) -> None:
        counter = table.get(key)
        if counter is None:
            counter = table[key] = _Counter()
        if counter.strikes and now - counter.last_seen > limit.forget_after:
            counter.strikes = 0
        counter.last_seen = now
        counter.failures = [entry for entry in counter.failures
                            if now - entry[0] < limit.window]
        counter.failures.append((now, attempt.serial, attempt.username))
        if len(counter.failures) < limit.failures:
            return
        lockout = min(limit.max_lockout, limit.lockout * 2 ** counter.strikes)
        until = now + lockout
        attempt.undo[kind] = _Undo(counter.failures, counter.strikes, counter.locked_until,
                                   until)
        counter.failures = []
        counter.strikes += 1
        counter.locked_until = until

    def _prune(self, now: float) -> None:
        for table, limit in ((self._addresses, self.address_limit),
                             (self._usernames, self.username_limit)):
            if len(table) <= self.max_keys:
                continue
            idle = [key for key, counter in table.items()
                    if counter.locked_until <= now
                    and (not counter.failures or now - counter.failures[-1][0] >= limit.window)
                    and (not counter.strikes or now - counter.last_seen > limit.forget_after)]
            for key in idle:
                del table[key]
            if len(table) > self.max_keys:
                # Under a flood, forget the least recently seen first.
                for key in sorted(table, key=lambda k: table[k].last_seen)[
                        :len(table) - self.max_keys]:
                    del table[key]
        if sum(len(v) for v in self._known.values()) > self.max_keys:
            for user, addresses in list(self._known.items()):
                for address, until in list(addresses.items()):
                    if until <= now:
                        del addresses[address]
                if not addresses:
                    del self._known[user]


TOKEN_LIMIT = Limit(failures=20, window=60, lockout=60, max_lockout=900, forget_after=3600)


class TokenThrottle:
    """Bad API tokens per client address: a few dozen a minute, then a lockout.

    A 256-bit token cannot be guessed, but answering hundreds of guesses a second
    costs a database lookup each and hides a misbehaving client; after
    ``failures`` bad tokens in ``window`` seconds the address gets 429 for token
    requests, for a time that doubles with each repeat.
    """

    def __init__(self, limit: Limit = TOKEN_LIMIT, *,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS) -> None:
        self.limit = limit
        self.clock = clock
        self.max_keys = max_keys
        self._counters: dict[str, _Counter] = {}

    def retry_after(self, client: str | None) -> int | None:
        counter = self._counters.get(client_key(client))
        if counter is None:
            return None
        left = counter.locked_until - self.clock()
        return math.ceil(left) if left > 0 else None

    def failed(self, client: str | None) -> None:
        key = client_key(client)
        moment = self.clock()
        counter = self._counters.get(key)
        if counter is None:
            if len(self._counters) >= self.max_keys:
                self._counters.pop(next(iter(self._counters)))
            counter = self._counters[key] = _Counter()
        if moment - counter.last_seen > self.limit.forget_after:
            counter.strikes = 0
        counter.last_seen = moment
        counter.failures = [f for f in counter.failures if moment - f[0] < self.limit.window]
        counter.failures.append((moment, 0, ""))
        if len(counter.failures) >= self.limit.failures:
            lockout = min(self.limit.lockout * 2 ** counter.strikes, self.limit.max_lockout)
            counter.strikes += 1
            counter.locked_until = moment + lockout
            counter.failures = []
