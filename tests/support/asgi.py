"""Driving the whole ASGI app in-process, byte for byte: HTTP requests and Socket.IO.

``call`` sends one HTTP request the way an ASGI server would after parsing it
(any path, header or body bytes the parser lets through) and returns the answer.
``PollingSocket`` speaks Engine.IO long-polling to the same app, using
python-engineio's and python-socketio's own packet codecs, so Socket.IO events
need neither a port nor a second process.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from engineio import packet as eio_packet
from engineio import payload as eio_payload
from socketio import packet as sio_packet

Headers = Sequence[tuple[bytes, bytes]]


@dataclass
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


class NoAnswer(Exception):
    """The app did not finish its answer within the deadline."""


async def call(app: Any, method: str, raw_path: bytes, *, query: bytes = b"",
               headers: Headers = (), body: bytes | Sequence[bytes] = b"",
               client: tuple[str, int] | None = ("127.0.0.1", 40000),
               within: float = 10.0) -> Reply:
    """One HTTP request to ``app``; ``body`` as one chunk or a sequence of chunks."""
    chunks = [body] if isinstance(body, bytes) else list(body) or [b""]
    finished = asyncio.Event()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": method, "scheme": "http",
        # As uvicorn does: the path is the percent-decoded raw path (bad UTF-8 replaced).
        "path": unquote(raw_path.decode("ascii", "replace")), "raw_path": raw_path,
        "query_string": query, "root_path": "", "headers": list(headers),
        "client": client, "server": ("127.0.0.1", 8090),
    }
    pending = list(chunks)

    async def receive() -> dict[str, Any]:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        await finished.wait()
        return {"type": "http.disconnect"}

    reply = Reply(0, [], b"")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            reply.body += message.get("body", b"")
            if not message.get("more_body", False):
                finished.set()

    try:
        async with asyncio.timeout(within):
            await app(scope, receive, send)
    except TimeoutError:
        raise NoAnswer(f"{method} {raw_path!r}: no answer in {within} s") from None
    finally:
        finished.set()
    return reply


@dataclass
class PollingSocket:
    """One Socket.IO connection over Engine.IO long-polling, in-process."""

    app: Any
    headers: list[tuple[bytes, bytes]]
    client: tuple[str, int] = ("127.0.0.1", 40001)
    deadline: float = 5.0
    sid: str | None = None
    closed: bool = False
    inbox: list[sio_packet.Packet] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _query(self) -> bytes:
        return f"EIO=4&transport=polling&sid={self.sid}".encode()

    async def handshake(self) -> None:
        reply = await call(self.app, "GET", b"/socket.io/", query=b"EIO=4&transport=polling",
                           headers=self.headers, client=self.client)
        if reply.status != 200:
            raise ConnectionError(f"handshake refused: {reply.status} {reply.body[:200]!r}")
        opened = eio_payload.Payload(encoded_payload=reply.body.decode()).packets[0]
        self.sid = opened.data["sid"]

    async def connect(self, auth: Any = None) -> sio_packet.Packet:
        """Open the namespace; the server's CONNECT or CONNECT_ERROR packet."""
        await self.handshake()
        await self.send_packet(sio_packet.Packet(sio_packet.CONNECT, data=auth))
        while True:
            if self.closed:
                raise ConnectionError("the server closed the connection")
            for packet in await self.receive():
                if packet.packet_type in (sio_packet.CONNECT, sio_packet.CONNECT_ERROR):
                    return packet

    async def post(self, body: bytes) -> Reply:
        headers = [*self.headers, (b"content-type", b"text/plain;charset=UTF-8"),
                   (b"content-length", str(len(body)).encode())]
        reply = await call(self.app, "POST", b"/socket.io/", query=self._query(),
                           headers=headers, body=body, client=self.client)
        if reply.status != 200:
            self.closed = True
        return reply

    async def send_packet(self, packet: sio_packet.Packet) -> Reply:
        encoded = packet.encode()
        parts = encoded if isinstance(encoded, list) else [encoded]
        packets = [eio_packet.Packet(eio_packet.MESSAGE, part) for part in parts]
        return await self.post(eio_payload.Payload(packets=packets).encode().encode())

    async def receive(self) -> list[sio_packet.Packet]:
        """The packets of one long-poll (waits up to the deadline for any)."""
        try:
            reply = await call(self.app, "GET", b"/socket.io/", query=self._query(),
                               headers=self.headers, client=self.client,
                               within=self.deadline)
        except NoAnswer:
            self.closed = True  # the server ends a session whose long-poll is cut short
            raise NoAnswer(f"no Socket.IO packet within {self.deadline} s") from None
        if reply.status != 200:
            self.closed = True
            return []
        found = []
        for packet in eio_payload.Payload(encoded_payload=reply.body.decode()).packets:
            if packet.packet_type == eio_packet.CLOSE:
                self.closed = True
            elif packet.packet_type == eio_packet.PING:
                await self.post(eio_payload.Payload(
                    packets=[eio_packet.Packet(eio_packet.PONG)]).encode().encode())
            elif packet.packet_type == eio_packet.MESSAGE:
                decoded = sio_packet.Packet(encoded_packet=packet.data)
                if decoded.packet_type == sio_packet.DISCONNECT:
                    self.closed = True
                found.append(decoded)
        return found

    async def call(self, event: str, *args: Any) -> Any:
        """Emit ``event`` with ``args`` and return the acknowledgement's arguments."""
        ack_id = next(self.ids)
        await self.send_packet(sio_packet.Packet(sio_packet.EVENT, data=[event, *args],
                                                 id=ack_id))
        return await self.ack(ack_id)

    async def ack(self, ack_id: int) -> Any:
        while True:
            if self.closed:
                raise ConnectionError("the server closed the connection")
            for packet in await self.receive():
                if packet.packet_type == sio_packet.ACK and packet.id == ack_id:
                    return packet.data

    async def close(self) -> None:
        if not self.closed and self.sid is not None:
            await self.post(eio_payload.Payload(
                packets=[eio_packet.Packet(eio_packet.CLOSE)]).encode().encode())
            self.closed = True
