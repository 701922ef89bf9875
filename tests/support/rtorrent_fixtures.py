"""Pytest fixtures around a real rtorrent; see :mod:`support.rtorrent` for the helpers.

Load with ``pytest_plugins = ["support.rtorrent_fixtures"]`` in a test module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from support.rtorrent import RTorrentProcess, make_torrent


@pytest.fixture
def rtorrent(tmp_path: Path) -> Iterator[RTorrentProcess]:
    """A running rtorrent listening on a free loopback TCP port."""
    with RTorrentProcess(tmp_path / "rtorrent") as process:
        yield process


@pytest.fixture
def rtorrent_unix(tmp_path: Path) -> Iterator[RTorrentProcess]:
    """A running rtorrent listening on a unix socket."""
    with RTorrentProcess(tmp_path / "rtorrent-unix", transport="unix") as process:
        yield process


@pytest.fixture
def make_torrent_in(rtorrent: RTorrentProcess
                    ) -> Callable[..., tuple[bytes, str]]:
    """``make_torrent`` bound to the TCP rtorrent's download directory."""
    def make(name: str, content: bytes | Mapping[str, bytes], **options: Any
             ) -> tuple[bytes, str]:
        return make_torrent(rtorrent.download_dir, name, content, **options)
    return make
