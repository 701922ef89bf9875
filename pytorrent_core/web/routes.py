"""Pages and the session API: index, login, logout, who-am-I.

The provider decides (login page, credential check, logout meaning) through
hooks; these views only apply the decision.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from quart import (
    Quart,
    Response,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
)
from quart_auth import AuthUser, login_user, logout_user

from ..access import session_ids
from ..access.origin import request_origin
from ..access.policy import Need, before_password_change, check, requires
from ..access.throttle import Attempt, LoginThrottle
from ..models import LoginPage, LogoutAction, Principal, User
from ..passwords import PasswordProblem, hash_password
from .api_profiles import visible_profiles
from .api_users import user_fields
from .sessions import SESSION_COOKIE

GENERIC_LOGIN_FAILURE = "Invalid username or password."
THROTTLED = "Too many failed sign-in attempts. Try again in {seconds} seconds."


def _state() -> dict[str, Any]:
    return current_app.extensions["pytorrent"]


def safe_next(target: str | None) -> str:
    """Only same-site absolute paths; everything else goes to the main page."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def principal_json(principal: Principal) -> dict[str, Any]:
    return {**user_fields(principal.user, principal.permissions), "via": principal.via,
            "password_change_required": principal.must_change_password}


def _ours(origin: str) -> bool:
    return origin == g.facts.origin.lower() or \
        origin in _state()["settings"].api_allowed_origins


def _foreign_origin() -> bool:
    """A sign-in from another site, or from an opaque origin (sandboxed frame: ``null``)."""
    if g.facts.headers.get("origin") == "null" and not g.facts.headers.get("referer"):
        return True
    origin = request_origin(g.facts)
    return origin is not None and not _ours(origin)


def _from_this_site() -> bool:
    """The browser says this request came from pyTorrent's own pages (or its address bar).

    Logout must not be something another site can do to a user (logout CSRF).
    """
    fetch_site = g.facts.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request_origin(g.facts)
    return origin is not None and _ours(origin)


def start_session(user: User) -> None:
    login_user(AuthUser(session_ids.issue(user)))


async def end_session() -> None:
    """Clear the cookie and record its session id as ended, so a copy of it stops working."""
    state = _state()
    cookie = g.facts.cookies.get(SESSION_COOKIE)
    claim = session_ids.parse(state["auth"].load_token(cookie)) if cookie else None
    if claim is not None:
        lifetime = timedelta(hours=int(state["settings"].session_lifetime_hours))
        await state["services"].store.end_session(claim.sid, claim.user_id,
                                                  datetime.now(UTC) + lifetime)
    logout_user()


async def _authenticate(username: str, password: str) -> tuple[User | None, Attempt]:
    """Check credentials unless this client or username is throttled (attempt.refused)."""
    state = _state()
    services = state["services"]
    throttle: LoginThrottle = state["throttle"]
    attempt = throttle.begin(g.facts.client, username)
    if attempt.refused:
        return None, attempt
    user = await services.plugins.authenticate(username, password, g.facts, services)
    if user is not None:
        throttle.succeeded(attempt)
    return user, attempt


def register(app: Quart) -> None:
    app.extensions["pytorrent"]["throttle"] = LoginThrottle()

    @app.get("/")
    @requires(Need.USER)
    async def index() -> Any:
        principal: Principal = g.principal
        state = _state()
        visible, active = await visible_profiles(state["services"], principal)
        show_picker = active is None and bool(visible)
        if active is not None and check(principal, Need.PROFILE_READ, active) is None:
            profile = await state["services"].cache.profile(active)
            if profile is not None:  # its list is on the way while the page loads
                state["hub"].expect(profile)
        return await render_template(
            "index.html" if show_picker else "torrents.html",
            principal=principal,
            external=state["resolver"].external,
            profiles=visible,
            active_profile=active,
            show_picker=show_picker,
        )

    @app.get("/login")
    @requires(Need.PUBLIC)
    async def login_form() -> Any:
        return await _login_page(error=None, status=None)

    async def _login_page(error: str | None, status: int | None) -> Any:
        state = _state()
        next_url = safe_next(request.args.get("next"))
        page: LoginPage | None = await state["services"].plugins.login_page(
            g.facts, state["settings"], error, next_url)
        if page is None:
            resolution = await state["resolve_request"]()
            return await render_template("unauthenticated.html", resolution=resolution,
                                         header=state["settings"].auth_proxy_user_header,
                                         peer=g.facts.peer), 401
        return page.html, status or page.status, {"Content-Type": "text/html; charset=utf-8"}

    @app.post("/login")
    @requires(Need.PUBLIC)
    async def login_submit() -> Any:
        if _foreign_origin():
            return "cross-origin login refused", 403
        form = await request.form
        user, attempt = await _authenticate(form.get("username", ""), form.get("password", ""))
        if attempt.retry_after is not None:
            response = await make_response(await _login_page(
                error=THROTTLED.format(seconds=attempt.retry_after), status=429))
            response.headers["Retry-After"] = str(attempt.retry_after)
            return response
        if user is None:
            return await _login_page(error=GENERIC_LOGIN_FAILURE, status=401)
        start_session(user)
        return redirect(safe_next(form.get("next") or request.args.get("next")))

    @app.post("/api/auth/login")
    @requires(Need.PUBLIC)
    async def api_login() -> Any:
        if _foreign_origin():
            return jsonify(error="cross-origin login refused"), 403
        data = await request.get_json(silent=True)
        if not isinstance(data, dict):
            return jsonify(error="expected a JSON object with username and password"), 400
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not username.strip():
            return jsonify(error="username is required", field="username"), 400
        if not isinstance(password, str) or not password:
            return jsonify(error="password is required", field="password"), 400
        user, attempt = await _authenticate(username, password)
        if attempt.retry_after is not None:
            return jsonify(error=THROTTLED.format(seconds=attempt.retry_after),
                           retry_after=attempt.retry_after), 429, \
                {"Retry-After": str(attempt.retry_after)}
        if user is None:
            return jsonify(error=GENERIC_LOGIN_FAILURE), 401
        start_session(user)
        resolver = _state()["resolver"]
        principal = await resolver.principal_for(user, "session")
        return jsonify(user=principal_json(principal))

    async def _logout_action() -> LogoutAction:
        state = _state()
        resolution = await state["resolve_request"]()
        return await state["services"].plugins.logout(resolution.principal, g.facts,
                                                      state["settings"])

    @app.get("/logout")
    @requires(Need.PUBLIC)
    async def logout_page() -> Any:
        action = await _logout_action()
        if action.clear_session and not _from_this_site():
            # A link on another site: ask, with a form only pyTorrent's own page can send.
            return await render_template("logout_confirm.html"), 200
        if action.clear_session:
            await end_session()
        return redirect(action.redirect_to)

    @app.post("/logout")
    @requires(Need.PUBLIC)
    async def logout_form() -> Any:
        action = await _logout_action()
        if action.clear_session and not _from_this_site():
            return "cross-origin logout refused", 403
        if action.clear_session:
            await end_session()
        return redirect(action.redirect_to)

    @app.post("/api/auth/logout")
    @requires(Need.PUBLIC)
    async def api_logout() -> Any:
        action = await _logout_action()
        if action.clear_session and not _from_this_site():
            return jsonify(error="cross-origin logout refused"), 403
        if action.provider_managed:
            return jsonify(ok=False, provider_managed=True,
                           message=action.message or "logout is managed by the "
                           "authentication provider", redirect=action.redirect_to)
        if action.clear_session:
            await end_session()
        return jsonify(ok=True, redirect=action.redirect_to)

    @app.get("/api/auth/me")
    @requires(Need.USER)
    @before_password_change
    async def me() -> Any:
        state = _state()
        # The resolver asked the provider once at start-up; the answer does not change.
        principal: Principal = g.principal

        async def render() -> bytes:
            return json.dumps({"user": principal_json(principal),
                               "provider": state["plugins"].provider,
                               "external": state["resolver"].external},
                              separators=(",", ":")).encode()

        key = ("me", principal.user_id, principal.via, principal.token_id)
        body = await state["services"].cache.rendered(key, render)
        return Response(body, mimetype="application/json")

    @app.get("/account")
    @requires(Need.USER)
    @before_password_change
    async def account() -> Any:
        principal: Principal = g.principal
        return await render_template(
            "account.html", principal=principal, external=_state()["resolver"].external,
            can_change_password=_can_change_password(principal))

    @app.post("/api/auth/password")
    @requires(Need.USER)
    @before_password_change
    async def change_password() -> Any:
        """Change one's own password: the current one first, throttled like sign-in."""
        principal: Principal = g.principal
        if not _can_change_password(principal):
            return jsonify(error="only a user signed in with a pyTorrent password can change "
                                 "it here"), 403
        data = await request.get_json(silent=True)
        if not isinstance(data, dict):
            return jsonify(error="expected a JSON object with current_password and "
                                 "new_password"), 400
        current, new = data.get("current_password"), data.get("new_password")
        if not isinstance(current, str) or not current:
            return jsonify(error="current_password is required", field="current_password"), 400
        if not isinstance(new, str):
            return jsonify(error="new_password is required", field="new_password"), 400
        try:
            new_hash = hash_password(new)
        except PasswordProblem as problem:
            return jsonify(error=str(problem), field="new_password"), 400
        if new == current:
            return jsonify(error="the new password must differ from the current one",
                           field="new_password"), 400
        user, attempt = await _authenticate(principal.username, current)
        if attempt.retry_after is not None:
            return jsonify(error=THROTTLED.format(seconds=attempt.retry_after),
                           retry_after=attempt.retry_after), 429, \
                {"Retry-After": str(attempt.retry_after)}
        if user is None or user.id != principal.user_id:
            return jsonify(error="the current password is wrong", field="current_password"), 403
        store = _state()["services"].store
        updated = await store.update_user(user.id, password_hash=new_hash,
                                          actor=principal.username)
        start_session(updated)  # every other session of the user has ended; this one goes on
        return jsonify(ok=True)


def _can_change_password(principal: Principal) -> bool:
    return (principal.via == "session" and principal.user.has_password
            and not _state()["resolver"].external)
