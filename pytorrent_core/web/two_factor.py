"""Two-factor sign-in over the web: the code step after the password, enrolment from the
account page, and the admin's reset. The TOTP rules are in :mod:`pytorrent_core.twofactor`
(why core and not the provider: see there).

The password step of a user with two-factor sign-in yields no session, only a
short-lived signed *pending* state (a cookie, and for the JSON API also the body).
It names the user, their session key and epoch, so a password reset, deactivation
or deletion in the meantime voids it. The code step finishes sign-in.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeTimedSerializer
from quart import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
)

from .. import twofactor
from ..access.policy import Need, before_password_change, requires
from ..access.throttle import ADDRESS_LIMIT, Limit, LoginThrottle, SignInThrottle
from ..models import Principal, User
from ..services import Services
from ..storage import StoreError
from ..storage.two_factor import TwoFactorStore
from .inputs import json_object
from .signin import THROTTLED as THROTTLED_PASSWORD
from .signin import (
    authenticate,
    foreign_origin,
    login_endpoint,
    login_path,
    principal_json,
    safe_next,
    signed_in_with,
    start_session,
    throttled_json,
)

blueprint = Blueprint("two_factor", __name__)

PENDING_COOKIE = "pytorrent_2fa"
PENDING_SECONDS = 300
PENDING_SALT = "pytorrent-2fa-pending"
INVALID_CODE = "Invalid code."
EXPIRED = "Your sign-in took too long or was ended; enter your password again."
THROTTLED = "Too many wrong codes. Try again in {seconds} seconds."
# Stricter per username than passwords: a right password must not buy many guesses
# at a six-digit code, from however many addresses.
CODE_USERNAME_LIMIT = Limit(failures=10, window=900, lockout=300, max_lockout=3600,
                            forget_after=24 * 3600)


def code_throttle() -> LoginThrottle:
    return LoginThrottle(address_limit=ADDRESS_LIMIT, username_limit=CODE_USERNAME_LIMIT)


def _state() -> dict[str, Any]:
    return current_app.extensions["pytorrent"]


def _services() -> Services:
    return _state()["services"]


def _store() -> TwoFactorStore:
    return TwoFactorStore(_services().store)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=PENDING_SALT)  # type: ignore[arg-type]


# ---------------------------------------------------------------- sign-in


async def ask_for_code(user: User, next_url: str, *, api: bool, remember: bool = False) -> Any:
    """The answer to a right password of a user with two-factor sign-in: no session yet.

    ``remember`` (the login form's choice) is carried to the session the code step starts.
    """
    pending = _serializer().dumps({"u": user.id, "k": user.session_key,
                                   "e": user.session_epoch, "r": bool(remember),
                                   "n": secrets.token_hex(8)})
    if api:
        response = await make_response(jsonify(
            two_factor_required=True, pending=pending, expires_in=PENDING_SECONDS,
            next="POST /api/auth/login/2fa with {\"pending\", \"code\"}"), 202)
    else:
        response = redirect(f"/login/2fa?next={quote(next_url, safe='/')}")
    response.set_cookie(PENDING_COOKIE, pending, max_age=PENDING_SECONDS, httponly=True,
                        samesite="Lax", path="/",
                        secure=bool(_state()["settings"].session_cookie_secure))
    return response


async def _pending(pending: str | None) -> tuple[User, bool] | None:
    """The user a pending sign-in names, and whether they asked to be remembered."""
    if not pending:
        return None
    try:
        claim = _serializer().loads(pending, max_age=PENDING_SECONDS)
        user_id, key, epoch = int(claim["u"]), str(claim["k"]), int(claim["e"])
        remember = bool(claim.get("r", False))
    except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
        return None
    user = await _services().store.get_user(user_id)
    if user is None or not user.active or not user.two_factor \
            or not secrets.compare_digest(user.session_key, key) or user.session_epoch != epoch:
        return None
    return user, remember


async def check_code(user: User, code: str) -> bool:
    """A TOTP code newer than the last one used, or an unspent recovery code."""
    store = _store()
    enrolment = await store.enrolment(user.id)
    if enrolment is None or not enrolment.confirmed:
        return False
    text = twofactor.clean(code)
    if twofactor.is_totp(text):
        step = twofactor.matching_step(enrolment.secret, text, after=enrolment.last_step)
        return step is not None and await store.use_step(user.id, step)
    if twofactor.is_recovery(text):
        return await store.use_recovery_code(user.id,
                                             twofactor.recovery_digest(enrolment.salt, text))
    return False


async def _verify(user: User, code: str) -> int | None:
    """None when the code is right; else seconds to wait (0: just wrong). Throttled."""
    state = _state()
    throttle: SignInThrottle = state["code_throttle"]
    attempt = await throttle.start(g.facts.client, user.username,
                                   shared=g.facts.client_shared)
    right = attempt.retry_after is None and await check_code(user, code)
    outcome = "throttled" if attempt.refused else ("ok" if right else "failed")
    _services().audit.record("auth.sign-in.code", actor=user.username,
                             provider=signed_in_with(), outcome=outcome)
    if attempt.retry_after is not None:
        return attempt.retry_after
    if right:
        await throttle.forgive(attempt)
        return None
    return 0


async def _code_page(error: str | None, status: int = 200) -> Any:

    return await render_template("login_code.html", error=error, start_again=login_endpoint(),
                                 next_url=safe_next(request.args.get("next"))), status


@blueprint.get("/login/2fa")
@requires(Need.PUBLIC)
async def code_form() -> Any:
    if await _pending(request.cookies.get(PENDING_COOKIE)) is None:
        return redirect(login_path())
    return await _code_page(None)


@blueprint.post("/login/2fa")
@requires(Need.PUBLIC)
async def code_submit() -> Any:

    if foreign_origin():
        return "cross-origin login refused", 403
    form = await request.form
    found = await _pending(request.cookies.get(PENDING_COOKIE))
    if found is None:
        return redirect(login_path())
    user, remember = found
    wait = await _verify(user, form.get("code", ""))
    if wait:
        response = await make_response(await _code_page(THROTTLED.format(seconds=wait), 429))
        response.headers["Retry-After"] = str(wait)
        return response
    if wait is not None:
        return await _code_page(INVALID_CODE, 401)
    await start_session(user, remember=remember)
    response = redirect(safe_next(form.get("next") or request.args.get("next")))
    response.delete_cookie(PENDING_COOKIE, path="/")
    return response


@blueprint.post("/api/auth/login/2fa")
@requires(Need.PUBLIC)
async def api_code() -> Any:

    if foreign_origin():
        return jsonify(error="cross-origin login refused"), 403
    data = await json_object("a JSON object with pending and code")
    code = data.get("code")
    if not isinstance(code, str) or not code.strip():
        return jsonify(error="code is required: the six digits from your authenticator "
                             "app, or a recovery code", field="code"), 400
    pending = data.get("pending") or request.cookies.get(PENDING_COOKIE)
    found = await _pending(pending if isinstance(pending, str) else None)
    if found is None:
        return jsonify(error=EXPIRED, field="pending"), 401
    user, remember = found
    wait = await _verify(user, code)
    if wait:
        return throttled_json(THROTTLED, wait)
    if wait is not None:
        return jsonify(error=INVALID_CODE, field="code"), 401
    await start_session(user, remember=remember)
    principal = await _state()["resolver"].principal_for(user, "session")
    response = await make_response(jsonify(user=principal_json(principal)))
    response.delete_cookie(PENDING_COOKIE, path="/")
    return response


# ---------------------------------------------------------------- enrolment


def available(principal: Principal) -> bool:
    """Two-factor sign-in guards pyTorrent passwords: a session of a user who has one
    (signed in with the local form, or by break glass beside an external provider)."""
    return principal.via == "session" and principal.user.has_password


def required(user: User) -> bool:
    return bool(_state()["settings"].auth_require_2fa_admins) and user.is_admin


async def account_state(principal: Principal) -> dict[str, Any]:
    """What the account page shows about two-factor sign-in."""
    return {"available": available(principal), "enabled": principal.user.two_factor,
            "required": required(principal.user),
            "codes_left": await _store().recovery_codes_left(principal.user_id)
            if principal.user.two_factor else 0}


def _own(principal: Principal) -> None:
    if principal.must_change_password:
        raise StoreError("change the one-time password first", "two_factor", 403)
    if not available(principal):
        raise StoreError("two-factor sign-in guards pyTorrent passwords: sign in with your "
                         "password to set it up (external providers do it upstream)",
                         "two_factor", 403)


@blueprint.get("/api/auth/2fa")
@requires(Need.USER)
@before_password_change
async def status() -> Any:
    return jsonify(await account_state(g.principal))


@blueprint.post("/api/auth/2fa/setup")
@requires(Need.USER)
@before_password_change
async def setup() -> Any:
    """Start enrolment: a new seed, shown until it is confirmed (never afterwards)."""
    principal: Principal = g.principal
    _own(principal)
    secret = twofactor.new_secret()
    await _store().begin(principal.user_id, secret, twofactor.new_salt())
    return jsonify(secret=secret, secret_grouped=twofactor.grouped(secret),
                   otpauth_uri=twofactor.provisioning_uri(secret, principal.username),
                   qr="api/auth/2fa/setup/qr.svg")


@blueprint.get("/api/auth/2fa/setup/qr.svg")
@requires(Need.USER)
@before_password_change
async def setup_qr() -> Any:
    principal: Principal = g.principal
    _own(principal)
    enrolment = await _store().enrolment(principal.user_id)
    if enrolment is None or enrolment.confirmed:
        raise StoreError("no enrolment is waiting for confirmation; start one first",
                         "two_factor", 404)
    svg = twofactor.qr_svg(twofactor.provisioning_uri(enrolment.secret, principal.username))
    return Response(svg, mimetype="image/svg+xml")


async def _code_from_body() -> str:
    data = await json_object("a JSON object with code")
    code = data.get("code")
    if not isinstance(code, str) or not code.strip():
        raise StoreError("code is required: the six digits your authenticator app shows",
                         "code")
    return code


async def _throttled(principal: Principal) -> Any:
    throttle: SignInThrottle = _state()["code_throttle"]
    attempt = await throttle.start(g.facts.client, principal.username,
                                   shared=g.facts.client_shared)
    if attempt.retry_after is not None:
        return None, throttled_json(THROTTLED, attempt.retry_after)
    return attempt, None


@blueprint.post("/api/auth/2fa/confirm")
@requires(Need.USER)
@before_password_change
async def confirm() -> Any:
    """Finish enrolment with a code from the app; answers the recovery codes, once."""
    principal: Principal = g.principal
    _own(principal)
    code = twofactor.clean(await _code_from_body())
    store = _store()
    enrolment = await store.enrolment(principal.user_id)
    if enrolment is None or enrolment.confirmed:
        raise StoreError("no enrolment is waiting for confirmation; start one first",
                         "code", 409)
    attempt, refused = await _throttled(principal)
    if refused is not None:
        return refused
    step = twofactor.matching_step(enrolment.secret, code)
    if step is None:
        raise StoreError("that code does not match; check the app's clock and type the "
                         "current code", "code")
    await _state()["code_throttle"].forgive(attempt)
    codes = twofactor.new_recovery_codes()
    if not await store.confirm(principal.user_id, step,
                               [twofactor.recovery_digest(enrolment.salt, c) for c in codes],
                               actor=principal.username):
        raise StoreError("no enrolment is waiting for confirmation; start one first",
                         "code", 409)
    return jsonify(ok=True, recovery_codes=codes,
                   note="store these recovery codes now: each works once, and they are "
                        "shown only this time")


@blueprint.post("/api/auth/2fa/disable")
@requires(Need.USER)
async def disable() -> Any:
    """Turn one's own two-factor sign-in off, with a current code or a recovery code."""
    principal: Principal = g.principal
    _own(principal)
    if required(principal.user):
        raise StoreError("admins must keep two-factor sign-in (PYTORRENT_AUTH_REQUIRE_2FA_"
                         "ADMINS is on); another admin can reset it", "two_factor", 409)
    code = await _code_from_body()
    wait = await _verify(principal.user, code)
    if wait:
        return throttled_json(THROTTLED, wait)
    if wait is not None:
        raise StoreError("that code does not match", "code")
    await _store().reset(principal.user_id, actor=principal.username)
    return jsonify(ok=True)


@blueprint.post("/api/auth/2fa/recovery-codes")
@requires(Need.USER)
async def new_recovery_codes() -> Any:
    """Ten new recovery codes in place of the old ones (a lost or used-up list), shown
    once. Confirmed with the password or a current code from the app: a session left
    open must not be enough to take over the second factor."""
    principal: Principal = g.principal
    _own(principal)
    store = _store()
    enrolment = await store.enrolment(principal.user_id)
    if enrolment is None or not enrolment.confirmed:
        raise StoreError("two-factor sign-in is off: recovery codes come with turning it on",
                         "two_factor", 409)
    data = await json_object("a JSON object with password, or code")
    password, code = data.get("password"), data.get("code")
    if isinstance(password, str) and password:
        user, attempt = await authenticate(principal.username, password,
                                           kind="auth.password-check",
                                           break_glass=_state()["resolver"].passwords_elsewhere)
        if attempt.retry_after is not None:
            return throttled_json(THROTTLED_PASSWORD, attempt.retry_after)
        if user is None or user.id != principal.user_id:
            raise StoreError("the password is wrong", "password", 403)
    elif isinstance(code, str) and code.strip():
        if not twofactor.is_totp(twofactor.clean(code)):
            raise StoreError("code must be the six digits your authenticator app shows now "
                             "(a recovery code cannot renew the others)", "code")
        wait = await _verify(principal.user, code)
        if wait:
            return throttled_json(THROTTLED, wait)
        if wait is not None:
            raise StoreError("that code does not match; type the current one", "code", 403)
    else:
        raise StoreError("confirm with your password or a current code from your "
                         "authenticator app", "password")
    codes = twofactor.new_recovery_codes()
    if not await store.replace_recovery_codes(
            principal.user_id, [twofactor.recovery_digest(enrolment.salt, c) for c in codes],
            actor=principal.username):
        raise StoreError("two-factor sign-in is off: recovery codes come with turning it on",
                         "two_factor", 409)
    return jsonify(ok=True, recovery_codes=codes,
                   note="store these recovery codes now: the old ones no longer work, and "
                        "these are shown only this time")


@blueprint.post("/api/auth/users/<int:user_id>/2fa/reset")
@requires(Need.ADMIN)
async def admin_reset(user_id: int) -> Any:
    """For a user who lost their authenticator: they sign in with the password alone
    (and, if the setting requires it of admins, enrol again at once)."""
    removed = await _store().reset(user_id, actor=g.principal.username)
    return jsonify(ok=True, reset=removed)


def register(app: Any) -> None:
    app.extensions["pytorrent"]["code_throttle"] = code_throttle()
    app.register_blueprint(blueprint)
