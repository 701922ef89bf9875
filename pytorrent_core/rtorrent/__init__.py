"""Talk to rTorrent over SCGI: transport, fixed calls, torrent rows, one poller per profile."""

from .client import (
    Action,
    Details,
    FileEntry,
    PeerEntry,
    RTorrentClient,
    Status,
    TrackerEntry,
    parse_magnet,
    parse_torrent,
)
from .errors import (
    AddFailed,
    Fault,
    Malformed,
    NotFound,
    RemovalRefused,
    RTorrentError,
    Timeout,
    Unreachable,
)
from .model import Torrent, derive_state, diff
from .watch import ProfileWatcher, WatchStatus

__all__ = [
    "Action",
    "AddFailed",
    "Details",
    "Fault",
    "FileEntry",
    "Malformed",
    "NotFound",
    "PeerEntry",
    "ProfileWatcher",
    "RTorrentClient",
    "RTorrentError",
    "RemovalRefused",
    "Status",
    "Timeout",
    "Torrent",
    "TrackerEntry",
    "Unreachable",
    "WatchStatus",
    "derive_state",
    "diff",
    "parse_magnet",
    "parse_torrent",
]
