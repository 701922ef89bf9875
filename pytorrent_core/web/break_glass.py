"""Break-glass sign-in: pyTorrent passwords at ``/login/local`` beside an external provider.

For when the identity provider is down and would lock its owner out. Off unless
auth.break_glass_users names someone, and only those users pass. Everything
else is the local provider's: the same password check and throttle, the
two-factor step when enrolled, the same session. The resulting cookie is
believed only for those users, and only on requests that carry no identity
header (:meth:`pytorrent_core.access.resolver.Resolver.resolve`).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, current_app, make_response, redirect, render_template, request
from werkzeug.exceptions import NotFound

from ..access.policy import Need, requires
from . import two_factor
from .signin import (
    GENERIC_LOGIN_FAILURE,
    THROTTLED,
    authenticate,
    foreign_origin,
    safe_next,
    start_session,
)

blueprint = Blueprint("break_glass", __name__)

PATH = "/login/local"


def enabled() -> bool:
    state = current_app.extensions["pytorrent"]
    return bool(state["settings"].auth_break_glass_users) and state["resolver"].passwords_elsewhere


def _refuse_unless_enabled() -> None:
    if not enabled():
        raise NotFound()  # the same answer as any path that does not exist


async def _page(error: str | None, status: int) -> Any:
    return await render_template("login_local.html", error=error,
                                 next_url=safe_next(request.args.get("next"))), status


@blueprint.get(PATH)
@requires(Need.PUBLIC)
async def form() -> Any:
    _refuse_unless_enabled()
    return await _page(None, 200)


@blueprint.post(PATH)
@requires(Need.PUBLIC)
async def submit() -> Any:
    _refuse_unless_enabled()
    if foreign_origin():
        return "cross-origin login refused", 403
    form_data = await request.form
    user, attempt = await authenticate(form_data.get("username", ""),
                                       form_data.get("password", ""), break_glass=True)
    if attempt.retry_after is not None:
        response = await make_response(await _page(
            THROTTLED.format(seconds=attempt.retry_after), 429))
        response.headers["Retry-After"] = str(attempt.retry_after)
        return response
    if user is None:
        return await _page(GENERIC_LOGIN_FAILURE, 401)
    next_url = safe_next(form_data.get("next") or request.args.get("next"))
    # An emergency way in: its session ends with the browser, never remembered.
    if user.two_factor:
        return await two_factor.ask_for_code(user, next_url, api=False)
    await start_session(user)
    return redirect(next_url)


def register(app: Any) -> None:
    app.register_blueprint(blueprint)
