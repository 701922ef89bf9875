"""Login form and session API of the local provider (Quart test client)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from pytorrent_core.testing import set_password
from pytorrent_core.web.app import SESSION_COOKIE, PyTorrentApp

ORIGIN = {"Origin": "http://localhost"}
PASSWORD = "admin-Pass-1"


@pytest.fixture
async def admin_app(app: PyTorrentApp) -> PyTorrentApp:
    await set_password(app, "admin", PASSWORD)
    return app


async def test_login_page_is_a_form(app: PyTorrentApp) -> None:
    reply = await app.quart.test_client().get("/login?next=/profiles")
    assert reply.status_code == 200
    page = await reply.get_data(as_text=True)
    assert 'name="username"' in page and 'name="password"' in page
    assert 'type="password"' in page
    assert '<input type="hidden" name="next" value="/profiles">' in page


async def test_form_login_success_redirects_to_next(admin_app: PyTorrentApp) -> None:
    client = admin_app.quart.test_client()
    reply = await client.post("/login", form={"username": "admin", "password": PASSWORD,
                                              "next": "/?tab=peers"}, headers=ORIGIN)
    assert reply.status_code == 302
    assert reply.headers["Location"] == "/?tab=peers"
    home = await client.get("/")
    assert home.status_code == 200
    assert 'id="username">admin<' in await home.get_data(as_text=True)


async def test_usernames_are_case_insensitive(admin_app: PyTorrentApp) -> None:
    client = admin_app.quart.test_client()
    reply = await client.post("/api/auth/login", json={"username": "Admin",
                                                       "password": PASSWORD})
    assert reply.status_code == 200


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/", "/\\evil.example", "http:/evil.example",
    "javascript:alert(1)", "evil.example",
])
async def test_off_site_next_is_refused(admin_app: PyTorrentApp, target: str) -> None:
    client = admin_app.quart.test_client()
    reply = await client.post("/login", form={"username": "admin", "password": PASSWORD,
                                              "next": target}, headers=ORIGIN)
    assert reply.status_code == 302
    assert reply.headers["Location"] == "/"
    page = await (await client.get(f"/login?next={quote(target)}")).get_data(as_text=True)
    assert 'name="next" value="/"' in page


async def test_pages_redirect_to_login_and_api_answers_401(app: PyTorrentApp) -> None:
    client = app.quart.test_client()
    page = await client.get("/")
    assert page.status_code == 302
    assert page.headers["Location"] == "/login?next=/"
    for path in ("/api/auth/me", "/api/auth/users"):
        api = await client.get(path)
        assert api.status_code == 401
        assert (await api.get_json())["error"]
        assert "Location" not in api.headers


@pytest.mark.parametrize("username,password", [
    ("admin", "wrong-Pass-1"),  # real user, wrong password
    ("nobody", "wrong-Pass-1"),  # unknown user
    ("admin", ""),
])
async def test_failure_does_not_say_which_part_was_wrong(admin_app: PyTorrentApp,
                                                         username: str, password: str) -> None:
    client = admin_app.quart.test_client()
    reply = await client.post("/login", form={"username": username, "password": password},
                              headers=ORIGIN)
    assert reply.status_code == 401
    page = await reply.get_data(as_text=True)
    assert "Invalid username or password." in page
    assert "exist" not in page.lower()
    assert SESSION_COOKIE not in reply.headers.get("Set-Cookie", "")
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_api_failure_is_generic_for_unknown_and_wrong(admin_app: PyTorrentApp) -> None:
    client = admin_app.quart.test_client()
    answers = []
    for username in ("admin", "nobody"):
        reply = await client.post("/api/auth/login", json={"username": username,
                                                           "password": "wrong-Pass-1"})
        assert reply.status_code == 401
        answers.append(await reply.get_json())
    assert answers[0] == answers[1]


async def test_api_login_validates_input(admin_app: PyTorrentApp) -> None:
    client = admin_app.quart.test_client()
    bad = await client.post("/api/auth/login", json={"username": "", "password": "x"})
    assert bad.status_code == 400 and (await bad.get_json())["field"] == "username"
    bad = await client.post("/api/auth/login", json={"username": "admin"})
    assert bad.status_code == 400 and (await bad.get_json())["field"] == "password"
    bad = await client.post("/api/auth/login", data="nope")
    assert bad.status_code == 400


async def test_api_login_me_and_logout(admin_app: PyTorrentApp) -> None:
    client = admin_app.quart.test_client()
    reply = await client.post("/api/auth/login", json={"username": "admin",
                                                       "password": PASSWORD})
    assert reply.status_code == 200
    assert (await reply.get_json())["user"]["username"] == "admin"
    me = await client.get("/api/auth/me")
    assert me.status_code == 200
    body = await me.get_json()
    assert body["user"]["role"] == "admin" and body["user"]["via"] == "session"
    assert body["external"] is False
    out = await client.post("/api/auth/logout", headers=ORIGIN)
    assert out.status_code == 200
    assert (await out.get_json()) == {"ok": True, "redirect": "/login"}
    assert (await client.get("/api/auth/me")).status_code == 401


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_logout_page_clears_session_and_goes_to_login(admin_app: PyTorrentApp,
                                                            method: str) -> None:
    client = admin_app.quart.test_client()
    await client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    assert (await client.get("/")).status_code == 200
    reply = await client.open("/logout", method=method, headers=ORIGIN)
    assert reply.status_code == 302
    assert reply.headers["Location"] == "/login"
    cookie = reply.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=;") and "Expires=Thu, 01 Jan 1970" in cookie
    assert (await client.get("/")).status_code == 302


async def test_cross_origin_login_is_refused(admin_app: PyTorrentApp) -> None:
    client = admin_app.quart.test_client()
    reply = await client.post("/login", form={"username": "admin", "password": PASSWORD},
                              headers={"Origin": "https://evil.example"})
    assert reply.status_code == 403
    assert SESSION_COOKIE not in reply.headers.get("Set-Cookie", "")


async def test_index_shows_user_logout_and_badge(admin_app: PyTorrentApp) -> None:
    client = admin_app.quart.test_client()
    await client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    page = await (await client.get("/")).get_data(as_text=True)
    assert 'id="connection-badge"' in page and ">offline<" in page
    assert 'action="/logout"' in page
    assert "vendor/socket.io.min.js" in page and "app.js" in page
    for asset in ("/static/vendor/socket.io.min.js", "/static/app.js"):
        reply = await client.get(asset)
        assert reply.status_code == 200, asset
