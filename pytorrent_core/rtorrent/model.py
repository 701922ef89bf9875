"""The torrent row pyTorrent shows, its state, and the diff sent to browsers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

State = Literal["downloading", "seeding", "paused", "stopped", "checking", "error"]

TRACKER_MESSAGE = "Tracker: "

FIELDS: tuple[str, ...] = (
    "hash", "name", "size", "completed", "progress", "state", "down_rate", "up_rate", "ratio",
    "label", "peers", "seeds", "eta", "added_at", "finished_at", "message", "directory",
)

# What a snapshot row leaves out because it is the value: the client puts these back.
SNAPSHOT_DEFAULTS: dict[str, Any] = {
    "down_rate": 0, "up_rate": 0, "peers": 0, "seeds": 0, "eta": None, "finished_at": None,
    "label": "", "message": "",
}


@dataclass(frozen=True, slots=True)
class Torrent:
    """One torrent as the UI lists it. Sizes in bytes, rates in bytes/s, times in epoch s."""

    hash: str
    name: str
    size: int
    completed: int
    progress: float
    state: State
    down_rate: int
    up_rate: int
    ratio: float
    label: str
    peers: int
    seeds: int
    eta: int | None
    added_at: int
    finished_at: int | None
    message: str
    directory: str

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}

    def to_snapshot_json(self) -> dict[str, Any]:
        """Like :meth:`to_json` without fields at their default (:data:`SNAPSHOT_DEFAULTS`).

        For ``torrents:snapshot`` only, where most of 10,000 rows are idle: a client
        fills a missing key from SNAPSHOT_DEFAULTS. Diffs and REST keep every key.
        """
        row = {name: getattr(self, name) for name in FIELDS}
        for name, default in SNAPSHOT_DEFAULTS.items():
            if row[name] == default:
                del row[name]
        return row


def derive_state(state: int, is_active: int, complete: int, hashing: int, message: str) -> State:
    """The one place a torrent's state is decided from rTorrent's flags.

    ``error`` only for a torrent rTorrent stopped because of an error: stopped
    with a message that is not a tracker's. rTorrent keeps the last tracker
    message (``Tracker: [...]``) after a user stops a torrent, so that alone is
    no error; on a running torrent it keeps its transfer state too (it shows in
    ``message``).
    """
    if hashing:
        return "checking"
    if not state:
        return "error" if message and not message.startswith(TRACKER_MESSAGE) else "stopped"
    if not is_active:
        return "paused"
    return "seeding" if complete else "downloading"


def eta(size: int, completed: int, down_rate: int, state: State) -> int | None:
    """Seconds left at the current rate, or None when not downloading."""
    if state != "downloading" or down_rate <= 0 or completed >= size:
        return None
    return (size - completed + down_rate - 1) // down_rate


def diff(old: Mapping[str, Torrent], new: Mapping[str, Torrent]
         ) -> tuple[list[dict[str, Any]], list[str]]:
    """What changed from ``old`` to ``new``: per torrent ``hash`` plus the changed fields.

    A new torrent carries every field. Rows that are the same object (the poller
    reuses unchanged rows) cost one identity check.
    """
    changed: list[dict[str, Any]] = []
    for key, row in new.items():
        before = old.get(key)
        if before is row:
            continue
        if before is None:
            changed.append(row.to_json())
            continue
        if before == row:
            continue
        entry: dict[str, Any] = {"hash": row.hash}
        for name in FIELDS[1:]:
            value = getattr(row, name)
            if value != getattr(before, name):
                entry[name] = value
        changed.append(entry)
    removed = [key for key in old if key not in new]
    return changed, removed
