"""Socket.IO figures: connect+authenticate time, and one emit reaching a 500-client room.

Clients run in this process (python-socketio's AsyncClient, websocket transport),
the server in its own. The room emit is an existing path: a user with full access
sets a profile's labels (``profile:labels:set``) and the server sends
``profile:labels`` to everyone in that profile's room. Its time includes the
server storing the labels, so the same emit to a room of one client is timed too.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from servers import Bench

CONNECTIONS = 200
ROOM_CLIENTS = 500
EMITS = 10


def _quantile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _connect(url: str, headers: dict[str, str], auth: dict[str, str] | None
                   ) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    # The client takes the Cookie header out of the dict it is given: pass a copy.
    await client.connect(url, headers=dict(headers), auth=auth, transports=["websocket"],
                         wait_timeout=30)
    return client


async def connect_times(url: str, headers: dict[str, str], auth: dict[str, str] | None,
                        count: int) -> list[float]:
    """Milliseconds from connect() to the authenticated namespace, one client at a time."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client = await _connect(url, headers, auth)
        times.append((time.perf_counter() - started) * 1000)
        await client.disconnect()
    return times


async def room_emit(url: str, cookie: str, profile_id: int, clients: int, emits: int
                    ) -> dict[str, float]:
    """Milliseconds from a labels change to its arrival at the last of ``clients`` members."""
    arrivals: list[float] = []
    everyone = asyncio.Event()
    members: list[socketio.AsyncClient] = []

    def arrived(data: Any) -> None:
        arrivals.append(time.perf_counter())
        if len(arrivals) >= clients:
            everyone.set()

    try:
        for _ in range(clients):
            member = await _connect(url, {"Cookie": cookie}, None)
            member.on("profile:labels", arrived)
            joined = await member.call("profile:join", {"profile_id": profile_id}, timeout=30)
            if not (isinstance(joined, dict) and joined.get("ok")):
                raise RuntimeError(f"profile:join refused: {joined}")
            members.append(member)
        sender = members[0]
        last, acked = [], []
        for n in range(emits + 1):
            arrivals.clear()
            everyone.clear()
            started = time.perf_counter()
            reply = await sender.call("profile:labels:set",
                                      {"profile_id": profile_id, "labels": [f"bench-{n}"]},
                                      timeout=30)
            answered = time.perf_counter()
            if not (isinstance(reply, dict) and "labels" in reply):
                raise RuntimeError(f"profile:labels:set refused: {reply}")
            try:
                await asyncio.wait_for(everyone.wait(), timeout=30)
            except TimeoutError:
                raise RuntimeError(f"only {len(arrivals)} of {clients} clients got the emit"
                                   ) from None
            if n:  # the first emit warms the path
                last.append((max(arrivals) - started) * 1000)
                acked.append((answered - started) * 1000)
        return {"last_ms": statistics.median(last), "ack_ms": statistics.median(acked)}
    finally:
        await asyncio.gather(*(member.disconnect() for member in members),
                             return_exceptions=True)


def _run(coroutine: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coroutine())


def report(bench: Bench, quick: bool = False) -> None:
    url = bench.local.url
    count = 20 if quick else CONNECTIONS
    room = 20 if quick else ROOM_CLIENTS
    emits = 2 if quick else EMITS
    print(f"\nSocket.IO ({bench.size.name} database, websocket transport, clients in one "
          "Python process)")
    if not bench.cookie:
        print(f"  not measured: no session cookie: {bench.cookie_note}")
        return
    for name, headers, auth in (
        ("cookie", {"Cookie": bench.cookie}, None),
        ("token", {}, {"token": bench.seeded.token}),
    ):
        times = _run(lambda h=headers, a=auth: connect_times(url, h, a, count))
        print(f"  connect+auth {name:<7} median {statistics.median(times):6.2f} ms   "
              f"p90 {_quantile(times, 0.9):6.2f} ms   ({count} sequential connections)")
    alone = _run(lambda: room_emit(url, bench.cookie, bench.seeded.room_profile, 1, emits))
    full = _run(lambda: room_emit(url, bench.cookie, bench.seeded.room_profile, room, emits))
    print(f"  room emit to {room} clients: last arrival {full['last_ms']:7.2f} ms after the "
          f"change (server ack {full['ack_ms']:.2f} ms); medians of {emits} emits")
    print(f"  same emit to a room of 1:   last arrival {alone['last_ms']:7.2f} ms "
          f"(storing the labels + one round trip)")
