"""Pages a provider serves itself (``pytorrent_routes``): what it declares, what core
hands each request, and the answer core applies.

A redirect-based sign-in (OpenID Connect, OAuth) needs its own URLs under
``/auth/<provider>/``. The provider decides; core applies the decision: it sets the
cookies, and for ``sign_in`` it ends any session the browser had, starts a new one
(a new session id) and records the sign-in in the audit log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from .models import Identity, User

if TYPE_CHECKING:
    from .access.facts import RequestFacts
    from .config import Settings
    from .context import ProviderContext


@dataclass(frozen=True)
class CookieChange:
    """A cookie to set (``value``) or delete (``value=None``). Core always makes it
    HttpOnly and SameSite=Lax, and Secure on https or with PYTORRENT_SESSION_COOKIE_SECURE."""

    name: str
    value: str | None
    max_age: int | None = None
    path: str = "/"


@dataclass(frozen=True)
class RouteResponse:
    """A provider route's answer.

    ``redirect_to``: a same-site path, or an absolute ``http(s)`` URL (the identity
    provider); when set, ``html`` is ignored. ``sign_in``: sign this user in (after
    ``RouteRequest.user_for``); ``redirect_to`` must then be a same-site path, and
    core sends anything else to ``/``. A user with two-factor sign-in is asked for
    a code first.
    """

    html: str = ""
    status: int = 200
    redirect_to: str | None = None
    cookies: tuple[CookieChange, ...] = ()
    sign_in: User | None = None


class RouteRequest(Protocol):
    """What core hands a provider route: the request, the settings and core's helpers."""

    @property
    def facts(self) -> RequestFacts: ...

    @property
    def args(self) -> Mapping[str, str]:
        """Query parameters (a parameter sent twice: its first value)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def context(self) -> ProviderContext: ...

    @property
    def base_url(self) -> str:
        """pyTorrent's own address as the browser sees it (scheme, host and any
        mount prefix), without a trailing slash: build redirect URIs from it."""

    @property
    def same_site(self) -> bool:
        """The browser says the request came from pyTorrent's own pages (or the
        address bar), not from another site."""

    def safe_next(self, target: str | None) -> str:
        """``target`` if it is a same-site path, else ``/``."""

    def sign(self, value: str) -> str:
        """``value`` signed with pyTorrent's secret key (readable, not forgeable)."""

    def unsign(self, token: str, max_age: int) -> str | None:
        """The value of a token from :meth:`sign` at most ``max_age`` seconds old;
        ``None`` for a forged, altered or older one."""

    async def user_for(self, identity: Identity) -> User | str:
        """The stored user to sign in for ``identity`` after core's username rules and
        ``pytorrent_provision``, or why there is none (one line, safe to show)."""

    def audit(self, action: str, *, actor: str | None = None, outcome: str = "ok",
              detail: Mapping[str, object] | None = None) -> None:
        """Record an audit event under this provider's name and the client's address."""


Endpoint = Callable[[RouteRequest], Awaitable[RouteResponse]]


@dataclass(frozen=True)
class ProviderRoute:
    """``path`` must start with ``/auth/<provider>/``; core serves it to anyone
    (signed in or not) and checks nothing else: the endpoint decides."""

    method: Literal["GET", "POST"]
    path: str
    endpoint: Endpoint
