"""API tokens: ``pt_`` + 32 random bytes, stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from werkzeug.datastructures import Headers

from ..models import LEVEL_NAMES, TokenScope

TOKEN_PREFIX = "pt_"  # noqa: S105 - a format marker, not a secret
VISIBLE_PREFIX_LENGTH = 10  # "pt_" + 7 characters, enough to tell tokens apart


def generate() -> tuple[str, str, str]:
    """Return (plaintext shown once, visible prefix, digest to store)."""
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return plaintext, plaintext[:VISIBLE_PREFIX_LENGTH], digest(plaintext)


def digest(plaintext: str) -> str:
    # A presented token may hold anything a client sent, even a lone surrogate from a
    # JSON escape in a Socket.IO auth payload: it must hash (and then match nothing).
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


def from_headers(headers: Headers | Mapping[str, str]) -> str | None:
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


NAME_MAX = 128
MAX_DAYS = 3650


def clean_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("name is required: say what the token is for, e.g. 'backup script'")
    name = value.strip()
    if len(name) > NAME_MAX or not name.isprintable():
        raise ValueError(f"name must be at most {NAME_MAX} printable characters")
    return name


def expiry(expires_at: object = None, expires_in_days: object = None,
           *, at: datetime | None = None) -> datetime | None:
    """The expiry moment from an ISO 8601 time or a number of days; None = never.

    Raises ValueError naming the bad input. A time without a zone is taken as UTC.
    """
    at = at or datetime.now(UTC)
    if expires_at not in (None, "") and expires_in_days not in (None, ""):
        raise ValueError("give expires_at or expires_in_days, not both")
    if expires_in_days not in (None, ""):
        if isinstance(expires_in_days, bool) or not isinstance(expires_in_days, int | str):
            raise ValueError(f"expires_in_days must be a whole number from 1 to {MAX_DAYS}")
        try:
            days = int(expires_in_days)
        except ValueError:
            raise ValueError(
                f"expires_in_days must be a whole number from 1 to {MAX_DAYS}") from None
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(f"expires_in_days must be a whole number from 1 to {MAX_DAYS}")
        return at + timedelta(days=days)
    if expires_at in (None, ""):
        return None
    if not isinstance(expires_at, str):
        raise ValueError("expires_at must be an ISO 8601 time, e.g. 2030-01-31T12:00:00Z")
    try:
        moment = datetime.fromisoformat(expires_at.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            "expires_at must be an ISO 8601 time, e.g. 2030-01-31T12:00:00Z") from None
    # Stored as UTC: the database keeps no zone, so an offset must not become clock time.
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment <= at:
        raise ValueError("expires_at must be in the future")
    return moment


MAX_SCOPE_PROFILES = 1000
SCOPE_PERMISSIONS = {name: level for name, level in LEVEL_NAMES.items() if level != "none"}


class ScopeProblem(ValueError):
    """A token scope is malformed; ``field`` names the input (``permission`` or ``profiles``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def scope(permission: object = None, profiles: object = None) -> TokenScope | None:
    """The scope a new token asks for; None when neither part is given (unscoped).

    ``permission``: "ro" or "full" ("rw" = "full"); ``profiles``: a list of profile ids.
    Whether the profiles exist and the owner may read them is the caller's check.
    """
    if permission is None and profiles is None:
        return None
    level = "full"
    if permission is not None:
        if not isinstance(permission, str) or permission.lower() not in SCOPE_PERMISSIONS:
            raise ScopeProblem("permission", 'permission must be "ro" (look only) or "full" '
                                             "(also add, start, stop, remove), or left out")
        level = SCOPE_PERMISSIONS[permission.lower()]
    ids: frozenset[int] | None = None
    if profiles is not None:
        if not isinstance(profiles, list) or not profiles or not all(
                isinstance(p, int) and not isinstance(p, bool) and p > 0 for p in profiles):
            raise ScopeProblem("profiles", "profiles must be a non-empty list of profile ids, "
                                           "e.g. [1, 3], or left out for every profile")
        if len(profiles) > MAX_SCOPE_PROFILES:
            raise ScopeProblem("profiles", f"profiles may list at most {MAX_SCOPE_PROFILES} ids")
        ids = frozenset(profiles)
    return TokenScope(level, ids)  # type: ignore[arg-type]

