"""Shared fixtures. Each test gets its own data dir, database and plugin manager."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from support.postgres import ENGINES, PostgresServer

from pytorrent_core.testing import running_app
from pytorrent_core.web.app import PyTorrentApp


@pytest.fixture
async def app(tmp_path: Path, app_database: dict[str, str]) -> AsyncIterator[PyTorrentApp]:
    """Local provider, embedded defaults (on both engines in modules marked each_database)."""
    async with running_app(tmp_path, app_database) as running:
        yield running


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "app_database" in metafunc.fixturenames and \
            metafunc.definition.get_closest_marker("each_database"):
        metafunc.parametrize("app_database", ENGINES, indirect=True)


@pytest.fixture
def app_database(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment that points an app at its database: nothing (SQLite in the data
    folder) unless the test's module is marked each_database, then each engine in turn."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return {"PYTORRENT_DATABASE_URL": str(request.getfixturevalue("postgres_url"))}
    return {}


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No PYTORRENT_* variables, user config/data dirs and cwd inside ``tmp_path``.

    For tests that read configuration through ``os.environ`` and the default
    file locations (the CLI), so the host's own settings never leak in.
    """
    import os

    for name in list(os.environ):
        if name.startswith("PYTORRENT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """argon2id at its lowest cost, for tests that sign in many times (not about hashing)."""
    from argon2 import PasswordHasher

    from pytorrent_core import passwords

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "hasher", lambda: cheap)
    passwords._dummy_hash.cache_clear()
    yield
    passwords._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The real PostgreSQL (Debian ``postgresql``), one per session, on a free loopback
    port; it fails, never skips, when PostgreSQL is not installed."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test: its ``postgresql+asyncpg`` URL."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each engine pyTorrent runs on: a SQLite file in ``tmp_path``,
    then a fresh database on the real PostgreSQL."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'db' / 'pytorrent.db'}"


@pytest.fixture
def on_every_engine(database_url: str, monkeypatch: pytest.MonkeyPatch,
                    request: pytest.FixtureRequest) -> None:
    """Make the test module's ``running_app`` open its app on each engine in turn (SQLite,
    then the real PostgreSQL), unless a test names its own database. Use with
    ``pytestmark = pytest.mark.usefixtures("on_every_engine")``."""
    def on_engine(tmp_path: Path, env: Mapping[str, str] | None = None,
                  provider_plugin: object | None = None) -> Any:
        return running_app(
            tmp_path, {"PYTORRENT_DATABASE_URL": database_url, **(env or {})}, provider_plugin)

    monkeypatch.setattr(request.module, "running_app", on_engine)
