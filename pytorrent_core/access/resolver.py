"""The one resolver: request facts -> Principal. REST, pages and Socket.IO all call it."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from typing import NamedTuple

from .. import provisioning
from ..models import BUILTIN_ADMIN, Identity, Principal, TokenScope, User
from ..services import Services
from ..storage.store import now
from ..usernames import header_username_problem, username_problem
from . import session_ids, tokens
from .facts import RequestFacts, is_public
from .throttle import TokenThrottle

log = logging.getLogger(__name__)

UNTRUSTED_WARNING_INTERVAL = 60.0


class Resolution(NamedTuple):  # a tuple: one is made for every request, at a tuple's cost
    """The resolver's answer. ``principal`` None means refused; ``reason`` says why."""

    principal: Principal | None
    reason: str = ""
    detail: str = ""
    retry_after: int | None = None  # reason "throttled": seconds until trying again helps

    @property
    def ok(self) -> bool:
        return self.principal is not None


IN_SYNC_MEMO = 4096  # identities remembered as in sync with their user

ANONYMOUS = Resolution(None, "anonymous", "authentication required")


class Resolver:
    """Decides who a request is, in the order DESIGN.md fixes:

    token -> bypass -> provider identity -> session cookie -> anonymous.

    Beside an external provider the session cookie counts only with break glass
    on, for the users it names, on requests without identity headers.
    """

    def __init__(self, services: Services,
                 load_session: Callable[[str], str | None],
                 session_cookie: str) -> None:
        self.services = services
        self.settings = services.settings
        self.cache = services.cache
        self.load_session = load_session
        self.session_cookie = session_cookie
        info = services.plugins.provider_info(services.settings)
        self.provider = services.plugins.provider
        self.external = info.external
        # pyTorrent's own passwords count only through break glass (web/break_glass.py).
        self.passwords_elsewhere = not services.plugins.checks_passwords
        self.enabled = bool(self.settings.auth_enable)
        self.bypass_hosts = frozenset(self.settings.auth_bypass_hosts)
        self.break_glass_users = frozenset(self.settings.auth_break_glass_users)
        # The headers the provider declares it reads; the username's first.
        self.identity_headers = info.headers
        self._identity_keys = tuple((name, name.lower()) for name in info.headers)
        self.user_header = info.user_header
        self.identity_fields = info.identity_fields
        secret = self.settings.auth_proxy_secret
        self.proxy_secret = secret.encode() if secret else None
        self.secret_header = self.settings.auth_proxy_secret_header
        self.secret_header_key = self.secret_header.lower()
        self._last_warning: dict[str, float] = {}
        self.token_throttle = TokenThrottle()
        # identity -> (user, grants, profiles) it was found in sync with: the cache hands
        # out the same objects until something changes, so ``is`` proves nothing did.
        self._in_sync: dict[Identity, tuple[User, object, object]] = {}
        self.audit = services.audit

    async def resolve(self, facts: RequestFacts) -> Resolution:
        presented = self._presented_token(facts)
        if presented is not None:
            return await self._by_token(presented, facts.client)
        if not self.enabled:
            return await self._disabled()
        if self.bypass_hosts and self._bypass_applies(facts):
            return await self._by_bypass(facts)
        if self.external:
            resolution = await self._by_provider(facts)
            if resolution.ok or not self.break_glass_users or self._claimed_header(facts):
                return resolution
            return await self._by_break_glass(facts, resolution)
        return await self._by_session(facts)

    # ------------------------------------------------------------ steps

    @staticmethod
    def _presented_token(facts: RequestFacts) -> str | None:
        token = tokens.from_headers(facts.header_map)
        if token is None and facts.socket_auth:
            value = facts.socket_auth.get("token")
            token = value if isinstance(value, str) and value else None
        return token

    async def _by_token(self, presented: str, client: str | None) -> Resolution:
        wait = self.token_throttle.retry_after(client)
        if wait is not None:
            return Resolution(None, "throttled", "too many bad API tokens from this address; "
                              f"try again in {wait} seconds", retry_after=wait)
        record = await self.cache.token(tokens.digest(presented))
        if record is None or not record.is_live(now()):
            self.token_throttle.failed(client)
            return Resolution(None, "bad_token", "invalid, expired or revoked API token")
        principal = await self._principal(record.user_id, "token", token_id=record.id,
                                          scope=record.scope)
        if principal is None:
            return Resolution(None, "bad_token", "the token's owner is not active")
        self.cache.note_token_use(record.id, client)
        self.audit.token_used(record.id, principal.username, client)
        return Resolution(principal)

    async def _disabled(self) -> Resolution:
        user = await self.cache.user_by_name(BUILTIN_ADMIN)
        if user is None or not user.active:
            return Resolution(None, "no_admin", "built-in admin user is missing")
        return Resolution(await self.principal_for(user, "disabled"))

    def _bypass_applies(self, facts: RequestFacts) -> bool:
        if facts.raw_host not in self.bypass_hosts:
            return False
        if (facts.forwarded or self._claimed_header(facts) is not None
                or self.secret_header_key in facts.header_map):
            return False
        return not is_public(facts.peer)

    def _claimed_header(self, facts: RequestFacts) -> str | None:
        """The first identity header the provider declares that this request carries."""
        headers = facts.header_map
        for name, key in self._identity_keys:
            if key in headers:
                return name
        return None

    async def _by_bypass(self, facts: RequestFacts) -> Resolution:
        user = await self.cache.user_by_name(self.settings.auth_bypass_user)
        if user is None or not user.active:
            return Resolution(None, "bypass_user_unavailable",
                              f"bypass user {self.settings.auth_bypass_user!r} is missing "
                              "or deactivated")
        self.audit.bypass_used(user.username, facts.client)
        return Resolution(await self.principal_for(user, "bypass"))

    async def _by_provider(self, facts: RequestFacts) -> Resolution:
        refused = self._unvouched(facts)
        if refused is not None:
            return refused
        identity = await self.services.plugins.identify(facts, self.settings)
        if identity is None:
            return self._no_identity(facts)
        resolved = await self.user_for(identity)
        resolution = resolved if isinstance(resolved, Resolution) \
            else Resolution(await self.principal_for(resolved, "provider"))
        self.audit.provider_sign_in(identity.username, facts.client, self.provider,
                                    resolution.reason)
        return resolution

    async def user_for(self, identity: Identity) -> User | Resolution:
        """The stored user an external identity signs in as (provisioned per the
        settings), or the refusal. Also used by providers' own sign-in pages."""
        problem = username_problem(identity.username)
        if problem:  # a provider that skipped usernames.clean_username
            return Resolution(None, "bad_username",
                              f"username {identity.username!r} from the "
                              f"{self.provider} provider {problem}")
        user = await self._user_like(identity.username)
        if user is not None and user.username != identity.username:
            return self._similar(identity, user)
        if user is None or await self._needs_sync(user, identity):
            user = await self.services.plugins.provision(identity,
                                                         self.services.provider_context)
        if user is None:
            existing = await self._user_like(identity.username)
            if existing is not None and existing.username != identity.username:
                return self._similar(identity, existing)
            if existing is not None and not existing.active:
                return Resolution(None, "inactive_user", "this user is deactivated")
            if existing is not None:
                return Resolution(None, "provider_refused",
                                  f"the {self.provider} provider refused "
                                  f"user {identity.username!r}")
            return Resolution(None, "unknown_user",
                              f"user {identity.username!r} does not exist in pyTorrent "
                              "and auto-create is off")
        if not user.active:
            return Resolution(None, "inactive_user", "this user is deactivated")
        return user

    def _unvouched(self, facts: RequestFacts) -> Resolution | None:
        """Identity headers count only from a trusted proxy, with the shared secret if set."""
        claimed = self._claimed_header(facts)
        if not facts.peer_trusted:
            if claimed:
                self.audit.untrusted_header(claimed, facts.peer, "untrusted peer")
                self._warn_sampled(
                    "untrusted", "ignored %s header from %s: not in auth.trusted_proxies "
                    "(PYTORRENT_AUTH_TRUSTED_PROXIES); add the proxy's address if it is yours",
                    claimed, facts.peer)
            return Resolution(None, "untrusted_peer",
                              f"identity headers are only accepted from trusted proxies; "
                              f"this request came from {facts.peer}")
        if self.proxy_secret is not None and not self._carries_secret(facts, self.proxy_secret):
            if claimed:
                self.audit.untrusted_header(claimed, facts.peer,
                                            "missing or wrong proxy secret")
                self._warn_sampled(
                    "secret", "ignored %s header from %s: the %s header is missing or wrong "
                    "(PYTORRENT_AUTH_PROXY_SECRET); make the proxy set it", claimed,
                    facts.peer, self.secret_header)
            return Resolution(None, "untrusted_peer",
                              "identity headers are only accepted from trusted proxies that "
                              "send the shared secret (PYTORRENT_AUTH_PROXY_SECRET); this "
                              f"request from {facts.peer} had none or a wrong one")
        return None

    def _no_identity(self, facts: RequestFacts) -> Resolution:
        if self.user_header is None:
            return Resolution(None, "no_identity", f"the {self.provider} provider found no "
                              "identity in this request")
        problem = header_username_problem(facts.headers, self.user_header)
        if problem:
            return Resolution(None, "bad_username",
                              f"the {self.user_header} header does not hold a usable "
                              f"username: it {problem}")
        return Resolution(None, "no_identity", f"no {self.user_header} header reached pyTorrent")

    async def _user_like(self, username: str) -> User | None:
        """The user called exactly ``username``, else one whose name reads the same."""
        return (await self.cache.user_by_name(username)
                or await self.cache.user_like(username))

    def _similar(self, identity: Identity, existing: User) -> Resolution:
        """A header's name that only reads like an existing user's is neither that user
        (``KATE`` is not ``kate``) nor a new account beside it."""
        self._warn_sampled(
            "similar", "refused %s user %r: it reads the same as the existing user %r; "
            "make the proxy send the exact name, or rename one of the users",
            identity.provider, identity.username, existing.username)
        return Resolution(None, "similar_username",
                          f"user {identity.username!r} reads the same as the existing user "
                          f"{existing.username!r} but is not spelt the same, so pyTorrent "
                          "signs in neither")

    async def _needs_sync(self, user: User, identity: Identity) -> bool:
        """Cheap (cached) check whether provisioning would change this user."""
        if not provisioning.follows_config(user):
            return False
        grants = await self.cache.permissions(user.id)
        profiles = await self.cache.profiles() if self.settings.auth_group_permissions else ()
        known = self._in_sync.get(identity)
        if known is not None and known[0] is user and known[1] is grants \
                and known[2] is profiles:
            return False  # a header provider signs in every request: not worked out again
        if not provisioning.in_sync(user, grants, identity, self.settings,
                                    profile_ids={profile.name: profile.id
                                                 for profile in profiles},
                                    fields=self.identity_fields):
            return True
        if len(self._in_sync) >= IN_SYNC_MEMO:
            self._in_sync.clear()
        self._in_sync[identity] = (user, grants, profiles)
        return False

    async def _by_break_glass(self, facts: RequestFacts, refused: Resolution) -> Resolution:
        """A session from ``/login/local``, believed only for the users break glass names
        and only on requests that carry no identity header (those stay the provider's)."""
        session = await self._by_session(facts)
        if session.principal is not None \
                and session.principal.username in self.break_glass_users:
            return session
        return refused

    async def _by_session(self, facts: RequestFacts) -> Resolution:
        cookie = facts.cookies.get(self.session_cookie)
        if not cookie:
            return ANONYMOUS
        claim = session_ids.parse(self.load_session(cookie))
        if claim is None:
            return ANONYMOUS
        user = await self.cache.user(claim.user_id)
        if (user is None or not user.active or not claim.matches(user)
                or claim.sid in await self.cache.ended_sessions()):
            return Resolution(None, "session_ended", "session ended; sign in again")
        self.cache.note_session_seen(claim.sid)
        return Resolution(await self.principal_for(user, "session"))

    # ------------------------------------------------------------ helpers

    async def _principal(self, user_id: int, via: str, *, token_id: int | None = None,
                         scope: TokenScope | None = None) -> Principal | None:
        user = await self.cache.user(user_id)
        if user is None or not user.active:
            return None
        return await self.principal_for(user, via, token_id=token_id, scope=scope)

    async def principal_for(self, user: User, via: str, *, token_id: int | None = None,
                            scope: TokenScope | None = None) -> Principal:
        return await self.cache.principal(user, via, token_id, scope)  # type: ignore[arg-type]

    def _carries_secret(self, facts: RequestFacts, secret: bytes) -> bool:
        """Exactly one secret header, equal to the secret (compared in constant time).

        One line only: several would let a client try many guesses per request.
        """
        values = facts.headers.getlist(self.secret_header)
        return len(values) == 1 and hmac.compare_digest(
            values[0].encode("utf-8", "replace"), secret)

    def _warn_sampled(self, kind: str, message: str, *args: object) -> None:
        """Log a warning of this kind at most once a minute: clients may repeat it often."""
        moment = time.monotonic()
        if moment - self._last_warning.get(kind, float("-inf")) \
                >= UNTRUSTED_WARNING_INTERVAL:
            self._last_warning[kind] = moment
            log.warning(message, *args)
