"""What each route or event needs, and the one check of a Principal against it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from ..models import Principal

F = TypeVar("F", bound=Callable[..., Any])

ATTRIBUTE = "_pytorrent_need"
BEFORE_PASSWORD_CHANGE = "_pytorrent_before_password_change"  # noqa: S105 - a name
PASSWORD_CHANGE_REQUIRED = "change the one-time password first (account page)"  # noqa: S105
TWO_FACTOR_REQUIRED = ("admins must set up two-factor sign-in first (account page; "
                       "PYTORRENT_AUTH_REQUIRE_2FA_ADMINS is on)")
READ_ONLY_TOKEN = ("this API token is read-only (scope ro): it cannot add, act or "  # noqa: S105
                   "change anything")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Need(Enum):
    PUBLIC = "public"  # anyone, even anonymous
    USER = "user"  # any authenticated user
    ADMIN = "admin"  # role admin
    PROFILE_READ = "profile-read"  # at least ro on the profile in the URL / event
    PROFILE_WRITE = "profile-write"  # full on that profile


@dataclass(frozen=True)
class Denied:
    status: int  # 401 or 403
    reason: str


def requires(need: Need) -> Callable[[F], F]:
    """Declare a route's requirement. Every route must carry one (a test checks)."""

    def mark(view: F) -> F:
        setattr(view, ATTRIBUTE, need)
        return view

    return mark


def need_of(view: Callable[..., Any] | None) -> Need | None:
    return getattr(view, ATTRIBUTE, None) if view is not None else None


def before_password_change(view: F) -> F:
    """Mark a view a user may use while their one-time password is still unchanged,
    or while an admin who must enrol in two-factor sign-in has not yet."""
    setattr(view, BEFORE_PASSWORD_CHANGE, True)
    return view


def usable_before_password_change(view: Callable[..., Any] | None) -> bool:
    return bool(getattr(view, BEFORE_PASSWORD_CHANGE, False))


def check(principal: Principal | None, need: Need, profile_id: int | None = None, *,
          before_password_change: bool = False, changes: bool = False) -> Denied | None:
    """None when allowed; otherwise the status and a reason safe to show.

    ``changes``: the request may change something (an unsafe HTTP method, a write
    event); a read-only token is refused whatever the route's need.
    """
    if need is Need.PUBLIC:
        return None
    if principal is None:
        return Denied(401, "authentication required")
    if principal.must_change_password and not before_password_change:
        return Denied(403, PASSWORD_CHANGE_REQUIRED)
    if principal.must_enrol_two_factor and not before_password_change:
        return Denied(403, TWO_FACTOR_REQUIRED)
    if principal.read_only and (changes or need is Need.PROFILE_WRITE):
        return Denied(403, READ_ONLY_TOKEN)
    if need is Need.USER:
        return None
    if need is Need.ADMIN:
        return None if principal.is_admin else Denied(403, "admin role required")
    if profile_id is None:
        return Denied(400, "profile id required")
    if need is Need.PROFILE_READ:
        return None if principal.can_read(profile_id) else Denied(
            403, "no read access to this profile")
    return None if principal.can_write(profile_id) else Denied(
        403, "no write access to this profile (read-only or none)")
