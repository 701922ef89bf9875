"""The servers a benchmark run measures: seeded, started, logged in."""

from __future__ import annotations

import http.client
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import seeding

from pytorrent_core.testing import ServerProcess, environment, free_port
from pytorrent_core.web.app import SESSION_COOKIE

BYPASS_HOST = "bench.local"


@dataclass
class Bench:
    """One seeded database served twice: local provider, and proxy provider."""

    size: seeding.Size
    root: Path
    seeded: seeding.Seeded
    local: ServerProcess
    proxy: ServerProcess
    cookie: str = ""
    cookie_note: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def bypass_host(self) -> str:
        return f"{BYPASS_HOST}:{self.local.port}"

    def stop(self) -> None:
        self.local.stop()
        self.proxy.stop()


def _env(port: int) -> dict[str, str]:
    return {
        "PYTORRENT_AUTH_PROVIDER": "local",
        "PYTORRENT_AUTH_BYPASS_HOSTS": f"{BYPASS_HOST}:{port}",
    }


PROXY_ENV = {
    "PYTORRENT_AUTH_PROVIDER": "proxy",
    "PYTORRENT_AUTH_PROXY_USER_HEADER": "Remote-User",
    "PYTORRENT_AUTH_TRUSTED_PROXIES": "127.0.0.1",
    "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "false",
    # The seeded header user already matches these, as an auto-created user would.
    "PYTORRENT_AUTH_PROXY_AUTO_CREATE_ROLE": "user",
    "PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION": "ro",
}


def prepare(size: seeding.Size, root: Path | None = None) -> Bench:
    """Seed one database, copy it for the proxy server, start both servers."""
    root = root or Path(tempfile.mkdtemp(prefix=f"pytorrent-bench-{size.name}-"))
    local_dir, proxy_dir = root / "local", root / "proxy"
    local_dir.mkdir(parents=True)
    proxy_dir.mkdir(parents=True)
    port = free_port()
    local_env = _env(port)
    seeded = seeding.seed(environment(local_dir, local_env), size)
    # Same rows for the proxy server, without paying for seeding twice.
    (proxy_dir / "data").mkdir()
    shutil.copy2(local_dir / "data" / "pytorrent.db", proxy_dir / "data" / "pytorrent.db")
    local = ServerProcess(local_dir, local_env, port=port)
    proxy = ServerProcess(proxy_dir, PROXY_ENV)
    bench = Bench(size=size, root=root, seeded=seeded, local=local, proxy=proxy)
    try:
        local.start()
        proxy.start()
        bench.cookie, bench.cookie_note = login(local, seeded.password)
    except BaseException:
        bench.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return bench


def request(server: ServerProcess, method: str, path: str,
            headers: dict[str, str] | None = None, body: bytes | None = None
            ) -> tuple[int, list[tuple[str, str]], bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        reply = connection.getresponse()
        data = reply.read()
        return reply.status, [(k.lower(), v) for k, v in reply.getheaders()], data
    finally:
        connection.close()


def login(server: ServerProcess, password: str) -> tuple[str, str]:
    """A session cookie for the measured user, from POST /api/auth/login."""
    body = json.dumps({"username": seeding.BENCH_USER, "password": password}).encode()
    status, headers, data = request(server, "POST", "/api/auth/login",
                                    {"Content-Type": "application/json"}, body)
    cookies = [value.split(";", 1)[0] for name, value in headers if name == "set-cookie"]
    session = [c for c in cookies if c.startswith(f"{SESSION_COOKIE}=")]
    if status == 200 and session:
        return session[0], ""
    return "", f"POST /api/auth/login answered {status}: {data[:200].decode(errors='replace')}"
