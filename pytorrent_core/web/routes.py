"""Pages and the session API: index, login, logout, who-am-I.

The provider decides (login page, credential check, logout meaning) through
hooks; these views only apply the decision.
"""

from __future__ import annotations

import json
from typing import Any

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

from ..access.policy import Need, before_password_change, check, requires
from ..access.throttle import LoginThrottle
from ..models import LoginPage, LogoutAction, Principal
from ..passwords import PasswordProblem, hash_password
from . import two_factor
from .api_profiles import visible_profiles
from .inputs import json_object
from .signin import (
    GENERIC_LOGIN_FAILURE,
    THROTTLED,
    authenticate,
    current_claim,
    end_session,
    foreign_origin,
    from_this_site,
    principal_json,
    safe_next,
    start_session,
    throttled_json,
    wants_remember,
)


def _state() -> dict[str, Any]:
    return current_app.extensions["pytorrent"]


def register(app: Quart) -> None:
    state = app.extensions["pytorrent"]  # this app's: _state() without the context lookup
    state["throttle"] = LoginThrottle()

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
                                         header=state["resolver"].user_header,
                                         peer=g.facts.peer), 401
        if page.redirect_to is not None:
            return redirect(safe_next(page.redirect_to))
        return page.html, status or page.status, {"Content-Type": "text/html; charset=utf-8"}

    @app.post("/login")
    @requires(Need.PUBLIC)
    async def login_submit() -> Any:
        if foreign_origin():
            return "cross-origin login refused", 403
        form = await request.form
        user, attempt = await authenticate(form.get("username", ""), form.get("password", ""))
        if attempt.retry_after is not None:
            response = await make_response(await _login_page(
                error=THROTTLED.format(seconds=attempt.retry_after), status=429))
            response.headers["Retry-After"] = str(attempt.retry_after)
            return response
        if user is None:
            return await _login_page(error=GENERIC_LOGIN_FAILURE, status=401)
        next_url = safe_next(form.get("next") or request.args.get("next"))
        remember = wants_remember(form.get("remember"))
        if user.two_factor:
            return await two_factor.ask_for_code(user, next_url, api=False, remember=remember)
        await start_session(user, remember=remember)
        return redirect(next_url)

    @app.post("/api/auth/login")
    @requires(Need.PUBLIC)
    async def api_login() -> Any:
        if foreign_origin():
            return jsonify(error="cross-origin login refused"), 403
        data = await json_object("a JSON object with username and password")
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not username.strip():
            return jsonify(error="username is required", field="username"), 400
        if not isinstance(password, str) or not password:
            return jsonify(error="password is required", field="password"), 400
        user, attempt = await authenticate(username, password)
        if attempt.retry_after is not None:
            return throttled_json(THROTTLED, attempt.retry_after)
        if user is None:
            return jsonify(error=GENERIC_LOGIN_FAILURE), 401
        remember = wants_remember(data.get("remember"))
        if user.two_factor:
            return await two_factor.ask_for_code(user, "/", api=True, remember=remember)
        await start_session(user, remember=remember)
        resolver = _state()["resolver"]
        principal = await resolver.principal_for(user, "session")
        return jsonify(user=principal_json(principal))

    async def _logout_action() -> LogoutAction:
        state = _state()
        resolution = await state["resolve_request"]()
        principal = resolution.principal
        if state["resolver"].external and principal is not None and principal.via == "session":
            # A break-glass session is pyTorrent's own, whatever the provider says.
            return LogoutAction(clear_session=True, redirect_to="/login/local")
        return await state["services"].plugins.logout(principal, g.facts, state["settings"])

    @app.get("/logout")
    @requires(Need.PUBLIC)
    async def logout_page() -> Any:
        action = await _logout_action()
        if action.clear_session and not from_this_site():
            # A link on another site: ask, with a form only pyTorrent's own page can send.
            return await render_template("logout_confirm.html"), 200
        if action.clear_session:
            await end_session()
        return redirect(action.redirect_to)

    @app.post("/logout")
    @requires(Need.PUBLIC)
    async def logout_form() -> Any:
        action = await _logout_action()
        if action.clear_session and not from_this_site():
            return "cross-origin logout refused", 403
        if action.clear_session:
            await end_session()
        return redirect(action.redirect_to)

    @app.post("/api/auth/logout")
    @requires(Need.PUBLIC)
    async def api_logout() -> Any:
        action = await _logout_action()
        if action.clear_session and not from_this_site():
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
            can_change_password=_can_change_password(principal),
            two_factor=await two_factor.account_state(principal))

    @app.post("/api/auth/password")
    @requires(Need.USER)
    @before_password_change
    async def change_password() -> Any:
        """Change one's own password: the current one first, throttled like sign-in."""
        principal: Principal = g.principal
        if not _can_change_password(principal):
            return jsonify(error="only a user signed in with a pyTorrent password can change "
                                 "it here"), 403
        data = await json_object("a JSON object with current_password and new_password")
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
        user, attempt = await authenticate(principal.username, current,
                                           kind="auth.password-check",
                                           break_glass=_state()["resolver"].passwords_elsewhere)
        if attempt.retry_after is not None:
            return throttled_json(THROTTLED, attempt.retry_after)
        if user is None or user.id != principal.user_id:
            return jsonify(error="the current password is wrong", field="current_password"), 403
        store = _state()["services"].store
        updated = await store.update_user(user.id, password_hash=new_hash,
                                          actor=principal.username)
        claim = current_claim()
        record = await store.session(claim.sid) if claim is not None else None
        # Every other session of the user has ended; this one goes on.
        await start_session(updated, remember=record is not None and record.remember)
        return jsonify(ok=True)


def _can_change_password(principal: Principal) -> bool:
    # A session comes only from a pyTorrent password: the local form or break glass.
    return principal.via == "session" and principal.user.has_password
