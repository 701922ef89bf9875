"""Which instance polls a profile's rTorrent: a lease in Redis that expires.

``SET key <instance> NX PX`` takes a free lease; its holder renews it well
before it runs out and gives it back when it stops watching. An instance that
dies stops renewing, so another takes the lease over once it expires. Renewing
and giving back check the holder first, in one script, so an instance that
stalled past its lease cannot extend or drop its successor's.

Instances whose viewers want a profile the holder has no viewers of say so with
a short-lived interest key, which keeps the holder polling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

LEASE_SECONDS = 5.0

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class PollerLeases:
    def __init__(self, redis: Redis, instance: str, *, seconds: float = LEASE_SECONDS) -> None:
        self.redis = redis
        self.instance = instance
        self.seconds = seconds
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    @property
    def _ms(self) -> int:
        return int(self.seconds * 1000)

    @staticmethod
    def key(profile_id: int) -> str:
        return f"pytorrent:poller:{profile_id}"

    @staticmethod
    def interest_key(profile_id: int) -> str:
        return f"pytorrent:viewers:{profile_id}"

    async def acquire(self, profile_id: int) -> bool:
        """Take the profile's lease if nobody holds it; True when this instance now does."""
        return bool(await self.redis.set(self.key(profile_id), self.instance, nx=True,
                                         px=self._ms))

    async def renew(self, profile_id: int) -> bool:
        """Extend this instance's lease; False when it is no longer ours."""
        return bool(await self._renew(keys=[self.key(profile_id)],
                                      args=[self.instance, self._ms]))

    async def release(self, profile_id: int) -> None:
        await self._release(keys=[self.key(profile_id)], args=[self.instance])

    async def holder(self, profile_id: int) -> str | None:
        value = await self.redis.get(self.key(profile_id))
        return None if value is None else str(value)

    async def want(self, profile_id: int) -> None:
        """Viewers here want the profile polled, for the next lease period."""
        await self.redis.set(self.interest_key(profile_id), self.instance, px=self._ms)

    async def wanted_elsewhere(self, profile_id: int) -> bool:
        value = await self.redis.get(self.interest_key(profile_id))
        return value is not None and value != self.instance
