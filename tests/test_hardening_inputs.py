"""Malformed input gets a 4xx that names the problem, never a 500 (hardening, finding 10).

Each test is one of the inputs that made the server answer 500 with a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from quart.testing import QuartClient
from support.asgi import PollingSocket, call

from pytorrent_core.access import tokens
from pytorrent_core.testing import issue_token, session_cookie, set_password, settled_admin
from pytorrent_core.web.app import PyTorrentApp
from pytorrent_core.web.handshakes import MAX_MESSAGE_BYTES
from pytorrent_core.web.inputs import INT64_MAX, MAX_JSON_DEPTH

ORIGIN = {"Origin": "http://localhost"}
PASSWORD = "admin-Pass-1"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever the test sends, nothing is logged at ERROR or with a traceback."""
    caplog.set_level(logging.WARNING)
    yield
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad]


@pytest.fixture
async def admin(app: PyTorrentApp, no_errors_logged: None) -> dict[str, str]:
    """Headers of an admin's API token."""
    user = await settled_admin(app.services.store)
    return {"Authorization": f"Bearer {await issue_token(app.services.store, user.id)}",
            **JSON}


async def answer(reply: Any, status: int) -> dict[str, Any]:
    assert reply.status_code == status, await reply.get_data(as_text=True)
    assert reply.mimetype == "application/json"
    data: dict[str, Any] = await reply.get_json()
    return data


# ---------------------------------------------------------------- JSON bodies


async def test_a_login_body_of_100000_brackets_is_refused_as_too_deep(
        app: PyTorrentApp, no_errors_logged: None) -> None:
    reply = await app.quart.test_client().post("/api/auth/login", data="[" * 100_000,
                                               headers=JSON)
    data = await answer(reply, 400)
    assert f"nested more than {MAX_JSON_DEPTH} levels" in data["error"]
    assert data["field"] == "body"


async def test_deeply_nested_labels_are_refused_as_too_deep(
        app: PyTorrentApp, admin: dict[str, str]) -> None:
    profile = await app.services.store.create_profile("p", "scgi://127.0.0.1:1")
    client = app.quart.test_client()
    for depth in (40, 900, 100_000):
        body = '{"labels":' + "[" * depth + "]" * depth + "}"
        reply = await client.put(f"/api/profiles/{profile.id}/labels", data=body,
                                 headers=admin)
        assert "nested more than" in (await answer(reply, 400))["error"], depth
    assert await app.services.store.profile_labels(profile.id) == []


async def test_invalid_utf8_json_is_refused(app: PyTorrentApp, no_errors_logged: None) -> None:
    reply = await app.quart.test_client().post(
        "/api/auth/login", data=b'{"username":"\xff","password":"x"}', headers=JSON)
    assert "not valid UTF-8" in (await answer(reply, 400))["error"]


MALFORMED = [
    (b"", "empty"), (b"{", "not valid JSON"), (b'{"username": NaN}', "NaN"),
    (b'{"a": ' + b"9" * 5000 + b"}", "digits"), (b"[]", "not a JSON array"),
    (b'"admin"', "not a JSON string"), (b"null", "not a JSON null"),
]


async def test_malformed_json_is_refused_naming_the_problem(
        app: PyTorrentApp, no_errors_logged: None) -> None:
    client = app.quart.test_client()
    for body, problem in MALFORMED:
        reply = await client.post("/api/auth/login", data=body, headers=JSON)
        assert problem in (await answer(reply, 400))["error"], body


async def test_a_body_that_is_not_json_says_which_content_type_to_send(
        app: PyTorrentApp, no_errors_logged: None) -> None:
    reply = await app.quart.test_client().post("/api/auth/login", data='{"username": "a"}',
                                               headers={"Content-Type": "text/plain"})
    assert "Content-Type: application/json" in (await answer(reply, 400))["error"]


# ---------------------------------------------------------------- lone surrogates


async def test_a_lone_surrogate_as_username_is_refused_naming_the_field(
        app: PyTorrentApp, admin: dict[str, str]) -> None:
    client = app.quart.test_client()
    login = await client.post("/api/auth/login", headers=JSON,
                              data='{"username": "\\ud800", "password": "x"}')
    assert (await answer(login, 400))["field"] == "username"
    create = await client.post("/api/auth/users", headers=admin,
                               data='{"username": "a\\udfffb"}')
    assert (await answer(create, 400))["field"] == "username"


async def test_a_lone_surrogate_as_profile_name_is_refused_naming_the_field(
        app: PyTorrentApp, admin: dict[str, str]) -> None:
    reply = await app.quart.test_client().post(
        "/api/profiles", headers=admin,
        data='{"name": "\\ud800", "scgi_url": "scgi://127.0.0.1:1"}')
    data = await answer(reply, 400)
    assert data["field"] == "name" and "lone surrogate" in data["error"]
    assert await app.services.store.list_profiles() == []


async def test_a_lone_surrogate_deep_in_a_body_names_its_place(
        app: PyTorrentApp, admin: dict[str, str]) -> None:
    profile = await app.services.store.create_profile("p", "scgi://127.0.0.1:1")
    reply = await app.quart.test_client().put(
        f"/api/profiles/{profile.id}/labels", headers=admin,
        data='{"labels": ["ok", "\\udc00"]}')
    data = await answer(reply, 400)
    assert data["field"] == "labels" and data["error"].startswith("labels[1] ")


# ---------------------------------------------------------------- ids in routes


def _int_routes(app: PyTorrentApp) -> list[tuple[str, str]]:
    routes = []
    for rule in app.quart.url_map.iter_rules():
        if "<int:" in rule.rule:
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                routes.append((method, rule.rule))
    return routes


async def test_an_id_outside_the_64_bit_range_is_404_on_every_integer_route(
        app: PyTorrentApp, admin: dict[str, str]) -> None:
    client = app.quart.test_client()
    routes = _int_routes(app)
    assert len(routes) >= 10  # profiles, labels, torrents, users, tokens
    for value in (str(2**63), str(2**64), "9" * 30, "9" * 5000, "\u0661", "-1"):
        for method, rule in routes:
            path = rule
            while "<int:" in path:
                start = path.index("<int:")
                path = path[:start] + value + path[path.index(">", start) + 1:]
            path = path.replace("<info_hash>", "0" * 40)
            reply = await client.open(path, method=method, headers={**admin, **ORIGIN},
                                      data="{}")
            assert reply.status_code == 404, (method, path, reply.status_code)
            if rule.startswith("/api/"):
                await answer(reply, 404)
            else:  # a page (/admin/users/N): a plain 404, never a trace
                assert "Traceback" not in await reply.get_data(as_text=True)


async def test_the_largest_64_bit_id_still_reaches_the_view(
        app: PyTorrentApp, admin: dict[str, str]) -> None:
    client = app.quart.test_client()
    reply = await client.get(f"/api/profiles/{INT64_MAX}", headers=admin)
    assert (await answer(reply, 404))["error"] == "no such profile"
    reply = await client.get(f"/api/auth/users/{INT64_MAX}", headers=admin)
    assert (await answer(reply, 404))["error"] == "no such user"


# ---------------------------------------------------------------- pages


async def test_a_static_name_too_long_for_the_file_system_is_404(
        app: PyTorrentApp, no_errors_logged: None) -> None:
    client = app.quart.test_client()
    for name in ("a" * 300, "js/" + "b" * 300):
        assert (await client.get(f"/static/{name}")).status_code == 404
    assert (await client.get("/static/app.css")).status_code == 200


async def test_logout_with_a_deleted_users_cookie_ends_quietly(
        app: PyTorrentApp, no_errors_logged: None) -> None:
    gone = await app.services.store.create_user("gone")
    cookie = {"Cookie": session_cookie(app, gone), **ORIGIN}
    await app.services.store.delete_user(gone.id)
    client = app.quart.test_client()
    reply = await client.post("/api/auth/logout", headers=cookie)
    assert (await answer(reply, 200))["ok"] is True
    page = await client.get("/logout", headers={**cookie, "Sec-Fetch-Site": "same-origin"})
    assert page.status_code == 302


async def test_next_with_a_control_character_goes_to_the_main_page(
        app: PyTorrentApp, no_errors_logged: None, cheap_passwords: None) -> None:
    await set_password(app, "admin", PASSWORD)
    client: QuartClient = app.quart.test_client()
    for control in ("\x0b", "\x0c", "\x00", "\x7f", "\r", "\n", "\t", "\x85"):
        reply = await client.post("/login", form={"username": "admin", "password": PASSWORD,
                                                  "next": f"/a{control}b"}, headers=ORIGIN)
        assert reply.status_code == 302
        assert reply.headers["Location"] == "/", repr(control)


# ---------------------------------------------------------------- Socket.IO


@pytest.fixture
async def admin_socket(app: PyTorrentApp, no_errors_logged: None
                       ) -> AsyncIterator[PollingSocket]:
    user = await settled_admin(app.services.store)
    token = await issue_token(app.services.store, user.id)
    socket = PollingSocket(app, [(b"host", b"127.0.0.1")])
    connected = await socket.connect({"token": token})
    assert "sid" in connected.data
    yield socket
    await socket.close()


async def test_a_profile_event_with_a_bad_profile_id_is_answered_400(
        admin_socket: PollingSocket) -> None:
    for event in ("profile:labels", "profile:labels:set", "profile:join", "profile:leave"):
        for profile_id in (2**63, 10**30, -1, True, "1", 1.5, None):
            (reply,) = await admin_socket.call(event, {"profile_id": profile_id, "labels": []})
            assert reply["ok"] is False and reply["status"] == 400, (event, profile_id)
            assert reply["field"] == "profile_id" and "whole number" in reply["error"]


async def test_a_profile_event_with_a_malformed_payload_is_answered_400(
        app: PyTorrentApp, admin_socket: PollingSocket) -> None:
    profile = await app.services.store.create_profile("p", "scgi://127.0.0.1:1")
    for payload in [(), ("x",), ([1, 2],), ({"profile_id": profile.id}, "extra")]:
        (reply,) = await admin_socket.call("profile:labels", *payload)
        assert reply["ok"] is False and reply["status"] == 400, (payload, reply)


async def test_a_lone_surrogate_label_over_socketio_is_refused(
        app: PyTorrentApp, admin_socket: PollingSocket) -> None:
    profile = await app.services.store.create_profile("p", "scgi://127.0.0.1:1")
    (reply,) = await admin_socket.call("profile:labels:set",
                                       {"profile_id": profile.id, "labels": ["\ud800"]})
    assert reply["ok"] is False and reply["status"] == 400 and reply["field"] == "labels"
    assert await app.services.store.profile_labels(profile.id) == []


async def test_an_unknown_event_is_answered_instead_of_left_waiting(
        admin_socket: PollingSocket) -> None:
    (reply,) = await admin_socket.call("profile:jion", {"profile_id": 1})
    assert reply["ok"] is False and reply["status"] == 404
    assert "profile:join" in reply["error"]


async def test_a_token_with_a_lone_surrogate_is_refused_at_connect(
        app: PyTorrentApp, no_errors_logged: None) -> None:
    socket = PollingSocket(app, [(b"host", b"127.0.0.1")])
    refused = await socket.connect({"token": "pt_\ud800"})
    assert "sid" not in (refused.data or {})
    assert tokens.digest("pt_\ud800") != tokens.digest("pt_\udfff")
    reply = await call(app, "GET", b"/api/auth/me", headers=[
        (b"host", b"127.0.0.1"), (b"x-api-key", "pt_\u00e9".encode())])
    assert reply.status == 401


async def test_a_socketio_message_over_the_limit_is_refused_unread(
        admin_socket: PollingSocket) -> None:
    """engineio would end the session and then wait for a long-poll before answering."""
    reply = await admin_socket.post(b"4" + b"x" * (MAX_MESSAGE_BYTES + 1))
    assert reply.status == 413
    admin_socket.closed = False  # the session is untouched: it still answers
    (answer,) = await admin_socket.call("profile:jion", {"profile_id": 1})
    assert answer["status"] == 404


async def test_a_request_for_a_closed_socketio_session_is_400_not_a_crash(
        app: PyTorrentApp, admin_socket: PollingSocket) -> None:
    engine = app.sio.eio
    session = engine.sockets[admin_socket.sid]
    session.closed = True  # closed, not yet forgotten: engineio used to raise KeyError
    for method in ("GET", "POST"):
        reply = await call(app, method, b"/socket.io/", query=admin_socket._query(),
                           headers=admin_socket.headers, body=b"1" if method == "POST" else b"",
                           client=admin_socket.client)
        assert reply.status == 400, method
    assert admin_socket.sid not in engine.sockets
    admin_socket.closed = True
