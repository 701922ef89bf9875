"""The tinyauth provider's own setting."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pytorrent_core.provider import ValueProblem, parse_optional_str

LOGOUT_URL = "auth.tinyauth.logout_url"


def parse_logout_url(value: Any) -> str | None:
    """An absolute http(s) URL (Tinyauth's logout page) or a path on this site."""
    text = parse_optional_str(value)
    if text is None:
        return None
    parts = urlsplit(text)
    absolute = parts.scheme in ("http", "https") and bool(parts.netloc)
    local_path = not parts.scheme and not parts.netloc and text.startswith("/") \
        and not text.startswith("//")
    if not (absolute or local_path) or any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise ValueProblem(f"{text!r} is not an http(s) URL or a path, for example "
                           "https://auth.example.com/logout")
    return text
