"""Auth changes told to every instance at once, over the cluster channel.

The store calls back after each committed change to users, grants, tokens or
profiles, and after each sign-out; this instance then tells the others, which
empty their caches (their live connections are checked again, and dropped when
no longer allowed) or refuse the ended session's cookie. Whatever was said
while this instance's subscription was down is unknown: on every
(re)subscription the cache is emptied too. The database poll stays as a net.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..access.cache import SHARED_POLL_SECONDS, AuthCache
from ..storage import Store
from .link import Cluster

CHANGED = "auth:changed"
SESSION_ENDED = "auth:session-ended"


def share_invalidation(cluster: Cluster, store: Store, cache: AuthCache) -> None:
    store.on_change(lambda: cluster.publish_soon(CHANGED))
    store.on_session_end(lambda sid, expires_at: cluster.publish_soon(
        SESSION_ENDED, sid=sid, expires_at=expires_at.isoformat()))

    async def changed(message: dict[str, Any]) -> None:
        cache.clear()

    async def session_ended(message: dict[str, Any]) -> None:
        sid, expires_at = message.get("sid"), message.get("expires_at")
        if isinstance(sid, str) and isinstance(expires_at, str):
            cache.session_ended(sid, datetime.fromisoformat(expires_at))

    cluster.on(CHANGED, changed)
    cluster.on(SESSION_ENDED, session_ended)
    cluster.connected.append(cache.clear)
    cache.poll_seconds = SHARED_POLL_SECONDS
