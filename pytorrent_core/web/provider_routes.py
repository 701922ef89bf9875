"""Serve the pages a provider declares (``pytorrent_routes``) and apply their answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer
from quart import Quart, Response, current_app, g, redirect, request
from werkzeug.sansio.response import Response as AnyResponse

from ..access.facts import RequestFacts
from ..access.policy import Need, requires
from ..access.resolver import Resolver
from ..config import ConfigError, Settings
from ..context import ProviderContext
from ..models import Identity, User
from ..provider_routes import ProviderRoute, RouteResponse
from ..services import Services
from . import two_factor
from .signin import current_claim, from_this_site, safe_next, start_session


def _state() -> dict[str, Any]:
    return current_app.extensions["pytorrent"]


class CoreRouteRequest:
    """:class:`~pytorrent_core.provider_routes.RouteRequest` for the current request."""

    def __init__(self, provider: str) -> None:
        state = _state()
        self._provider = provider
        self._services: Services = state["services"]
        self._resolver: Resolver = state["resolver"]
        self.facts: RequestFacts = g.facts
        self.args: Mapping[str, str] = self.facts.args
        self.settings: Settings = state["settings"]
        self.context: ProviderContext = self._services.provider_context
        self.base_url = f"{self.facts.origin}{request.root_path}".rstrip("/")
        self._serializer = URLSafeTimedSerializer(
            current_app.secret_key, salt=f"pytorrent.provider.{provider}")  # type: ignore[arg-type]

    @property
    def same_site(self) -> bool:
        return from_this_site()

    def safe_next(self, target: str | None) -> str:
        return safe_next(target)

    def sign(self, value: str) -> str:
        return str(self._serializer.dumps(value))

    def unsign(self, token: str, max_age: int) -> str | None:
        try:
            value = self._serializer.loads(token, max_age=max_age)
        except BadData:  # forged, altered, expired or unreadable
            return None
        return value if isinstance(value, str) else None

    async def user_for(self, identity: Identity) -> User | str:
        found = await self._resolver.user_for(identity)
        return found if isinstance(found, User) else found.detail

    def audit(self, action: str, *, actor: str | None = None, outcome: str = "ok",
              detail: Mapping[str, object] | None = None) -> None:
        self._services.audit.record(action, actor=actor, provider=self._provider,
                                    outcome=outcome, detail=dict(detail) if detail else None)


def register(app: Quart, routes: Sequence[ProviderRoute], provider: str | None) -> None:
    """Add each route as a public view; a path outside ``/auth/<provider>/`` stops start-up."""
    for number, route in enumerate(routes):
        own = f"/auth/{provider}/"
        if provider is None or not route.path.startswith(own) or ".." in route.path:
            raise ConfigError(f"auth provider {provider!r} declares the route {route.path}: "
                              f"a provider's pages must be under {own}")
        app.add_url_rule(route.path, f"provider.{number}", _view(route, provider),
                         methods=[route.method])


def _view(route: ProviderRoute, provider: str) -> Any:
    @requires(Need.PUBLIC)
    async def view() -> Any:
        answer = await route.endpoint(CoreRouteRequest(provider))
        return await _apply(answer, provider)

    view.__name__ = f"provider_{provider}_{route.method.lower()}"
    return view


async def _apply(answer: RouteResponse, provider: str) -> Any:
    response: AnyResponse
    if answer.sign_in is not None:
        response = await _sign_in(answer.sign_in, safe_next(answer.redirect_to), provider)
    elif answer.redirect_to is not None:
        response = redirect(_redirect_target(answer.redirect_to))
    else:
        response = Response(answer.html, status=answer.status,
                            content_type="text/html; charset=utf-8")
    secure = bool(_state()["settings"].session_cookie_secure) or g.facts.scheme == "https"
    for cookie in answer.cookies:
        path = f"{request.root_path}{cookie.path}" if request.root_path else cookie.path
        if cookie.value is None:
            response.delete_cookie(cookie.name, path=path, secure=secure, httponly=True,
                                   samesite="Lax")
        else:
            response.set_cookie(cookie.name, cookie.value, max_age=cookie.max_age, path=path,
                                secure=secure, httponly=True, samesite="Lax")
    return response


def _redirect_target(target: str) -> str:
    if target.startswith(("https://", "http://")):
        return target
    return safe_next(target)


async def _sign_in(user: User, next_url: str, provider: str) -> AnyResponse:
    """A new session id for this browser: the one it had (if any) ends here."""
    state = _state()
    services: Services = state["services"]
    claim = current_claim()
    if claim is not None:
        lifetime = timedelta(hours=int(state["settings"].session_lifetime_hours))
        await services.store.end_session(claim.sid, claim.user_id,
                                         datetime.now(UTC) + lifetime)
    services.audit.record("auth.sign-in", actor=user.username, provider=provider)
    if user.two_factor:
        answer: AnyResponse = await two_factor.ask_for_code(user, next_url, api=False)
        return answer
    await start_session(user)
    return redirect(next_url)
