"""Cross-site request checks for unsafe methods authenticated by ambient credentials."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..models import Principal
from .facts import RequestFacts

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def request_origin(facts: RequestFacts) -> str | None:
    origin = facts.headers.get("origin")
    if origin and origin != "null":
        return origin.rstrip("/").lower()
    referer = facts.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}".lower()
    return None


def origin_allowed(facts: RequestFacts, principal: Principal | None,
                   allowed: tuple[str, ...]) -> bool:
    """Unsafe requests using a cookie, header or bypass must come from an allowed origin.

    Token-authenticated requests are exempt: a browser never attaches a token by itself.
    """
    if facts.method in SAFE_METHODS:
        return True
    if principal is not None and principal.via == "token":
        return True
    origin = request_origin(facts)
    if origin is None:
        return False
    return origin == facts.origin.lower() or origin in allowed
