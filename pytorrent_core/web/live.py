"""Live torrent lists: one rTorrent client per profile, one watcher per watched profile.

A profile is watched while at least one Socket.IO connection is in its room
(``profile:N``), and only then. The watcher polls rTorrent and this hub turns
what it finds into events for the room: ``torrents:snapshot`` to a joining
connection, then ``torrents:diff`` and ``profile:status`` to everyone in it.
Snapshot rows leave out fields at their default value; the snapshot carries
those defaults (``defaults``) for the client to fill in.
REST routes ask the hub for a profile's client, so a profile's address is read
in one place and a changed address takes effect at once.

With several instances (``PYTORRENT_REDIS_URL``) one of them polls each watched
profile, the holder of its lease (``cluster.lease``); its events reach the room
on every instance through the Socket.IO manager. Another instance whose
connection joins asks the holder, on the cluster channel, to send that
connection its snapshot; while its viewers stay it keeps the holder polling and
tries for the lease, which it takes over when the holder dies. A watcher that
takes over, or restarts, sends the whole room a snapshot first: its revisions
count from the start again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import socketio

from ..access.cache import AuthCache
from ..cluster.lease import PollerLeases
from ..cluster.link import Cluster
from ..config import Settings
from ..rtorrent.client import RTorrentClient
from ..rtorrent.errors import RTorrentError
from ..rtorrent.model import SNAPSHOT_DEFAULTS
from ..rtorrent.watch import ProfileWatcher, WatchStatus
from ..storage import Profile

log = logging.getLogger(__name__)


LINGER_SECONDS = 60.0  # a watcher outlives its last viewer by this long


def room(profile_id: int) -> str:
    return f"profile:{profile_id}"


class TorrentHub:
    def __init__(self, sio: socketio.AsyncServer, settings: Settings,
                 cluster: Cluster | None = None) -> None:
        self.sio = sio
        self.interval = float(settings.rtorrent_poll_interval)
        self.timeout = float(settings.rtorrent_timeout)
        self.cache: AuthCache | None = None
        self._clients: dict[int, RTorrentClient] = {}
        self._watchers: dict[int, ProfileWatcher] = {}
        self._members: dict[int, set[str]] = {}
        self._pending: dict[int, set[str]] = {}  # joined, waiting for the first poll
        self._status: dict[int, dict[str, Any]] = {}  # last profile:status payload
        self._retire: dict[int, asyncio.Task[None]] = {}  # unwatched, stopping soon
        self.linger = LINGER_SECONDS
        self._check: asyncio.Task[None] | None = None
        self.cluster = cluster
        self.leases: PollerLeases | None = None
        self._announce: set[int] = set()  # first poll goes to the whole room, as a snapshot
        self._keeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        if cluster is not None:
            self.leases = PollerLeases(cluster.redis, cluster.instance)
            cluster.on("torrents:want", self._on_want)
            cluster.on("torrents:poke", self._on_poke)

    # ------------------------------------------------------------ clients

    def client_for(self, profile: Profile) -> RTorrentClient:
        """The client for ``profile``'s current address (a new one when it changed)."""
        client = self._clients.get(profile.id)
        if client is None or client.address.url != profile.scgi_url:
            client = RTorrentClient(profile.scgi_url, timeout=self.timeout)
            self._clients[profile.id] = client
        return client

    def watcher(self, profile_id: int) -> ProfileWatcher | None:
        return self._watchers.get(profile_id)

    def poke(self, profile_id: int, hashes: Iterable[str] | None = None) -> None:
        """Something changed in rTorrent through us: poll now, so rooms see it at once.

        With the ``hashes`` acted on (or added) that poll fetches just those torrents;
        without, it looks at every torrent.
        """
        watcher = self._watchers.get(profile_id)
        if watcher is not None:
            watcher.request_poll(hashes)
        elif self.cluster is not None:  # the holder of the profile's lease polls it
            self.cluster.publish_soon("torrents:poke", profile_id=profile_id,
                                      hashes=None if hashes is None else list(hashes))

    # ------------------------------------------------------------ rooms

    async def join(self, sid: str, profile: Profile) -> None:
        """Put ``sid`` in the profile's room; it gets a snapshot, then the room's diffs."""
        retiring = self._retire.pop(profile.id, None)
        if retiring is not None:
            retiring.cancel()
        self._members.setdefault(profile.id, set()).add(sid)
        await self.sio.enter_room(sid, room(profile.id))
        watcher = self._watchers.get(profile.id)
        if watcher is None and self.leases is not None:
            watcher = await self._take(profile)
            if watcher is None:  # another instance polls it: it sends the snapshot
                assert self.cluster is not None
                await self.cluster.publish("torrents:want", profile_id=profile.id, sid=sid)
                return
        elif watcher is None:
            watcher = self._start(profile)
        elif watcher.client is not self.client_for(profile):
            watcher = await self._restart(profile, watcher)
        known = self._status.get(profile.id)
        if known is not None:
            await self.sio.emit("profile:status", known, to=sid)
        if watcher.status is None or not watcher.status.reachable:
            self._pending.setdefault(profile.id, set()).add(sid)  # the first good poll sends
            return
        await self._snapshot(profile.id, watcher, sid)

    def expect(self, profile: Profile) -> None:
        """A torrent page of ``profile`` was just served: start its watcher now.

        The page joins the room only once its scripts have loaded and its socket is
        up; the watcher's first poll (the slow one: every torrent) runs meanwhile.
        If nobody joins, it stops after the linger, like one whose last viewer left.
        Callers check first that the page's principal may read the profile.
        """
        if self.leases is not None:
            if profile.id not in self._watchers:
                self._spawn(self._expect_clustered(profile))
            return
        if profile.id not in self._watchers:
            self._start(profile)
        if not self._members.get(profile.id):
            self._retire_soon(profile.id)

    async def _expect_clustered(self, profile: Profile) -> None:
        if await self._take(profile) is not None and not self._members.get(profile.id):
            self._retire_soon(profile.id)

    async def leave(self, sid: str, profile_id: int) -> None:
        await self.sio.leave_room(sid, room(profile_id))
        await self._forget(sid, profile_id)

    async def disconnected(self, sid: str) -> None:
        for profile_id in [p for p, members in self._members.items() if sid in members]:
            await self._forget(sid, profile_id)

    async def _forget(self, sid: str, profile_id: int) -> None:
        members = self._members.get(profile_id)
        if members is None:
            return
        members.discard(sid)
        self._pending.get(profile_id, set()).discard(sid)
        if not members:
            self._pending.pop(profile_id, None)
            del self._members[profile_id]
            # A reload or a profile switch and back finds the list warm: keep polling
            # a little while (an idle watcher costs a few percent of a core at most).
            self._retire_soon(profile_id)

    def _retire_soon(self, profile_id: int) -> None:
        """Stop the profile's watcher after the linger unless someone joins before."""
        retiring = self._retire.pop(profile_id, None)
        if retiring is not None:
            retiring.cancel()
        self._retire[profile_id] = asyncio.create_task(self._retire_later(profile_id))

    async def _retire_later(self, profile_id: int) -> None:
        await asyncio.sleep(self.linger)
        self._retire.pop(profile_id, None)
        if self._members.get(profile_id):
            return
        if self.leases is not None and profile_id in self._watchers:
            if await self._quietly(self.leases.wanted_elsewhere(profile_id), False):
                self._retire_soon(profile_id)  # viewers on another instance: keep polling
                return
        self._status.pop(profile_id, None)
        watcher = self._watchers.pop(profile_id, None)
        if watcher is not None:
            await watcher.stop()
            if self.leases is not None:
                await self._quietly(self.leases.release(profile_id), None)

    def _start(self, profile: Profile) -> ProfileWatcher:
        profile_id = profile.id

        async def on_diff(revision: int, changed: list[dict[str, Any]],
                          removed: list[str]) -> None:
            waiting = list(self._pending.pop(profile_id, ()))
            if profile_id in self._announce:
                self._announce.discard(profile_id)
                await self._snapshot(profile_id, watcher, room(profile_id))
                return
            for sid in waiting:  # they get the whole list at this revision instead
                await self._snapshot(profile_id, watcher, sid)
            if self.cluster is None and \
                    not self._members.get(profile_id, set()).difference(waiting):
                return  # nobody else to tell (a first poll, or a lingering watcher)
            await self.sio.emit("torrents:diff", {
                "profile_id": profile_id, "revision": revision,
                "changed": changed, "removed": removed},
                room=room(profile_id), skip_sid=waiting or None)

        async def on_status(status: WatchStatus) -> None:
            await self._emit_status(profile_id, status, client=watcher.client)
            if status.reachable and profile_id in self._announce:
                self._announce.discard(profile_id)
                self._pending.pop(profile_id, None)
                await self._snapshot(profile_id, watcher, room(profile_id))
            elif status.reachable:
                for sid in list(self._pending.pop(profile_id, ())):
                    await self._snapshot(profile_id, watcher, sid)

        watcher = ProfileWatcher(self.client_for(profile), interval=self.interval,
                                 on_diff=on_diff, on_status=on_status)
        self._watchers[profile_id] = watcher
        if self.cluster is not None:
            self._announce.add(profile_id)
        watcher.start()
        return watcher

    async def _restart(self, profile: Profile, old: ProfileWatcher) -> ProfileWatcher:
        """A new watcher for ``profile``, whose address changed. It counts revisions
        from the start again, so the room's viewers get its first list whole: diffs
        numbered below the revision they hold would be dropped as already seen."""
        await old.stop()
        self._pending.setdefault(profile.id, set()).update(self._members.get(profile.id, ()))
        return self._start(profile)

    async def _snapshot(self, profile_id: int, watcher: ProfileWatcher, to: str) -> None:
        """``torrents:snapshot`` to one connection (on any instance) or to a room."""
        revision, rows = watcher.snapshot()
        options: dict[str, Any] = {}
        if self.cluster is not None and to in self._members.get(profile_id, ()):
            options["ignore_queue"] = True  # a connection of this instance: not via Redis
        await self.sio.emit("torrents:snapshot", {
            "profile_id": profile_id, "revision": revision,
            "torrents": [row.to_snapshot_json() for row in rows],
            "defaults": SNAPSHOT_DEFAULTS}, to=to, **options)

    async def _emit_status(self, profile_id: int, status: WatchStatus, *,
                           client: RTorrentClient | None = None) -> None:
        """``profile:status``: reachable or not and why; the version when it (re)connects."""
        payload: dict[str, Any] = {"profile_id": profile_id, "connected": status.reachable}
        if not status.reachable:
            payload["error"] = status.reason or "unreachable"
        elif client is not None:
            try:
                found = await client.status()
            except RTorrentError:
                pass
            else:
                payload.update(client_version=found.client_version, torrents=found.torrents,
                               down_rate=found.down_rate, up_rate=found.up_rate)
        self._status[profile_id] = payload
        await self.sio.emit("profile:status", payload, room=room(profile_id))

    # ------------------------------------------------------------ profile changes

    def profiles_changed(self) -> None:
        """After any stored change: restart watchers whose profile moved, stop deleted ones."""
        if self._check is None or self._check.done():
            with contextlib.suppress(RuntimeError):
                self._check = asyncio.get_running_loop().create_task(self._recheck())

    async def _recheck(self) -> None:
        if self.cache is None or not self._watchers:
            return
        await asyncio.sleep(0)
        profiles = {p.id: p for p in await self.cache.profiles()}
        for profile_id, watcher in list(self._watchers.items()):
            profile = profiles.get(profile_id)
            if profile is None:
                self._watchers.pop(profile_id, None)
                await watcher.stop()
                if self.leases is not None:
                    await self._quietly(self.leases.release(profile_id), None)
            elif watcher.client.address.url != profile.scgi_url:
                await self._restart(profile, watcher)
        for profile_id in list(self._clients):
            if profile_id not in profiles:
                del self._clients[profile_id]

    async def stop(self) -> None:
        for task in [*self._retire.values(), *self._tasks]:
            task.cancel()
        self._retire.clear()
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        for profile_id, watcher in list(self._watchers.items()):
            await watcher.stop()
            if self.leases is not None:  # the next instance need not wait out the lease
                await self._quietly(self.leases.release(profile_id), None)
        self._watchers.clear()
        self._members.clear()

    # ------------------------------------------------------------ several instances

    async def _take(self, profile: Profile) -> ProfileWatcher | None:
        """Start polling ``profile`` here if its lease is free (or ours); None when
        another instance holds it."""
        assert self.leases is not None
        self._keep_leases()
        try:
            taken = await self.leases.acquire(profile.id) or \
                await self.leases.holder(profile.id) == self.leases.instance
        except Exception:  # noqa: BLE001 - Redis away: nobody can take it; try again later
            log.warning("could not take the lease of profile %d: Redis did not answer",
                        profile.id)
            return None
        if not taken:
            return self._watchers.get(profile.id)  # a join here took it meanwhile
        watcher = self._watchers.get(profile.id)
        return watcher if watcher is not None else self._start(profile)

    def _keep_leases(self) -> None:
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep())

    async def _keep(self) -> None:
        """Renew the leases held here; while viewers here want a profile polled
        elsewhere, say so, and take its lease when it falls free."""
        assert self.leases is not None
        tick = self.leases.seconds / 5
        while True:
            await asyncio.sleep(tick)
            try:
                await self._keep_once()
            except Exception:  # noqa: BLE001 - Redis away: keep polling, try again
                log.warning("could not renew rTorrent polling leases; will retry",
                            exc_info=True)

    async def _keep_once(self) -> None:
        assert self.leases is not None
        for profile_id in list(self._watchers):
            if not await self.leases.renew(profile_id):
                log.warning("profile %d: another instance polls its rTorrent now", profile_id)
                watcher = self._watchers.pop(profile_id, None)
                self._status.pop(profile_id, None)
                if watcher is not None:
                    await watcher.stop()
        for profile_id, members in list(self._members.items()):
            if not members or profile_id in self._watchers:
                continue
            await self.leases.want(profile_id)
            profile = await self.cache.profile(profile_id) if self.cache else None
            if profile is not None and await self._take(profile) is not None:
                log.info("profile %d: polling its rTorrent here now", profile_id)

    async def _on_want(self, message: dict[str, Any]) -> None:
        """Another instance's connection joined a room whose profile is polled here."""
        profile_id, sid = message.get("profile_id"), message.get("sid")
        if not isinstance(profile_id, int) or not isinstance(sid, str):
            return
        watcher = self._watchers.get(profile_id)
        if watcher is None:
            return  # not polled here (any more): the lease's next holder sends the room one
        known = self._status.get(profile_id)
        if known is not None:
            await self.sio.emit("profile:status", known, to=sid)
        if watcher.status is None or not watcher.status.reachable:
            self._pending.setdefault(profile_id, set()).add(sid)
            return
        await self._snapshot(profile_id, watcher, sid)

    async def _on_poke(self, message: dict[str, Any]) -> None:
        profile_id, hashes = message.get("profile_id"), message.get("hashes")
        watcher = self._watchers.get(profile_id) if isinstance(profile_id, int) else None
        if watcher is not None:
            watcher.request_poll([str(h) for h in hashes] if isinstance(hashes, list) else None)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _quietly(work: Any, fallback: Any) -> Any:
        try:
            return await work
        except Exception:  # noqa: BLE001 - Redis away: the lease runs out by itself
            log.warning("Redis did not answer about an rTorrent polling lease")
            return fallback
