"""Signing in and out, shared by the login views and the two-factor step.

One session starts and ends here, whichever page or API asked: the cookie, its
record for the account page's list, and the end of it everywhere.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from quart import (
    current_app,
    g,
    jsonify,
)
from quart_auth import AuthUser, login_user, logout_user

from ..access import agents, session_ids
from ..access.origin import request_origin
from ..access.throttle import Attempt, SignInThrottle
from ..credentials import check_password
from ..models import Principal, User
from ..usernames import normalise as normalise_username
from .api_users import user_fields
from .sessions import SESSION_COOKIE

GENERIC_LOGIN_FAILURE = "Invalid username or password."
# How the audit log names a pyTorrent-password sign-in beside an external provider.
BREAK_GLASS = "break-glass"
THROTTLED = "Too many failed sign-in attempts. Try again in {seconds} seconds."
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _state() -> dict[str, Any]:
    return current_app.extensions["pytorrent"]


def signed_in_with() -> str | None:
    """The provider the audit log records for password sign-ins and their sessions:
    the active one, or ``break-glass`` when that one takes no passwords."""
    state = _state()
    return BREAK_GLASS if state["resolver"].passwords_elsewhere else state["plugins"].provider


def login_path() -> str:
    """Where a password sign-in starts over: the break-glass form beside a provider
    that takes no passwords, else the provider's own page."""
    return "/login/local" if _state()["resolver"].passwords_elsewhere else "/login"


def login_endpoint() -> str:
    """The view behind :func:`login_path`, for links in pages."""
    return "break_glass.form" if _state()["resolver"].passwords_elsewhere else "login_form"


async def authenticate(username: str, password: str, *, kind: str = "auth.sign-in",
                       break_glass: bool = False) -> tuple[User | None, Attempt]:
    """Check credentials unless this client or username is throttled (attempt.refused).

    ``break_glass``: pyTorrent's own password check, and only the users named in
    auth.break_glass_users pass; anyone else gets what a wrong password gets, after
    the same work. Otherwise the active provider checks. Every attempt is an audit
    event of ``kind``: ok, failed or throttled.
    """
    state = _state()
    services = state["services"]
    throttle: SignInThrottle = state["throttle"]
    attempt = await throttle.start(g.facts.client, username, shared=g.facts.client_shared)
    user = None
    if not attempt.refused:
        if break_glass:
            named = state["settings"].auth_break_glass_users
            # Anyone else is checked as an unknown user: the same work, nothing signed in.
            typed = normalise_username(username).lower()
            asked = username if typed in {name.lower() for name in named} else ""
            user = await check_password(asked, password, g.facts, services.provider_context)
            if user is not None and user.username not in named:
                user = None
        else:
            user = await services.plugins.authenticate(username, password, g.facts,
                                                       services.provider_context)
        if user is not None:
            await throttle.forgive(attempt)
    outcome = "throttled" if attempt.refused else ("ok" if user is not None else "failed")
    services.audit.record(kind, actor=user.username if user else username.strip()[:128],
                          provider=BREAK_GLASS if break_glass else state["plugins"].provider,
                          outcome=outcome)
    return user, attempt


def throttled_json(template: str, seconds: int) -> tuple[Any, int, dict[str, str]]:
    """The 429 answer of a throttled check: ``template`` says what, and for how long."""
    return (jsonify(error=template.format(seconds=seconds), retry_after=seconds), 429,
            {"Retry-After": str(seconds)})


def wants_remember(value: object) -> bool:
    """The login form's "remember me" box, or the API's ``remember``."""
    return value is True or (isinstance(value, str) and value.lower() in ("on", "true", "1"))


def safe_next(target: str | None) -> str:
    """Only same-site absolute paths; everything else goes to the main page.

    A control character could split or end the ``Location`` header (CR, LF), which
    no server may send, or make browsers read the path differently than we do.
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target \
            or _CONTROL.search(target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def principal_json(principal: Principal) -> dict[str, Any]:
    return {**user_fields(principal.user, principal.permissions), "via": principal.via,
            "password_change_required": principal.must_change_password,
            "two_factor_required": principal.must_enrol_two_factor,
            "admin": principal.is_admin,
            "token_scope": principal.scope.as_json() if principal.scope else None}


def _ours(origin: str) -> bool:
    return origin == g.facts.origin.lower() or \
        origin in _state()["settings"].api_allowed_origins


def foreign_origin() -> bool:
    """A sign-in from another site, or from an opaque origin (sandboxed frame: ``null``)."""
    if g.facts.headers.get("origin") == "null" and not g.facts.headers.get("referer"):
        return True
    origin = request_origin(g.facts)
    return origin is not None and not _ours(origin)


def from_this_site() -> bool:
    """The browser says this request came from pyTorrent's own pages (or its address bar).

    Logout must not be something another site can do to a user (logout CSRF).
    """
    fetch_site = g.facts.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request_origin(g.facts)
    return origin is not None and _ours(origin)


async def start_session(user: User, *, remember: bool = False) -> None:
    """Set the cookie (persistent when ``remember``) and record the session for the
    account page's list."""
    state = _state()
    auth_id = session_ids.issue(user)
    login_user(AuthUser(auth_id), remember=remember)
    claim = session_ids.parse(auth_id)
    assert claim is not None
    lifetime = timedelta(hours=int(state["settings"].session_lifetime_hours))
    await state["services"].store.record_session(
        claim.sid, user, expires_at=datetime.now(UTC) + lifetime, address=g.facts.client,
        agent=agents.summary(g.facts.headers.get("user-agent")), remember=remember)


def current_claim() -> session_ids.SessionClaim | None:
    """What this request's session cookie claims, if it carries a valid one."""
    cookie = g.facts.cookies.get(SESSION_COOKIE)
    return session_ids.parse(_state()["auth"].load_token(cookie)) if cookie else None


async def end_session() -> None:
    """Clear the cookie and record its session id as ended, so a copy of it stops working."""
    state = _state()
    claim = current_claim()
    if claim is not None:
        lifetime = timedelta(hours=int(state["settings"].session_lifetime_hours))
        services = state["services"]
        await services.store.end_session(claim.sid, claim.user_id,
                                         datetime.now(UTC) + lifetime)
        user = await services.cache.user(claim.user_id)
        services.audit.record("auth.sign-out", actor=user.username if user else None,
                              provider=signed_in_with())
    logout_user()
