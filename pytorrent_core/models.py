"""Data that crosses layers: who a request says it is, and who it turned out to be."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["admin", "user"]
Level = Literal["none", "ro", "full"]
Via = Literal["token", "bypass", "provider", "session", "disabled"]

LEVEL_RANK: Mapping[str, int] = {"none": 0, "ro": 1, "full": 2}
# Every way a level may be written, in settings, the CLI, the API and token scopes:
# its own name, or "rw", the older name of "full".
LEVEL_NAMES: Mapping[str, Level] = {"none": "none", "ro": "ro", "full": "full", "rw": "full"}

# Created on first start; cannot be renamed, demoted, deactivated or deleted.
BUILTIN_ADMIN = "admin"


# The user fields an identity may carry beside the username (ProviderInfo.identity_fields).
IDENTITY_FIELDS: tuple[str, ...] = ("display_name", "email", "groups")


@dataclass(frozen=True)
class Identity:
    """What an auth provider vouches for. ``username`` is already cleaned."""

    username: str
    provider: str
    display_name: str | None = None
    email: str | None = None
    groups: tuple[str, ...] = ()
    subject: str | None = None


@dataclass(frozen=True)
class User:
    """A stored user, as read from the database (never carries the password hash)."""

    id: int
    username: str
    role: Role
    active: bool
    builtin: bool
    has_password: bool
    provider: str | None
    session_epoch: int
    display_name: str | None = None
    email: str | None = None
    groups: tuple[str, ...] = ()
    external_subject: str | None = None
    # Random, fixed for the life of the row: session cookies are bound to it.
    session_key: str = field(default="", repr=False)
    must_change_password: bool = False
    two_factor: bool = False  # TOTP enrolment confirmed: sign-in asks for a code


    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class TokenScope:
    """What an API token is limited to. A token without one acts with its owner's access.

    ``permission`` caps every level (``ro``: look, never change); ``profiles`` (when
    not None) are the only profiles it may reach. Either way the owner's access at
    use time is the ceiling, and a scoped token never has the admin role.
    """

    permission: Level = "full"
    profiles: frozenset[int] | None = None

    def as_json(self) -> dict[str, object]:
        """As the API, the CLI and the audit log show it."""
        return {"permission": self.permission,
                "profiles": sorted(self.profiles) if self.profiles is not None else None}

    def limit(self, owner: Principal) -> dict[int | None, Level]:
        """The intersection of the owner's access and this scope, as a grant map."""
        cap = LEVEL_RANK[self.permission]

        def capped(level: Level) -> Level:
            return level if LEVEL_RANK[level] <= cap else self.permission

        if self.profiles is not None:
            return {pid: capped(owner.level(pid)) for pid in self.profiles
                    if owner.level(pid) != "none"}
        if owner.is_admin:
            return {None: self.permission}
        return {key: capped(level) for key, level in owner.permissions.items()}


@dataclass(frozen=True)
class Principal:
    """The resolved caller. Every access check asks this, never the request."""

    user: User
    via: Via
    # profile id -> level; key None holds the all-profiles level.
    permissions: Mapping[int | None, Level] = field(default_factory=dict)
    token_id: int | None = None
    # Set for a scoped API token: ``permissions`` are already cut down to it.
    scope: TokenScope | None = None
    # Admins must enrol in two-factor sign-in before anything else (a setting).
    must_enrol_two_factor: bool = False

    @property
    def user_id(self) -> int:
        return self.user.id

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def is_admin(self) -> bool:
        """A scoped token of an admin is not: its scope would mean nothing otherwise."""
        return self.user.is_admin and self.scope is None

    @property
    def read_only(self) -> bool:
        """A token scoped to ``ro``: may look, never add, act or change anything."""
        return self.scope is not None and self.scope.permission == "ro"

    @property
    def must_change_password(self) -> bool:
        """Signed in with the first-start one-time password: only changing it is allowed."""
        return self.via == "session" and self.user.must_change_password

    def level(self, profile_id: int) -> Level:
        if self.is_admin:
            return "full"
        own = self.permissions.get(profile_id)
        every = self.permissions.get(None, "none")
        if own is None:
            return every
        return own if LEVEL_RANK[own] >= LEVEL_RANK[every] else every

    def can_read(self, profile_id: int) -> bool:
        return LEVEL_RANK[self.level(profile_id)] >= LEVEL_RANK["ro"]

    def can_write(self, profile_id: int) -> bool:
        return self.level(profile_id) == "full"


@dataclass(frozen=True)
class LogoutAction:
    """What logging out means; the web layer applies it (decision apart from effect)."""

    clear_session: bool
    redirect_to: str
    message: str | None = None
    provider_managed: bool = False


@dataclass(frozen=True)
class LoginPage:
    """A provider's answer to ``GET /login``: HTML and the status to send it with, or
    ``redirect_to`` (a same-site path) to send the browser on at once instead."""

    html: str = ""
    status: int = 200
    redirect_to: str | None = None


@dataclass(frozen=True)
class ProviderInfo:
    """What the active provider says about itself (``pytorrent_provider_info``).

    ``external``: identity comes from an upstream service on each request, so
    pyTorrent issues no sessions and never manages passwords. ``headers``: the
    request headers the provider reads to identify a caller, the one carrying the
    username first. Core uses them for the direct-IP bypass (a request carrying
    any of them is never bypassed), the sign-in page, the 401 text and
    ``pytorrent auth doctor``. ``identity_fields``: the user fields (of
    ``display_name``, ``email``, ``groups``) the provider's identities carry; each
    sign-in stores them as sent, clearing one the provider stopped sending. Fields
    not named are left as an admin set them.
    """

    external: bool = False
    description: str = ""
    headers: tuple[str, ...] = ()
    identity_fields: tuple[str, ...] = IDENTITY_FIELDS

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", tuple(self.headers))
        fields = tuple(self.identity_fields)
        unknown = sorted(set(fields) - set(IDENTITY_FIELDS))
        if unknown:
            raise ValueError(f"ProviderInfo.identity_fields: unknown {', '.join(unknown)}; "
                             f"choose from {', '.join(IDENTITY_FIELDS)}")
        object.__setattr__(self, "identity_fields", fields)

    @property
    def user_header(self) -> str | None:
        """The header that carries the username, if the provider reads one."""
        return self.headers[0] if self.headers else None
