"""Application factory: Quart for pages and REST, python-socketio beside it."""

from __future__ import annotations

import errno
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import socketio
from quart import (
    Quart,
    Request,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
)
from quart.ctx import RequestContext
from quart.globals import request_ctx
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge

from ..access.facts import (
    RequestFacts,
    TrustedNetworks,
    facts_from_scope,
    mounted_at_prefix,
    normalise_ip,
    werkzeug_cookies,
)
from ..access.hosts import HostPolicy, refusal
from ..access.origin import origin_allowed
from ..access.policy import (
    PASSWORD_CHANGE_REQUIRED,
    SAFE_METHODS,
    TWO_FACTOR_REQUIRED,
    Need,
    check,
    need_of,
    requires,
    usable_before_password_change,
)
from ..access.resolver import Resolution, Resolver
from ..bootstrap import check_bypass_user, open_services, secret_key
from ..cluster.invalidation import share_invalidation
from ..cluster.link import Cluster
from ..cluster.throttle import SharedLoginThrottle
from ..config import Settings
from ..models import Principal
from ..plugins import AuthPlugins
from ..services import Services
from ..storage import StoreError
from ..storage.records import AuditOrigin, audit_origin
from . import inputs
from .handshakes import MAX_MESSAGE_BYTES, HandshakeLimitedServer
from .headers import with_security_headers
from .live import TorrentHub
from .sessions import SESSION_COOKIE, NoQuartSession, SessionAuth
from .signin import BREAK_GLASS
from .two_factor import CODE_USERNAME_LIMIT

log = logging.getLogger("pytorrent")

HERE = Path(__file__).parent


BODY_MAX = 1024 * 1024  # any request but a torrent upload: JSON and small forms


def is_upload(method: str, path: str) -> bool:
    return method == "POST" and path.startswith("/api/profiles/") and path.endswith("/torrents")


class PyTorrentRequest(Request):
    """Only torrent uploads may send MAX_CONTENT_LENGTH (server.max_body_bytes); every
    other request BODY_MAX at most."""

    def __init__(self, method: str, scheme: str, path: str, *args: Any,
                 max_content_length: int | None = None, **kwargs: Any) -> None:
        if max_content_length is not None and not is_upload(method, path):
            max_content_length = min(max_content_length, BODY_MAX)
        super().__init__(method, scheme, path, *args, max_content_length=max_content_length,
                         **kwargs)
        self.max_content_length = max_content_length  # Quart hands it to the body only


class PyTorrentQuart(Quart):
    """Quart whose first and last steps for a request are pyTorrent's, called directly.

    ``authorise`` (the access decision) runs before any ``before_request`` function
    and ``finish`` after every ``after_request`` one. Quart's generic loops (the
    blueprint names, ``ensure_async`` per function, the session interface) cost more
    than the work itself when nothing else is registered, as in pyTorrent; whatever
    is registered still runs, as Quart runs it.
    """

    request_class = PyTorrentRequest
    authorise: Callable[[RequestContext], Awaitable[Any]]
    finish: Callable[[Any, RequestContext], Awaitable[Any]]

    async def preprocess_request(self, request_context: RequestContext | None = None) -> Any:
        context = request_context or request_ctx._get_current_object()  # type: ignore[attr-defined]
        result = await self.authorise(context)
        if result is not None or not (any(self.before_request_funcs.values())
                                      or any(self.url_value_preprocessors.values())):
            return result
        return await super().preprocess_request(request_context)

    async def process_response(self, response: Any,
                               request_context: RequestContext | None = None) -> Any:
        context = request_context or request_ctx._get_current_object()  # type: ignore[attr-defined]
        if context._after_request_functions or any(self.after_request_funcs.values()):
            response = await super().process_response(response, context)
        return await self.finish(response, context)


class PyTorrentApp(socketio.ASGIApp):
    """The ASGI application: Socket.IO at /socket.io/, everything else to Quart.

    Before either sees a request, its ``Host`` must be one of ours (DNS rebinding).
    Behind a trusted proxy's ``X-Forwarded-Prefix``, Quart sees itself mounted there.
    """

    quart: Quart
    sio: socketio.AsyncServer
    hosts: HostPolicy
    trusted: TrustedNetworks
    proxy_fix: bool

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            client = scope.get("client")
            believed = self.proxy_fix and client is not None and self.trusted.contains(
                normalise_ip(client[0]))
            if kind == "http":
                send = with_security_headers(scope, send)
            problem = refusal(scope, self.hosts, forwarded_host_believed=believed)
            if problem is not None:
                await _refuse_host(scope, receive, send, problem)
                return
            if believed and not f"{scope['path'].rstrip('/')}/".startswith(self.engineio_path):
                scope = mounted_at_prefix(scope)
            # Straight to the one that answers: the same choice Engine.IO's ASGIApp makes
            # (this app serves no Engine.IO static files), and Quart's ASGI app without
            # the frame of Quart.__call__: each layer is paid again at every await.
            path = scope["path"]
            if path.startswith(self.engineio_path) or f"{path}/" == self.engineio_path:
                await self.engineio_server.handle_request(scope, receive, send)
            else:
                await self.quart.asgi_app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    @property
    def services(self) -> Services:
        return self.quart.extensions["pytorrent"]["services"]

    @property
    def resolver(self) -> Resolver:
        return self.quart.extensions["pytorrent"]["resolver"]


def create_app(settings: Settings, plugins: AuthPlugins) -> PyTorrentApp:
    quart = PyTorrentQuart(__name__, template_folder=str(HERE / "templates"),
                  static_folder=str(HERE / "static"))
    quart.secret_key = secret_key(settings)
    quart.config.update(
        MAX_CONTENT_LENGTH=int(settings.server_max_body_bytes),
        QUART_AUTH_COOKIE_NAME=SESSION_COOKIE,
        QUART_AUTH_COOKIE_SECURE=bool(settings.session_cookie_secure),
        QUART_AUTH_COOKIE_SAMESITE="Lax",
        QUART_AUTH_COOKIE_HTTP_ONLY=True,
        QUART_AUTH_DURATION=int(settings.session_lifetime_hours) * 3600,
        QUART_AUTH_MODE="cookie",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=int(settings.session_lifetime_hours)),
    )
    inputs.install(quart)  # before any route: ids in routes use its converter
    quart.session_interface = NoQuartSession()  # type: ignore[assignment]
    auth = SessionAuth(quart)
    trusted = TrustedNetworks(settings.auth_trusted_proxies)
    state: dict[str, Any] = {"settings": settings, "plugins": plugins, "auth": auth,
                             "trusted": trusted}
    quart.extensions["pytorrent"] = state

    def load_session(cookie: str) -> str | None:
        return auth.load_token(cookie, quart)

    proxy_fix = bool(settings.proxy_fix_enable)

    def facts_for_request(current: Request) -> RequestFacts:
        return facts_from_scope(current.scope, trusted=trusted, proxy_fix=proxy_fix,
                                headers=current.headers, cookie_parser=werkzeug_cookies)

    cluster = Cluster(settings) if settings.redis_url_is_set else None
    state["cluster"] = cluster
    manager = None
    if cluster is not None:  # an emit here reaches the connections of every instance
        manager = socketio.AsyncRedisManager(str(settings.redis_url),
                                             channel="pytorrent:socketio")
    sio = HandshakeLimitedServer(
        client_manager=manager,
        max_pending=int(settings.socketio_max_pending_handshakes),
        sign_in_timeout=float(settings.server_header_timeout),
        async_mode="asgi",
        cors_allowed_origins=_socketio_origin_check(settings, trusted),
        max_http_buffer_size=MAX_MESSAGE_BYTES,
        logger=False,
        engineio_logger=False,
    )
    state["sio"] = sio
    hub = TorrentHub(sio, settings, cluster)
    state["hub"] = hub

    @quart.before_serving
    async def start() -> None:
        services = await open_services(settings, plugins)
        state["services"] = services
        state["resolver"] = Resolver(services, load_session, SESSION_COOKIE)
        await check_bypass_user(services)
        services.cache.listeners.append(state["realtime"].schedule_recheck)
        hub.cache = services.cache
        services.cache.listeners.append(hub.profiles_changed)
        if cluster is not None:
            share_invalidation(cluster, services.store, services.cache)
            state["throttle"] = SharedLoginThrottle(cluster.redis, "pytorrent:throttle:sign-in")
            state["code_throttle"] = SharedLoginThrottle(
                cluster.redis, "pytorrent:throttle:code", username_limit=CODE_USERNAME_LIMIT)
            await cluster.start()
        await services.cache.start()
        await services.audit.start()

    @quart.after_serving
    async def stop() -> None:
        await hub.stop()
        if cluster is not None:
            await cluster.stop()
        services: Services | None = state.get("services")
        if services is not None:
            await services.audit.stop()
            await services.cache.stop()
            await services.store.close()

    async def resolve_request(current: Any = None) -> Resolution:
        """Resolve the current request once (memoised on ``g``; ``current``: ``g``'s
        object when the caller has it)."""
        if current is None:
            current = g._get_current_object()  # one context lookup, not one per attribute
        resolution: Resolution | None = current.__dict__.get("resolution")
        if resolution is None:
            resolution = await state["resolver"].resolve(current.facts)
            current.resolution = resolution
            current.principal = resolution.principal
        return resolution

    state["resolve_request"] = resolve_request
    allowed_origins = settings.api_allowed_origins

    async def authorise(context: RequestContext) -> Any:
        current = context.request
        view = quart.view_functions.get(current.endpoint or "")
        if view is None:
            return None  # 404/405 follow; nothing is served
        need = need_of(view)
        if need is None:
            log.error("route %s declares no access requirement; refusing", current.endpoint)
            return _error(500, "internal error")
        facts = facts_for_request(current)
        globals_ = g._get_current_object()
        globals_.facts = facts
        audit_origin.set(AuditOrigin(facts.client))
        if facts.scheme != current.scheme:
            current.scheme = facts.scheme  # trusted proxy says https: secure cookies apply
        if need is Need.PUBLIC:
            return None  # public views that care who is asking call resolve_request()
        resolution = await resolve_request(globals_)
        if resolution.principal is not None:
            audit_origin.set(AuditOrigin(facts.client, provider_of(
                resolution.principal, plugins.provider, state["resolver"].external)))
        profile_id = (current.view_args or {}).get("profile_id")
        denied = check(resolution.principal, need, profile_id,
                       before_password_change=usable_before_password_change(view),
                       changes=current.method not in SAFE_METHODS)
        if resolution.retry_after is not None:
            response = await make_response(_error(429, resolution.detail))
            response.headers["Retry-After"] = str(resolution.retry_after)
            return response
        if denied is not None and denied.status == 401:
            if not facts.is_api:
                return await unauthenticated_page(facts, resolution)
            return _error(401, resolution.detail or denied.reason)
        if not origin_allowed(facts, resolution.principal, allowed_origins):
            return _error(403, "cross-origin request refused: Origin/Referer does not match "
                               "this site or PYTORRENT_API_ALLOWED_ORIGINS")
        if denied is not None and denied.reason in (PASSWORD_CHANGE_REQUIRED,
                                                    TWO_FACTOR_REQUIRED) \
                and not facts.is_api:
            return redirect("/account")
        if denied is not None:
            return _error(denied.status, denied.reason)
        return None

    quart.authorise = authorise

    async def finish(response: Any, context: RequestContext) -> Any:
        """The session cookie, when this request signed in or out; and app-relative
        redirects (``/login``, a provider's ``/``) get the mount point."""
        if auth.attribute_name in g:
            response = await auth.after_request(response)
        root = context.request.root_path
        if not root:  # not mounted under a prefix: nothing to add
            return response
        location = response.headers.get("Location")
        if location and location.startswith("/") and not location.startswith("//") \
                and not location.startswith(f"{root}/"):
            response.headers["Location"] = root + location
        return response

    quart.finish = finish

    async def unauthenticated_page(facts: RequestFacts, resolution: Resolution) -> Any:
        if not state["resolver"].external:
            from urllib.parse import quote

            return redirect(f"/login?next={quote(facts.path, safe='/')}")
        return await render_template("unauthenticated.html", resolution=resolution,
                                     header=state["resolver"].user_header,
                                     peer=facts.peer), 401

    @quart.errorhandler(StoreError)
    async def store_error(error: StoreError) -> Any:
        return jsonify(error=str(error), field=error.field), error.status

    @quart.errorhandler(RequestEntityTooLarge)
    async def too_large(error: RequestEntityTooLarge) -> Any:
        return _error(413, _too_large_message())

    @quart.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Any:
        return _error(error.code or 500, error.description or error.name)

    @quart.errorhandler(Exception)
    async def unexpected(error: Exception) -> Any:
        log.exception("unhandled error")
        return _error(500, "internal error")

    @quart.get("/api/health")
    @requires(Need.PUBLIC)
    async def health() -> Any:
        return jsonify(status="ok")

    send_static = quart.view_functions["static"]

    @requires(Need.PUBLIC)
    async def static(filename: str) -> Any:
        try:
            return await send_static(filename)  # type: ignore[misc]
        except OSError as error:
            if error.errno == errno.ENAMETOOLONG:  # no file can have that name
                raise NotFound() from None
            raise

    quart.view_functions["static"] = static

    @quart.get("/favicon.ico")
    @requires(Need.PUBLIC)
    async def favicon() -> Any:
        """Browsers and bookmarks ask the root for it, whatever the page links to."""
        return await send_static("favicon.ico")  # type: ignore[misc]

    from . import api_users, provider_routes, routes

    routes.register(quart)
    provider_routes.register(quart, plugins.routes(settings), plugins.provider)
    api_users.register(quart)

    app = PyTorrentApp(sio, other_asgi_app=quart)
    app.quart = quart
    app.sio = sio
    app.hosts = HostPolicy.from_settings(settings)
    app.trusted = trusted
    app.proxy_fix = bool(settings.proxy_fix_enable)
    from .realtime import register as register_realtime

    realtime = register_realtime(sio, state, trusted, settings)
    from . import (
        api_audit,
        api_profiles,
        api_sessions,
        api_tokens,
        api_torrents,
        break_glass,
        pages_admin,
        two_factor,
    )

    api_profiles.register(quart, realtime)
    api_tokens.register(quart)
    api_sessions.register(quart)
    api_audit.register(quart)
    two_factor.register(quart)
    break_glass.register(quart)
    api_torrents.register(quart)
    pages_admin.register(quart)
    return app


def provider_of(principal: Principal, provider: str | None, external: bool = False) -> str:
    """How the principal signed in, for the audit log: the provider's name for sessions
    and external sign-in (``break-glass`` for a session beside an external provider),
    else ``token``, ``bypass`` or ``disabled``."""
    if principal.via == "session" and external:
        return BREAK_GLASS
    if principal.via in ("session", "provider") and provider:
        return provider
    return str(principal.via)


def _error(status: int, message: str) -> Any:
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        return jsonify(error=message), status
    return message, status, {"Content-Type": "text/plain; charset=utf-8"}


def _too_large_message() -> str:
    limit = request.max_content_length or BODY_MAX
    length = request.content_length
    if length is not None and length <= limit:  # the form parser's own limits
        return (f"form too large: a field other than a file is over "
                f"{request.max_form_memory_size} bytes, or the form has over "
                f"{request.max_form_parts} parts")
    if is_upload(request.method, request.path):
        return (f"request body larger than {limit} bytes (PYTORRENT_SERVER_MAX_BODY_BYTES): "
                "add fewer .torrent files at a time, or raise the setting")
    return f"request body larger than {limit} bytes, the most this request may send"


HOST_HELP = (
    "{problem}. If this is your address for pyTorrent, add the name to "
    "PYTORRENT_ALLOWED_HOSTS (server.allowed_hosts in pytorrent.toml) and restart; "
    "pyTorrent refuses other names so that no web page can reach it by DNS rebinding.\n")


async def _refuse_host(scope: Any, receive: Any, send: Any, problem: str) -> None:
    """400 with a page that names the setting; a WebSocket is closed before it opens."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})
        return
    body = HOST_HELP.format(problem=problem).encode("utf-8", "replace")
    path = scope.get("path", "")
    if path.startswith(("/api/", "/socket.io/")):
        import json

        body = json.dumps({"error": body.decode().strip(),
                           "setting": "PYTORRENT_ALLOWED_HOSTS"}).encode()
        content_type = b"application/json"
    else:
        content_type = b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": 400,
                "headers": [(b"content-type", content_type),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _socketio_origin_check(settings: Settings, trusted: TrustedNetworks) -> Any:
    allowed = tuple(settings.socketio_cors_allowed_origins)

    def allow(origin: str | None, environ: dict[str, Any]) -> bool:
        if not origin:
            return True  # not a browser cross-site request; the resolver still decides
        facts = facts_from_scope(environ["asgi.scope"], trusted=trusted,
                                 proxy_fix=bool(settings.proxy_fix_enable))
        origin = origin.rstrip("/").lower()
        return origin == facts.origin.lower() or origin in allowed

    return allow
