"""Cleaning names that arrive from outside (proxy headers), before anyone trusts them.

External providers call these on every request, so they are cheap and never raise:
a value that cannot be used becomes ``None`` and the request stays anonymous.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Protocol

MAX_USERNAME_LENGTH = 128  # the users.username column
MAX_TEXT_LENGTH = 256
MAX_GROUPS = 64

# Control, format (zero-width, bidi overrides), surrogate, private-use and
# unassigned code points, plus line/paragraph separators: none belongs in a name
# and several can make two different names look alike.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class HeaderMap(Protocol):
    def getlist(self, key: str) -> list[str]: ...


def header_text(value: str) -> str:
    """Undo the latin-1 decoding of raw header bytes when they are really UTF-8.

    ASGI servers hand headers over as bytes and the web layer decodes them as
    latin-1; a proxy that forwards ``josé`` in UTF-8 would otherwise become ``josÃ©``.
    """
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def text_problem(text: str, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    """Why ``text`` (already normalised and trimmed) is not a usable name, or ``None``."""
    if len(text) > max_length:
        return f"must be at most {max_length} characters"
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in text):
        return "must not contain control or invisible characters"
    return None


def normalise(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


def clean_text(value: str | None, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    """Trimmed, NFC-normalised text; ``None`` if empty, too long or with control characters."""
    if value is None:
        return None
    text = normalise(value)
    if not text or text_problem(text, max_length):
        return None
    return text


def clean_username(value: str | None) -> str | None:
    """A username fit to look up or create, or ``None``.

    Too long is refused rather than cut: cutting could map two people onto one account.
    """
    return clean_text(value, MAX_USERNAME_LENGTH)


def single_header(headers: HeaderMap, name: str) -> str | None:
    """The one value of header ``name``; ``None`` when missing or sent more than once.

    Two copies of an identity header are ambiguous (one may be forged), so neither is used.
    """
    values = headers.getlist(name)
    if len(values) != 1:
        return None
    return header_text(values[0])


def username_from_headers(headers: HeaderMap, name: str) -> str | None:
    """The cleaned username carried by header ``name``, or ``None``."""
    return clean_username(single_header(headers, name))


def clean_groups(value: str | None) -> tuple[str, ...]:
    """Comma-separated group names: cleaned, de-duplicated, order kept, at most MAX_GROUPS."""
    if not value:
        return ()
    return _unique(clean_text(part) for part in value.split(","))[:MAX_GROUPS]


def _unique(items: Iterable[str | None]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in items:
        if item is not None:
            seen.setdefault(item, None)
    return tuple(seen)


def header_problem(headers: HeaderMap, name: str, peer_trusted: bool) -> str | None:
    """Why header ``name`` gives no username, for pages that explain a failed sign-in.

    ``"missing"``, ``"untrusted"`` (sent by a peer outside auth.trusted_proxies),
    ``"repeated"``, ``"invalid"``, or ``None`` when it carries a usable username.
    This only describes the header; the resolver alone decides who the request is.
    """
    values = headers.getlist(name)
    if not values:
        return "missing"
    if not peer_trusted:
        return "untrusted"
    if len(values) > 1:
        return "repeated"
    return None if clean_username(header_text(values[0])) else "invalid"
