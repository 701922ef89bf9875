"""The two baselines of bench/ceiling.py, served by uvicorn as ``ceiling_apps:bare_asgi``
and ``ceiling_apps:bare_quart``: what uvicorn alone, and Quart alone, can answer."""

from __future__ import annotations

from typing import Any

from quart import Quart, jsonify

BODY = b'{"status":"ok"}\n'


async def bare_asgi(scope: Any, receive: Any, send: Any) -> None:
    """The least an ASGI application can do: one fixed JSON answer, lifespan accepted."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})


bare_quart = Quart(__name__)


@bare_quart.get("/api/health")
async def health() -> Any:
    return jsonify(status="ok")
