"""Shared fixtures. Each test gets its own data dir, database and plugin manager."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pytorrent_core.testing import running_app
from pytorrent_core.web.app import PyTorrentApp


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[PyTorrentApp]:
    """Local provider, embedded defaults."""
    async with running_app(tmp_path) as running:
        yield running
