"""Cleaning names that arrive from outside (proxy headers), before anyone trusts them.

External providers call these on every request, so they are cheap and never raise:
a value that cannot be used becomes ``None`` and the request stays anonymous.

Usernames follow one rule wherever they come from (a proxy's header, the users API,
``pytorrent users add``, the store itself): :func:`normalise` them, then
:func:`username_problem` says whether they are acceptable, and two names with the
same :func:`username_fold` are one name, so the second is refused.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Protocol

import regex

MAX_USERNAME_LENGTH = 128  # the users.username column
MAX_TEXT_LENGTH = 256
MAX_GROUPS = 64

# Only ASCII space and tab are trimmed: ``str.strip()`` also removes no-break, ideographic,
# em and narrow spaces, so ``admin`` + U+00A0 from a header used to become ``admin``.
TRIMMED = " \t"

# Control, format (zero-width, bidi overrides), surrogate, private-use and
# unassigned code points, plus line/paragraph separators: none belongs in a name
# and several can make two different names look alike.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

# Refused in a username: the categories above, every space and separator but U+0020
# itself, characters that show as nothing although they are letters or marks (Hangul
# fillers, variation selectors, the combining grapheme joiner), and blank Braille.
_REFUSED_IN_USERNAME = regex.compile(
    r"[[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Z}\p{Default_Ignorable_Code_Point}\u2800]--[\x20]]",
    regex.V1)

# Alphabets with letters that look exactly like Latin ones (and like each other).
_LOOKALIKE_SCRIPTS = ("Latin", "Greek", "Cyrillic", "Armenian", "Cherokee")
_SCRIPT_LETTERS = {name: regex.compile(rf"\p{{Script={name}}}") for name in _LOOKALIKE_SCRIPTS}


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
    """NFC (one way to write ``é``, so one account), trimmed of ASCII spaces and tabs only."""
    return unicodedata.normalize("NFC", value).strip(TRIMMED)


def username_fold(name: str) -> str:
    """The key on which two usernames are the same name: NFKC with case folding.

    ``Kate``, ``KATE`` and fullwidth ``Ｋａｔｅ`` share one key, so once one of them
    exists the others are refused instead of becoming accounts that read the same.
    (``Kate`` spelt with U+212A KELVIN SIGN is plain ``Kate``: NFC turns the sign into K.)
    The stored name stays as typed (NFC); this key only decides collisions.
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


@lru_cache(maxsize=1024)  # a header provider's user is checked with every request
def username_problem(name: str) -> str | None:
    """Why ``name`` (already :func:`normalise`d) cannot be a username, or ``None``.

    Refused, each because it lets one name pass for another or for several:

    - empty, or longer than the column: cutting could map two people onto one account;
    - spaces or tabs at either end, or not NFC (callers normalise first; the store,
      last in line, checks again);
    - control, format and invisible characters, and every space or separator other
      than U+0020 (no-break, ideographic, em, narrow no-break ...): ``admin`` + U+00A0
      looks like ``admin`` and older releases even trimmed it into ``admin``;
    - two spaces in a row: web pages show them as one;
    - a comma: ``alice,bob`` is a list (proxies join repeated headers with commas), not
      one person;
    - letters from more than one of the Latin, Greek, Cyrillic, Armenian and Cherokee
      alphabets: Cyrillic ``а`` is not folded to Latin ``a`` by NFKC, so ``аdmin``
      would be a new user that reads ``admin``. A name wholly in one alphabet is
      fine; a whole-word lookalike (Cyrillic ``рау`` for ``pay``) is not detected.
    """
    if not name:
        return "must not be empty"
    if len(name) > MAX_USERNAME_LENGTH:
        return f"must be at most {MAX_USERNAME_LENGTH} characters"
    if name != name.strip(TRIMMED):
        return "must not begin or end with a space or tab"
    if not unicodedata.is_normalized("NFC", name):
        return "must be in Unicode normal form C (NFC)"
    refused = _REFUSED_IN_USERNAME.search(name)
    if refused and unicodedata.category(refused.group())[0] == "Z":
        return (f"must not contain {_describe(refused.group())}: only the plain space "
                "(U+0020) may separate words")
    if refused:
        return f"must not contain control or invisible characters ({_describe(refused.group())})"
    if "  " in name:
        return "must not contain two spaces in a row"
    if "," in name:
        return "must not contain a comma: a list of names is not one name"
    if not name.isascii():
        compatible = unicodedata.normalize("NFKC", name)
        scripts = [script for script, letters in _SCRIPT_LETTERS.items()
                   if letters.search(compatible)]
        if len(scripts) > 1:
            return (f"must not mix letters of {' and '.join(scripts)}: mixed alphabets are "
                    "how one name is made to look like another")
    return None


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X} {name}" if name else f"U+{ord(ch):04X}"


def clean_text(value: str | None, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    """Trimmed, NFC-normalised text; ``None`` if empty, too long or with control characters."""
    if value is None:
        return None
    text = normalise(value)
    if not text or text_problem(text, max_length):
        return None
    return text


def clean_username(value: str | None) -> str | None:
    """A username fit to look up or create, or ``None`` (see :func:`username_problem`)."""
    if value is None:
        return None
    name = normalise(value)
    return None if username_problem(name) else name


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


def header_username_problem(headers: HeaderMap, name: str) -> str | None:
    """Why the one value of header ``name`` is not a usable username (the words of
    :func:`username_problem`); ``None`` when it is usable, missing or repeated."""
    value = single_header(headers, name)
    return None if value is None else username_problem(normalise(value))


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
