"""Socket.IO sessions that have not signed in are few, and short-lived.

An Engine.IO session exists from the first handshake request, before the client
says who it is (its Socket.IO connect, answered by ``realtime.Realtime.connect``).
python-socketio keeps such a session for as long as the client answers pings, and
keeps a refused one too, so anyone could hold any number of them. Here a session
that has not joined the default namespace:

- counts against ``max_pending``: past it a new handshake gets 401 naming the setting;
- is closed ``sign_in_timeout`` seconds after its handshake;
- is closed one second after its connect was refused (time for the client to read
  why), its WebSocket too.

python-socketio has no public hook for the Engine.IO handshake, so this overrides
its ``_handle_eio_connect`` / ``_handle_connect`` / ``_handle_eio_disconnect``;
``tests/test_hardening_limits.py`` fails if those stop being called.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import engineio
import socketio

log = logging.getLogger("pytorrent")

MAX_MESSAGE_BYTES = 64 * 1024  # the largest Socket.IO message pyTorrent reads; its events are small
REFUSED_GRACE_SECONDS = 1.0


class _EngineServer(engineio.AsyncServer):
    """Engine.IO's server, minus one crash: a request for a session it has closed.

    engineio closes a session (a message over ``max_http_buffer_size``, a refused or
    ended connection) some time before it forgets it; a polling request in between
    raises ``KeyError`` out of the ASGI app, a 500 with a traceback. Such a request
    gets 400 here, as a request for an unknown session does.
    """

    async def handle_request(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 3 and isinstance(args[0], dict):
            scope, _receive, send = args
            sid = _query_sid(scope)
            socket = self.sockets.get(sid) if sid else None
            if socket is not None and socket.closed:
                self.sockets.pop(sid, None)
                await _refuse(send, 400, b"this Socket.IO session has ended; connect again")
                return None
            if _declared_length(scope) > self.max_http_buffer_size:
                # engineio would read it, then end the session and wait for a long-poll
                # that may never come before answering: refuse it unread instead.
                await _refuse(send, 413, b"Socket.IO message too large")
                return None
        return await super().handle_request(*args, **kwargs)


def _query_sid(scope: dict[str, Any]) -> str | None:
    for part in scope.get("query_string", b"").split(b"&"):
        name, _, value = part.partition(b"=")
        if name == b"sid":
            return value.decode("latin-1")
    return None


def _declared_length(scope: dict[str, Any]) -> int:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


async def _refuse(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class HandshakeLimitedServer(socketio.AsyncServer):
    def __init__(self, *, max_pending: int, sign_in_timeout: float, **options: Any) -> None:
        super().__init__(**options)
        self.max_pending = max_pending
        self.sign_in_timeout = sign_in_timeout
        self.pending: dict[str, asyncio.TimerHandle] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return _EngineServer

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        if len(self.pending) >= self.max_pending:
            log.warning("refused a Socket.IO handshake: %d connections are waiting to sign in "
                        "(PYTORRENT_SOCKETIO_MAX_PENDING_HANDSHAKES)", len(self.pending))
            return (f"{self.max_pending} Socket.IO connections are waiting to sign in "
                    "(PYTORRENT_SOCKETIO_MAX_PENDING_HANDSHAKES); try again shortly")
        self._close_later(eio_sid, self.sign_in_timeout)
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        await super()._handle_connect(eio_sid, namespace, data)
        if eio_sid not in self.pending:
            return
        namespace = namespace or "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is not None and self.manager.is_connected(sid, namespace):
            self.pending.pop(eio_sid).cancel()
        else:
            self._close_later(eio_sid, REFUSED_GRACE_SECONDS)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        timer = self.pending.pop(eio_sid, None)
        if timer is not None:
            timer.cancel()
        await super()._handle_eio_disconnect(eio_sid, reason)

    def _close_later(self, eio_sid: str, delay: float) -> None:
        timer = self.pending.get(eio_sid)
        if timer is not None:
            timer.cancel()
        self.pending[eio_sid] = asyncio.get_running_loop().call_later(
            delay, self._start_close, eio_sid)

    def _start_close(self, eio_sid: str) -> None:
        task = asyncio.ensure_future(self._close(eio_sid))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, eio_sid: str) -> None:
        self.pending.pop(eio_sid, None)
        session = self.eio.sockets.pop(eio_sid, None)
        if session is None:
            return
        try:
            await session.close(wait=False, reason=self.reason.SERVER_DISCONNECT)
        finally:
            session.queue.put_nowait(None)  # ends a poll in flight and a WebSocket's writer
