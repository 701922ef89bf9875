"""Profiles over REST and Socket.IO: admin CRUD, per-user listing, activation, labels.

Access is declared per route and per event; the views only look up and store.
Labels are the first profile-scoped data users with ``full`` may change.
"""

from __future__ import annotations

import json
from typing import Any

from quart import Blueprint, Response, current_app, g, jsonify

from ..access.policy import Need, requires
from ..models import Principal
from ..profiles import clean_data_root, clean_labels, clean_name, clean_scgi_url
from ..services import Services
from ..storage import Profile, StoreError
from .inputs import json_object, payload_id
from .realtime import PROFILE_ID_REQUIRED, Realtime, refusal

blueprint = Blueprint("profiles", __name__)


def _services() -> Services:
    return current_app.extensions["pytorrent"]["services"]


def _realtime() -> Realtime:
    return current_app.extensions["pytorrent"]["realtime"]


def room(profile_id: int) -> str:
    return f"profile:{profile_id}"


def profile_json(profile: Profile, principal: Principal) -> dict[str, Any]:
    data: dict[str, Any] = {"id": profile.id, "name": profile.name,
                            "level": principal.level(profile.id),
                            "delete_data": profile.data_root is not None}
    if principal.is_admin:  # connection details and paths are for admins only
        data["scgi_url"] = profile.scgi_url
        data["data_root"] = profile.data_root
    return data


async def visible_profiles(services: Services, principal: Principal
                           ) -> tuple[list[Profile], int | None]:
    """The profiles ``principal`` may read, and their saved choice if still readable."""
    visible = [p for p in await services.cache.profiles() if principal.can_read(p.id)]
    active = await services.cache.active_profile(principal.user_id)
    if active is not None and not any(p.id == active for p in visible):
        active = None
    return visible, active


async def _profile(profile_id: int) -> Profile:
    profile = await _services().store.get_profile(profile_id)
    if profile is None:
        raise StoreError("no such profile", "profile_id", 404)
    return profile


async def replace_labels(services: Services, realtime: Realtime, principal: Principal,
                         profile_id: int, raw: Any) -> list[str]:
    """Validate, store and announce a profile's labels to everyone in its room."""
    labels = await services.store.set_profile_labels(profile_id, clean_labels(raw),
                                                     actor=principal.username)
    await realtime.sio.emit("profile:labels", {"profile_id": profile_id, "labels": labels},
                            room=room(profile_id))
    return labels


@blueprint.get("/api/profiles")
@requires(Need.USER)
async def list_profiles() -> Any:
    principal: Principal = g.principal
    services = _services()

    async def render() -> bytes:
        visible, active = await visible_profiles(services, principal)
        return json.dumps({"profiles": [profile_json(p, principal) for p in visible],
                           "active_profile": active}, separators=(",", ":")).encode()

    # A scoped token sees less than its owner: the token is part of the key.
    body = await services.cache.rendered(("profiles", principal.user_id, principal.token_id),
                                         render)
    return Response(body, mimetype="application/json")


@blueprint.post("/api/profiles")
@requires(Need.ADMIN)
async def create_profile() -> Any:
    data = await json_object()
    name, url = clean_name(data.get("name")), clean_scgi_url(data.get("scgi_url"))
    profile = await _services().store.create_profile(
        name, url, data_root=clean_data_root(data.get("data_root")),
        actor=g.principal.username)
    return jsonify(profile=profile_json(profile, g.principal)), 201


@blueprint.get("/api/profiles/<int:profile_id>")
@requires(Need.PROFILE_READ)
async def get_profile(profile_id: int) -> Any:
    profile = await _profile(profile_id)
    labels = await _services().store.profile_labels(profile_id)
    return jsonify(profile={**profile_json(profile, g.principal), "labels": labels})


@blueprint.route("/api/profiles/<int:profile_id>", methods=["PUT", "PATCH"])
@requires(Need.ADMIN)
async def update_profile(profile_id: int) -> Any:
    data = await json_object()
    fields: dict[str, str | None] = {}
    if "name" in data:
        fields["name"] = clean_name(data["name"])
    if "scgi_url" in data:
        fields["scgi_url"] = clean_scgi_url(data["scgi_url"])
    if "data_root" in data:
        fields["data_root"] = clean_data_root(data["data_root"])
    if not fields:
        raise StoreError("nothing to change: send name, scgi_url and/or data_root", None)
    profile = await _services().store.update_profile(profile_id, actor=g.principal.username,
                                                     **fields)
    return jsonify(profile=profile_json(profile, g.principal))


@blueprint.delete("/api/profiles/<int:profile_id>")
@requires(Need.ADMIN)
async def delete_profile(profile_id: int) -> Any:
    await _services().store.delete_profile(profile_id, actor=g.principal.username)
    return "", 204


@blueprint.post("/api/profiles/<int:profile_id>/activate")
@requires(Need.PROFILE_READ)
async def activate_profile(profile_id: int) -> Any:
    await _profile(profile_id)
    await _services().store.set_active_profile(g.principal.user_id, profile_id)
    return jsonify(active_profile=profile_id)


@blueprint.get("/api/profiles/<int:profile_id>/labels")
@requires(Need.PROFILE_READ)
async def get_labels(profile_id: int) -> Any:
    await _profile(profile_id)
    return jsonify(labels=await _services().store.profile_labels(profile_id))


@blueprint.put("/api/profiles/<int:profile_id>/labels")
@requires(Need.PROFILE_WRITE)
async def put_labels(profile_id: int) -> Any:
    data = await json_object()
    labels = await replace_labels(_services(), _realtime(), g.principal, profile_id,
                                  data.get("labels"))
    return jsonify(labels=labels)


def register_events(realtime: Realtime) -> None:
    state = realtime.state

    @realtime.on("profile:labels", Need.PROFILE_READ)
    async def labels(sid: str, principal: Principal, data: Any) -> Any:
        profile_id = data["profile_id"]
        store = state["services"].store
        if await store.get_profile(profile_id) is None:
            return refusal(404, "no such profile", "profile_id")
        return {"profile_id": profile_id, "labels": await store.profile_labels(profile_id)}

    @realtime.on("profile:labels:set", Need.PROFILE_WRITE)
    async def set_labels(sid: str, principal: Principal, data: Any) -> Any:
        try:
            saved = await replace_labels(state["services"], realtime, principal,
                                         data["profile_id"], data.get("labels"))
        except StoreError as error:
            return refusal(error.status, str(error), error.field)
        return {"profile_id": data["profile_id"], "labels": saved}

    @realtime.on("profile:leave", Need.USER)
    async def leave(sid: str, principal: Principal, data: Any) -> Any:
        raw = payload_id(data)
        if raw is None:
            return refusal(400, PROFILE_ID_REQUIRED.format(event="profile:leave"), "profile_id")
        await state["hub"].leave(sid, raw)
        return {"ok": True, "room": room(raw)}


def register(app: Any, realtime: Realtime) -> None:
    app.register_blueprint(blueprint)
    register_events(realtime)
