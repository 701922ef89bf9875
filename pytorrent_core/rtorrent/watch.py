"""One poller per watched profile, independent of the web layer.

Cheap at 10,000 torrents because it fetches only what moves: every tick one
narrow ``d.multicall2`` of the moving fields; the fixed fields (name, size,
directory, dates) only for new hashes and every ``static_every`` seconds. Rows
whose fields did not change are reused as the same objects, so the diff skips
them with an identity check. And it sizes its interval by its cost: the next
poll waits at least ``cost_factor`` times as long as the last one took.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .client import Moving, RTorrentClient, Static, build_row
from .errors import RTorrentError
from .model import Torrent, diff

log = logging.getLogger(__name__)

NEW_HASHES_ONE_BY_ONE = 200


@dataclass(frozen=True, slots=True)
class WatchStatus:
    """Whether the profile's rTorrent answers; ``reason`` says why not (no address in it)."""

    reachable: bool
    reason: str | None = None


DiffCallback = Callable[[int, list[dict[str, Any]], list[str]], Awaitable[None]]
StatusCallback = Callable[[WatchStatus], Awaitable[None]]


class ProfileWatcher:
    """Polls one rTorrent, keeps its rows and a revision, reports diffs and reachability."""

    def __init__(self, client: RTorrentClient, *, interval: float = 1.0,
                 on_diff: DiffCallback | None = None, on_status: StatusCallback | None = None,
                 static_every: float = 60.0, cost_factor: float = 10.0,
                 backoff_start: float = 1.0, backoff_max: float = 30.0) -> None:
        self.client = client
        self.interval = interval
        self.static_every = static_every
        self.cost_factor = cost_factor
        self.backoff_start = backoff_start
        self.backoff_max = backoff_max
        self._on_diff = on_diff
        self._on_status = on_status
        self.revision = 0
        self.status: WatchStatus | None = None
        self.last_duration = 0.0
        self.next_delay = interval
        self._rows: dict[str, Torrent] = {}
        self._moving: dict[str, Moving] = {}
        self._static: dict[str, Static] = {}
        self._static_at = float("-inf")
        self._failures = 0
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def snapshot(self) -> tuple[int, list[Torrent]]:
        """The revision and every row, for a client that joins now; diffs follow from it."""
        return self.revision, list(self._rows.values())

    @property
    def rows(self) -> Mapping[str, Torrent]:
        return self._rows

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="pytorrent-profile-watcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def next_delay_for(self, duration: float) -> float:
        """The wait after a poll that took ``duration`` s: never less than ``interval``."""
        return max(self.interval, self.cost_factor * duration)

    @property
    def failures(self) -> int:
        """Failed polls in a row (0 while rTorrent answers)."""
        return self._failures

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def request_poll(self) -> None:
        """Poll soon (after an action) instead of waiting out the interval."""
        self._wake.set()

    async def poll(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Fetch once and apply the change; returns ``(changed, removed)``. One at a time."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            began = loop.time()
            moving = await self.client.fetch_moving()
            await self._refresh_static(moving, began)
            rows = self._build(moving)
            changed, removed = diff(self._rows, rows)
            self._rows, self._moving = rows, moving
            self.last_duration = loop.time() - began
        if changed or removed:
            self.revision += 1
            if self._on_diff is not None:
                try:
                    await self._on_diff(self.revision, changed, removed)
                except Exception:
                    log.exception("pyTorrent profile watcher: diff callback failed")
        return changed, removed

    async def _refresh_static(self, moving: Mapping[str, Moving], now: float) -> None:
        if now - self._static_at >= self.static_every:
            self._static = await self.client.fetch_static()
            self._static_at = now
            return
        new = [h for h in moving if h not in self._static]
        if len(new) > NEW_HASHES_ONE_BY_ONE:
            self._static = await self.client.fetch_static()
            self._static_at = now
        elif new:
            self._static.update(await self.client.fetch_static(new))
        for gone in [h for h in self._static if h not in moving]:
            del self._static[gone]

    def _build(self, moving: Mapping[str, Moving]) -> dict[str, Torrent]:
        rows: dict[str, Torrent] = {}
        old_rows, old_moving = self._rows, self._moving
        for info_hash, fields in moving.items():
            static = self._static.get(info_hash)
            if static is None:
                continue  # erased between the two requests
            row = old_rows.get(info_hash)
            if row is None or old_moving.get(info_hash) != fields or not _same_static(row, static):
                row = build_row(static, fields)
            rows[info_hash] = row
        return rows

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
            except RTorrentError as error:
                delay = min(self.backoff_start * 2 ** self._failures, self.backoff_max)
                self._failures += 1
                await self._set_status(WatchStatus(False, str(error)))
            except Exception:
                log.exception("pyTorrent profile watcher: poll failed")
                delay = min(self.backoff_start * 2 ** self._failures, self.backoff_max)
                self._failures += 1
            else:
                self._failures = 0
                delay = self.next_delay_for(self.last_duration)
                await self._set_status(WatchStatus(True))
            self.next_delay = delay
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _set_status(self, status: WatchStatus) -> None:
        if status == self.status:
            return
        self.status = status
        if self._on_status is not None:
            try:
                await self._on_status(status)
            except Exception:
                log.exception("pyTorrent profile watcher: status callback failed")


def _same_static(row: Torrent, static: Static) -> bool:
    _, name, size, directory, added = static
    return (row.name == name and row.size == size and row.directory == directory
            and row.added_at == added)
