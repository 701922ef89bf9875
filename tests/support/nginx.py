"""Run the real Debian nginx in front of pyTorrent, on loopback, for one test.

Everything nginx writes (config, pid, error and access logs, temp folders) lives
under ``tmp_path/<name>/``; it listens on a free loopback port and runs in the
foreground as a single process, so stopping it leaves nothing behind. A missing
nginx binary is an error, never a skip: CI installs it.

Typical use::

    from support.nginx import proxy_to, run_nginx

    with run_nginx(tmp_path, f'''
        location / {{
            {proxy_to(app.url, bind="127.0.0.2")}
            proxy_set_header Remote-User $auth_user;
        }}
    ''') as nginx:
        httpx.get(f"{nginx.url}/")

``server_body`` is what goes inside ``server { ... }`` after the ``listen`` line:
locations and server-level directives. :func:`proxy_to` writes the directives a
location needs to proxy HTTP *and* the Socket.IO websocket upgrade (HTTP/1.1,
``Upgrade``/``Connection`` from the ``$connection_upgrade`` map this module puts in
the ``http`` block, the browser's ``Host``), optionally leaving from a chosen
local address with ``proxy_bind`` so a test can trust exactly nginx's address.
Remember that ``proxy_set_header`` in a location replaces every inherited one, so
put extra headers in the same location. ``http_extra`` adds ``http``-level
directives (maps, upstreams). On failure, ``NginxProcess.error_log()`` says why.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pytorrent_core.testing import free_port, stop_process

NGINX = os.environ.get("PYTORRENT_TEST_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_binary() -> str:
    """The nginx executable; raises (so tests fail, not skip) when it is not installed."""
    if not (Path(NGINX).is_file() and os.access(NGINX, os.X_OK)):
        raise RuntimeError(
            f"nginx not found at {NGINX}: install the Debian package (apt-get install nginx) "
            "or point PYTORRENT_TEST_NGINX at the binary")
    return NGINX


def proxy_to(upstream: str, *, bind: str | None = None, path: str = "") -> str:
    """Location directives proxying to ``upstream`` (``http://host:port``), websockets included."""
    lines = [
        f"proxy_pass {upstream.rstrip('/')}{path};",
        "proxy_http_version 1.1;",
        "proxy_set_header Host $http_host;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_read_timeout 60s;",
    ]
    if bind:
        lines.append(f"proxy_bind {bind};")
    return "\n            ".join(lines)


def render_config(root: Path, server_body: str, *, host: str, port: int,
                  http_extra: str = "") -> str:
    """A complete nginx.conf whose every path is under ``root``."""
    temp = root / "temp"
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    return f"""
{user}
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' close;
    }}
    {http_extra}
    server {{
        listen {host}:{port};
        server_name localhost;
        {server_body}
    }}
}}
"""


@dataclass
class NginxProcess:
    root: Path
    host: str
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.root / "nginx.conf"

    def error_log(self) -> str:
        return _read(self.root / "error.log")

    def access_log(self) -> str:
        return _read(self.root / "access.log")

    def start(self, timeout: float = 10.0) -> NginxProcess:
        binary = nginx_binary()
        command = [binary, "-p", str(self.root), "-c", str(self.config_path),
                   "-e", str(self.root / "error.log")]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"nginx rejected {self.config_path}:\n{check.stderr}")
        output = (self.root / "stdout.log").open("wb")
        self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited early:\n{self.error_log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen on {self.url} in {timeout}s:\n"
                           f"{self.error_log()}")

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> NginxProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def run_nginx(tmp_path: Path, server_body: str, *, name: str = "nginx",
              host: str = "127.0.0.1", port: int | None = None, http_extra: str = "",
              timeout: float = 10.0) -> NginxProcess:
    """Write the config under ``tmp_path/name`` and start nginx; returns it running.

    Use it as a context manager (or call ``stop()``) so it is stopped after the test.
    """
    root = tmp_path / name
    for folder in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (root / "temp" / folder).mkdir(parents=True, exist_ok=True)
    nginx = NginxProcess(root=root, host=host, port=port or free_port())
    nginx.config_path.write_text(
        render_config(root, server_body, host=host, port=nginx.port, http_extra=http_extra),
        encoding="utf-8")
    return nginx.start(timeout)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
