"""Test helpers shipped with core: app factory, peer-aware client, real server process.

Plugins and third parties use these the way quart-auth users use
``authenticated_client``: a fresh plugin manager and database per test, no globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from quart.testing import QuartClient

from .access import session_ids
from .bootstrap import load, preflight
from .config import Settings
from .models import User
from .passwords import hash_password
from .plugins import AuthPlugins
from .storage import Store
from .web.app import PyTorrentApp, create_app
from .web.sessions import SESSION_COOKIE

DEFAULT_PEER = ("127.0.0.1", 40000)


def environment(tmp_path: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean PYTORRENT_* environment rooted in ``tmp_path`` (no host config leaks in)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYTORRENT_")}
    base["PYTORRENT_DATA_DIR"] = str(tmp_path / "data")
    base["PYTORRENT_CONFIG"] = str(tmp_path / "pytorrent.toml")
    config = tmp_path / "pytorrent.toml"
    if not config.exists():
        config.write_text("", encoding="utf-8")
    base.update(env or {})
    return base


def served_environment(tmp_path: Path, env: Mapping[str, str] | None = None
                       ) -> dict[str, str]:
    """:func:`environment` with the database created as ``pytorrent serve``'s first start
    does: for command-line tests against a server's existing database. Not for async tests."""
    environ = environment(tmp_path, env)
    asyncio.run(preflight(*load(None, environ)))
    return environ


def database_url(tmp_path: Path) -> str:
    """The SQLite URL of the database that :func:`environment` points pyTorrent at."""
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'pytorrent.db'}"


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    """Terminate a child process, killing it if it does not stop in ``timeout`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def load_for_test(tmp_path: Path, env: Mapping[str, str] | None = None,
                  provider_plugin: object | None = None) -> tuple[Settings, AuthPlugins]:
    return load(None, environment(tmp_path, env), provider_plugin=provider_plugin)


class PeerClient(QuartClient):
    """Quart's test client with a TCP peer (default 127.0.0.1); pass ``peer=`` to change it."""

    peer: tuple[str, int] = DEFAULT_PEER

    async def open(self, path: str, *args: Any, peer: str | None = None,
                   **kwargs: Any) -> Any:
        scope_base = dict(kwargs.pop("scope_base", None) or {})
        scope_base.setdefault("client", (peer, 40000) if peer else self.peer)
        return await super().open(path, *args, scope_base=scope_base, **kwargs)


@contextlib.asynccontextmanager
async def running_app(tmp_path: Path, env: Mapping[str, str] | None = None,
                      provider_plugin: object | None = None) -> AsyncIterator[PyTorrentApp]:
    """An app with its start-up done (migrations, first admin), stopped afterwards."""
    settings, plugins = load_for_test(tmp_path, env, provider_plugin)
    app = create_app(settings, plugins)
    app.quart.test_client_class = PeerClient  # type: ignore[assignment]
    async with app.quart.test_app():
        yield app


async def set_password(app: PyTorrentApp, username: str, password: str) -> None:
    store = app.services.store
    user = await store.get_user_by_name(username)
    assert user is not None, username
    await store.update_user(user.id, password_hash=hash_password(password))


async def settled_admin(store: Store) -> User:
    """The built-in admin as it is after its first sign-in: the one-time password printed
    at first start has been replaced (until then it may do nothing else)."""
    admin = await store.get_user_by_name("admin")
    assert admin is not None
    if admin.must_change_password:
        admin = await store.update_user(admin.id, must_change_password=False)
    return admin


def session_cookie(app: PyTorrentApp, user: User) -> str:
    """A ``Cookie`` header value signing ``user`` in, as a login would (no provider needed)."""
    auth = app.quart.extensions["pytorrent"]["auth"]
    return f"{SESSION_COOKIE}={auth.dump_token(session_ids.issue(user), app.quart)}"


async def issue_token(store: Store, user_id: int, name: str = "test",
                      expires_at: datetime | None = None) -> str:
    """Create an API token the way the API does; return its plaintext."""
    from .access import tokens

    plaintext, prefix, digest = tokens.generate()
    await store.create_token(user_id, name, prefix, digest, expires_at)
    return plaintext


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``pytorrent serve`` in a child process on a free loopback port."""

    def __init__(self, tmp_path: Path, env: Mapping[str, str] | None = None,
                 host: str = "127.0.0.1", port: int | None = None,
                 log_level: str = "warning") -> None:
        self.tmp_path = tmp_path
        self.env = environment(tmp_path, env)
        self.host = host
        self.port = port or free_port()
        self.log_level = log_level
        self.log_path = tmp_path / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytorrent.cli", "serve", "--host", self.host,
             "--port", str(self.port), "--log-level", self.log_level],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=1) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer /api/health in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") \
            if self.log_path.exists() else ""

    @property
    def database_url(self) -> str:
        return database_url(self.tmp_path)

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``python -m pytorrent.cli ...`` against the same data dir and config."""
        return subprocess.run([sys.executable, "-m", "pytorrent.cli", *args], env=self.env,
                              input=input, capture_output=True, text=True, timeout=60)


@contextlib.contextmanager
def server(tmp_path: Path, env: Mapping[str, str] | None = None) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path, env) as running:
        yield running


@contextlib.asynccontextmanager
async def socketio_client(**options: Any) -> AsyncIterator[Any]:
    """A python-socketio ``AsyncClient`` (no reconnection) whose HTTP session is closed
    afterwards, even when the server refused the connection."""
    import aiohttp
    import socketio

    async with aiohttp.ClientSession() as session:
        client = socketio.AsyncClient(reconnection=False, http_session=session, **options)
        try:
            yield client
        finally:
            if client.connected:
                await client.disconnect()
