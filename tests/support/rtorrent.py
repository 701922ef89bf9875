"""Run the real Debian rtorrent for one test, and make small torrents it can seed.

Each instance gets a fresh session and download directory under the given root,
listens on one SCGI address (TCP on a free loopback port, or a unix socket),
has DHT, PEX and UDP trackers off and a free port range, so it never talks to the
internet. It is ready once ``system.client_version`` answers (polled with a
deadline) and stops with ``system.shutdown.normal``, killed by pid if it lingers.
A missing rtorrent binary is an error, never a skip.

Fixtures, in ``support.rtorrent_fixtures`` (load them with
``pytest_plugins = ["support.rtorrent_fixtures"]`` in a test module):

``rtorrent``
    a running rtorrent on TCP; ``rtorrent.url`` is its ``scgi://127.0.0.1:port``.
``rtorrent_unix``
    the same on a unix socket; ``rtorrent_unix.url`` is ``scgi:///path``.
``make_torrent_in``
    ``make_torrent_in(name, {"a.bin": data, "sub/b.bin": data2})`` writes the files into
    the TCP rtorrent's download directory and returns ``(torrent_bytes, info_hash)``;
    pass ``bytes`` instead of a mapping for a single-file torrent.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import xmlrpc.client
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import fastbencode

from pytorrent_core.testing import free_port

RTORRENT = os.environ.get("PYTORRENT_TEST_RTORRENT") or shutil.which("rtorrent") \
    or "/usr/bin/rtorrent"
PIECE_LENGTH = 16 * 1024
# rtorrent 0.9.8 silently drops a torrent without trackers; nothing listens on port 1.
DEAD_TRACKER = "http://127.0.0.1:1/announce"


def rtorrent_binary() -> str:
    """The rtorrent executable; raises (so tests fail, not skip) when it is not installed."""
    if not (Path(RTORRENT).is_file() and os.access(RTORRENT, os.X_OK)):
        raise RuntimeError(f"rtorrent not found at {RTORRENT}: apt-get install -y rtorrent "
                           "or set PYTORRENT_TEST_RTORRENT")
    return RTORRENT


def scgi_call(url: str, method: str, *params: Any, timeout: float = 5.0) -> Any:
    """A blocking XML-RPC call over SCGI, independent of the code under test."""
    body = xmlrpc.client.dumps(params, method).encode()
    headers = b"CONTENT_LENGTH\x00%d\x00SCGI\x001\x00" % len(body)
    if url.startswith("scgi:///"):
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(timeout)
        sock.connect(url[len("scgi://"):])
    else:
        host, port = url[len("scgi://"):].rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    with sock:
        sock.sendall(b"%d:%s,%s" % (len(headers), headers, body))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    reply = b"".join(chunks).partition(b"\r\n\r\n")[2]
    return xmlrpc.client.loads(reply, use_builtin_types=True)[0][0]


class RTorrentProcess:
    """One rtorrent child process with its own session, downloads and SCGI listener."""

    def __init__(self, root: Path, *, transport: str = "tcp") -> None:
        if transport not in ("tcp", "unix"):
            raise ValueError("transport is 'tcp' or 'unix'")
        self.root = root
        self.transport = transport
        self.session_dir = root / "session"
        self.download_dir = root / "downloads"
        self.config_path = root / "rtorrent.rc"
        self.log_path = root / "rtorrent.log"
        # A unix socket path must stay under ~100 bytes; pytest's tmp paths can be longer.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="pt-rt-", dir="/tmp"))
        self.socket_path = self._socket_dir / "rpc.sock"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.transport == "unix":
            return f"scgi://{self.socket_path}"
        return f"scgi://127.0.0.1:{self.port}"

    def config(self) -> str:
        peer_port = free_port()
        listen = (f"network.scgi.open_local = {self.socket_path}" if self.transport == "unix"
                  else f"network.scgi.open_port = 127.0.0.1:{self.port}")
        return "\n".join([
            "system.daemon.set = true",
            f"session.path.set = {self.session_dir}",
            f"directory.default.set = {self.download_dir}",
            listen,
            "dht.mode.set = disable",
            "protocol.pex.set = no",
            "trackers.use_udp.set = no",
            f"network.port_range.set = {peer_port}-{peer_port}",
            "network.port_random.set = no",
            "network.xmlrpc.size_limit.set = 4M",
            "",
        ])

    def start(self, timeout: float = 20.0) -> RTorrentProcess:
        self.session_dir.mkdir(parents=True, exist_ok=True)
        self.download_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config())
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root),
               "TERM": "dumb", "LANG": "C.UTF-8"}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [rtorrent_binary(), "-n", "-o", f"import={self.config_path}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=self.root)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"rtorrent exited with {self.process.returncode}: "
                                   f"{self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                scgi_call(self.url, "system.client_version", timeout=1.0)
                return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"rtorrent did not answer within {timeout} s")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                scgi_call(self.url, "system.shutdown.normal", timeout=2.0)
            except (OSError, xmlrpc.client.Error):
                process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self._socket_dir, ignore_errors=True)

    def call(self, method: str, *params: Any) -> Any:
        return scgi_call(self.url, method, *params)

    def __enter__(self) -> RTorrentProcess:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def make_torrent(directory: Path, name: str, content: bytes | Mapping[str, bytes], *,
                 piece_length: int = PIECE_LENGTH, trackers: Sequence[str] = (DEAD_TRACKER,),
                 write: bool = True) -> tuple[bytes, str]:
    """A .torrent for ``content`` placed at ``directory/name``; returns ``(bytes, info_hash)``.

    ``content`` is one file's bytes or ``{relative path: bytes}`` for a multi-file
    torrent. With ``write`` the data is written too, so rTorrent's hash check
    completes and the torrent seeds. ``trackers=()`` makes a torrent rtorrent rejects.
    """
    if isinstance(content, bytes):
        files = [((), content)]
        info: dict[bytes, Any] = {b"length": len(content)}
    else:
        files = [(tuple(path.split("/")), data) for path, data in content.items()]
        info = {b"files": [{b"length": len(data), b"path": [p.encode() for p in parts]}
                           for parts, data in files]}
    blob = b"".join(data for _, data in files)
    info[b"name"] = name.encode()
    info[b"piece length"] = piece_length
    info[b"pieces"] = b"".join(hashlib.sha1(blob[i:i + piece_length]).digest()
                               for i in range(0, max(len(blob), 1), piece_length))
    meta: dict[bytes, Any] = {b"info": info}
    if trackers:
        meta[b"announce"] = trackers[0].encode()
    if write:
        for parts, data in files:
            target = directory.joinpath(name, *parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    info_hash = hashlib.sha1(fastbencode.bencode(info)).hexdigest().upper()
    return fastbencode.bencode(meta), info_hash
