"""The ID token checks (OpenID Connect Core 3.1.3.7), each a line that says what failed.

Only RS256 and ES256 signatures count: never ``none`` (no signature at all) and never
HS* (the key would be the client secret, which pyTorrent shares with the provider, so
a token signed with it proves nothing about who issued it).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

ALGORITHMS = {"RS256": "RSA", "ES256": "EC"}
SKEW = 60  # seconds of clock difference tolerated between pyTorrent and the provider

KeyFinder = Callable[[str | None, str], Awaitable[Any]]


class TokenProblem(Exception):
    """The ID token was refused; the message names the check, never the token's content."""


def header_of(token: str) -> Mapping[str, Any]:
    try:
        return extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        raise TokenProblem("the ID token is not a signed JWT") from None


async def check_id_token(token: str, find_key: KeyFinder, *, issuer: str, client_id: str,
                         nonce: str, now: float | None = None) -> dict[str, Any]:
    """The token's claims once every check passed; TokenProblem otherwise."""
    header = header_of(token)
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise TokenProblem(f"the ID token is signed with {str(alg)[:20]!r}; pyTorrent accepts "
                           "only RS256 or ES256")
    kid = header.get("kid")
    key = await find_key(kid if isinstance(kid, str) else None, ALGORITHMS[alg])
    try:
        claims = dict(jwt.decode(token, key, algorithms=[alg]).claims)
    except (JoseError, ValueError):
        raise TokenProblem("the ID token's signature does not verify") from None
    check_claims(claims, issuer=issuer, client_id=client_id, nonce=nonce,
                 now=time.time() if now is None else now)
    return claims


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenProblem(f"the ID token has no {name} time")
    return float(value)


def check_claims(claims: Mapping[str, Any], *, issuer: str, client_id: str, nonce: str,
                 now: float) -> None:
    if claims.get("iss") != issuer:
        raise TokenProblem("the ID token was issued by another issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client_id not in audiences:
        raise TokenProblem("the ID token is meant for another client (aud)")
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise TokenProblem("the ID token was issued to another client (azp)")
    if now > _number(claims, "exp") + SKEW:
        raise TokenProblem("the ID token has expired; if it was just issued, check the "
                           "clocks of pyTorrent's and the provider's machines")
    if _number(claims, "iat") > now + SKEW:
        raise TokenProblem("the ID token was issued in the future; check the clocks of "
                           "pyTorrent's and the provider's machines")
    sent = claims.get("nonce")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
        raise TokenProblem("the ID token's nonce is not the one this sign-in sent")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise TokenProblem("the ID token names no subject (sub)")
