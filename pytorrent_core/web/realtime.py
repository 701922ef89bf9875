"""Socket.IO: connect and every event go through the same resolver as REST.

A connection keeps the facts it connected with; each event re-resolves them
(cheap: cached), and any change to users, grants or tokens re-checks every live
connection so a revoked token or deactivated user is dropped at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from ..access import tokens
from ..access.facts import RequestFacts, TrustedNetworks, facts_from_scope
from ..access.policy import Denied, Need, check
from ..config import Settings
from ..models import Principal
from ..storage.store import now
from .inputs import payload_id

log = logging.getLogger(__name__)

Handler = Callable[[str, Principal, Any], Awaitable[Any]]
PROFILE_ID_REQUIRED = ('{event} needs an object like {{"profile_id": 1}}: profile_id must be '
                       "a profile's id, a whole number")


def refusal(status: int, error: str, field: str | None = None) -> dict[str, Any]:
    """An event's answer when it does not do what was asked: ``ok`` false, why, a status
    as REST would give it, and the payload field at fault when one is."""
    answer: dict[str, Any] = {"ok": False, "error": error, "status": status}
    if field is not None:
        answer["field"] = field
    return answer


class Realtime:
    def __init__(self, sio: socketio.AsyncServer, state: dict[str, Any],
                 trusted: TrustedNetworks, settings: Settings) -> None:
        self.sio = sio
        self.state = state
        self.trusted = trusted
        self.settings = settings
        self.facts: dict[str, RequestFacts] = {}
        self._recheck: asyncio.Task[None] | None = None
        self._recheck_pending = False

    async def resolve(self, facts: RequestFacts) -> Principal | None:
        resolution = await self.state["resolver"].resolve(facts)
        return resolution.principal

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        facts = facts_from_scope(environ["asgi.scope"], trusted=self.trusted,
                                 proxy_fix=bool(self.settings.proxy_fix_enable),
                                 socket_auth=auth if isinstance(auth, dict) else None)
        resolution = await self.state["resolver"].resolve(facts)
        if resolution.principal is None:
            raise socketio.exceptions.ConnectionRefusedError(
                resolution.detail or "authentication required")
        self.facts[sid] = facts
        if resolution.principal.token_id is not None:
            self._expire_later(facts)
        await self.sio.save_session(sid, {"user_id": resolution.principal.user_id})

    async def disconnect(self, sid: str, *args: Any) -> None:
        self.facts.pop(sid, None)
        await self.state["hub"].disconnected(sid)

    async def authorise(self, sid: str, need: Need,
                        profile_id: int | None = None) -> tuple[Principal | None, Denied | None]:
        facts = self.facts.get(sid)
        principal = await self.resolve(facts) if facts is not None else None
        denied = check(principal, need, profile_id)
        if principal is None:
            await self.sio.disconnect(sid)
        return principal, denied

    def on(self, event: str, need: Need) -> Callable[[Handler], Handler]:
        """Register an event handler that runs only when ``need`` is met.

        For profile needs the payload must carry ``profile_id``. The handler gets
        (sid, principal, data); a refusal answers ``{"error": ..., "status": ...}``.
        """

        def register(handler: Handler) -> Handler:
            async def guarded(sid: str, data: Any = None, *extra: Any) -> Any:
                profile_id = None
                if need in (Need.PROFILE_READ, Need.PROFILE_WRITE):
                    profile_id = payload_id(data)  # None unless a usable id: refused below
                principal, denied = await self.authorise(sid, need, profile_id)
                if denied is not None or principal is None:
                    denied = denied or Denied(401, "authentication required")
                    if denied.status == 400:
                        return refusal(400, PROFILE_ID_REQUIRED.format(event=event),
                                       "profile_id")
                    return refusal(denied.status, denied.reason)
                if extra:
                    return refusal(400, f"{event} takes one argument, an object; got "
                                        f"{1 + len(extra)}")
                try:
                    return await handler(sid, principal, data)
                except Exception:
                    log.exception("Socket.IO event %s failed", event)
                    return refusal(500, "internal error")

            self.sio.on(event, guarded)
            return handler

        return register

    def schedule_recheck(self) -> None:
        """After any auth change: drop connections whose principal no longer resolves,
        and take the rest out of profile rooms they may no longer read."""
        self._recheck_pending = True
        if self._recheck is None or self._recheck.done():
            try:
                self._recheck = asyncio.get_running_loop().create_task(self._recheck_all())
            except RuntimeError:
                return

    async def _recheck_all(self) -> None:
        # A change that arrives while we run must be seen: loop until none is pending.
        while self._recheck_pending:
            self._recheck_pending = False
            await asyncio.sleep(0)  # let the change that triggered us finish first
            for sid, facts in list(self.facts.items()):
                try:
                    await self._recheck_one(sid, facts)
                except Exception:  # noqa: BLE001 - one bad connection must not stop the rest
                    log.warning("could not recheck Socket.IO connection %s", sid, exc_info=True)

    async def _recheck_one(self, sid: str, facts: RequestFacts) -> None:
        principal = await self.resolve(facts)
        if principal is None:
            log.info("dropping Socket.IO connection %s: no longer authorised", sid)
            self.facts.pop(sid, None)
            await self.state["hub"].disconnected(sid)
            await self.sio.disconnect(sid)
            return
        for room in self.sio.rooms(sid):
            profile_id = profile_of_room(room)
            if profile_id is not None and not principal.can_read(profile_id):
                await self.state["hub"].leave(sid, profile_id)
                await self.sio.emit("profile:left", {"profile_id": profile_id,
                                                     "reason": "no read access to this profile"},
                                    to=sid)

    def _expire_later(self, facts: RequestFacts) -> None:
        """A token connection must drop when the token expires, even if nothing changes."""
        presented = tokens.from_headers(facts.headers) or (
            (facts.socket_auth or {}).get("token"))
        if not isinstance(presented, str):
            return
        record = self.state["services"].cache.peek_token(tokens.digest(presented))
        if record is None or record.expires_at is None:
            return
        delay = (record.expires_at - now()).total_seconds()
        asyncio.get_running_loop().call_later(max(delay, 0) + 0.05, self.schedule_recheck)


def profile_of_room(room: str) -> int | None:
    prefix, _, rest = room.partition(":")
    return int(rest) if prefix == "profile" and rest.isdigit() else None


def register(sio: socketio.AsyncServer, state: dict[str, Any], trusted: TrustedNetworks,
             settings: Settings) -> Realtime:
    realtime = Realtime(sio, state, trusted, settings)
    state["realtime"] = realtime
    sio.on("connect", realtime.connect)
    sio.on("disconnect", realtime.disconnect)

    @realtime.on("profile:join", Need.PROFILE_READ)
    async def join(sid: str, principal: Principal, data: Any) -> Any:
        """Enter the profile's room; a ``torrents:snapshot`` follows, then diffs."""
        profile_id = data["profile_id"]
        profile = await state["services"].cache.profile(profile_id)
        if profile is None:
            return refusal(404, "no such profile", "profile_id")
        await state["hub"].join(sid, profile)
        return {"ok": True, "room": f"profile:{profile_id}"}

    @realtime.on("whoami", Need.USER)
    async def whoami(sid: str, principal: Principal, data: Any) -> Any:
        return {"username": principal.username, "role": principal.user.role,
                "via": principal.via}

    async def unknown(event: str, sid: str, *args: Any) -> Any:
        """Any other event: an answer, so a client waiting for its acknowledgement
        learns at once that nothing here handles it."""
        known = sorted(name for name in sio.handlers.get("/", {})
                       if name not in ("connect", "disconnect", "*"))
        return refusal(404, f"unknown event; this server handles: {', '.join(known)}")

    sio.on("*", unknown)
    return realtime
