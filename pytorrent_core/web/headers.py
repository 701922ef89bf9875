"""Response headers every answer carries: one module, applied in front of Quart and Socket.IO.

- A strict Content-Security-Policy: scripts, styles and connections only from
  pyTorrent itself (the UI has no inline script), no framing (clickjacking).
- ``nosniff``, a same-origin Referrer-Policy and COOP for the old browsers' sake.
- ``Cache-Control: no-store`` on everything but static files: pages and JSON
  carry who the user is and one-time secrets (a new API token), which no cache
  on the way may keep.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
NO_STORE = (b"cache-control", b"no-store")
STATIC_PREFIXES = ("/static/", "/favicon.ico")
# What a response gets, each header unless it already has one of that name.
FOR_STATIC = ALWAYS
FOR_OTHERS = (*ALWAYS, NO_STORE)

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def with_security_headers(scope: MutableMapping[str, Any], send: Send) -> Send:
    """Wrap an HTTP ``send`` so the response start carries the headers above."""
    added = FOR_STATIC if scope.get("path", "").startswith(STATIC_PREFIXES) else FOR_OTHERS

    def sending(message: MutableMapping[str, Any]) -> Awaitable[None]:
        # A plain function handing back ``send``'s awaitable: no coroutine of its own
        # for each of a response's messages.
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {name.lower() for name, _ in headers}
            headers += [item for item in added if item[0] not in present]
            message["headers"] = headers
        return send(message)

    return sending
