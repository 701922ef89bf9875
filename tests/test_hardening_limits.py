"""Server limits under `pytorrent serve` (hardening, finding 3).

Request heads are bounded in size and header count (431), bodies in size (413),
unfinished requests and idle connections are closed, the number of connections is
capped (503), and Socket.IO sessions that have not signed in are few and short-lived.
Each answer that refuses names the setting to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from click.testing import CliRunner
from support.rtorrent import DEAD_TRACKER, RTorrentProcess

from pytorrent_core.cli import main
from pytorrent_core.storage import Store
from pytorrent_core.testing import ServerProcess, issue_token, settled_admin
from pytorrent_core.web.handshakes import MAX_MESSAGE_BYTES
from pytorrent_core.web.protocol import LimitedHttpToolsProtocol

pytestmark = pytest.mark.server

T = TypeVar("T")
QUICK = {  # short timeouts, a connection cap under the 300 of the slow-client test
    "PYTORRENT_SERVER_HEADER_TIMEOUT": "0.5",
    "PYTORRENT_SERVER_KEEPALIVE_TIMEOUT": "1",
    "PYTORRENT_SERVER_MAX_CONNECTIONS": "250",
    "PYTORRENT_SOCKETIO_MAX_PENDING_HANDSHAKES": "2",
    "PYTORRENT_RTORRENT_TIMEOUT": "1.5",
}
DEADLINE = 10.0


@dataclass
class Served:
    server: ServerProcess
    token: str

    @property
    def port(self) -> int:
        return self.server.port

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, timeout=DEADLINE,
                            headers={"Authorization": f"Bearer {self.token}"}, **options)

    def add_profile(self, name: str, url: str) -> int:
        async def add(store: Store) -> int:
            return (await store.create_profile(name, url)).id

        return with_store(self.server, add)


def with_store(server: ServerProcess, work: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = Store.from_url(server.database_url)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


@contextlib.contextmanager
def serve(root: Path, env: dict[str, str]) -> Iterator[Served]:
    """`pytorrent serve` with an API token of the built-in admin (past its first sign-in)."""

    async def admin_token(store: Store) -> str:
        return await issue_token(store, (await settled_admin(store)).id)

    with ServerProcess(root, env) as server:
        yield Served(server, with_store(server, admin_token))


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("quick"), QUICK) as served:
        yield served


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Default limits and timeouts, but at most 10 connections."""
    with serve(tmp_path_factory.mktemp("default"),
               {"PYTORRENT_SERVER_MAX_CONNECTIONS": "10"}) as served:
        yield served


# ------------------------------------------------------------------ raw HTTP


def head(path: str = "/api/health", extra: bytes = b"", method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + extra


def read_to_eof(sock: socket.socket, deadline: float = DEADLINE) -> bytes:
    """Everything the server sends until it closes; fails if it does not close in time."""
    end = time.monotonic() + deadline
    chunks = []
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"the server kept the connection open for {deadline} s")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length body, leaving the connection open."""
    sock.settimeout(DEADLINE)
    data = b""

    def more() -> bytes:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-answer"
        return chunk

    while b"\r\n\r\n" not in data:
        data += more()
    head_part, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head_part.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += more()
    return head_part + b"\r\n\r\n" + body


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.sendall(data)
        return read_to_eof(sock)


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def until(condition: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while True:
        result = condition()
        if result or time.monotonic() > end:
            return result
        time.sleep(0.05)


# ------------------------------------------------------------------ request heads


def test_a_64_kib_header_gets_431_naming_the_setting(quick: Served) -> None:
    answer = exchange(quick.port, head(extra=b"X-Big: " + b"a" * 65536 + b"\r\n\r\n"))
    assert status_of(answer) == 431
    assert b"PYTORRENT_SERVER_MAX_HEADER_BYTES" in answer


def test_a_1_mib_cookie_gets_431(quick: Served) -> None:
    answer = exchange(quick.port, head(extra=b"Cookie: a=" + b"b" * (1 << 20) + b"\r\n\r\n"))
    assert status_of(answer) == 431
    assert b"clear this site's cookies" in answer


def test_an_endless_header_is_cut_short(quick: Served) -> None:
    answer = exchange(quick.port, head(extra=b"X-Endless: " + b"a" * (1 << 20)))
    assert status_of(answer) == 431  # from the bytes received, not the header timeout's 408


@pytest.mark.parametrize("count", [20_000, 101])
def test_too_many_headers_get_431(quick: Served, count: int) -> None:
    headers = b"".join(b"X-%d: a\r\n" % i for i in range(count))
    answer = exchange(quick.port, head(extra=headers + b"\r\n"))
    assert status_of(answer) == 431
    assert b"PYTORRENT_SERVER_MAX_HEADERS" in answer


@pytest.mark.parametrize("extra", [
    b"X-Big: " + b"a" * 40_000 + b"\r\n\r\n",
    b"".join(b"X-%d: a\r\n" % i for i in range(101)) + b"\r\n",
], ids=["bytes", "count"])
def test_a_pipelined_head_over_a_limit_gets_431(quick: Served, extra: bytes) -> None:
    """The second of two requests sent in one write: its head arrives with the first's,
    so it is judged from what was parsed once complete, and the connection refused."""
    answer = exchange(quick.port, head(extra=b"\r\n") + head(extra=extra))
    assert b"HTTP/1.1 431 " in answer
    assert b"PYTORRENT_SERVER_MAX_HEADER" in answer


def test_a_browser_sized_head_is_served(quick: Served) -> None:
    cookies = "; ".join(f"app{i}=" + "c" * 380 for i in range(40))  # 40 apps' cookies, ~16 kB
    headers = {f"X-Extra-{i}": "v" for i in range(90)}
    with quick.client() as client:
        reply = client.get("/api/health", headers={"Cookie": cookies, **headers})
    assert reply.status_code == 200


# ------------------------------------------------------------------ bodies


def test_a_json_body_over_1_mib_gets_413_json(quick: Served) -> None:
    with quick.client() as client:
        reply = client.post("/api/auth/login", content=b"{" + b" " * (2 << 20) + b"}",
                            headers={"Content-Type": "application/json"})
    assert reply.status_code == 413
    assert reply.json()["error"] == ("request body larger than 1048576 bytes, the most this "
                                     "request may send")


def big_torrent(name: str, pieces: int) -> bytes:
    """A .torrent of ``pieces`` 16 KiB pieces (20 bytes each in the file); no data behind it."""
    import fastbencode

    info = {b"name": name.encode(), b"piece length": 16384, b"length": pieces * 16384,
            b"pieces": os.urandom(20 * pieces)}
    return fastbencode.bencode({b"announce": DEAD_TRACKER.encode(), b"info": info})


def test_an_add_of_several_large_torrent_files_works(default: Served, tmp_path: Path) -> None:
    with RTorrentProcess(tmp_path / "rtorrent") as rtorrent:
        profile = default.add_profile("uploads", rtorrent.url)
        files = [("torrent", (f"pack{i}.torrent", big_torrent(f"pack{i}", 20_000),
                              "application/x-bittorrent")) for i in range(4)]
        with default.client() as client:
            reply = client.post(f"/api/profiles/{profile}/torrents", files=files,
                                data={"start": "false"})
        assert reply.status_code == 201, reply.text  # about 1.6 MB: over the 1 MiB of JSON
        assert len(reply.json()["added"]) == 4
        assert set(reply.json()["added"]) <= {h.upper() for h in rtorrent.call("download_list")}


def test_an_add_over_the_body_limit_gets_413_naming_the_setting(default: Served) -> None:
    profile = default.add_profile("too-much", "scgi://127.0.0.1:1")
    files = [("torrent", ("huge.torrent", b"x" * (33 << 20), "application/x-bittorrent"))]
    with default.client() as client:
        reply = client.post(f"/api/profiles/{profile}/torrents", files=files)
    assert reply.status_code == 413
    assert reply.json()["error"] == (
        "request body larger than 33554432 bytes (PYTORRENT_SERVER_MAX_BODY_BYTES): add fewer "
        ".torrent files at a time, or raise the setting")


# ------------------------------------------------------------------ slow and idle clients


def test_a_half_sent_head_is_closed_after_the_header_timeout(quick: Served) -> None:
    with socket.create_connection(("127.0.0.1", quick.port)) as sock:
        sock.sendall(head())
        answer = read_to_eof(sock, deadline=5)
    assert status_of(answer) == 408
    assert b"PYTORRENT_SERVER_HEADER_TIMEOUT" in answer


def test_a_connection_that_sends_nothing_is_closed(quick: Served) -> None:
    with socket.create_connection(("127.0.0.1", quick.port)) as sock:
        assert read_to_eof(sock, deadline=5) == b""


def test_a_stalled_body_is_closed(quick: Served) -> None:
    with socket.create_connection(("127.0.0.1", quick.port)) as sock:
        sock.sendall(head("/api/auth/login", b"Content-Type: application/json\r\n"
                                             b"Content-Length: 100\r\n\r\n{", method="POST"))
        assert read_to_eof(sock, deadline=5) == b""  # not Quart's 60 s body timeout


def test_a_trickling_body_is_closed(quick: Served) -> None:
    with socket.create_connection(("127.0.0.1", quick.port)) as sock:
        sock.sendall(head("/api/auth/login", b"Content-Type: application/json\r\n"
                                             b"Content-Length: 1000\r\n\r\n", method="POST"))
        end = time.monotonic() + 5
        while not select.select([sock], [], [], 0.05)[0]:  # a byte every 50 ms until closed
            assert time.monotonic() < end, "a body sent a byte at a time was kept open"
            sock.sendall(b" ")
        assert read_to_eof(sock) == b""


def test_an_idle_keep_alive_connection_is_closed(quick: Served) -> None:
    with socket.create_connection(("127.0.0.1", quick.port)) as sock:
        sock.sendall(head(extra=b"\r\n"))
        assert status_of(read_response(sock)) == 200
        assert read_to_eof(sock, deadline=4) == b""  # uvicorn's default would be 5 s


def test_300_slow_clients_do_not_keep_others_out(quick: Served) -> None:
    slow = []
    try:
        for i in range(300):
            sock = socket.create_connection(("127.0.0.1", quick.port))
            if i % 2:
                sock.sendall(head())  # half a request; the other half send nothing
            slow.append(sock)

        def health() -> bool:
            try:
                return httpx.get(f"{quick.server.url}/api/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert until(health, deadline=5)
        for sock in slow:  # every one of them was closed by the server
            read_to_eof(sock, deadline=5)
    finally:
        for sock in slow:
            sock.close()


def test_a_slow_answer_is_not_cut_by_the_timeouts(quick: Served) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        profile = quick.add_profile("silent", f"scgi://127.0.0.1:{silent.getsockname()[1]}")
        with quick.client() as client:
            started = time.monotonic()
            reply = client.get(f"/api/profiles/{profile}/status")
            took = time.monotonic() - started
    assert reply.status_code == 200
    assert reply.json()["connected"] is False
    assert took > 1.2  # the 1.5 s rTorrent timeout, past the header and keep-alive ones


def test_past_the_connection_cap_requests_get_503_naming_the_setting(default: Served) -> None:
    idle = [socket.create_connection(("127.0.0.1", default.port)) for _ in range(10)]
    try:
        answer = exchange(default.port, head(extra=b"\r\n"))
        assert status_of(answer) == 503
        assert b"PYTORRENT_SERVER_MAX_CONNECTIONS" in answer
    finally:
        for sock in idle:
            sock.close()
    assert until(lambda: httpx.get(f"{default.server.url}/api/health").status_code == 200)


# ------------------------------------------------------------------ Socket.IO


class Polling:
    """Engine.IO long-polling by hand. Sessions it opened are closed at the end."""

    def __init__(self, served: Served) -> None:
        self.url = f"{served.server.url}/socket.io/"
        self.http = httpx.Client(timeout=DEADLINE)
        self.sids: list[str] = []

    def params(self, sid: str | None = None) -> dict[str, str]:
        return {"EIO": "4", "transport": "polling", **({"sid": sid} if sid else {})}

    def handshake(self) -> tuple[httpx.Response, str | None]:
        reply = self.http.get(self.url, params=self.params())
        sid = json.loads(reply.text[1:])["sid"] if reply.status_code == 200 else None
        if sid:
            self.sids.append(sid)
        return reply, sid

    def open(self) -> str:
        """A new session, once the server takes one (sessions of earlier tests expire)."""
        sid = until(lambda: self.handshake()[1])
        assert sid, "the server refused every handshake"
        return str(sid)

    def post(self, sid: str, packet: str) -> httpx.Response:
        return self.http.post(self.url, params=self.params(sid), content=packet)

    def poll(self, sid: str, timeout: float = DEADLINE) -> httpx.Response:
        return self.http.get(self.url, params=self.params(sid), timeout=timeout)

    def join(self, token: str) -> str:
        sid = self.open()
        assert self.post(sid, "40" + json.dumps({"token": token})).status_code == 200
        assert self.poll(sid).text.startswith("40{")
        return sid

    def close(self, sids: list[str] | None = None) -> None:
        for sid in self.sids if sids is None else sids:
            self.post(sid, "1")  # Engine.IO's close packet


def closed(reply: httpx.Response) -> bool:
    """The session is over: the poll in flight got Engine.IO's close packet, or no session."""
    return reply.text == "1" or (reply.status_code == 400 and "Invalid session" in reply.text)


@pytest.fixture
def polling() -> Iterator[Callable[[Served], Polling]]:
    made: list[Polling] = []

    def make(served: Served) -> Polling:
        made.append(Polling(served))
        return made[-1]

    yield make
    for each in made:
        each.close()
        each.http.close()


def test_handshakes_that_do_not_sign_in_are_capped_and_closed(
        quick: Served, polling: Callable[[Served], Polling]) -> None:
    io = polling(quick)

    def three() -> list[tuple[httpx.Response, str | None]] | None:
        tries = [io.handshake() for _ in range(3)]
        if [reply.status_code for reply, _ in tries] == [200, 200, 401]:
            return tries
        io.close([sid for _, sid in tries if sid])
        return None

    tries = until(three)  # the cap is 2; sessions of other tests may still be waiting
    assert tries, "the third waiting handshake was not refused"
    assert "PYTORRENT_SOCKETIO_MAX_PENDING_HANDSHAKES" in tries[2][0].text
    first = tries[0][1]
    assert first is not None
    assert closed(io.poll(first, timeout=5))  # at its sign-in deadline (the header timeout)
    io.open()


def test_signed_in_sessions_are_not_counted_nor_closed(
        quick: Served, polling: Callable[[Served], Polling]) -> None:
    io = polling(quick)
    joined = [io.join(quick.token) for _ in range(3)]  # more than the cap of 2
    waiting = io.open()
    assert closed(io.poll(waiting, timeout=5))  # its sign-in deadline has passed
    for sid in joined:
        assert io.post(sid, '421["whoami"]').status_code == 200
        assert io.poll(sid).text.startswith('431[{"username":"admin"')


def test_a_refused_session_is_closed_at_once(default: Served,
                                             polling: Callable[[Served], Polling]) -> None:
    io = polling(default)
    sid = io.open()
    assert io.post(sid, "40").status_code == 200  # no credentials
    assert io.poll(sid).text.startswith("44{")  # refused, with the reason
    started = time.monotonic()
    assert closed(io.poll(sid, timeout=5))  # the header timeout here is 10 s
    assert time.monotonic() - started < 5


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(("env", "value", "allowed"), [
    ("PYTORRENT_SERVER_MAX_HEADER_BYTES", "lots", "from 4096 to 1048576"),
    ("PYTORRENT_SERVER_MAX_HEADERS", "0", "from 16 to 10000"),
    ("PYTORRENT_SERVER_MAX_BODY_BYTES", "1024", "from 65536 to 1073741824"),
    ("PYTORRENT_SERVER_HEADER_TIMEOUT", "0", "of seconds from 0.5 to 3600"),
    ("PYTORRENT_SERVER_KEEPALIVE_TIMEOUT", "-5", "from 1 to 3600"),
    ("PYTORRENT_SERVER_MAX_CONNECTIONS", "1.5", "from 10 to 1000000"),
    ("PYTORRENT_SOCKETIO_MAX_PENDING_HANDSHAKES", "none", "from 1 to 100000"),
])
def test_a_bad_limit_stops_start_up_naming_it(clean_env: Path, monkeypatch: pytest.MonkeyPatch,
                                              env: str, value: str, allowed: str) -> None:
    monkeypatch.setenv(env, value)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    expected = "a number" if "seconds" in allowed else "a whole number"
    assert f'{env}="{value}" (environment): expected {expected} {allowed}' in result.output


def test_serve_hands_the_limits_to_uvicorn(clean_env: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    monkeypatch.setenv("PYTORRENT_SERVER_KEEPALIVE_TIMEOUT", "7")
    monkeypatch.setenv("PYTORRENT_SERVER_MAX_HEADERS", "50")
    assert CliRunner().invoke(main, ["serve"]).exit_code == 0
    [call] = calls
    protocol = call["http"]
    assert issubclass(protocol, LimitedHttpToolsProtocol)
    assert (protocol.limits.max_headers, protocol.limits.max_header_bytes,
            protocol.limits.max_connections) == (50, 32768, 1000)
    assert call["timeout_keep_alive"] == 7
    assert call["ws_max_size"] == MAX_MESSAGE_BYTES
    assert "limit_concurrency" not in call  # the protocol counts, and names the setting

