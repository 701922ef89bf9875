"""Changes the ``pytorrent`` command makes, told to the running instances over Redis.

A server publishes its own changes (:mod:`.invalidation`); a command run beside
it changes the same database from another process, so without this the servers
would see it only at their next database poll. The command collects what its
store committed and publishes it before it exits. If Redis does not answer the
change stands and the servers' poll still finds it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from ..config import ConfigError, Settings
from ..storage import Store
from .invalidation import CHANGED, SESSION_ENDED
from .link import CHANNEL, connect

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def announced(store: Store, settings: Settings) -> AsyncIterator[None]:
    """Publish what ``store`` commits inside the block, once it ends (Redis set only)."""
    if not settings.redis_url_is_set:
        yield
        return
    sender = f"cli:{socket.gethostname()}:{os.getpid()}"
    messages: list[dict[str, Any]] = []

    def ended(sid: str, expires_at: datetime) -> None:
        messages.append({"op": SESSION_ENDED, "sid": sid, "expires_at": expires_at.isoformat()})

    store.on_change(lambda: messages.append({"op": CHANGED}))
    store.on_session_end(ended)
    try:
        yield
    finally:
        if messages:
            await _publish(settings, sender, messages)


async def _publish(settings: Settings, sender: str, messages: list[dict[str, Any]]) -> None:
    try:
        redis = connect(settings)
    except ConfigError as problem:  # the change is made; only the news of it is lost
        log.warning("%s; the running servers will see the change at their next database "
                    "poll", problem)
        return
    from redis.exceptions import RedisError

    try:
        for message in messages:
            await redis.publish(CHANNEL, json.dumps({**message, "from": sender}))
    except (RedisError, OSError):
        log.warning("could not tell the running servers over Redis "
                    "(PYTORRENT_REDIS_URL); they will see the change at their next "
                    "database poll, within seconds")
    finally:
        await redis.aclose()
