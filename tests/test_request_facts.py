"""Request facts built on the per-request path are the same facts the class would build."""

from __future__ import annotations

import dataclasses

import pytest
from quart import Quart, request
from werkzeug.datastructures import Headers

from pytorrent_core.access.facts import (
    RequestFacts,
    TrustedNetworks,
    facts_from_scope,
    werkzeug_cookies,
)

TRUSTED = TrustedNetworks(["10.0.0.0/8"])
COOKIES = [(b"cookie", b"pytorrent_session=abc.def; theme=dark"), (b"cookie", b"lang=en")]


def scope(headers: list[tuple[bytes, bytes]], client: str = "10.0.0.2") -> dict:
    return {"type": "http", "method": "get", "scheme": "http", "path": "/api/auth/me",
            "root_path": "", "client": (client, 5000), "server": ("127.0.0.1", 8000),
            "headers": [(b"host", b"pytorrent.example:8000"), *headers]}


def test_facts_equal_those_the_class_builds_with_every_field_set() -> None:
    raw = scope([(b"x-forwarded-for", b"198.51.100.7"), (b"x-forwarded-proto", b"https"),
                 *COOKIES])
    built = facts_from_scope(raw, trusted=TRUSTED, proxy_fix=True)
    values = {item.name: getattr(built, item.name) for item in dataclasses.fields(built)}
    assert built == RequestFacts(**values)
    assert (built.method, built.scheme, built.client, built.host) == (
        "GET", "https", "198.51.100.7", "pytorrent.example:8000")
    assert built.header_map["x-forwarded-proto"] == "https"
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.host = "evil.example"  # type: ignore[misc]


def test_a_new_field_without_a_value_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytorrent_core.access import facts

    monkeypatch.setattr(facts, "_FIELDS", facts._FIELDS | {"added_later"})
    with pytest.raises(TypeError, match="added_later"):
        facts_from_scope(scope([]), trusted=TRUSTED, proxy_fix=False)


async def test_cookies_read_as_quart_reads_them() -> None:
    """Every Cookie line, joined, through werkzeug's parser: what request.cookies holds."""
    app = Quart(__name__)
    seen = {}

    @app.get("/api/auth/me")
    async def me() -> str:
        seen["quart"] = request.cookies
        seen["facts"] = facts_from_scope(request.scope, trusted=TRUSTED, proxy_fix=False,
                                         headers=request.headers,
                                         cookie_parser=werkzeug_cookies).cookies
        return ""

    client = app.test_client()
    await client.get("/api/auth/me", headers=[("Cookie", "pytorrent_session=abc.def; t=1"),
                                              ("Cookie", "lang=en")])
    assert seen["facts"] == seen["quart"]
    assert dict(seen["facts"]) == {"pytorrent_session": "abc.def", "t": "1", "lang": "en"}


def test_no_cookie_header_is_no_cookies_and_socketio_keeps_its_parser() -> None:
    assert facts_from_scope(scope([]), trusted=TRUSTED, proxy_fix=False,
                            cookie_parser=werkzeug_cookies).cookies == {}
    # Without a parser (Socket.IO), the first Cookie line as before.
    assert dict(facts_from_scope(scope(COOKIES), trusted=TRUSTED, proxy_fix=False).cookies) \
        == {"pytorrent_session": "abc.def", "theme": "dark"}


def test_memoised_cookies_cannot_be_changed_by_one_request_for_the_next() -> None:
    first = werkzeug_cookies("pytorrent_session=abc.def")
    assert werkzeug_cookies("pytorrent_session=abc.def") is first
    with pytest.raises(TypeError):
        first["pytorrent_session"] = "forged"  # type: ignore[index]


def test_quart_headers_and_scope_headers_give_the_same_header_map() -> None:
    raw = scope([(b"x-api-key", b"pt_x"), (b"remote-user", b"kate")])
    from_scope = facts_from_scope(raw, trusted=TRUSTED, proxy_fix=False)
    given = Headers([(k.decode().title(), v.decode()) for k, v in raw["headers"]])
    from_quart = facts_from_scope(raw, trusted=TRUSTED, proxy_fix=False, headers=given)
    assert from_scope.header_map == from_quart.header_map
    assert from_scope.header_map["remote-user"] == "kate"
