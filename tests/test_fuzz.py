"""Fuzzing: every route and every Socket.IO event, fed malformed input, answers 4xx.

A seeded run sends 10,000 HTTP requests over every route the app declares (read
from its URL map, so a new route is fuzzed without touching this file) and 1,500
Socket.IO events over every event the server handles (read from its handlers), as
an admin (cookie and API token), a plain user (cookie and API token), a deleted
user's cookie, a bad token and anonymously. It passes when no answer is a 5xx,
every API error is JSON, every answer's headers are legal HTTP, every event is
acknowledged, and nothing is logged at ERROR or with a traceback. The whole ASGI
app runs in-process (``support/asgi.py``): no port, no second process.

The profiles point at a closed loopback port, so every rTorrent call fails at
once: a 502 JSON answer naming rTorrent ("rTorrent refused the connection") is
expected then and allowed; nothing else at 5xx is.

A failure prints the seed; replay with ``FUZZ_SEED=<seed>`` (``FUZZ_REQUESTS`` and
``FUZZ_EVENTS`` change the counts).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from socketio import packet as sio_packet
from support.asgi import NoAnswer, PollingSocket, Reply, call
from support.fuzz import PASSWORD, Fuzz, Request
from support.rtorrent import make_torrent

from pytorrent_core.passwords import hash_password
from pytorrent_core.testing import issue_token, running_app, session_cookie
from pytorrent_core.web.app import PyTorrentApp
from pytorrent_core.web.handshakes import MAX_MESSAGE_BYTES

SEED = int(os.environ.get("FUZZ_SEED", "20251") or 20251)
REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "10000") or 10000)
EVENTS = int(os.environ.get("FUZZ_EVENTS", "1500") or 1500)
SETTLE_EVERY = 500  # requests between restoring the users, profiles and tokens
HOST = b"127.0.0.1"
ORIGIN = b"http://127.0.0.1"
# What an HTTP/1.1 server refuses to send: a header name that is not a token, a value
# with a control character other than tab.
TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class Problems(logging.Handler):
    """Every log record at ERROR or above, or carrying a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def take(self) -> list[str]:
        found = [f"{r.name} {r.levelname}: {r.getMessage()[:300]}"
                 + (f" [{r.exc_info[0].__name__}: {str(r.exc_info[1])[:200]}]"
                    if r.exc_info and r.exc_info[0] else "")
                 for r in self.records]
        self.records.clear()
        return found


@pytest.fixture
def problems() -> Iterator[Problems]:
    handler = Problems()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@dataclass
class World:
    """The users, profiles and credentials a run acts with; restored now and then."""

    app: PyTorrentApp
    closed_port: int
    admin_id: int = 0
    user_id: int = 0
    profiles: list[int] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    identities: dict[str, list[tuple[bytes, bytes]]] = field(default_factory=dict)
    torrents: list[bytes] = field(default_factory=list)

    async def settle(self) -> None:
        store = self.app.services.store
        admin = await store.get_user_by_name("admin")
        assert admin is not None
        admin = await store.update_user(admin.id, active=True, role="admin",
                                        must_change_password=False,
                                        password_hash=hash_password(PASSWORD))
        user = await store.get_user(self.user_id) if self.user_id else None
        if user is None:
            user = await store.get_user_by_name("fuzzer") or await store.create_user("fuzzer")
        user = await store.update_user(user.id, active=True, role="user",
                                       password_hash=hash_password(PASSWORD))
        self.admin_id, self.user_id = admin.id, user.id
        unreachable = f"scgi://127.0.0.1:{self.closed_port}"
        existing = {p.id for p in await store.list_profiles()}
        profiles = []
        for index, profile_id in enumerate(self.profiles or [0, 0]):
            if profile_id in existing:
                await store.update_profile(profile_id, name=f"fuzz-{index}",
                                           scgi_url=unreachable, data_root="/srv/fuzz")
            else:
                profile_id = (await store.create_profile(
                    f"fuzz-{index}-{len(existing)}", unreachable, data_root="/srv/fuzz")).id
            profiles.append(profile_id)
        self.profiles = profiles
        await store.set_permissions(user.id, {profiles[0]: "ro", profiles[1]: "full"})
        admin_token = await issue_token(store, admin.id, "fuzz")
        user_token = await issue_token(store, user.id, "fuzz")
        self.token_ids = [t.id for t in await store.list_tokens(user.id)][-3:]
        self.identities.update({
            "anonymous": [],
            "admin-cookie": [(b"cookie", session_cookie(self.app, admin).encode())],
            "user-cookie": [(b"cookie", session_cookie(self.app, user).encode())],
            "admin-token": [(b"authorization", b"Bearer " + admin_token.encode())],
            "user-token": [(b"x-api-key", user_token.encode())],
            "bad-token": [(b"authorization", b"Bearer pt_" + b"x" * 43)],
        })

    async def add_deleted_user(self) -> None:
        """A valid cookie whose user is gone (logout with it must still answer)."""
        store = self.app.services.store
        gone = await store.create_user("gone")
        self.identities["deleted-cookie"] = [
            (b"cookie", session_cookie(self.app, gone).encode())]
        await store.delete_user(gone.id)


@pytest.fixture
async def world(tmp_path: Path, cheap_passwords: None) -> AsyncIterator[World]:
    env = {"PYTORRENT_RTORRENT_TIMEOUT": "2"}
    # A port held but not listening: connecting is refused at once, and no one else
    # can start listening on it meanwhile.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        async with running_app(tmp_path, env) as app:
            torrents = [make_torrent(tmp_path, name, b"x" * 100, write=False)[0]
                        for name in ("a", "\u00e9\u540d", "b" * 300)]
            made = World(app, closed.getsockname()[1], torrents=torrents)
            await made.settle()
            await made.add_deleted_user()
            yield made


# ---------------------------------------------------------------- HTTP


def _rules(app: PyTorrentApp) -> list[tuple[str, list[str]]]:
    rules = [(rule.rule, sorted(rule.methods or ()))
             for rule in app.quart.url_map.iter_rules()]
    # Paths no route matches: the 404 and 405 answers and the host check get fuzzed too.
    rules += [("/nowhere/<x>", ["GET", "POST"]), ("/api/<x>", ["GET", "POST", "DELETE"]),
              ("/api/profiles/<int:profile_id>/<x>", ["GET", "PUT"])]
    return rules


def _request(fuzz: Fuzz, world: World, rule: str, methods: list[str]) -> Request:
    rng = fuzz.rng
    method = rng.choice(methods) if rng.random() < 0.95 else rng.choice(
        ["GET", "POST", "PUT", "PATCH", "DELETE", "PROPFIND"])
    arguments = {"profile_id": str(rng.choice(world.profiles)),
                 "user_id": str(rng.choice([world.admin_id, world.user_id])),
                 "token_id": str(rng.choice(world.token_ids or [1]))}
    identity = rng.choice(list(world.identities))
    headers = [(b"host", HOST if rng.random() < 0.95 else fuzz.header_value())]
    headers += world.identities[identity]
    if rng.random() < 0.85:
        headers.append((b"origin", ORIGIN if rng.random() < 0.9 else fuzz.header_value()))
    body: bytes | list[bytes] = b""
    if method in ("POST", "PUT", "PATCH") or rng.random() < 0.1:
        content_type, body = fuzz.body(world.torrents)
        if content_type is not None:
            headers.append((b"content-type", content_type))
        length = str(len(body)).encode()
        if rng.random() < 0.05:
            length = rng.choice([b"abc", b"-1", b"99999999999999999999", b"0"])
        headers.append((b"content-length", length))
        if len(body) > 10 and rng.random() < 0.2:
            cut = rng.randrange(1, len(body))
            body = [body[:cut], body[cut:]]
    for _ in range(rng.choice([0, 0, 1, 2, 4])):
        name = rng.choice([b"accept", b"sec-fetch-site", b"x-forwarded-for", b"forwarded",
                           b"x-real-ip", b"range", b"if-none-match", b"if-modified-since",
                           b"accept-encoding", b"cookie", b"referer", b"remote-user",
                           b"x-api-key", b"authorization", b"x-forwarded-prefix",
                           b"upgrade", b"connection", b"transfer-encoding"])
        headers.append((name, fuzz.header_value() if rng.random() < 0.6 else rng.choice(
            [b"application/json", b"same-origin", b"cross-site", b"bytes=0-1",
             b"bytes=99999999999999999999-", b"text/html", b"pytorrent_session=x"])))
    peer = rng.choice([("127.0.0.1", 40000), ("::1", 40000), ("10.0.0.7", 1),
                       (f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
                        40000),
                       (f"203.0.113.{rng.randrange(256)}", 5),
                       (f"2001:db8:{rng.randrange(65536):x}::1", 40000)])
    return Request(method, fuzz.path(rule, arguments), fuzz.query(), headers, body, peer, rule)


def _fault(request: Request, reply: Reply) -> str | None:
    """Why this answer is wrong, or None."""
    for name, value in reply.headers:
        if not TOKEN.match(name) or BAD_VALUE.search(value):
            return f"illegal response header {name!r}: {value[:100]!r}"
    api = request.raw_path.startswith(b"/api/")
    if reply.status >= 500:
        if reply.status == 502 and api and _json_error(reply, mentioning="rTorrent"):
            return None  # rTorrent cannot be reached: expected, and said as JSON
        return f"status {reply.status}: {reply.body[:300]!r}"
    if api and reply.status >= 400 and not _json_error(reply):
        return f"API error {reply.status} is not JSON with an error: {reply.body[:300]!r}"
    return None


def _json_error(reply: Reply, mentioning: str = "") -> bool:
    content_type = reply.header(b"content-type") or b""
    if not content_type.startswith(b"application/json"):
        return False
    try:
        data = json.loads(reply.body)
    except ValueError:
        return False
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return mentioning in data["error"]
    return False


def report(kind: str, failures: list[str], count: int) -> str:
    shown = "\n".join(failures[:15])
    return (f"{len(failures)} of {count} fuzzed {kind} went wrong (seed {SEED}; replay with "
            f"FUZZ_SEED={SEED}):\n{shown}")


async def test_every_route_answers_malformed_requests_with_4xx(
        world: World, problems: Problems) -> None:
    rng = random.Random(SEED)
    fuzz = Fuzz(rng)
    rules = _rules(world.app)
    failures: list[str] = []
    seen: Counter[str] = Counter()
    started = time.monotonic()
    for index in range(REQUESTS):
        if index and index % SETTLE_EVERY == 0:
            await world.settle()
        rule, methods = rules[index % len(rules)] if index < 3 * len(rules) \
            else rng.choice(rules)
        request = _request(fuzz, world, rule, methods)
        seen[rule] += 1
        try:
            reply = await call(world.app, request.method, request.raw_path,
                               query=request.query, headers=request.headers,
                               body=request.body, client=request.client)
        except NoAnswer as error:
            failures.append(f"#{index} {error}: {request.describe()}")
            continue
        fault = _fault(request, reply)
        logged = problems.take()
        if fault or logged:
            failures.append(f"#{index} {fault or ''} {logged} <- {request.describe()}")
    elapsed = time.monotonic() - started
    print(f"fuzz: {REQUESTS} requests over {len(rules)} routes in {elapsed:.1f} s "
          f"(seed {SEED})")
    assert not failures, report("requests", failures, REQUESTS)
    assert set(seen) == {rule for rule, _ in rules}


# ---------------------------------------------------------------- Socket.IO


def _events(app: PyTorrentApp) -> list[str]:
    handled = [name for name in app.sio.handlers.get("/", {})
               if name not in ("connect", "disconnect", "*")]
    return sorted(handled) + ["no:such:event"]


def _payload(fuzz: Fuzz, world: World) -> tuple[Any, ...]:
    """The arguments of one event: mostly an object with a fuzzed ``profile_id``.

    Each fits in one Engine.IO message (1 MB): a larger one ends the session before any
    event handler sees it, and HTTP bodies test size limits already.
    """
    while True:
        arguments = _arguments(fuzz, world)
        if len(json.dumps(arguments)) < 500_000:
            return arguments


def _arguments(fuzz: Fuzz, world: World) -> tuple[Any, ...]:
    rng = fuzz.rng
    r = rng.random()
    if r < 0.05:
        return ()
    if r < 0.1:
        return (fuzz.value(), fuzz.value())
    if r < 0.25:
        return (fuzz.value(),)
    data: dict[str, Any] = {}
    if rng.random() < 0.9:
        data["profile_id"] = rng.choice(
            [*world.profiles, *world.profiles, 0, -1, 2**63 - 1, 2**63, 2**64, 10**30,
             -(10**30), True, 1.5, "1", None, [1], {"id": 1}])
    if rng.random() < 0.6:
        data["labels"] = rng.choice([[fuzz.text() for _ in range(rng.randrange(4))],
                                     fuzz.value()])
    for _ in range(rng.randrange(2)):
        data[fuzz.key()] = fuzz.value()
    return (data,)


def _ack_fault(event: str, ack: Any) -> str | None:
    if not isinstance(ack, list) or len(ack) != 1 or not isinstance(ack[0], dict):
        return f"acknowledged with {str(ack)[:200]}, not one object"
    answer = ack[0]
    if "error" in answer:
        status = answer.get("status")
        if answer.get("ok") is not False or not isinstance(answer["error"], str) \
                or not isinstance(status, int) or not 400 <= status < 500:
            return f"error answer {str(answer)[:300]}"
    return None


async def _open(world: World, identity: str, peer: int) -> PollingSocket:
    """A connection signed in as ``identity`` (token in the auth payload or a header)."""
    headers = [(b"host", HOST), (b"origin", ORIGIN)]
    auth: Any = None
    if identity == "admin-token":
        auth = {"token": world.identities["admin-token"][0][1].decode().split()[-1]}
    else:
        headers += world.identities[identity]
    connection = PollingSocket(world.app, headers, client=("127.0.0.1", 41000 + peer))
    answer = await connection.connect(auth)
    assert answer.data and "sid" in answer.data, (identity, answer.data)
    return connection


def _too_large(event: str, arguments: list[Any]) -> bool:
    encoded = sio_packet.Packet(sio_packet.EVENT, data=[event, *arguments], id=1).encode()
    parts = encoded if isinstance(encoded, list) else [encoded]
    return sum(len(part.encode() if isinstance(part, str) else part) for part in parts) \
        > MAX_MESSAGE_BYTES


async def test_every_socketio_event_acknowledges_malformed_payloads_with_an_error(
        world: World, problems: Problems) -> None:
    rng = random.Random(SEED + 1)
    fuzz = Fuzz(rng)
    events = _events(world.app)
    identities = ["admin-token", "admin-cookie", "user-token", "user-cookie"]
    connections: dict[str, PollingSocket] = {}
    failures: list[str] = []
    seen: Counter[str] = Counter()
    started = time.monotonic()
    try:
        for index in range(EVENTS):
            if index % 50 == 49:
                # A connection with a malformed auth payload is refused, not a crash. (The
                # protocol makes it an object or nothing; the client library enforces that.)
                auth = rng.choice([None, {}, {"token": 5}, {"token": "pt_bad"},
                                   {"token": "\ud800"}, {"token": "x" * 100_000},
                                   {"token": fuzz.value()}, {fuzz.key(): fuzz.value()}])
                connection = PollingSocket(world.app, [(b"host", HOST)], client=("10.1.2.3", index))
                try:
                    answer = await connection.connect(auth)
                except ConnectionError:  # a message over MAX_MESSAGE_BYTES: refused unread
                    answer = sio_packet.Packet(sio_packet.CONNECT_ERROR, data=None)
                logged = problems.take()
                if "sid" in (answer.data or {}) or logged:
                    failures.append(f"#{index} connect with auth {str(auth)[:100]}: "
                                    f"{answer.data} {logged}")
                await connection.close()
                continue
            identity = identities[index % len(identities)]
            connection = connections.get(identity)
            if connection is None or connection.closed:
                connection = connections[identity] = await _open(world, identity, len(connections))
            event = events[index % len(events)] if index < 3 * len(events) \
                else rng.choice(events)
            arguments = _payload(fuzz, world)
            seen[event] += 1
            try:
                fault = _ack_fault(event, await connection.call(event, *arguments))
            except (NoAnswer, ConnectionError) as error:
                fault = str(error)
                if isinstance(error, ConnectionError) and _too_large(event, arguments):
                    fault = None  # over MAX_MESSAGE_BYTES: refused unread (413), as it should
            logged = problems.take()
            if fault or logged:
                failures.append(f"#{index} {identity} {event} {str(arguments)[:300]}: "
                                f"{fault or ''} {logged}")
    finally:
        for connection in connections.values():
            await connection.close()
    elapsed = time.monotonic() - started
    print(f"fuzz: {EVENTS} Socket.IO events over {len(events)} events in {elapsed:.1f} s "
          f"(seed {SEED})")
    assert not failures, report("Socket.IO events", failures, EVENTS)
    assert set(seen) == set(events)
