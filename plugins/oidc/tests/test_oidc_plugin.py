"""The oidc provider in process: discovery, settings, and each ID token check.

The sign-in flow itself runs against real providers in tests/test_oidc_flow.py.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
import pytorrent_auth_oidc
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from pytorrent_auth_oidc.idtoken import SKEW, TokenProblem, check_claims, check_id_token
from pytorrent_auth_oidc.issuer import IssuerProblem, parse_metadata
from pytorrent_auth_oidc.settings import config_from

from pytorrent_core import ConfigError
from pytorrent_core.plugins import installed_providers, make_plugin_manager
from pytorrent_core.testing import load_for_test

ISSUER = "https://auth.example.com"
CLIENT = "pytorrent"
NONCE = "nonce-1"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)


def env(**extra: str) -> dict[str, str]:
    return {"PYTORRENT_AUTH_PROVIDER": "oidc", "PYTORRENT_AUTH_OIDC_ISSUER": ISSUER,
            "PYTORRENT_AUTH_OIDC_CLIENT_ID": CLIENT,
            "PYTORRENT_AUTH_OIDC_CLIENT_SECRET": "s3cret-value", **extra}


def test_discovered_by_entry_point_and_loaded_by_name() -> None:
    assert installed_providers()["oidc"].module == "pytorrent_auth_oidc"
    assert installed_providers()["oidc"].distribution == "pytorrent-auth-oidc"
    pm = make_plugin_manager("oidc")
    assert pm.get_plugin("oidc") is pytorrent_auth_oidc


def test_defaults(tmp_path: Path) -> None:
    settings, _ = load_for_test(tmp_path, env())
    config = config_from(settings)
    assert config.scopes == ("openid", "profile", "email")
    assert (config.username_claim, config.groups_claim) == ("preferred_username", "groups")
    assert (config.name, config.auto_redirect, config.end_session) == \
        ("single sign-on", False, False)
    assert config.callback_url("https://t.example.com") == \
        "https://t.example.com/auth/oidc/callback"
    assert "s3cret" not in repr(config)


@pytest.mark.parametrize(("changes", "message"), [
    ({"PYTORRENT_AUTH_OIDC_ISSUER": ""}, "PYTORRENT_AUTH_OIDC_ISSUER is not set"),
    ({"PYTORRENT_AUTH_OIDC_CLIENT_ID": ""}, "PYTORRENT_AUTH_OIDC_CLIENT_ID is not set"),
    ({"PYTORRENT_AUTH_OIDC_CLIENT_SECRET": ""},
     "PYTORRENT_AUTH_OIDC_CLIENT_SECRET and PYTORRENT_AUTH_OIDC_CLIENT_SECRET_FILE: neither "
     "is set; set exactly one"),
    ({"PYTORRENT_AUTH_OIDC_CLIENT_SECRET_FILE": "/run/secret"},
     "PYTORRENT_AUTH_OIDC_CLIENT_SECRET and PYTORRENT_AUTH_OIDC_CLIENT_SECRET_FILE: both "
     "are set; set exactly one"),
    ({"PYTORRENT_AUTH_OIDC_ISSUER": "http://auth.example.com"},
     'PYTORRENT_AUTH_OIDC_ISSUER="http://auth.example.com" (environment): expected https://'),
    ({"PYTORRENT_AUTH_OIDC_SCOPES": "profile email"},
     'PYTORRENT_AUTH_OIDC_SCOPES="profile email" (environment): must include openid'),
])
def test_wrong_settings_stop_start_up_naming_them(tmp_path: Path, changes: dict[str, str],
                                                  message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_for_test(tmp_path, env(**changes))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value) and "s3cret" not in str(caught.value)


def test_secret_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-the-file\n", encoding="utf-8")
    settings, _ = load_for_test(tmp_path, env(PYTORRENT_AUTH_OIDC_CLIENT_SECRET="",
                                              PYTORRENT_AUTH_OIDC_CLIENT_SECRET_FILE=str(secret)))
    assert config_from(settings).client_secret == "from-the-file"
    with pytest.raises(ConfigError, match="PYTORRENT_AUTH_OIDC_CLIENT_SECRET_FILE=.*cannot read"):
        load_for_test(tmp_path, env(PYTORRENT_AUTH_OIDC_CLIENT_SECRET="",
                                    PYTORRENT_AUTH_OIDC_CLIENT_SECRET_FILE=str(tmp_path / "no")))


def test_local_http_issuer_is_allowed(tmp_path: Path) -> None:
    settings, _ = load_for_test(tmp_path, env(PYTORRENT_AUTH_OIDC_ISSUER="http://127.0.0.1:9400"))
    assert config_from(settings).issuer == "http://127.0.0.1:9400"


def test_discovery_must_name_exactly_the_configured_issuer() -> None:
    document = {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks"}
    assert parse_metadata(document, ISSUER).end_session_endpoint is None
    with pytest.raises(IssuerProblem, match="not 'https://auth.example.com'"):
        parse_metadata({**document, "issuer": ISSUER + "/"}, ISSUER)
    with pytest.raises(IssuerProblem, match="no usable jwks_uri"):
        parse_metadata({**document, "jwks_uri": None}, ISSUER)


# ---------------------------------------------------------------- ID token


def claims(**changes: Any) -> dict[str, Any]:
    """Good claims with ``changes``; a callable change gets the current time."""
    now = int(time.time())
    base = {"iss": ISSUER, "aud": CLIENT, "sub": "s1", "iat": now, "exp": now + 300,
            "nonce": NONCE}
    base.update({k: v(now) if callable(v) else v for k, v in changes.items()})
    return {k: v for k, v in base.items() if v is not None}


def check(**changes: Any) -> None:
    check_claims(claims(**changes), issuer=ISSUER, client_id=CLIENT, nonce=NONCE,
                 now=time.time())


def test_good_claims_pass() -> None:
    check()
    check(aud=[CLIENT])
    check(aud=[CLIENT, "other"], azp=CLIENT)
    check(exp=lambda now: now - SKEW + 5)  # within the clock skew


@pytest.mark.parametrize(("changes", "problem"), [
    ({"iss": "https://evil.example.com"}, "another issuer"),
    ({"iss": None}, "another issuer"),
    ({"aud": "other"}, "another client (aud)"),
    ({"aud": None}, "another client (aud)"),
    ({"aud": [CLIENT, "other"]}, "another client (azp)"),
    ({"aud": CLIENT, "azp": "other"}, "another client (azp)"),
    ({"exp": lambda now: now - SKEW - 5}, "has expired"),
    ({"exp": None}, "no exp time"),
    ({"iat": lambda now: now + SKEW + 30}, "issued in the future"),
    ({"iat": "now"}, "no iat time"),
    ({"nonce": "other"}, "nonce is not the one"),
    ({"nonce": None}, "nonce is not the one"),
    ({"sub": ""}, "no subject"),
])
def test_each_claim_check_refuses(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(TokenProblem, match=problem.replace("(", r"\(").replace(")", r"\)")):
        check(**changes)


async def find_key(kid: str | None, kty: str) -> Any:
    assert kty == "RSA"
    return KEY


def unsigned(header: dict[str, Any], body: dict[str, Any], signature: bytes = b"") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    return ".".join([part(json.dumps(header).encode()), part(json.dumps(body).encode()),
                     part(signature)])


async def test_signature_is_checked_with_the_published_key() -> None:
    token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims(), KEY)
    assert (await check_id_token(token, find_key, issuer=ISSUER, client_id=CLIENT,
                                 nonce=NONCE))["sub"] == "s1"
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    forged = jwt.encode({"alg": "RS256", "kid": "k1"}, claims(), other)
    with pytest.raises(TokenProblem, match="signature does not verify"):
        await check_id_token(forged, find_key, issuer=ISSUER, client_id=CLIENT, nonce=NONCE)


@pytest.mark.parametrize("alg", ["none", "HS256", "RS384", "PS256"])
async def test_only_rs256_and_es256_are_accepted(alg: str) -> None:
    if alg == "HS256":  # signed with the client secret, which pyTorrent also knows
        token = jwt.encode({"alg": "HS256", "kid": "k1"}, claims(),
                           OctKey.import_key("s3cret-value-s3cret-value-s3cret"))
    else:
        token = unsigned({"alg": alg, "kid": "k1"}, claims(), b"" if alg == "none" else b"x")
    with pytest.raises(TokenProblem, match="accepts only RS256 or ES256"):
        await check_id_token(token, find_key, issuer=ISSUER, client_id=CLIENT, nonce=NONCE)


async def test_a_token_that_is_not_a_jwt_is_refused() -> None:
    with pytest.raises(TokenProblem, match="not a signed JWT"):
        await check_id_token("not.a-token", find_key, issuer=ISSUER, client_id=CLIENT,
                             nonce=NONCE)
