"""Run the real Debian redis-server for one test, on a free loopback port.

It keeps nothing on disk (``--save ""``, no append-only file) and works in its
own folder under the test's tmp dir; it is ready once it answers PING (polled
with a deadline) and is stopped at the end. A missing redis-server binary is an
error, never a skip: CI installs it.

Typical use::

    from support.redis import RedisProcess

    with RedisProcess(tmp_path / "redis") as redis:
        env = {"PYTORRENT_REDIS_URL": redis.url}
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from pytorrent_core.testing import free_port, stop_process

REDIS_SERVER = os.environ.get("PYTORRENT_TEST_REDIS") or shutil.which("redis-server") \
    or "/usr/bin/redis-server"


def redis_binary() -> str:
    """The redis-server executable; raises (so tests fail, not skip) when it is missing."""
    if not (Path(REDIS_SERVER).is_file() and os.access(REDIS_SERVER, os.X_OK)):
        raise RuntimeError(f"redis-server not found at {REDIS_SERVER}: apt-get install -y "
                           "redis-server or set PYTORRENT_TEST_REDIS")
    return REDIS_SERVER


def ping(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a Redis server answers PING at ``host:port`` (plain RESP, no client)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisProcess:
    def __init__(self, root: Path, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.root = root
        self.host = host
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.root / "redis.log"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") \
            if self.log_path.exists() else ""

    def start(self, timeout: float = 15.0) -> RedisProcess:
        binary = redis_binary()
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", self.host, "--save", "",
             "--appendonly", "no", "--dir", str(self.root), "--daemonize", "no",
             "--logfile", str(self.log_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited early:\n{self.log()}")
            if ping(self.host, self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer PING on {self.url} in {timeout}s:\n"
                           f"{self.log()}")

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> RedisProcess:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
