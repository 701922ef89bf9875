"""One poller per watched profile, independent of the web layer.

Cheap at 10,000 torrents because it fetches only what can move. Each tick is
two small requests: one re-filters pyTorrent's busy view (torrents transferring
or being checked) and reads the sizes of a few of rTorrent's own views (main,
started, stopped, complete, active, hashing); the other lists the busy view's
moving fields. Torrents that were busy last tick and no longer are, and hashes
asked for with :meth:`ProfileWatcher.request_poll`, are fetched by hash in the
same tick, so a torrent that stops moving or that a user acted on shows at once.

A sweep lists the moving fields of every torrent: the first poll, every
``sweep_every`` seconds (stretched to ``cost_factor`` times its own cost), when
the view sizes change in a way pyTorrent's own action does not explain, and after
``request_poll()`` without hashes. It catches what other tools change. The fixed
fields (name, size, directory, dates) come for new hashes, and with the moving
ones in one request for the first sweep and a sweep every ``static_every``
seconds. Rows whose fields did not change are reused as the same objects, so the
diff skips them with an identity check. The tick interval is sized by its cost:
at least ``cost_factor`` times the last tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .client import BUSY_VIEW, Moving, RTorrentClient, Signature, Static, build_row
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
                 static_every: float = 60.0, sweep_every: float = 15.0,
                 cost_factor: float = 10.0,
                 backoff_start: float = 1.0, backoff_max: float = 30.0) -> None:
        self.client = client
        self.interval = interval
        self.static_every = static_every
        self.sweep_every = sweep_every
        self.cost_factor = cost_factor
        self.backoff_start = backoff_start
        self.backoff_max = backoff_max
        self._on_diff = on_diff
        self._on_status = on_status
        self.revision = 0
        self.status: WatchStatus | None = None
        self.last_duration = 0.0
        self.last_sweep_duration = 0.0
        self.sweeps = 0  # polls that listed every torrent
        self.polls = 0
        self.next_delay = interval
        self._rows: dict[str, Torrent] = {}
        self._moving: dict[str, Moving] = {}
        self._static: dict[str, Static] = {}
        self._static_at = float("-inf")
        self._sweep_at = float("-inf")
        self._sweep_due = True
        self._signature: Signature | None = None
        self._busy: set[str] = set()
        self._requested: set[str] = set()
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

    def request_poll(self, hashes: Iterable[str] | None = None) -> None:
        """Poll now (after an action) instead of waiting out the interval.

        With ``hashes`` (the torrents acted on, or added) that poll also fetches
        those torrents by hash, so the change shows without a sweep; without, the
        poll is a sweep.
        """
        if hashes is None:
            self._sweep_due = True
        else:
            self._requested.update(h.upper() for h in hashes)
        self._wake.set()

    @property
    def pending(self) -> bool:
        """A poll was asked for (:meth:`request_poll`) and has not started yet."""
        return self._wake.is_set()

    async def poll(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Fetch once and apply the change; returns ``(changed, removed)``. One at a time."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            began = loop.time()
            requested, self._requested = self._requested, set()
            signature = await self.client.refresh_busy()
            busy = await self.client.fetch_moving(BUSY_VIEW)
            targets = (self._busy | requested) - busy.keys()
            found, found_static = await self.client.fetch_rows_of(targets) if targets \
                else ({}, {})
            moving = {**self._moving, **found, **busy}
            for gone in targets - found.keys():
                moving.pop(gone, None)
            self._static.update(found_static)
            self.last_duration = loop.time() - began
            if self._needs_sweep(signature, moving, began, bool(requested)):
                swept = loop.time()
                moving = await self._sweep(swept)
                self._sweep_at, self._sweep_due = swept, False
                self.last_sweep_duration = loop.time() - swept
                self.sweeps += 1
                rows = self._build(moving, moving)
            else:  # only the rows fetched this tick can differ
                rows = self._build(moving, {*busy, *targets})
            self._signature, self._busy = signature, set(busy)
            changed, removed = diff(self._rows, rows)
            self._rows, self._moving = rows, moving
            self.polls += 1
        if changed or removed:
            self.revision += 1
            if self._on_diff is not None:
                try:
                    await self._on_diff(self.revision, changed, removed)
                except Exception:
                    log.exception("pyTorrent profile watcher: diff callback failed")
        return changed, removed

    def _needs_sweep(self, signature: Signature, moving: Mapping[str, Moving], now: float,
                     requested: bool) -> bool:
        if self._sweep_due or self._signature is None:
            return True
        if now - self._sweep_at >= max(self.sweep_every,
                                       self.cost_factor * self.last_sweep_duration):
            return True
        if signature == self._signature:
            return False
        # After our own action the sizes move with it; when the list size matches what
        # this poll fetched, the action explains the change and no sweep runs (one
        # would hold the next action's poll for as long as it takes). Anything another
        # tool did at the same moment shows at the next timed sweep.
        return not (requested and signature[0] == len(moving))

    async def _sweep(self, now: float) -> dict[str, Moving]:
        """Every torrent's moving fields, and the fixed ones where due or new."""
        if now - self._static_at >= self.static_every:  # the first sweep, then now and then
            moving, self._static = await self.client.fetch_all()
            self._static_at = now
            return moving
        moving = await self.client.fetch_moving()
        await self._refresh_static(moving, now)
        return moving

    async def _refresh_static(self, moving: Mapping[str, Moving], now: float) -> None:
        new = [h for h in moving if h not in self._static]
        if len(new) > NEW_HASHES_ONE_BY_ONE:
            self._static = await self.client.fetch_static()
            self._static_at = now
        elif new:
            self._static.update(await self.client.fetch_static(new))
        for gone in [h for h in self._static if h not in moving]:
            del self._static[gone]

    def _build(self, moving: Mapping[str, Moving], fetched: Iterable[str]
               ) -> dict[str, Torrent]:
        """The new rows: those of ``fetched`` rebuilt when their fields changed."""
        old_rows, old_moving = self._rows, self._moving
        if fetched is moving:
            rows: dict[str, Torrent] = {}
        else:
            rows = {h: row for h, row in old_rows.items() if h in moving}
        for info_hash in fetched:
            fields = moving.get(info_hash)
            if fields is None:
                rows.pop(info_hash, None)
                continue
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
            self._wake.clear()  # a request made during the poll wakes the next one at once
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
