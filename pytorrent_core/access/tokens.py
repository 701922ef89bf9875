"""API tokens: ``pt_`` + 32 random bytes, stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets

from werkzeug.datastructures import Headers

TOKEN_PREFIX = "pt_"  # noqa: S105 - a format marker, not a secret
VISIBLE_PREFIX_LENGTH = 10  # "pt_" + 7 characters, enough to tell tokens apart


def generate() -> tuple[str, str, str]:
    """Return (plaintext shown once, visible prefix, digest to store)."""
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return plaintext, plaintext[:VISIBLE_PREFIX_LENGTH], digest(plaintext)


def digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def from_headers(headers: Headers) -> str | None:
    """The presented token, from ``Authorization: Bearer`` or ``X-API-Key``; never a query."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip().startswith(TOKEN_PREFIX):
            return value.strip()
    key = headers.get("x-api-key")
    if key and key.strip():
        return key.strip()
    return None
