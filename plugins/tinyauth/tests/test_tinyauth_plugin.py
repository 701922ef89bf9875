"""The tinyauth provider: discovery, Tinyauth's headers, logout_url setting."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorrent_auth_tinyauth
from pytorrent_auth_tinyauth.headers import identity_from_headers
from werkzeug.datastructures import Headers

from pytorrent_core import ConfigError
from pytorrent_core.access.facts import RequestFacts
from pytorrent_core.plugins import installed_providers, make_plugin_manager
from pytorrent_core.testing import load_for_test, running_app

TINYAUTH = {"PYTORRENT_AUTH_PROVIDER": "tinyauth"}


def facts(headers: list[tuple[str, str]]) -> RequestFacts:
    return RequestFacts(method="GET", path="/", headers=Headers(headers), peer="127.0.0.1",
                        peer_trusted=True, raw_host="localhost", host="localhost",
                        scheme="http", client="127.0.0.1")


def test_discovered_by_entry_point_and_loaded_by_name() -> None:
    assert installed_providers()["tinyauth"].module == "pytorrent_auth_tinyauth"
    pm = make_plugin_manager("tinyauth")
    assert pm.get_plugin("tinyauth") is pytorrent_auth_tinyauth


def test_reads_all_of_tinyauths_headers() -> None:
    identity = identity_from_headers(Headers([
        ("Remote-User", "alice"), ("Remote-Name", " Alice Liddell "),
        ("Remote-Email", "alice@example.com"), ("Remote-Groups", "media, admins,media"),
    ]), "Remote-User")
    assert identity is not None
    assert identity.username == "alice"
    assert identity.provider == "tinyauth"
    assert identity.display_name == "Alice Liddell"
    assert identity.email == "alice@example.com"
    assert identity.groups == ("media", "admins")


def test_optional_headers_may_be_absent_or_unusable() -> None:
    identity = identity_from_headers(Headers([
        ("Remote-User", "bob"), ("Remote-Name", "bad\x00name"), ("Remote-Email", "not-an-email"),
    ]), "Remote-User")
    assert identity is not None
    assert (identity.display_name, identity.email, identity.groups) == (None, None, ())


def test_no_username_means_no_identity_whatever_else_is_sent() -> None:
    assert identity_from_headers(Headers([("Remote-Name", "Alice")]), "Remote-User") is None
    assert identity_from_headers(Headers([("Remote-User", " ")]), "Remote-User") is None


def test_user_header_follows_the_setting(tmp_path: Path) -> None:
    settings, _ = load_for_test(tmp_path, {**TINYAUTH,
                                           "PYTORRENT_AUTH_PROXY_USER_HEADER": "X-Auth-User"})
    hook = pytorrent_auth_tinyauth.pytorrent_identify
    assert hook(facts([("Remote-User", "alice")]), settings) is None
    identity = hook(facts([("X-Auth-User", "alice")]), settings)
    assert identity is not None and identity.username == "alice"


@pytest.mark.parametrize("url", ["https://auth.example.com/logout", "http://10.0.0.2:3000/logout",
                                 "/auth/logout"])
def test_logout_url_accepts_urls_and_paths(tmp_path: Path, url: str) -> None:
    settings, _ = load_for_test(tmp_path, {**TINYAUTH,
                                           "PYTORRENT_AUTH_TINYAUTH_LOGOUT_URL": url})
    action = pytorrent_auth_tinyauth.pytorrent_logout(None, facts([]), settings)
    assert action.redirect_to == url
    assert action.provider_managed is True and action.clear_session is False


@pytest.mark.parametrize("url", ["javascript:alert(1)", "//evil.example/x", "auth.example.com",
                                 "https://auth.example.com/log out"])
def test_logout_url_rejects_anything_else_naming_the_setting(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="PYTORRENT_AUTH_TINYAUTH_LOGOUT_URL"):
        load_for_test(tmp_path, {**TINYAUTH, "PYTORRENT_AUTH_TINYAUTH_LOGOUT_URL": url})


def test_without_logout_url_logout_returns_to_the_main_page(tmp_path: Path) -> None:
    settings, _ = load_for_test(tmp_path, TINYAUTH)
    action = pytorrent_auth_tinyauth.pytorrent_logout(None, facts([]), settings)
    assert action.redirect_to == "/"
    assert action.message and "Tinyauth" in action.message


async def test_profile_headers_are_stored_and_kept_in_sync(tmp_path: Path) -> None:
    env = {**TINYAUTH, "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true"}
    async with running_app(tmp_path, env) as app:
        client = app.quart.test_client()
        first = {"Remote-User": "alice", "Remote-Name": "Alice", "Remote-Email": "a@example.com",
                 "Remote-Groups": "media,users"}
        assert (await client.get("/api/auth/me", headers=first)).status_code == 200
        stored = await app.services.store.get_user_by_name("alice")
        assert stored is not None
        assert (stored.display_name, stored.email, stored.groups) == (
            "Alice", "a@example.com", ("media", "users"))
        changed = {**first, "Remote-Name": "Alice L.", "Remote-Groups": "admins"}
        reply = await client.get("/api/auth/me", headers=changed)
        assert (await reply.get_json())["user"]["display_name"] == "Alice L."
        stored = await app.services.store.get_user_by_name("alice")
        assert stored is not None and stored.groups == ("admins",)
