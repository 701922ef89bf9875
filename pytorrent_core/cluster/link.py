"""One Redis connection per instance, and a channel the instances talk on.

Messages are small JSON objects ``{"op": ..., "from": <instance>, ...}`` on one
pub/sub channel; an instance ignores its own. Pub/sub forgets what it sends while
a subscriber is away, so after every (re)subscription the ``connected`` callbacks
run: callers drop what they may have missed hearing about.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..config import ConfigError, Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

CHANNEL = "pytorrent:events"
SCHEMES = ("redis", "rediss")
CONNECT_TIMEOUT = 5.0
RETRY_MAX_SECONDS = 5.0
INSTALL = "pip install 'pytorrent-core[redis]'"

Handler = Callable[[dict[str, Any]], Awaitable[None]]


def _where(settings: Settings) -> str:
    return settings.where("redis.url")


def connect(settings: Settings) -> Redis:
    """A client for ``redis.url``; raises :class:`ConfigError` (one line) when the
    package is missing or the URL is not a Redis URL. Does not touch the network."""
    url = str(settings.redis_url)
    try:
        from redis.asyncio import Redis
    except ImportError:
        raise ConfigError(f"{_where(settings)}: Redis needs the redis package, which is not "
                          f"installed; install it ({INSTALL}) or unset PYTORRENT_REDIS_URL"
                          ) from None
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigError(f"{_where(settings)}: not a Redis URL (scheme {scheme or 'missing'!r}); "
                          "write redis://[:password@]host:port/db, or rediss:// for TLS")
    try:
        return Redis.from_url(url, decode_responses=True, socket_connect_timeout=CONNECT_TIMEOUT,
                              health_check_interval=30)
    except ValueError as error:
        raise ConfigError(f"{_where(settings)}: not a usable Redis URL ({error}); "
                          "write redis://[:password@]host:port/db") from None


async def check_redis(settings: Settings) -> None:
    """Start-up's check: the package is installed, the URL parses and Redis answers PING.

    Raises :class:`ConfigError` with one line naming the setting and the fix; the
    password in the URL never appears in it.
    """
    client = connect(settings)  # first: it explains a missing package
    from redis.exceptions import AuthenticationError, RedisError, ResponseError

    try:
        await asyncio.wait_for(client.ping(), CONNECT_TIMEOUT * 2)
    except (AuthenticationError, ResponseError) as error:
        raise ConfigError(f"{_where(settings)}: Redis refused us: {_quiet(error, settings)}; "
                          "put the right password in the URL (redis://:PASSWORD@host:port/0)"
                          ) from None
    except (RedisError, OSError, TimeoutError) as error:
        raise ConfigError(f"{_where(settings)}: cannot reach Redis: "
                          f"{_quiet(error, settings) or 'no answer'}; start Redis or correct "
                          "the URL") from None
    finally:
        await client.aclose()


def _quiet(error: BaseException, settings: Settings) -> str:
    """The error's message on one line, without the URL's password should it appear."""
    text = " ".join(str(error).split())
    password = urlsplit(str(settings.redis_url)).password
    return text.replace(password, "***") if password else text


class Cluster:
    """This instance's link to the others: a Redis client and the message channel."""

    def __init__(self, settings: Settings) -> None:
        self.url = str(settings.redis_url)
        self.redis = connect(settings)
        # Readable where it shows (redis-cli GET pytorrent:poller:1): which host, which process.
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._handlers: dict[str, Handler] = {}
        self.connected: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._sending: set[asyncio.Task[None]] = set()

    def on(self, op: str, handler: Handler) -> None:
        """Run ``handler(message)`` for each message ``op`` another instance sends."""
        self._handlers[op] = handler

    async def publish(self, op: str, **data: Any) -> None:
        from redis.exceptions import RedisError

        message = json.dumps({"op": op, "from": self.instance, **data})
        try:
            await self.redis.publish(CHANNEL, message)
        except (RedisError, OSError):
            log.warning("could not tell the other instances (%s): Redis did not answer", op)

    def publish_soon(self, op: str, **data: Any) -> None:
        """:meth:`publish` from synchronous code (a store callback): sent in order, soon."""
        try:
            task = asyncio.get_running_loop().create_task(self.publish(op, **data))
        except RuntimeError:
            return
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def start(self) -> None:
        """Subscribe, and return once the subscription is in place (or Redis failed to
        answer for a while: the subscription keeps trying)."""
        self._task = asyncio.create_task(self._listen(), name="pytorrent-cluster")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), CONNECT_TIMEOUT * 2)

    async def stop(self) -> None:
        if self._sending:
            await asyncio.wait(list(self._sending), timeout=2)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.redis.aclose()

    async def _listen(self) -> None:
        from redis.exceptions import RedisError

        delay = 0.1
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    delay = 0.1
                    self._ready.set()
                    for callback in self.connected:
                        callback()
                    while True:
                        message = await pubsub.get_message(timeout=30.0)
                        if message is not None and message.get("type") == "message":
                            await self._dispatch(message["data"])
            except (RedisError, OSError):
                log.warning("lost the Redis subscription; reconnecting in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def _dispatch(self, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("from") == self.instance:
            return
        handler = self._handlers.get(str(message.get("op")))
        if handler is None:
            return
        try:
            await handler(message)
        except Exception:  # noqa: BLE001 - one bad message must not end the subscription
            log.exception("handling a message from another instance (%s) failed",
                          message.get("op"))
