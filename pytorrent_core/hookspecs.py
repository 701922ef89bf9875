"""Hook specifications: what an auth provider may implement.

Exactly one provider is active at a time (the one named by ``[auth] provider``),
plus core's own defaults in :mod:`pytorrent_core.defaults`, which run last.
Core calls every hook through pluggy (``pm.hook.<name>(...)``) inside
:class:`pytorrent_core.plugins.AuthPlugins`, which then awaits ``async def``
implementations' results and checks each result's type.

Hooks marked *first result*: every implementation is called, the provider's
before core's defaults; the first result other than ``None`` wins (a coroutine
that is not needed is closed unawaited). So an implementation must not act
before it is awaited. Hooks marked *all results* collect what every
implementation returns. Wrapper implementations (``wrapper=True``,
``hookwrapper=True``) are refused at start-up: the results they would wrap are
still unawaited coroutines.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .access.facts import RequestFacts
    from .config import Setting, Settings
    from .context import ProviderContext
    from .models import Identity, LoginPage, LogoutAction, Principal, ProviderInfo, User
    from .provider_routes import ProviderRoute

PROJECT = "pytorrent"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def pytorrent_settings() -> Sequence[Setting]:
    """Declare the provider's own settings (*all results*, sync only).

    Return :class:`~pytorrent_core.config.Setting` objects with keys under
    ``auth.<provider>.`` and env names under ``PYTORRENT_AUTH_<PROVIDER>_``.
    They are parsed and validated with core's settings; read them back with
    ``settings["auth.<provider>.<key>"]``.
    """


@hookspec
def pytorrent_provider_info(settings: Settings) -> ProviderInfo | None:
    """Describe the active provider (*first result*, sync only).

    Core calls it once at start-up, right after the settings are parsed: raise
    :class:`~pytorrent_core.config.ConfigError` (one line naming the settings and
    the fix) for settings that are wrong together, e.g. a required one left unset.

    Return a :class:`~pytorrent_core.models.ProviderInfo`: ``external`` (identity
    comes from an upstream service on each request, so pyTorrent issues no
    sessions and never manages passwords), ``description`` (one line for
    operators) and ``headers`` (the request headers ``pytorrent_identify`` reads,
    the username's first). ``None``: core assumes a local, session-based provider
    that reads no headers.
    """


@hookspec
def pytorrent_identify(
    request: RequestFacts, settings: Settings
) -> Identity | None | Awaitable[Identity | None]:
    """Say who this request claims to be (*first result*, sync or async).

    Core calls this only for requests whose TCP peer is a trusted proxy, so an
    implementation may believe the request's headers. Return an
    :class:`~pytorrent_core.models.Identity` or ``None`` for "no identity here".
    Raise nothing for bad input: return ``None`` and let the request stay anonymous.
    """


@hookspec
def pytorrent_authenticate(
    username: str, password: str, request: RequestFacts, context: ProviderContext
) -> User | None | Awaitable[User | None]:
    """Check a username and password from the login form (*first result*, async ok).

    Return the :class:`~pytorrent_core.models.User` on success, ``None`` on
    failure (core answers with a message that does not say which part was wrong).
    ``context`` looks users up and keeps their password hash current.
    Providers without a login form do not implement this.
    """


@hookspec
def pytorrent_login_page(
    request: RequestFacts, settings: Settings, error: str | None, next_url: str
) -> LoginPage | None | Awaitable[LoginPage | None]:
    """Render ``GET /login`` (*first result*, sync or async).

    A form-based provider returns its form; an external provider returns a page
    explaining that sign-in is handled upstream. ``None``: core shows a generic
    "sign-in is handled elsewhere" page with status 401.
    """


@hookspec
def pytorrent_logout(
    principal: Principal | None, request: RequestFacts, settings: Settings
) -> LogoutAction | None | Awaitable[LogoutAction | None]:
    """Decide what logging out means (*first result*, sync or async).

    Return a :class:`~pytorrent_core.models.LogoutAction`; the web layer applies
    it. Core's default clears the pyTorrent session and goes to ``/login``.
    """


@hookspec
def pytorrent_provision(
    identity: Identity, context: ProviderContext
) -> User | None | Awaitable[User | None]:
    """Map an external identity to a stored user (*first result*, async ok).

    Return the user to act as, or ``None`` to refuse. Core's default follows
    AUTH.md: an existing user is used (passwordless ones are synchronised to the
    auto-create role and permission raised by what ``identity.groups`` give, and
    to the fields ``ProviderInfo.identity_fields`` names), a missing one is created when
    auto-create is on, a deactivated one is refused. Core calls this only for an
    ``identity.username`` that passes usernames.username_problem and that no
    stored user's name merely reads like (another case, fullwidth letters).
    ``context`` looks up, creates and updates users and their grants.
    """


@hookspec
def pytorrent_routes(settings: Settings) -> Sequence[ProviderRoute]:
    """Declare pages the provider serves itself (*all results*, sync only).

    Return :class:`~pytorrent_core.provider_routes.ProviderRoute` objects, each
    path under ``/auth/<provider>/`` (anything else stops start-up). Core calls
    this once per app, after the settings are parsed, so an implementation may
    build per-app state (HTTP clients, caches) and bind its endpoints to it.
    Each endpoint is ``async def endpoint(request: RouteRequest) -> RouteResponse``;
    core applies the response (cookies, redirect, sign-in). An endpoint must not
    raise for bad input: answer with a page that says what went wrong.
    """
