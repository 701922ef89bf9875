"""Admin-only user management API: /api/auth/users."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytorrent_core.testing import PeerClient, running_app, set_password
from pytorrent_core.web.app import PyTorrentApp

pytestmark = pytest.mark.each_database  # the app fixture: SQLite, then PostgreSQL

ORIGIN = {"Origin": "http://localhost"}
PASSWORD = "admin-Pass-1"


async def _login(client: PeerClient, username: str, password: str) -> None:
    reply = await client.post("/api/auth/login", json={"username": username,
                                                       "password": password})
    assert reply.status_code == 200


@pytest.fixture
async def admin(app: PyTorrentApp) -> PeerClient:
    await set_password(app, "admin", PASSWORD)
    client = app.quart.test_client()
    await _login(client, "admin", PASSWORD)
    return client


async def _create(admin: PeerClient, **body) -> dict:
    reply = await admin.post("/api/auth/users", json=body, headers=ORIGIN)
    assert reply.status_code == 201, await reply.get_data(as_text=True)
    return (await reply.get_json())["user"]


async def test_create_list_update_delete(app: PyTorrentApp, admin: PeerClient) -> None:
    profile = await app.services.store.create_profile("seedbox", "scgi://127.0.0.1:5000")
    user = await _create(admin, username="frank", display_name="Frank", role="user",
                         email="frank@example.com", password="frank-Pass-1",
                         permissions={"*": "ro", str(profile.id): "rw"})
    assert user["username"] == "frank" and user["role"] == "user" and user["active"]
    assert user["has_password"] is True and user["builtin"] is False
    assert user["permissions"] == {"*": "ro", str(profile.id): "full"}
    listed = await (await admin.get("/api/auth/users")).get_json()
    assert [u["username"] for u in listed["users"]] == ["admin", "frank"]
    one = await (await admin.get(f"/api/auth/users/{user['id']}")).get_json()
    assert one["user"] == user
    changed = await admin.put(f"/api/auth/users/{user['id']}",
                              json={"username": "franky", "email": None,
                                    "permissions": {"*": "none"}}, headers=ORIGIN)
    assert changed.status_code == 200
    body = (await changed.get_json())["user"]
    assert body["username"] == "franky" and body["email"] is None
    assert body["permissions"] == {}
    gone = await admin.delete(f"/api/auth/users/{user['id']}", headers=ORIGIN)
    assert gone.status_code == 200
    assert (await admin.get(f"/api/auth/users/{user['id']}")).status_code == 404


async def test_created_user_can_sign_in_with_their_grants(app: PyTorrentApp,
                                                          admin: PeerClient) -> None:
    await _create(admin, username="gina", password="gina-Pass-1", permissions={"*": "full"})
    client = app.quart.test_client()
    await _login(client, "gina", "gina-Pass-1")
    me = (await (await client.get("/api/auth/me")).get_json())["user"]
    assert me["role"] == "user" and me["permissions"] == {"*": "full"}


@pytest.mark.parametrize("body,field", [
    ({}, "username"),
    ({"username": ""}, "username"),
    ({"username": "   "}, "username"),
    ({"username": "x" * 129}, "username"),
    ({"username": "bell\u0007"}, "username"),
    ({"username": "zero\u200bwidth"}, "username"),
    ({"username": 7}, "username"),
    ({"username": "h", "role": "root"}, "role"),
    ({"username": "h", "active": "yes"}, "active"),
    ({"username": "h", "email": "not-an-email"}, "email"),
    ({"username": "h", "display_name": ["x"]}, "display_name"),
    ({"username": "h", "password": ""}, "password"),
    ({"username": "h", "password": "short"}, "password"),
    ({"username": "h", "password": 12345678}, "password"),
    ({"username": "h", "permissions": "ro"}, "permissions"),
    ({"username": "h", "permissions": {"*": "write"}}, "permissions"),
    ({"username": "h", "permissions": {"999": "ro"}}, "permissions"),
    ({"username": "h", "permissions": {"abc": "ro"}}, "permissions"),
    ({"username": "h", "is_admin": True}, "is_admin"),
    ({"username": "h", "password_hash": "$argon2id$..."}, "password_hash"),
])
async def test_bad_input_answers_400_with_field(app: PyTorrentApp, admin: PeerClient,
                                                body: dict, field: str) -> None:
    reply = await admin.post("/api/auth/users", json=body, headers=ORIGIN)
    assert reply.status_code == 400
    answer = await reply.get_json()
    assert answer["field"] == field and answer["error"]
    assert [u.username for u in await app.services.store.list_users()] == ["admin"]


async def test_non_object_body_is_400(admin: PeerClient) -> None:
    reply = await admin.post("/api/auth/users", data="[1]", headers={
        **ORIGIN, "Content-Type": "application/json"})
    assert reply.status_code == 400
    assert (await reply.get_json())["field"] == "body"


async def test_bad_update_changes_nothing(app: PyTorrentApp, admin: PeerClient) -> None:
    user = await _create(admin, username="hank", password="hank-Pass-1")
    reply = await admin.put(f"/api/auth/users/{user['id']}",
                            json={"display_name": "Hank", "role": "boss"}, headers=ORIGIN)
    assert reply.status_code == 400 and (await reply.get_json())["field"] == "role"
    assert (await app.services.store.get_user(user["id"])).display_name is None


async def test_duplicate_username_is_refused(admin: PeerClient) -> None:
    await _create(admin, username="ivy", password="ivy-Pass-12")
    reply = await admin.post("/api/auth/users", json={"username": "IVY"}, headers=ORIGIN)
    assert reply.status_code == 409
    assert (await reply.get_json())["field"] == "username"


async def test_unknown_ids_answer_404(admin: PeerClient) -> None:
    for method in ("GET", "PUT", "DELETE"):
        reply = await admin.open("/api/auth/users/9999", method=method,
                                 json={"display_name": "x"}, headers=ORIGIN)
        assert reply.status_code == 404, method
        assert (await reply.get_json())["error"]


async def test_non_admins_get_403_and_anonymous_401(app: PyTorrentApp,
                                                    admin: PeerClient) -> None:
    user = await _create(admin, username="jack", password="jack-Pass-1")
    client = app.quart.test_client()
    await _login(client, "jack", "jack-Pass-1")
    calls = [("GET", "/api/auth/users"), ("POST", "/api/auth/users"),
             ("GET", f"/api/auth/users/{user['id']}"),
             ("PUT", f"/api/auth/users/{user['id']}"),
             ("DELETE", f"/api/auth/users/{user['id']}")]
    for method, path in calls:
        reply = await client.open(path, method=method, json={"role": "admin"}, headers=ORIGIN)
        assert reply.status_code == 403, (method, path)
        anonymous = await app.quart.test_client().open(path, method=method, json={},
                                                       headers=ORIGIN)
        assert anonymous.status_code == 401, (method, path)
    assert (await app.services.store.get_user(user["id"])).role == "user"


async def test_cross_site_writes_are_refused(admin: PeerClient) -> None:
    reply = await admin.post("/api/auth/users", json={"username": "kim"},
                             headers={"Origin": "https://evil.example"})
    assert reply.status_code == 403
    reply = await admin.post("/api/auth/users", json={"username": "kim"})
    assert reply.status_code == 403


async def test_no_hash_or_password_in_any_answer(app: PyTorrentApp,
                                                 admin: PeerClient) -> None:
    secret = "lena-Secret-Pass-1"
    created = await admin.post("/api/auth/users", json={"username": "lena",
                                                        "password": secret}, headers=ORIGIN)
    stored = await app.services.store.password_hash((await created.get_json())["user"]["id"])
    answers = [created,
               await admin.get("/api/auth/users"),
               await admin.put("/api/auth/users/2", json={"password": secret + "2"},
                               headers=ORIGIN),
               await admin.put("/api/auth/users/2", json={"password": "short"},
                               headers=ORIGIN)]
    for reply in answers:
        text = await reply.get_data(as_text=True)
        assert secret not in text and stored not in text and "$argon2" not in text
        assert "short" not in text


async def test_external_provider_refuses_passwords(tmp_path: Path) -> None:
    import types

    from pytorrent_core.provider import ProviderInfo, hookimpl

    external = types.SimpleNamespace(pytorrent_provider_info=hookimpl(
        lambda: ProviderInfo(external=True, description="test")))
    env = {"PYTORRENT_AUTH_PROVIDER": "upstream", "PYTORRENT_AUTH_BYPASS_HOSTS": "bypass.lan"}
    async with running_app(tmp_path, env, provider_plugin=external) as app:
        client = app.quart.test_client()
        headers = {**ORIGIN, "Host": "bypass.lan"}
        origin = {"Origin": "http://bypass.lan"}
        reply = await client.post("/api/auth/users", json={"username": "mona",
                                                           "password": "mona-Pass-1"},
                                  headers={**headers, **origin})
        assert reply.status_code == 400
        body = await reply.get_json()
        assert body["field"] == "password" and "external" in body["error"]
        ok = await client.post("/api/auth/users", json={"username": "mona"},
                               headers={**headers, **origin})
        assert ok.status_code == 201
        assert (await ok.get_json())["user"]["has_password"] is False


async def test_usernames_follow_the_rules_of_proxy_headers(admin: PeerClient) -> None:
    """An admin can create in advance any user an external provider may sign in."""
    reply = await admin.post("/api/auth/users", json={"username": "  Ann Lee  "},
                             headers=ORIGIN)
    assert reply.status_code == 201
    assert (await reply.get_json())["user"]["username"] == "Ann Lee"
