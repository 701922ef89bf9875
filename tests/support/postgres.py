"""Run the real Debian PostgreSQL for the test session, on loopback, in a temp dir.

One server per session (``initdb`` takes seconds), one fresh database per test
(``CREATE DATABASE`` copies the empty template in milliseconds). The server is
never the system service: its data directory, Unix socket and log live in a
folder under /tmp made for it, it listens on a free loopback port and is stopped
with ``pg_ctl stop -m fast`` (killed if that fails). A missing PostgreSQL is an
error, never a skip: CI installs it.

``initdb`` and ``postgres`` refuse to run as root. As root they run as the
``postgres`` system user (``runuser -u postgres --``) in a folder that user owns;
pytest's own tmp dirs are 0700 root, so that folder is made with ``mkdtemp``.

Typical use (the fixtures in tests/conftest.py do this)::

    with PostgresServer() as server:
        url = server.create_database()       # postgresql+asyncpg://...
        ...
        server.drop_database(url)

Connections authenticate with a password (scram-sha-256), as a real deployment's
would, so the URL has the form ``postgresql+asyncpg://user:password@host:port/db``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import itertools
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from pytorrent_core.testing import free_port

# The engines pyTorrent runs on: what tests parametrised over databases run on.
ENGINES = ("sqlite", "postgresql")
SUPERUSER = "pytorrent"
_SYSTEM_USER = "postgres"


def postgres_bin(name: str) -> str:
    """A PostgreSQL server program (initdb, postgres, pg_ctl) of the newest installed
    Debian version; raises (so tests fail, not skip) when PostgreSQL is not installed."""
    override = os.environ.get("PYTORRENT_TEST_PG_BIN")
    folders = [override] if override else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0,
        reverse=True)
    for folder in folders:
        program = Path(folder) / name
        if program.is_file() and os.access(program, os.X_OK):
            return str(program)
    raise RuntimeError(
        f"PostgreSQL's {name} not found in /usr/lib/postgresql/*/bin: install the Debian "
        "package (apt-get install postgresql) or point PYTORRENT_TEST_PG_BIN at its bin folder")


def _as_server_user(command: list[str]) -> list[str]:
    """``command`` as the ``postgres`` system user when we are root, else unchanged."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser") is None:
        raise RuntimeError("running the tests as root needs runuser (util-linux) to start "
                           "PostgreSQL as the postgres user")
    return ["runuser", "-u", _SYSTEM_USER, "--", *command]


class PostgresServer:
    """A throwaway PostgreSQL cluster: ``start()``, ``create_database()``, ``stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port()
        self.password = secrets.token_hex(16)
        self.root = Path(tempfile.mkdtemp(prefix="pytorrent-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log_path = self.root / "server.log"
        self._names = itertools.count(1)
        self._started = False

    # ------------------------------------------------------------ life cycle

    def start(self, timeout: float = 60.0) -> PostgresServer:
        self.sockets.mkdir()
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n", encoding="utf-8")
        if os.geteuid() == 0:
            shutil.chown(self.root, _SYSTEM_USER, _SYSTEM_USER)
            for path in (self.sockets, password_file):
                shutil.chown(path, _SYSTEM_USER, _SYSTEM_USER)
        self._run(postgres_bin("initdb"), "-D", str(self.data), "-U", SUPERUSER,
                  f"--pwfile={password_file}", "--auth=scram-sha-256", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        password_file.unlink()
        options = " ".join((
            f"-c listen_addresses={self.host}", f"-p {self.port}",
            f"-c unix_socket_directories={self.sockets}",
            # Throwaway data: durability only slows the tests down.
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
            "-c max_connections=200",
        ))
        self._run(postgres_bin("pg_ctl"), "start", "-D", str(self.data), "-W",
                  "-l", str(self.log_path), "-o", options)
        self._started = True
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """``pg_ctl stop -m fast``; kill the postmaster if that does not stop it."""
        if not self._started:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        self._started = False
        try:
            self._run(postgres_bin("pg_ctl"), "stop", "-D", str(self.data), "-m", "fast",
                      "-t", "30")
        except (RuntimeError, subprocess.TimeoutExpired):
            pid = self._postmaster_pid()
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    # ------------------------------------------------------------ databases

    def url(self, database: str = "postgres", *, driver: str = "asyncpg") -> str:
        """The SQLAlchemy URL of ``database`` on this server."""
        return (f"postgresql+{driver}://{SUPERUSER}:{self.password}@{self.host}:{self.port}"
                f"/{database}")

    def create_database(self) -> str:
        """A new, empty database; returns its SQLAlchemy URL."""
        name = f"test_{next(self._names)}"
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database of ``url``, ending any connection still open to it."""
        name = url.rsplit("/", 1)[1]
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement on its own connection (outside any transaction); callable
        from sync code and from inside a running event loop alike."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._execute(sql, database))
            return
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, self._execute(sql, database)).result()

    async def _execute(self, sql: str, database: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(host=self.host, port=self.port, user=SUPERUSER,
                                           password=self.password, database=database,
                                           timeout=10)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    # ------------------------------------------------------------ helpers

    def _run(self, *command: str) -> None:
        result = subprocess.run(_as_server_user(list(command)), capture_output=True,
                                text=True, timeout=120, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed ({result.returncode}):\n"
                               f"{result.stdout}{result.stderr}{self.log()}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while time.monotonic() < deadline:
            try:
                self.execute("SELECT 1")
                return
            except (TimeoutError, OSError, ConnectionError) as error:
                last = error
            except Exception as error:  # asyncpg's "the database system is starting up"
                if "starting up" not in str(error):
                    raise
                last = error
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not accept connections on {self.host}:{self.port} "
                           f"in {timeout}s ({last}):\n{self.log()}")

    def _postmaster_pid(self) -> int | None:
        try:
            first = (self.data / "postmaster.pid").read_text(encoding="utf-8").split("\n", 1)[0]
        except OSError:
            return None
        return int(first) if first.strip().isdigit() else None
