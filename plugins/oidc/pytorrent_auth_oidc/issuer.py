"""The identity provider as pyTorrent knows it: its discovery document and signing keys,
both cached. When a token names a key pyTorrent has not seen, the key set is fetched
again, but at most once a minute: a stream of tokens with made-up key ids must not
turn into a stream of requests to the provider."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from .idtoken import TokenProblem

DISCOVERY_TTL = 3600.0
JWKS_REFRESH_INTERVAL = 60.0
HTTP_TIMEOUT = 10.0

PublicKey = RSAKey | ECKey


class IssuerProblem(Exception):
    """The identity provider could not be used; the message is one line, safe to show."""


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    token_auth_methods: tuple[str, ...]


def _endpoint(document: Mapping[str, Any], name: str, required: bool) -> str | None:
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise IssuerProblem(f"the discovery document has no usable {name}")
    return value


def parse_metadata(document: object, issuer: str) -> Metadata:
    if not isinstance(document, dict):
        raise IssuerProblem("the discovery document is not a JSON object")
    if document.get("issuer") != issuer:
        raise IssuerProblem(
            f"the discovery document names the issuer {str(document.get('issuer'))[:200]!r}, "
            f"not {issuer!r}; set PYTORRENT_AUTH_OIDC_ISSUER to exactly the provider's issuer")
    methods = document.get("token_endpoint_auth_methods_supported")
    return Metadata(
        issuer=issuer,
        authorization_endpoint=str(_endpoint(document, "authorization_endpoint", True)),
        token_endpoint=str(_endpoint(document, "token_endpoint", True)),
        jwks_uri=str(_endpoint(document, "jwks_uri", True)),
        userinfo_endpoint=_endpoint(document, "userinfo_endpoint", False),
        end_session_endpoint=_endpoint(document, "end_session_endpoint", False),
        token_auth_methods=tuple(m for m in methods if isinstance(m, str))
        if isinstance(methods, list) else ("client_secret_basic",),
    )


def discovery_url(issuer: str) -> str:
    return f"{issuer.rstrip('/')}/.well-known/openid-configuration"


async def get_json(url: str, **kwargs: Any) -> Any:
    """GET ``url`` and return its JSON; IssuerProblem (one line) for any failure."""
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
            reply = await http.get(url, **kwargs)
    except httpx.HTTPError as error:
        raise IssuerProblem(f"cannot reach {url}: {type(error).__name__}") from None
    if reply.status_code != 200:
        raise IssuerProblem(f"{url} answered HTTP {reply.status_code}")
    try:
        return reply.json()
    except ValueError:
        raise IssuerProblem(f"{url} did not answer JSON") from None


class Issuer:
    """Discovery and keys of one issuer, cached for the life of the app."""

    def __init__(self, issuer: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.issuer = issuer
        self.clock = clock
        self._metadata: Metadata | None = None
        self._metadata_at = float("-inf")
        self._keys: dict[str, PublicKey] = {}
        self._unnamed: list[PublicKey] = []
        self._keys_at = float("-inf")  # last fetch of the key set
        self._refreshed_at = float("-inf")  # last fetch because a token named a new key

    async def metadata(self) -> Metadata:
        if self._metadata is None or self.clock() - self._metadata_at > DISCOVERY_TTL:
            document = await get_json(discovery_url(self.issuer))
            self._metadata = parse_metadata(document, self.issuer)
            self._metadata_at = self.clock()
        return self._metadata

    async def key(self, kid: str | None, kty: str) -> PublicKey:
        """The signing key named ``kid`` (of type ``kty``); TokenProblem when the
        provider does not publish it, IssuerProblem when the key set cannot be read."""
        if self._keys_at == float("-inf"):
            await self._fetch_keys()
        found = self._find(kid, kty)
        if found is None and self.clock() - self._refreshed_at >= JWKS_REFRESH_INTERVAL:
            self._refreshed_at = self.clock()
            await self._fetch_keys()
            found = self._find(kid, kty)
        if found is None:
            raise TokenProblem("it is signed with a key the identity provider does not "
                               "publish" if kid is not None else
                               "it names no key and the provider publishes several")
        return found

    def _find(self, kid: str | None, kty: str) -> PublicKey | None:
        if kid is not None:
            key = self._keys.get(kid)
            return key if key is not None and key.key_type == kty else None
        candidates = [k for k in (*self._keys.values(), *self._unnamed) if k.key_type == kty]
        return candidates[0] if len(candidates) == 1 else None

    async def _fetch_keys(self) -> None:
        metadata = await self.metadata()
        self._keys_at = self.clock()
        document = await get_json(metadata.jwks_uri)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise IssuerProblem("the provider's key set (jwks_uri) is not a JWK set")
        keys: dict[str, PublicKey] = {}
        unnamed: list[PublicKey] = []
        for entry in document["keys"]:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" \
                    or entry.get("kty") not in ("RSA", "EC"):
                continue
            try:
                key = KeySet.import_key_set({"keys": [entry]}).keys[0]
            except (JoseError, ValueError, TypeError, KeyError):
                continue  # one unusable key does not spoil the others
            if not isinstance(key, RSAKey | ECKey) or key.is_private:
                continue
            if isinstance(entry.get("kid"), str):
                keys[entry["kid"]] = key
            else:
                unnamed.append(key)
        self._keys, self._unnamed = keys, unnamed
