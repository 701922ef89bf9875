"""The audit log over REST: ``GET /api/audit`` (admins), newest first, paged by id."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, current_app, jsonify, request

from ..access.audit import event_json, parse_when
from ..access.policy import Need, requires
from ..services import Services
from ..storage import StoreError

blueprint = Blueprint("audit", __name__)

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def _number(name: str, default: int | None, low: int, high: int) -> int | None:
    text = request.args.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise StoreError(f"{name} must be a whole number from {low} to {high}", name)
    return int(text)


@blueprint.get("/api/audit")
@requires(Need.ADMIN)
async def list_events() -> Any:
    """Query: ``user`` (actor or target), ``kind`` (an action or its family), ``since``
    and ``until`` (ISO 8601 or 30m/12h/1d/2w ago), ``before_id`` and ``limit`` to page."""
    services: Services = current_app.extensions["pytorrent"]["services"]
    limit = _number("limit", DEFAULT_LIMIT, 1, MAX_LIMIT) or DEFAULT_LIMIT
    before_id = _number("before_id", None, 1, 2**62)
    moments = {}
    for name in ("since", "until"):
        text = request.args.get(name, "").strip()
        try:
            moments[name] = parse_when(text, name) if text else None
        except ValueError as problem:
            raise StoreError(str(problem), name) from None
    await services.audit.flush()  # what this server queued is shown too
    rows = await services.store.audit_events(
        limit, user=request.args.get("user", "").strip() or None,
        kind=request.args.get("kind", "").strip() or None,
        since=moments["since"], until=moments["until"], before_id=before_id)
    events = [event_json(row) for row in rows]
    more = len(events) == limit
    return jsonify(events=events, next_before_id=events[-1]["id"] if more else None)


def register(app: Any) -> None:
    app.register_blueprint(blueprint)
