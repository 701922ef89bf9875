"""API tokens over REST: create (shown once), list, revoke — your own, or anyone's as admin.

Admins also get one list of every user's tokens (``GET /api/auth/tokens``). A token
may be scoped (``permission`` ro/full, ``profiles``); a scoped token manages no tokens,
or it could make itself an unscoped one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quart import Blueprint, current_app, g, jsonify

from ..access import tokens
from ..access.policy import Need, requires
from ..models import Principal, TokenScope
from ..services import Services
from ..storage import StoreError, TokenRecord
from ..storage.store import now
from .inputs import json_object

blueprint = Blueprint("tokens", __name__)


def _services() -> Services:
    return current_app.extensions["pytorrent"]["services"]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def token_json(record: TokenRecord, services: Services) -> dict[str, Any]:
    last_used, last_address = services.cache.pending_use(record.id) or (
        record.last_used_at, record.last_used_addr)
    if record.revoked_at is not None:
        state = "revoked"
    elif not record.is_live(now()):
        state = "expired"
    else:
        state = "active"
    return {"id": record.id, "user_id": record.user_id, "name": record.name,
            "prefix": record.prefix, "created_at": _iso(record.created_at),
            "expires_at": _iso(record.expires_at), "last_used_at": _iso(last_used),
            "revoked_at": _iso(record.revoked_at), "state": state,
            "last_used_address": last_address,
            "scope": record.scope.as_json() if record.scope else None}


async def _target(user_id: int, *, changing: bool = False) -> None:
    """Only the user themself or an admin; 404 only once the caller may know."""
    principal: Principal = g.principal
    if changing and principal.scope is not None:
        raise StoreError("a scoped API token cannot create or revoke tokens; sign in or use "
                         "an unscoped token", "token", 403)
    if principal.user_id != user_id and not principal.is_admin:
        raise StoreError("you may manage only your own API tokens", "user_id", 403)
    if await _services().store.get_user(user_id) is None:
        raise StoreError("no such user", "user_id", 404)


@blueprint.get("/api/auth/users/<int:user_id>/tokens")
@requires(Need.USER)
async def list_tokens(user_id: int) -> Any:
    await _target(user_id)
    services = _services()
    records = await services.store.list_tokens(user_id)
    return jsonify(tokens=[token_json(record, services) for record in records])


@blueprint.get("/api/auth/tokens")
@requires(Need.ADMIN)
async def list_all_tokens() -> Any:
    """Every user's tokens with their owner's name, for the admin tokens page."""
    services = _services()
    found = []
    for user in await services.store.list_users():
        for record in await services.store.list_tokens(user.id):
            found.append({**token_json(record, services), "username": user.username})
    return jsonify(tokens=found)


@blueprint.post("/api/auth/tokens")
@requires(Need.USER)
async def create_own_token() -> Any:
    """The caller's own token: the same as ``POST /api/auth/users/<own id>/tokens``."""
    return await create_token(g.principal.user_id)


async def _scope(data: dict[str, Any], owner_id: int) -> TokenScope | None:
    """The requested scope; every listed profile must exist and be readable by the owner."""
    try:
        scope = tokens.scope(data.get("permission"), data.get("profiles"))
    except tokens.ScopeProblem as problem:
        raise StoreError(str(problem), problem.field) from None
    if scope is None or scope.profiles is None:
        return scope
    services = _services()
    owner = await services.cache.user(owner_id)
    if owner is None:
        raise StoreError("no such user", "user_id", 404)
    reach = await services.cache.principal(owner, "token")
    for profile_id in sorted(scope.profiles):
        if await services.cache.profile(profile_id) is None:
            raise StoreError(f"profiles: no profile with id {profile_id}", "profiles")
        if not reach.can_read(profile_id):
            raise StoreError(f"profiles: the token's owner has no access to profile "
                             f"{profile_id}; an admin grants it on the users page", "profiles")
    return scope


@blueprint.post("/api/auth/users/<int:user_id>/tokens")
@requires(Need.USER)
async def create_token(user_id: int) -> Any:
    await _target(user_id, changing=True)
    data = await json_object("a JSON object with name and optional expires_at or "
                             "expires_in_days, permission and profiles")
    try:
        name = tokens.clean_name(data.get("name"))
    except ValueError as error:
        raise StoreError(str(error), "name") from None
    try:
        expires_at = tokens.expiry(data.get("expires_at"), data.get("expires_in_days"))
    except ValueError as error:
        field = "expires_in_days" if "expires_in_days" in str(error) else "expires_at"
        raise StoreError(str(error), field) from None
    scope = await _scope(data, user_id)
    services = _services()
    owner = await services.store.get_user(user_id)
    if owner is None or not owner.active:
        raise StoreError("the user is deactivated; a token for them would not work",
                         "user_id", 409)
    plaintext, prefix, digest = tokens.generate()
    record = await services.store.create_token(user_id, name, prefix, digest, expires_at,
                                               scope=scope, actor=g.principal.username)
    return jsonify(token=plaintext, record=token_json(record, services),
                   note="store this token now: it is shown only once"), 201


@blueprint.delete("/api/auth/users/<int:user_id>/tokens/<int:token_id>")
@requires(Need.USER)
async def revoke_token(user_id: int, token_id: int) -> Any:
    await _target(user_id, changing=True)
    await _services().store.revoke_token(user_id, token_id, actor=g.principal.username)
    return "", 204


def register(app: Any) -> None:
    app.register_blueprint(blueprint)
