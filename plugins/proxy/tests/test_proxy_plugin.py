"""The proxy provider: discovery, identity from the configured header, provider-owned logout."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorrent_auth_proxy
from werkzeug.datastructures import Headers

from pytorrent_core.access.facts import RequestFacts
from pytorrent_core.plugins import installed_providers, make_plugin_manager
from pytorrent_core.testing import load_for_test


def facts(headers: list[tuple[str, str]], *, trusted: bool = True) -> RequestFacts:
    return RequestFacts(method="GET", path="/login", headers=Headers(headers),
                        peer="127.0.0.1" if trusted else "203.0.113.9", peer_trusted=trusted,
                        raw_host="localhost", host="localhost", scheme="http",
                        client="127.0.0.1")


def test_discovered_by_entry_point_and_loaded_by_name() -> None:
    assert installed_providers()["proxy"].module == "pytorrent_auth_proxy"
    pm = make_plugin_manager("proxy")
    assert pm.get_plugin("proxy") is pytorrent_auth_proxy


def test_declares_itself_external(tmp_path: Path) -> None:
    settings, plugins = load_for_test(tmp_path, {"PYTORRENT_AUTH_PROVIDER": "proxy"})
    info = plugins.provider_info(settings)
    assert info.external is True
    assert info.headers == ("Remote-User",)


@pytest.mark.parametrize(("headers", "expected"), [
    ([("X-Forwarded-User", " alice ")], "alice"),
    ([("x-forwarded-user", "Bob")], "Bob"),
    ([("X-Forwarded-User", "")], None),
    ([("X-Forwarded-User", "a\x1bb")], None),
    ([("X-Forwarded-User", "a"), ("X-Forwarded-User", "b")], None),
    ([("Remote-User", "alice")], None),
    ([], None),
])
def test_identify_reads_the_configured_header(tmp_path: Path, headers: list[tuple[str, str]],
                                              expected: str | None) -> None:
    settings, _ = load_for_test(tmp_path, {"PYTORRENT_AUTH_PROVIDER": "proxy",
                                           "PYTORRENT_AUTH_PROXY_USER_HEADER": "X-Forwarded-User"})
    identity = pytorrent_auth_proxy.pytorrent_identify(facts(headers), settings)
    if expected is None:
        assert identity is None
    else:
        assert identity is not None
        assert (identity.username, identity.provider) == (expected, "proxy")
        assert identity.display_name is None and identity.groups == ()


def test_logout_is_provider_managed(tmp_path: Path) -> None:
    settings, _ = load_for_test(tmp_path, {"PYTORRENT_AUTH_PROVIDER": "proxy"})
    action = pytorrent_auth_proxy.pytorrent_logout(None, facts([]), settings)
    assert action.clear_session is False
    assert action.redirect_to == "/"
    assert action.provider_managed is True
    assert action.message and "managed by the reverse proxy" in action.message


def test_login_page_is_401_until_a_usable_header_arrives(tmp_path: Path) -> None:
    settings, _ = load_for_test(tmp_path, {"PYTORRENT_AUTH_PROVIDER": "proxy"})
    missing = pytorrent_auth_proxy.pytorrent_login_page(facts([]), settings, None, "/")
    assert missing.status == 401 and 'data-problem="missing"' in missing.html
    untrusted = pytorrent_auth_proxy.pytorrent_login_page(
        facts([("Remote-User", "x")], trusted=False), settings, None, "/")
    assert untrusted.status == 401 and "203.0.113.9" in untrusted.html
    present = pytorrent_auth_proxy.pytorrent_login_page(
        facts([("Remote-User", "x")]), settings, None, "/")
    assert present.status == 200 and 'data-problem=""' in present.html
