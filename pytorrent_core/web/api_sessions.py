"""Sign-in sessions over REST: see yours and end them; admins see and end anyone's.

Ending a session records its id as ended (the same mechanism as logout), so its
cookie is refused on the very next request, on every server, and its Socket.IO
connections are dropped by the realtime layer's recheck.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, current_app, g, jsonify
from quart_auth import logout_user

from ..access.policy import Need, requires
from ..models import Principal
from ..services import Services
from ..storage import StoreError
from ..storage.records import SessionRecord
from .signin import current_claim

blueprint = Blueprint("sessions", __name__)


def _services() -> Services:
    return current_app.extensions["pytorrent"]["services"]


def _current_sid() -> str | None:
    principal: Principal = g.principal
    claim = current_claim() if principal.via == "session" else None
    return claim.sid if claim is not None else None


def session_json(record: SessionRecord, services: Services,
                 current_sid: str | None = None) -> dict[str, Any]:
    last_seen = services.cache.pending_session_seen(record.sid) or record.last_seen_at
    return {"id": record.sid, "user_id": record.user_id,
            "created_at": record.created_at.isoformat(),
            "last_seen_at": last_seen.isoformat(),
            "expires_at": record.expires_at.isoformat(), "address": record.address,
            "agent": record.agent, "remember": record.remember,
            "current": record.sid == current_sid}


async def end(record: SessionRecord, services: Services, *, actor: str | None,
              owner: str | None) -> None:
    """End one session and record who ended it."""
    await services.store.end_session(record.sid, record.user_id, record.expires_at)
    services.audit.record("session.end", actor=actor, target=owner,
                          detail={"session": record.sid[:8], "agent": record.agent,
                                  "address": record.address})


async def _own(sid: str) -> SessionRecord:
    principal: Principal = g.principal
    record = await _services().store.session(sid)
    if record is None or record.user_id != principal.user_id:
        raise StoreError("no such session of yours; it may have ended already", "id", 404)
    return record


@blueprint.get("/api/auth/sessions")
@requires(Need.USER)
async def list_own() -> Any:
    principal: Principal = g.principal
    services = _services()
    current = _current_sid()
    records = await services.store.sessions(principal.user_id)
    return jsonify(sessions=[session_json(r, services, current) for r in records])


@blueprint.delete("/api/auth/sessions/<sid>")
@requires(Need.USER)
async def end_own(sid: str) -> Any:
    principal: Principal = g.principal
    record = await _own(sid)
    await end(record, _services(), actor=principal.username, owner=principal.username)
    if record.sid == _current_sid():
        logout_user()
    return jsonify(ok=True, ended=[record.sid])


@blueprint.post("/api/auth/sessions/end-others")
@requires(Need.USER)
async def end_others() -> Any:
    principal: Principal = g.principal
    services = _services()
    current = _current_sid()
    ended = []
    for record in await services.store.sessions(principal.user_id):
        if record.sid != current:
            await end(record, services, actor=principal.username, owner=principal.username)
            ended.append(record.sid)
    return jsonify(ok=True, ended=ended)


async def _user(user_id: int) -> str:
    user = await _services().store.get_user(user_id)
    if user is None:
        raise StoreError("no such user", "user_id", 404)
    return user.username


@blueprint.get("/api/auth/users/<int:user_id>/sessions")
@requires(Need.ADMIN)
async def list_of_user(user_id: int) -> Any:
    await _user(user_id)
    services = _services()
    current = _current_sid()
    records = await services.store.sessions(user_id)
    return jsonify(sessions=[session_json(r, services, current) for r in records])


@blueprint.delete("/api/auth/users/<int:user_id>/sessions/<sid>")
@requires(Need.ADMIN)
async def end_of_user(user_id: int, sid: str) -> Any:
    principal: Principal = g.principal
    owner = await _user(user_id)
    record = await _services().store.session(sid)
    if record is None or record.user_id != user_id:
        raise StoreError(f"{owner} has no such session; it may have ended already", "id", 404)
    await end(record, _services(), actor=principal.username, owner=owner)
    if record.sid == _current_sid():
        logout_user()
    return jsonify(ok=True, ended=[record.sid])


@blueprint.post("/api/auth/users/<int:user_id>/sessions/end-all")
@requires(Need.ADMIN)
async def end_all_of_user(user_id: int) -> Any:
    """Every session of the user; an admin's own request keeps its session (sign out for
    that)."""
    principal: Principal = g.principal
    owner = await _user(user_id)
    services = _services()
    current = _current_sid()
    ended = []
    for record in await services.store.sessions(user_id):
        if record.sid != current:
            await end(record, services, actor=principal.username, owner=owner)
            ended.append(record.sid)
    return jsonify(ok=True, ended=ended)


def register(app: Any) -> None:
    app.register_blueprint(blueprint)
