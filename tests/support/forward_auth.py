"""A stand-in for Tinyauth's forward-auth endpoint, for nginx ``auth_request`` tests.

``GET /api/auth/nginx`` answers like Tinyauth: 200 with ``Remote-User`` (and
``Remote-Name``, ``Remote-Email``, ``Remote-Groups`` when known) for a request
whose cookie belongs to a signed-in account, otherwise 401 with
``X-Tinyauth-Location`` pointing at the login page. It runs in a thread on a free
loopback port and records each request's TCP peer and headers, so a test can see
which address nginx connected from.

    with ForwardAuth() as auth:
        cookie = auth.sign_in(Account("alice", name="Alice"))   # "tinyauth-session=..."
        ...  # nginx: location /tinyauth { proxy_pass {auth.check_url}; }
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import quote

COOKIE = "tinyauth-session"
CHECK_PATH = "/api/auth/nginx"


@dataclass(frozen=True)
class Account:
    username: str
    name: str | None = None
    email: str | None = None
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Seen:
    peer: str
    path: str
    headers: dict[str, str]


class ForwardAuth:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sessions: dict[str, Account] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def check_url(self) -> str:
        return f"{self.url}{CHECK_PATH}"

    @property
    def login_url(self) -> str:
        return f"{self.url}/login"

    def sign_in(self, account: Account) -> str:
        """Start a session for ``account``; returns the ``Cookie`` header value to send."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.sessions[token] = account
        return f"{COOKIE}={token}"

    def sign_out(self, cookie: str) -> None:
        with self._lock:
            self.sessions.pop(cookie.partition("=")[2], None)

    def account_for(self, cookie_header: str | None) -> Account | None:
        if not cookie_header:
            return None
        jar: SimpleCookie = SimpleCookie()
        jar.load(cookie_header)
        morsel = jar.get(COOKIE)
        with self._lock:
            return self.sessions.get(morsel.value) if morsel else None

    def start(self) -> ForwardAuth:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> ForwardAuth:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        auth = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with auth._lock:
                    auth.seen.append(Seen(self.client_address[0], self.path,
                                          {k: v for k, v in self.headers.items()}))
                if self.path.split("?")[0] != CHECK_PATH:
                    self._answer(200 if self.path.startswith("/login") else 404, {})
                    return
                account = auth.account_for(self.headers.get("Cookie"))
                if account is None:
                    asked = "{}://{}{}".format(self.headers.get("X-Forwarded-Proto", "http"),
                                               self.headers.get("X-Forwarded-Host", ""),
                                               self.headers.get("X-Forwarded-Uri", "/"))
                    self._answer(401, {"X-Tinyauth-Location":
                                       f"{auth.login_url}?redirect_uri={quote(asked, safe='')}"})
                    return
                headers = {"Remote-User": account.username}
                if account.name:
                    headers["Remote-Name"] = account.name
                if account.email:
                    headers["Remote-Email"] = account.email
                if account.groups:
                    headers["Remote-Groups"] = ",".join(account.groups)
                self._answer(200, headers)

            def _answer(self, status: int, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output quiet; ``seen`` records the requests

        return Handler
