"""Real OpenID providers for the oidc provider's tests.

:class:`MockProvider` runs the ``oidc-provider-mock`` server (discovery, JWKS,
authorization form, token, userinfo, end-session) as a child process on a free
loopback port. :class:`ControlledIssuer` is a small real HTTP server of our own for
what that mock cannot do: tokens for another audience, a key rotation, other
algorithms. It signs with joserfc and checks PKCE the way a provider must.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from pytorrent_core.testing import free_port, stop_process

CLIENT_ID = "pytorrent"
CLIENT_SECRET = "test-client-secret-0123456789"  # noqa: S105 - a test value


def oidc_env(issuer: str, **extra: str) -> dict[str, str]:
    return {"PYTORRENT_AUTH_PROVIDER": "oidc", "PYTORRENT_AUTH_OIDC_ISSUER": issuer,
            "PYTORRENT_AUTH_OIDC_CLIENT_ID": CLIENT_ID,
            "PYTORRENT_AUTH_OIDC_CLIENT_SECRET": CLIENT_SECRET, **extra}


def wait_for(url: str, process: subprocess.Popen[bytes] | None, log: Path,
             timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: server exited early:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout}s:\n{log.read_text()}")


class MockProvider:
    """``python -m oidc_provider_mock`` on 127.0.0.1:<free port>."""

    def __init__(self, tmp_path: Path, *, token_max_age: int | None = None) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"oidc-mock-{self.port}.log"
        self.args = ["--host", "127.0.0.1", "--port", str(self.port), "--require-nonce"]
        if token_max_age is not None:
            self.args += ["--token-max-age", str(token_max_age)]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MockProvider:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", *self.args],
                                        stdout=log, stderr=subprocess.STDOUT)
        wait_for(f"{self.issuer}/.well-known/openid-configuration", self.process, self.log_path)
        return self

    def __exit__(self, *exc: object) -> None:
        stop_process(self.process)

    def set_user(self, sub: str, claims: Mapping[str, object]) -> None:
        reply = httpx.put(f"{self.issuer}/users/{sub}", json=dict(claims), timeout=10)
        assert reply.status_code == 204, reply.text

    def authorize(self, authorization_url: str, sub: str) -> str:
        """Submit the mock's authorization form as ``sub``: the callback URL it sends back."""
        assert authorization_url.startswith(self.issuer), authorization_url
        reply = httpx.post(authorization_url, data={"sub": sub}, timeout=10)
        assert reply.status_code in (302, 303), reply.text
        return reply.headers["location"]


def b64url_sha256(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


class ControlledIssuer:
    """A real OpenID provider whose every answer the test decides.

    ``keys`` are published at ``/jwks``; ``signing_key`` signs ID tokens (it need not
    be published: that is the unknown-``kid`` case). ``claims`` are merged into each
    ID token, ``token_hook`` may rewrite the claims or the header.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.signing_key: RSAKey | ECKey = RSAKey.generate_key(
            2048, parameters={"kid": "key-1", "use": "sig"}, private=True)
        self.keys: list[RSAKey | ECKey] = [self.signing_key]
        self.alg = "RS256"
        self.claims: dict[str, Any] = {"preferred_username": "carol"}
        self.token_hook: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
        self.userinfo: dict[str, Any] = {"sub": "sub-carol"}
        self.codes: dict[str, dict[str, str]] = {}
        self.jwks_fetches = 0
        self.token_requests: list[dict[str, str]] = []
        self.discovery: dict[str, Any] = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/logout",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        }
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ControlledIssuer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def authorize(self, authorization_url: str) -> str:
        """The callback URL this provider sends the browser back to (no form to fill)."""
        reply = httpx.get(authorization_url, timeout=10)
        assert reply.status_code == 302, reply.text
        return reply.headers["location"]

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "aud": CLIENT_ID, "sub": "sub-carol",
                                  "iat": now, "exp": now + 300, "nonce": nonce, **self.claims}
        header: dict[str, Any] = {"alg": self.alg, "kid": self.signing_key.kid}
        if self.token_hook is not None:
            self.token_hook(header, claims)
        return jwt.encode(header, claims, self.signing_key, algorithms=[header["alg"]])

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _json(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/.well-known/openid-configuration":
                    self._json(200, issuer.discovery)
                elif parts.path == "/jwks":
                    issuer.jwks_fetches += 1
                    self._json(200, {"keys": [k.as_dict(private=False) for k in issuer.keys]})
                elif parts.path == "/userinfo":
                    if self.headers.get("Authorization") == "Bearer at":
                        self._json(200, issuer.userinfo)
                    else:
                        self._json(401, {"error": "invalid_token"})
                elif parts.path == "/authorize":
                    code = f"code-{len(issuer.codes)}-{time.monotonic_ns()}"
                    issuer.codes[code] = query
                    back = urlencode({"code": code, "state": query["state"]})
                    self.send_response(302)
                    self.send_header("Location", f"{query['redirect_uri']}?{back}")
                    self.end_headers()
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                issuer.token_requests.append(form)
                asked = issuer.codes.pop(form.get("code", ""), None)
                if asked is None or asked["redirect_uri"] != form.get("redirect_uri"):
                    self._json(400, {"error": "invalid_grant"})
                    return
                verifier = form.get("code_verifier", "")
                if asked.get("code_challenge_method") != "S256" \
                        or b64url_sha256(verifier) != asked.get("code_challenge"):
                    self._json(400, {"error": "invalid_grant",
                                     "error_description": "PKCE verification failed"})
                    return
                self._json(200, {"access_token": "at", "token_type": "Bearer",
                                 "id_token": issuer.id_token(asked.get("nonce", ""))})

        return Handler
