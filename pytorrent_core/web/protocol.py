"""The HTTP/1.1 protocol `pytorrent serve` runs: uvicorn's httptools one, with limits.

uvicorn reads a request head of any size, with any number of headers (httptools
keeps a header that never ends in memory), and gives a connection all the time it
wants to finish a request: a connection that opens and sends nothing, or half a
head, or half a body, is never closed. Each of those holds memory and a
connection slot. This subclass adds, per connection:

- a request head larger than ``max_header_bytes`` or with more than ``max_headers``
  headers gets 431, once it is known (from the parsed head, and from the bytes
  received while the head is still open, so an endless header is cut short);
- a head not complete ``header_timeout`` seconds after the connection opened (or
  after its first byte, on a kept-alive connection) is closed, with 408 if part of
  it had arrived;
- a body gets ``header_timeout`` seconds plus one for every ``MIN_BODY_RATE`` bytes
  it brings, so a stalled or trickling body is closed while any real upload fits
  (the time uvicorn stops reading because the application is slow does not count);
- more than ``max_connections`` open connections: a new request or WebSocket gets
  503. uvicorn's own ``limit_concurrency`` does the same for plain requests but
  lets WebSockets through and answers without naming the setting.

An answer that refuses a request is followed by a half-close, and the connection
reads (and drops) what the client still sends for a moment: closing at once with
unread data makes the client's system answer with a reset, which can discard
our answer before the client reads it.
"""

from __future__ import annotations

import asyncio
import http
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..config import Settings

log = logging.getLogger("pytorrent")

LINGER_SECONDS = 2.0
MIN_BODY_RATE = 500  # bytes a second, as Apache's mod_reqtimeout asks by default


@dataclass(frozen=True)
class ServerLimits:
    max_connections: int
    max_header_bytes: int
    max_headers: int
    header_timeout: float
    keepalive_timeout: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerLimits:
        return cls(max_connections=int(settings.server_max_connections),
                   max_header_bytes=int(settings.server_max_header_bytes),
                   max_headers=int(settings.server_max_headers),
                   header_timeout=float(settings.server_header_timeout),
                   keepalive_timeout=int(settings.server_keepalive_timeout))


def protocol_class(limits: ServerLimits) -> type[LimitedHttpToolsProtocol]:
    """The class to hand uvicorn as ``http=``: it creates one instance per connection."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[ServerLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One timer per connection, not one per request: the request's callbacks only
        # move ``_deadline``; the timer, when it fires, looks at it and sleeps on if
        # the connection has made its progress in time.
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # when the timer fires
        self._deadline: float | None = None  # when the head or body must be complete
        self._in_head = True  # waiting for, or reading, a request head
        self._in_body = False
        self._head_received = 0  # bytes received since the head began
        self._refused = False  # answered by us: the rest of the connection is dropped
        self._upgraded = False  # handed over to the WebSocket protocol

    # ------------------------------------------------------------ connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._limit(self.loop.time() + self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_received += len(data)
        super().data_received(data)
        if self._refused or self._upgraded or self.transport.is_closing():
            return
        if self._in_head:  # a head not complete yet (as far as it came, in uvicorn's fields)
            if len(self.headers) > self.limits.max_headers:
                self._refuse_header_count()
            elif self._head_received > self.limits.max_header_bytes:
                self._refuse_head_size()
            elif self._deadline is None and self._head_received:
                # bytes before a request line
                self._limit(self.loop.time() + self.limits.header_timeout)
        elif self._in_body and self._deadline is not None:
            self._deadline += len(data) / MIN_BODY_RATE

    def handle_websocket_upgrade(self) -> None:
        if self._refused:
            return
        self._disarm()
        self._upgraded = True
        super().handle_websocket_upgrade()

    # ------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        if self._refused:
            return
        super().on_message_begin()
        if self._deadline is None:
            self._limit(self.loop.time() + self.limits.header_timeout)

    # The request target and headers are counted once the head is complete, from
    # uvicorn's own ``url`` and ``headers``: a callback of ours for each header would
    # cost every request more than the sum. A head still arriving is measured by the
    # bytes received (``data_received``), so an endless one is still cut short.

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        headers = self.headers
        if len(headers) > self.limits.max_headers:
            self._refuse_header_count()
            return
        size = len(self.url) + 4 * len(headers)
        for name, value in headers:
            size += len(name) + len(value)
        if size > self.limits.max_header_bytes:
            self._refuse_head_size()
            return
        self._in_head = False
        self._in_body = True
        self._limit(self.loop.time() + self.limits.header_timeout)
        if max(len(self.connections), len(self.tasks)) > self.limits.max_connections:
            self._refuse(503, f"pyTorrent is serving its maximum of "
                              f"{self.limits.max_connections} connections "
                              "(PYTORRENT_SERVER_MAX_CONNECTIONS); try again shortly")
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._in_head = True
        self._in_body = False
        self._head_received = 0
        self._deadline = None  # until the next request begins; the timer stays
        super().on_message_complete()

    # ------------------------------------------------------------ timers and refusals

    def _limit(self, deadline: float) -> None:
        """The head or body now in progress must be complete by ``deadline``."""
        self._deadline = deadline
        if self._timer is None or deadline < self._timer_at:
            self._schedule(deadline)

    def _schedule(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self.loop.call_at(at, self._expired)

    def _disarm(self) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self._deadline is None:  # between requests: uvicorn's keep-alive limit applies
            return
        if self.loop.time() < self._deadline:  # progress was made: sleep on
            self._schedule(self._deadline)
        elif self._in_head:
            self._head_too_slow()
        else:
            self._body_too_slow()

    def _head_too_slow(self) -> None:
        if self._head_received:
            self._refuse(408, f"request head not complete within "
                              f"{self.limits.header_timeout:g} seconds "
                              "(PYTORRENT_SERVER_HEADER_TIMEOUT)", linger=False)
        else:
            self.transport.close()

    def _body_too_slow(self) -> None:
        if self.flow.read_paused:  # the application has not taken what came: not the client
            self._limit(self.loop.time() + self.limits.header_timeout)
        else:
            self.transport.close()

    def _refuse_header_count(self) -> None:
        self._refuse(431, f"more than {self.limits.max_headers} request headers "
                          "(PYTORRENT_SERVER_MAX_HEADERS)")

    def _refuse_head_size(self) -> None:
        self._refuse(431, f"request head larger than {self.limits.max_header_bytes} bytes "
                          "(PYTORRENT_SERVER_MAX_HEADER_BYTES); clear this site's cookies "
                          "or raise the setting")

    def _refuse(self, status: int, reason: str, linger: bool = True) -> None:
        """Answer ``status`` with ``reason`` and close; nothing more reaches the app."""
        if self._refused:
            return
        self._refused = True
        self._disarm()
        if self.transport.is_closing():
            return
        log.log(logging.INFO if status == 408 else logging.WARNING,
                "refused a request from %s: %s", self._peer(), reason)
        body = f"{reason}\n".encode()
        head = (f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
                "content-type: text/plain; charset=utf-8\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
        self.transport.write(head.encode() + body)
        if linger and self.transport.can_write_eof():
            self.transport.write_eof()
            self.flow.resume_reading()
            self._timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "an unknown peer"
