"""Typed rTorrent errors.

``str(error)`` is a short reason fit to show a user. It never contains the SCGI
address: that address is a secret of the admin (SCGI can run shell commands), so
it is kept in ``error.address`` for logs only.
"""

from __future__ import annotations


class RTorrentError(Exception):
    """Base of every error this package raises about talking to rTorrent."""

    default_reason = "rTorrent error"

    def __init__(self, reason: str | None = None, *, address: str = "") -> None:
        super().__init__(reason or self.default_reason)
        self.reason = reason or self.default_reason
        self.address = address

    def __str__(self) -> str:
        return self.reason


class Unreachable(RTorrentError):
    """Connection refused, no such socket, path is not a socket, unknown host."""

    default_reason = "rTorrent is not reachable"


class Timeout(RTorrentError):
    """No connection or no complete reply within the time allowed."""

    default_reason = "rTorrent did not answer in time"


class Malformed(RTorrentError):
    """Something answered, but not with XML-RPC from rTorrent."""

    default_reason = "not rTorrent: the reply is not XML-RPC"


class Fault(RTorrentError):
    """rTorrent answered with an XML-RPC fault."""

    def __init__(self, code: int, message: str, *, address: str = "") -> None:
        super().__init__(f"rTorrent fault {code}: {message}", address=address)
        self.code = code
        self.message = message


class NotFound(RTorrentError):
    """rTorrent has no torrent with this info-hash."""

    def __init__(self, info_hash: str, *, address: str = "") -> None:
        super().__init__(f"no torrent {info_hash} in rTorrent", address=address)
        self.info_hash = info_hash


class AddFailed(RTorrentError):
    """rTorrent did not load a torrent or magnet that was sent to it."""

    default_reason = "rTorrent did not load the torrent"


class RemovalRefused(RTorrentError):
    """Deleting a torrent's data was refused because its path is unsafe."""

    default_reason = "refused to delete data outside the download root"
