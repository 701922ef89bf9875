"""The authorization code flow with PKCE: /auth/oidc/login, /callback and /logout.

What a sign-in must remember between leaving for the provider and coming back
(state, nonce, PKCE verifier, where to go next) travels in a cookie signed with
pyTorrent's secret key, named after the state, so it is bound to this browser and
several tabs may sign in at once. It lives ten minutes and is used once: the
callback deletes it, and this process remembers the states it has seen until they
would have expired anyway.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from pytorrent_core.provider import (
    CookieChange,
    Identity,
    ProviderRoute,
    RouteRequest,
    RouteResponse,
    User,
    clean_groups,
    clean_text,
    clean_username,
    render_page,
)

from .idtoken import TokenProblem, check_id_token
from .issuer import HTTP_TIMEOUT, Issuer, IssuerProblem, Metadata, get_json
from .settings import CALLBACK_PATH, OidcConfig

log = logging.getLogger(__name__)

PROVIDER = "oidc"
FLOW_SECONDS = 600
FLOW_COOKIE_PREFIX = "pytorrent_oidc_"
ID_TOKEN_COOKIE = "pytorrent_oidc_id"  # noqa: S105 (a cookie name)
COOKIE_PATH = "/auth/oidc/"
MAX_REMEMBERED_STATES = 10_000
SIGNED_OUT = "/login?signed_out=1"


def flow_cookie(state: str) -> str:
    return FLOW_COOKIE_PREFIX + hashlib.sha256(state.encode()).hexdigest()[:16]


class SignInFailed(Exception):
    """Shown to the user as the error page's one line; ``reason`` goes to the audit log."""

    def __init__(self, message: str, reason: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class Flow:
    """The provider's pages, with what they share for the life of the app."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self.issuer = Issuer(config.issuer)
        self._seen: OrderedDict[str, float] = OrderedDict()  # state -> when it expires

    def routes(self) -> list[ProviderRoute]:
        return [ProviderRoute("GET", "/auth/oidc/login", self.login),
                ProviderRoute("GET", CALLBACK_PATH, self.callback),
                ProviderRoute("GET", "/auth/oidc/logout", self.logout)]

    # ------------------------------------------------------------ pages

    async def login(self, request: RouteRequest) -> RouteResponse:
        try:
            metadata = await self.issuer.metadata()
        except IssuerProblem as problem:
            log.warning("oidc sign-in could not start: %s", problem)
            request.audit("auth.sign-in", outcome="failed",
                          detail={"reason": "discovery", "problem": str(problem)})
            return self._error(request, f"pyTorrent cannot reach the identity provider: "
                                        f"{problem}.", 502)
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)
        remembered = json.dumps({"s": state, "n": nonce, "v": verifier,
                                 "next": request.safe_next(request.args.get("next"))})
        query = urlencode({
            "response_type": "code", "client_id": self.config.client_id,
            "redirect_uri": self.config.callback_url(request.base_url),
            "scope": " ".join(self.config.scopes), "state": state, "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        })
        separator = "&" if urlsplit(metadata.authorization_endpoint).query else "?"
        return RouteResponse(
            redirect_to=f"{metadata.authorization_endpoint}{separator}{query}",
            cookies=(CookieChange(flow_cookie(state), request.sign(remembered),
                                  max_age=FLOW_SECONDS, path=COOKIE_PATH),))

    async def callback(self, request: RouteRequest) -> RouteResponse:
        state = request.args.get("state", "")
        forget: tuple[CookieChange, ...] = (
            (CookieChange(flow_cookie(state), None, path=COOKIE_PATH),) if state else ())
        try:
            remembered = self._take_flow(request, state)
            user, id_token = await self._finish(request, remembered)
        except SignInFailed as failure:
            request.audit("auth.sign-in", outcome="refused" if failure.status < 500
                          else "failed", detail={"reason": failure.reason})
            return self._error(request, str(failure), failure.status, cookies=forget)
        cookies = forget
        if self.config.end_session:
            cookies += (CookieChange(ID_TOKEN_COOKIE, request.sign(id_token),
                                     max_age=int(request.settings.session_lifetime_hours) * 3600,
                                     path=COOKIE_PATH),)
        return RouteResponse(sign_in=user, redirect_to=remembered["next"], cookies=cookies)

    async def logout(self, request: RouteRequest) -> RouteResponse:
        """Where /logout sends the browser with end-session on: the provider's logout."""
        forget = (CookieChange(ID_TOKEN_COOKIE, None, path=COOKIE_PATH),)
        if not request.same_site:  # another site may not sign anyone out of the provider
            return RouteResponse(redirect_to=SIGNED_OUT, cookies=forget)
        try:
            metadata = await self.issuer.metadata()
        except IssuerProblem as problem:
            log.warning("oidc end-session skipped: %s", problem)
            return RouteResponse(redirect_to=SIGNED_OUT, cookies=forget)
        if metadata.end_session_endpoint is None:
            log.warning("PYTORRENT_AUTH_OIDC_END_SESSION is on but the identity provider "
                        "publishes no end_session_endpoint; signed out of pyTorrent only")
            return RouteResponse(redirect_to=SIGNED_OUT, cookies=forget)
        parameters = {"client_id": self.config.client_id,
                      "post_logout_redirect_uri": f"{request.base_url}/login"}
        cookie = request.facts.cookies.get(ID_TOKEN_COOKIE)
        id_token = request.unsign(cookie, max_age=10 * 365 * 86400) if cookie else None
        if id_token:
            parameters["id_token_hint"] = id_token
        endpoint = metadata.end_session_endpoint
        separator = "&" if urlsplit(endpoint).query else "?"
        # A page, not a redirect: the logout form's redirects may not leave the site
        # (Content-Security-Policy form-action 'self'); a page's own navigation may.
        html = render_page("pytorrent_auth_oidc", "end_session.html", name=self.config.name,
                           url=f"{endpoint}{separator}{urlencode(parameters)}",
                           prefix=request.facts.prefix)
        return RouteResponse(html=html, cookies=forget)

    # ------------------------------------------------------------ steps

    def _take_flow(self, request: RouteRequest, state: str) -> dict[str, str]:
        """What the sign-in that sent this state remembered; each state works once."""
        error = request.args.get("error")
        if not state:
            if error:  # a provider that could not even keep the state
                raise SignInFailed("The identity provider refused the sign-in "
                                   f"({clean_text(error, 80)}).", "provider-error")
            raise SignInFailed("The sign-in answer carries no state. Start again.", "state")
        cookie = request.facts.cookies.get(flow_cookie(state))
        value = request.unsign(cookie, max_age=FLOW_SECONDS) if cookie else None
        try:
            remembered = json.loads(value) if value else None
        except ValueError:
            remembered = None
        if not isinstance(remembered, dict) or not secrets.compare_digest(
                str(remembered.get("s", "")), state):
            raise SignInFailed("This sign-in was not started in this browser, or it is more "
                               "than ten minutes old. Start again.", "state")
        if not self._first_use(state):
            raise SignInFailed("This sign-in answer was already used. Start again.", "replay")
        if error:
            description = clean_text(request.args.get("error_description"), 200)
            raise SignInFailed("The identity provider refused the sign-in "
                               f"({clean_text(error, 80)}"
                               f"{': ' + description if description else ''}).",
                               "provider-error")
        return {key: str(remembered.get(key, "")) for key in ("n", "v", "next")}

    def _first_use(self, state: str) -> bool:
        moment = time.monotonic()
        while self._seen and next(iter(self._seen.values())) < moment:
            self._seen.popitem(last=False)
        if state in self._seen:
            return False
        self._seen[state] = moment + FLOW_SECONDS
        while len(self._seen) > MAX_REMEMBERED_STATES:
            self._seen.popitem(last=False)
        return True

    async def _finish(self, request: RouteRequest, remembered: Mapping[str, str]
                      ) -> tuple[User, str]:
        code = request.args.get("code")
        if not code:
            raise SignInFailed("The identity provider sent no authorization code.", "code")
        try:
            metadata = await self.issuer.metadata()
            tokens = await self._redeem(metadata, code, remembered["v"],
                                        self.config.callback_url(request.base_url))
            id_token = tokens.get("id_token")
            if not isinstance(id_token, str):
                raise SignInFailed("The identity provider sent no ID token; make sure the "
                                   "openid scope is allowed for this client.", "no-id-token")
            claims = await check_id_token(id_token, self.issuer.key, issuer=self.config.issuer,
                                          client_id=self.config.client_id,
                                          nonce=remembered["n"])
            claims = await self._with_userinfo(metadata, claims, tokens.get("access_token"))
        except IssuerProblem as problem:
            log.warning("oidc sign-in failed: %s", problem)
            raise SignInFailed(f"pyTorrent could not complete the sign-in: {problem}.",
                               "issuer", 502) from None
        except TokenProblem as problem:
            log.warning("oidc sign-in refused: %s", problem)
            raise SignInFailed(f"The ID token was refused: {problem}.", "id-token") from None
        user = await self._user(request, claims)
        return user, id_token

    async def _redeem(self, metadata: Metadata, code: str, verifier: str,
                      redirect_uri: str) -> dict[str, Any]:
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri, "code_verifier": verifier}
        basic = "client_secret_basic" in metadata.token_auth_methods \
            or "client_secret_post" not in metadata.token_auth_methods
        if not basic:
            form.update(client_id=self.config.client_id,
                        client_secret=self.config.client_secret)
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
                reply = await http.post(
                    metadata.token_endpoint, data=form, headers={"Accept": "application/json"},
                    auth=(self.config.client_id, self.config.client_secret) if basic
                    else httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as failure:
            raise IssuerProblem(f"cannot reach the token endpoint: "
                                f"{type(failure).__name__}") from None
        try:
            answer = reply.json()
        except ValueError:
            answer = None
        if reply.status_code != 200 or not isinstance(answer, dict):
            said = answer.get("error") if isinstance(answer, dict) else None
            code_name = clean_text(said, 60) if isinstance(said, str) else None
            raise SignInFailed(
                "The identity provider did not accept the authorization code "
                f"({code_name or f'HTTP {reply.status_code}'}). It may have been used "
                "already or expired; start again. If this repeats, check the client id, "
                "secret and redirect URI registered for pyTorrent.", "token-endpoint")
        return answer

    async def _with_userinfo(self, metadata: Metadata, claims: dict[str, Any],
                             access_token: object) -> dict[str, Any]:
        """Providers that keep profile claims out of the ID token serve them at userinfo."""
        wanted = (self.config.username_claim, self.config.groups_claim)
        if all(name in claims for name in wanted) or metadata.userinfo_endpoint is None \
                or not isinstance(access_token, str):
            return claims
        info = await get_json(metadata.userinfo_endpoint,
                              headers={"Authorization": f"Bearer {access_token}"})
        if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
            raise TokenProblem("the userinfo answer is about another subject")
        return {**info, **claims}

    async def _user(self, request: RouteRequest, claims: Mapping[str, Any]) -> User:
        identity = await self._identity(request, claims)
        found = await request.user_for(identity)
        if isinstance(found, str):
            raise SignInFailed(f"You cannot sign in to pyTorrent: {found}.", "refused", 403)
        if found.provider == PROVIDER and found.external_subject not in (None, identity.subject):
            raise SignInFailed(
                f"The pyTorrent user {found.username!r} belongs to another account at the "
                "identity provider (a different subject).", "subject", 403)
        return found

    async def _identity(self, request: RouteRequest, claims: Mapping[str, Any]) -> Identity:
        claim = self.config.username_claim
        raw = claims.get(claim)
        username = clean_username(raw) if isinstance(raw, str) else None
        if username is None:
            raise SignInFailed(
                f"The identity provider sent no usable username in the {claim!r} claim. "
                "Release that claim to pyTorrent's client (scope profile), or set "
                "PYTORRENT_AUTH_OIDC_USERNAME_CLAIM to a claim it sends.", "username")
        verified = claims.get("email_verified") is True
        email = claims.get("email") if verified and isinstance(claims.get("email"), str) \
            else None
        email = clean_text(email, 320) if email and "@" in email else None
        if email and await request.context.user_by_name(username) is None:
            # No user of that name: a provider-verified address may name the account.
            matches = await request.context.users_by_email(email)
            if len(matches) == 1:
                username = matches[0].username
        groups = claims.get(self.config.groups_claim)
        if isinstance(groups, str):
            groups = [groups]
        names = [group for group in groups if isinstance(group, str) and "," not in group] \
            if isinstance(groups, list) else []
        name = claims.get("name")
        return Identity(username=username, provider=PROVIDER,
                        display_name=clean_text(name) if isinstance(name, str) else None,
                        email=email, groups=clean_groups(",".join(names)),
                        subject=str(claims["sub"]))

    def _error(self, request: RouteRequest, message: str, status: int,
               cookies: tuple[CookieChange, ...] = ()) -> RouteResponse:
        html = render_page("pytorrent_auth_oidc", "error.html", message=message,
                           name=self.config.name, prefix=request.facts.prefix)
        return RouteResponse(html=html, status=status, cookies=cookies)
