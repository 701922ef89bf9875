"""OpenID Connect sign-in against real providers: pyTorrent under uvicorn, the
``oidc-provider-mock`` server, and for the cases it cannot produce (another
audience, key rotation, other algorithms) a small provider the test controls."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from support.oidc import CLIENT_ID, ControlledIssuer, MockProvider, oidc_env

from pytorrent_core.testing import ServerProcess

pytestmark = pytest.mark.server

ALICE = {"preferred_username": "alice", "name": "Alice Liddell", "email": "alice@example.com",
         "email_verified": True, "groups": ["media", "admins"]}
SAME_SITE = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[MockProvider]:
    with MockProvider(tmp_path) as provider:
        provider.set_user("alice-sub", ALICE)
        yield provider


@pytest.fixture
def issuer() -> Iterator[ControlledIssuer]:
    with ControlledIssuer() as provider:
        yield provider


def start(client: httpx.Client, next_url: str = "/") -> str:
    """GET /auth/oidc/login: the provider's authorization URL it redirects to."""
    reply = client.get("/auth/oidc/login", params={"next": next_url})
    assert reply.status_code == 302, reply.text
    return reply.headers["location"]


def callback(client: httpx.Client, url: str) -> httpx.Response:
    assert url.startswith(str(client.base_url)), url
    return client.get(url[len(str(client.base_url)):])


def sign_in(client: httpx.Client, mock: MockProvider, sub: str = "alice-sub",
            next_url: str = "/") -> httpx.Response:
    return callback(client, mock.authorize(start(client, next_url), sub))


def me(client: httpx.Client) -> dict[str, Any] | None:
    reply = client.get("/api/auth/me")
    return reply.json()["user"] if reply.status_code == 200 else None


def audit_events(server: ServerProcess, kind: str = "auth.sign-in",
                 until: Any = lambda events: bool(events)) -> list[dict[str, Any]]:
    """Poll the audit log (written in batches) until ``until(events)`` holds."""
    deadline = time.monotonic() + 20
    while True:
        result = server.cli("audit", "--kind", kind, "--json")
        assert result.returncode == 0, result.stderr
        events = [e for e in json.loads(result.stdout) if e["kind"] == kind]
        if until(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def refused(reply: httpx.Response, text: str) -> None:
    """An error page that says ``text``, and no session."""
    assert reply.status_code in (400, 403, 502), reply.text
    assert "pytorrent_session=" not in reply.headers.get("set-cookie", "")
    assert text in html.unescape(reply.text), reply.text
    assert "Traceback" not in reply.text


# ---------------------------------------------------------------- the flow


def test_sign_in_creates_the_user_with_groups_and_a_new_session_each_time(
        tmp_path: Path, mock: MockProvider) -> None:
    env = oidc_env(mock.issuer, PYTORRENT_AUTH_PROXY_AUTO_CREATE="true",
                   PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION="ro",
                   PYTORRENT_AUTH_OIDC_SCOPES="openid profile email groups")
    with ServerProcess(tmp_path, env) as server, httpx.Client(base_url=server.url) as client:
        authorization = urlsplit(start(client, "/account"))
        asked = parse_qs(authorization.query)
        assert asked["code_challenge_method"] == ["S256"]
        assert asked["redirect_uri"] == [f"{server.url}/auth/oidc/callback"]
        assert asked["scope"] == ["openid profile email groups"]
        assert asked["client_id"] == [CLIENT_ID]
        assert asked["state"][0] and asked["nonce"][0] and asked["code_challenge"][0]

        reply = sign_in(client, mock, next_url="/account")
        assert reply.status_code == 302, reply.text
        assert reply.headers["location"] == "/account"
        user = me(client)
        assert user is not None
        assert (user["username"], user["display_name"], user["email"], user["provider"]) == \
            ("alice", "Alice Liddell", "alice@example.com", "oidc")
        assert user["groups"] == ["media", "admins"]
        assert user["permissions"] == {"*": "ro"} and user["via"] == "session"
        first = client.cookies["pytorrent_session"]

        mock.set_user("alice-sub", {**ALICE, "groups": ["media"]})
        assert sign_in(client, mock).status_code == 302
        second = client.cookies["pytorrent_session"]
        assert second != first
        user = me(client)
        assert user is not None and user["groups"] == ["media"]
        with httpx.Client(base_url=server.url, cookies={"pytorrent_session": first}) as old:
            assert me(old) is None  # the session the browser had before ended with it

        events = audit_events(server, until=lambda events: len(events) >= 2)
        assert [e["outcome"] for e in events[:2]] == ["ok", "ok"]
        assert {e["provider"] for e in events[:2]} == {"oidc"}


def test_unknown_user_is_refused_while_auto_create_is_off(tmp_path: Path,
                                                          mock: MockProvider) -> None:
    with ServerProcess(tmp_path, oidc_env(mock.issuer)) as server, \
            httpx.Client(base_url=server.url) as client:
        refused(sign_in(client, mock), "does not exist in pyTorrent and auto-create is off")
        assert me(client) is None


def test_login_page_offers_the_button_or_redirects(tmp_path: Path, mock: MockProvider) -> None:
    env = oidc_env(mock.issuer, PYTORRENT_AUTH_OIDC_NAME="Authelia")
    with ServerProcess(tmp_path, env) as server, httpx.Client(base_url=server.url) as client:
        page = client.get("/login", params={"next": "/account"})
        assert page.status_code == 200
        assert 'href="/auth/oidc/login?next=/account"' in page.text
        assert "Sign in with Authelia" in page.text
    env["PYTORRENT_AUTH_OIDC_AUTO_REDIRECT"] = "true"
    with ServerProcess(tmp_path, env) as server, httpx.Client(base_url=server.url) as client:
        reply = client.get("/login", params={"next": "/account"})
        assert reply.status_code == 302
        assert reply.headers["location"] == "/auth/oidc/login?next=/account"
        signed_out = client.get("/login", params={"signed_out": "1"})
        assert signed_out.status_code == 200 and 'id="signed-out"' in signed_out.text


# ---------------------------------------------------------------- state and code


def test_a_wrong_or_foreign_state_is_refused(tmp_path: Path, mock: MockProvider) -> None:
    env = oidc_env(mock.issuer, PYTORRENT_AUTH_PROXY_AUTO_CREATE="true")
    with ServerProcess(tmp_path, env) as server, httpx.Client(base_url=server.url) as client:
        back = mock.authorize(start(client), "alice-sub")
        state = parse_qs(urlsplit(back).query)["state"][0]
        refused(callback(client, back.replace(state, state[:-4] + "AAAA")),
                "was not started in this browser")
        with httpx.Client(base_url=server.url) as other_browser:
            refused(callback(other_browser, back), "was not started in this browser")
        assert me(client) is None
        events = audit_events(server)
        assert events[0]["outcome"] == "refused"
        assert events[0]["detail"] == {"reason": "state"}


def test_a_replayed_code_is_refused(tmp_path: Path, mock: MockProvider) -> None:
    env = oidc_env(mock.issuer, PYTORRENT_AUTH_PROXY_AUTO_CREATE="true")
    with ServerProcess(tmp_path, env) as server, httpx.Client(base_url=server.url) as client:
        back = mock.authorize(start(client), "alice-sub")
        flow_cookies = {name: value for name, value in client.cookies.items()
                        if name.startswith("pytorrent_oidc_")}
        assert callback(client, back).status_code == 302
        assert me(client) is not None

        # The whole answer again, with the cookie that went with it (a copied URL and cookie).
        with httpx.Client(base_url=server.url, cookies=flow_cookies) as thief:
            refused(callback(thief, back), "This sign-in answer was already used")
            assert me(thief) is None
        # The code again under a new sign-in of this browser: the provider refuses it.
        fresh = urlsplit(mock.authorize(start(client), "alice-sub"))
        new_state = parse_qs(fresh.query)["state"][0]
        old_code = parse_qs(urlsplit(back).query)["code"][0]
        refused(client.get("/auth/oidc/callback", params={"code": old_code, "state": new_state}),
                "did not accept the authorization code")


def test_a_provider_error_is_shown_and_recorded(tmp_path: Path, mock: MockProvider) -> None:
    with ServerProcess(tmp_path, oidc_env(mock.issuer)) as server, \
            httpx.Client(base_url=server.url) as client:
        denied = httpx.post(start(client), data={"action": "deny"}, timeout=10)
        assert denied.status_code in (302, 303)
        reply = callback(client, denied.headers["location"])
        refused(reply, "The identity provider refused the sign-in (access_denied")
        events = audit_events(server)
        assert events[0]["detail"] == {"reason": "provider-error"}


def test_an_expired_id_token_is_refused(tmp_path: Path) -> None:
    with MockProvider(tmp_path, token_max_age=-600) as mock:
        mock.set_user("alice-sub", ALICE)
        env = oidc_env(mock.issuer, PYTORRENT_AUTH_PROXY_AUTO_CREATE="true")
        with ServerProcess(tmp_path, env) as server, httpx.Client(base_url=server.url) as client:
            refused(sign_in(client, mock), "the ID token has expired")
            assert me(client) is None


# ---------------------------------------------------------------- the ID token


def controlled_sign_in(client: httpx.Client, issuer: ControlledIssuer) -> httpx.Response:
    return callback(client, issuer.authorize(start(client)))


def test_pkce_verifier_reaches_the_token_endpoint(tmp_path: Path,
                                                  issuer: ControlledIssuer) -> None:
    env = oidc_env(issuer.issuer, PYTORRENT_AUTH_PROXY_AUTO_CREATE="true")
    with ServerProcess(tmp_path, env) as server, httpx.Client(base_url=server.url) as client:
        assert controlled_sign_in(client, issuer).status_code == 302
        user = me(client)
        assert user is not None and user["username"] == "carol"
        assert issuer.token_requests[-1]["grant_type"] == "authorization_code"
        assert len(issuer.token_requests[-1]["code_verifier"]) >= 43


def test_a_token_for_another_audience_is_refused(tmp_path: Path,
                                                 issuer: ControlledIssuer) -> None:
    env = oidc_env(issuer.issuer, PYTORRENT_AUTH_PROXY_AUTO_CREATE="true")
    with ServerProcess(tmp_path, env) as server, httpx.Client(base_url=server.url) as client:
        issuer.claims["aud"] = "another-client"
        refused(controlled_sign_in(client, issuer), "meant for another client (aud)")
        issuer.claims.update(aud=["another-client", CLIENT_ID], azp="another-client")
        refused(controlled_sign_in(client, issuer), "issued to another client (azp)")
        issuer.claims.update(azp=CLIENT_ID)
        assert controlled_sign_in(client, issuer).status_code == 302
        assert me(client) is not None


def test_other_issuers_and_algorithms_are_refused(tmp_path: Path,
                                                  issuer: ControlledIssuer) -> None:
    env = oidc_env(issuer.issuer, PYTORRENT_AUTH_PROXY_AUTO_CREATE="true")
    with ServerProcess(tmp_path, env) as server, httpx.Client(base_url=server.url) as client:
        issuer.claims["iss"] = "http://127.0.0.1:1"
        refused(controlled_sign_in(client, issuer), "issued by another issuer")
        del issuer.claims["iss"]
        issuer.claims["nonce"] = "not-the-nonce"
        refused(controlled_sign_in(client, issuer), "nonce is not the one this sign-in sent")
        del issuer.claims["nonce"]
        ec = ECKey.generate_key("P-256", parameters={"kid": "ec-1"}, private=True)
        issuer.keys.append(ec)
        issuer.signing_key, issuer.alg = ec, "ES256"
        assert controlled_sign_in(client, issuer).status_code == 302  # ES256 is fine
        rsa = RSAKey.generate_key(2048, parameters={"kid": "rs-384"}, private=True)
        issuer.keys.append(rsa)
        issuer.signing_key, issuer.alg = rsa, "RS384"
        refused(controlled_sign_in(client, issuer), "accepts only RS256 or ES256")


def test_an_unknown_kid_fetches_the_keys_again_at_most_once_a_minute(
        tmp_path: Path, issuer: ControlledIssuer) -> None:
    env = oidc_env(issuer.issuer, PYTORRENT_AUTH_PROXY_AUTO_CREATE="true")
    with ServerProcess(tmp_path, env) as server, httpx.Client(base_url=server.url) as client:
        assert controlled_sign_in(client, issuer).status_code == 302
        assert issuer.jwks_fetches == 1
        assert controlled_sign_in(client, issuer).status_code == 302
        assert issuer.jwks_fetches == 1  # cached

        rotated = RSAKey.generate_key(2048, parameters={"kid": "key-2"}, private=True)
        issuer.keys, issuer.signing_key = [rotated], rotated
        assert controlled_sign_in(client, issuer).status_code == 302
        assert issuer.jwks_fetches == 2  # the new kid was fetched
        assert me(client) is not None

        rogue = RSAKey.generate_key(2048, parameters={"kid": "key-3"}, private=True)
        issuer.signing_key = rogue  # never published
        refused(controlled_sign_in(client, issuer), "a key the identity provider does not publish")
        refused(controlled_sign_in(client, issuer), "a key the identity provider does not publish")
        assert issuer.jwks_fetches == 2  # fetched less than a minute ago: not again


def test_claims_missing_from_the_id_token_come_from_userinfo(
        tmp_path: Path, issuer: ControlledIssuer) -> None:
    env = oidc_env(issuer.issuer, PYTORRENT_AUTH_PROXY_AUTO_CREATE="true")
    issuer.claims = {}
    issuer.userinfo.update(preferred_username="dave", groups=["media"])
    with ServerProcess(tmp_path, env) as server, httpx.Client(base_url=server.url) as client:
        assert controlled_sign_in(client, issuer).status_code == 302
        user = me(client)
        assert user is not None and (user["username"], user["groups"]) == ("dave", ["media"])
        issuer.userinfo["sub"] = "someone-else"
        refused(controlled_sign_in(client, issuer), "the userinfo answer is about another subject")


def test_a_discovery_document_for_another_issuer_is_refused(tmp_path: Path,
                                                            issuer: ControlledIssuer) -> None:
    issuer.discovery["issuer"] = issuer.issuer + "/"
    with ServerProcess(tmp_path, oidc_env(issuer.issuer)) as server, \
            httpx.Client(base_url=server.url) as client:
        reply = client.get("/auth/oidc/login")
        assert reply.status_code == 502
        assert "set PYTORRENT_AUTH_OIDC_ISSUER to exactly the provider" in reply.text


# ---------------------------------------------------------------- linking


def test_linking_by_verified_email_only(tmp_path: Path, mock: MockProvider) -> None:
    with ServerProcess(tmp_path, oidc_env(mock.issuer)) as server, \
            httpx.Client(base_url=server.url) as client:
        added = server.cli("users", "add", "bob", "--no-password", "--email", "bob@example.com")
        assert added.returncode == 0, added.stderr
        mock.set_user("bob-sub", {"preferred_username": "robert", "email": "bob@example.com",
                                  "email_verified": False})
        refused(sign_in(client, mock, "bob-sub"), "'robert' does not exist in pyTorrent")
        mock.set_user("bob-sub", {"preferred_username": "robert", "email": "BOB@example.com",
                                  "email_verified": True})
        assert sign_in(client, mock, "bob-sub").status_code == 302
        user = me(client)
        assert user is not None and user["username"] == "bob"


def test_a_user_created_by_sign_in_stays_bound_to_its_subject(tmp_path: Path,
                                                             mock: MockProvider) -> None:
    env = oidc_env(mock.issuer, PYTORRENT_AUTH_PROXY_AUTO_CREATE="true")
    with ServerProcess(tmp_path, env) as server, httpx.Client(base_url=server.url) as client:
        assert sign_in(client, mock).status_code == 302
        mock.set_user("mallory-sub", {"preferred_username": "alice"})
        with httpx.Client(base_url=server.url) as other:
            refused(sign_in(other, mock, "mallory-sub"),
                    "belongs to another account at the identity provider")
            assert me(other) is None


# ---------------------------------------------------------------- logout


def test_logout_without_end_session_stays_with_pytorrent(tmp_path: Path,
                                                         mock: MockProvider) -> None:
    env = oidc_env(mock.issuer, PYTORRENT_AUTH_PROXY_AUTO_CREATE="true",
                   PYTORRENT_AUTH_OIDC_AUTO_REDIRECT="true")
    with ServerProcess(tmp_path, env) as server, httpx.Client(base_url=server.url) as client:
        assert sign_in(client, mock).status_code == 302
        cookie = client.cookies["pytorrent_session"]
        reply = client.get("/logout", headers=SAME_SITE)
        assert reply.status_code == 302
        assert reply.headers["location"] == "/login?signed_out=1"
        assert me(client) is None
        with httpx.Client(base_url=server.url, cookies={"pytorrent_session": cookie}) as copy:
            assert me(copy) is None
        page = client.get("/login?signed_out=1")  # no silent sign-in straight back
        assert page.status_code == 200 and "You are signed out of pyTorrent" in page.text


def test_logout_with_end_session_goes_to_the_provider(tmp_path: Path,
                                                      mock: MockProvider) -> None:
    env = oidc_env(mock.issuer, PYTORRENT_AUTH_PROXY_AUTO_CREATE="true",
                   PYTORRENT_AUTH_OIDC_END_SESSION="true")
    with ServerProcess(tmp_path, env) as server, httpx.Client(base_url=server.url) as client:
        assert sign_in(client, mock).status_code == 302
        reply = client.get("/logout", headers=SAME_SITE)
        assert reply.status_code == 302 and reply.headers["location"] == "/auth/oidc/logout"
        assert me(client) is None
        reply = client.get("/auth/oidc/logout", headers=SAME_SITE)
        assert reply.status_code == 200
        found = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', reply.text)
        assert found is not None, reply.text
        end_session = html.unescape(found.group(1))
        target = urlsplit(end_session)
        assert f"{target.scheme}://{target.netloc}{target.path}" == \
            f"{mock.issuer}/oauth2/end_session"
        asked = {k: v[0] for k, v in parse_qs(target.query).items()}
        assert asked["post_logout_redirect_uri"] == f"{server.url}/login"
        assert asked["client_id"] == CLIENT_ID
        keys = KeySet.import_key_set(httpx.get(f"{mock.issuer}/jwks").json())
        hint = jwt.decode(asked["id_token_hint"], keys, algorithms=["RS256"]).claims
        assert hint["sub"] == "alice-sub" and hint["aud"] in (CLIENT_ID, [CLIENT_ID])

        # The provider's own logout page sends the browser back to pyTorrent's sign-in.
        form = httpx.get(end_session, timeout=10)
        assert form.status_code == 200
        confirmed = httpx.post(f"{mock.issuer}/oauth2/end_session/confirm",
                               data={"redirect_uri": asked["post_logout_redirect_uri"]})
        assert confirmed.headers["location"] == f"{server.url}/login"

        # A link on another site does not sign anyone out at the provider.
        again = client.get("/auth/oidc/logout", headers={"Sec-Fetch-Site": "cross-site"})
        assert again.headers["location"] == "/login?signed_out=1"
