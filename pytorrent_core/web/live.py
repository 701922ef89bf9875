"""Live torrent lists: one rTorrent client per profile, one watcher per watched profile.

A profile is watched while at least one Socket.IO connection is in its room
(``profile:N``), and only then. The watcher polls rTorrent and this hub turns
what it finds into events for the room: ``torrents:snapshot`` to a joining
connection, then ``torrents:diff`` and ``profile:status`` to everyone in it.
Snapshot rows leave out fields at their default value; the snapshot carries
those defaults (``defaults``) for the client to fill in.
REST routes ask the hub for a profile's client, so a profile's address is read
in one place and a changed address takes effect at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import socketio

from ..access.cache import AuthCache
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
    def __init__(self, sio: socketio.AsyncServer, settings: Settings) -> None:
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

    # ------------------------------------------------------------ rooms

    async def join(self, sid: str, profile: Profile) -> None:
        """Put ``sid`` in the profile's room; it gets a snapshot, then the room's diffs."""
        retiring = self._retire.pop(profile.id, None)
        if retiring is not None:
            retiring.cancel()
        self._members.setdefault(profile.id, set()).add(sid)
        await self.sio.enter_room(sid, room(profile.id))
        watcher = self._watchers.get(profile.id)
        if watcher is None:
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
        if profile.id not in self._watchers:
            self._start(profile)
        if not self._members.get(profile.id):
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
        self._status.pop(profile_id, None)
        watcher = self._watchers.pop(profile_id, None)
        if watcher is not None:
            await watcher.stop()

    def _start(self, profile: Profile) -> ProfileWatcher:
        profile_id = profile.id

        async def on_diff(revision: int, changed: list[dict[str, Any]],
                          removed: list[str]) -> None:
            waiting = list(self._pending.pop(profile_id, ()))
            for sid in waiting:  # they get the whole list at this revision instead
                await self._snapshot(profile_id, watcher, sid)
            if not self._members.get(profile_id, set()).difference(waiting):
                return  # nobody else to tell (a first poll, or a lingering watcher)
            await self.sio.emit("torrents:diff", {
                "profile_id": profile_id, "revision": revision,
                "changed": changed, "removed": removed},
                room=room(profile_id), skip_sid=waiting or None)

        async def on_status(status: WatchStatus) -> None:
            await self._emit_status(profile_id, status, client=watcher.client)
            if status.reachable:
                for sid in list(self._pending.pop(profile_id, ())):
                    await self._snapshot(profile_id, watcher, sid)

        watcher = ProfileWatcher(self.client_for(profile), interval=self.interval,
                                 on_diff=on_diff, on_status=on_status)
        self._watchers[profile_id] = watcher
        watcher.start()
        return watcher

    async def _restart(self, profile: Profile, old: ProfileWatcher) -> ProfileWatcher:
        """A new watcher for ``profile``, whose address changed. It counts revisions
        from the start again, so the room's viewers get its first list whole: diffs
        numbered below the revision they hold would be dropped as already seen."""
        await old.stop()
        self._pending.setdefault(profile.id, set()).update(self._members.get(profile.id, ()))
        return self._start(profile)

    async def _snapshot(self, profile_id: int, watcher: ProfileWatcher, sid: str) -> None:
        revision, rows = watcher.snapshot()
        await self.sio.emit("torrents:snapshot", {
            "profile_id": profile_id, "revision": revision,
            "torrents": [row.to_snapshot_json() for row in rows],
            "defaults": SNAPSHOT_DEFAULTS}, to=sid)

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
            elif watcher.client.address.url != profile.scgi_url:
                await self._restart(profile, watcher)
        for profile_id in list(self._clients):
            if profile_id not in profiles:
                del self._clients[profile_id]

    async def stop(self) -> None:
        for task in self._retire.values():
            task.cancel()
        self._retire.clear()
        for watcher in list(self._watchers.values()):
            await watcher.stop()
        self._watchers.clear()
        self._members.clear()
