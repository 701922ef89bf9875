"""API tokens over REST: format, header forms, shown once, digest-only storage, lifecycle."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pytorrent_core.models import User
from pytorrent_core.storage import schema
from pytorrent_core.storage.store import now
from pytorrent_core.testing import issue_token, running_app, session_cookie, settled_admin
from pytorrent_core.web.app import PyTorrentApp

pytestmark = pytest.mark.each_database  # the app fixture: SQLite, then PostgreSQL

SAME_ORIGIN = "http://localhost"


@pytest.fixture
async def app(tmp_path: Path, app_database: dict[str, str]) -> AsyncIterator[PyTorrentApp]:
    async with running_app(tmp_path, app_database) as running:
        yield running


async def as_cookie(app: PyTorrentApp, user: User) -> dict[str, str]:
    return {"Cookie": session_cookie(app, user), "Origin": SAME_ORIGIN}


async def create(app: PyTorrentApp, headers: dict[str, str], user_id: int,
                 **body: Any) -> tuple[int, dict[str, Any]]:
    reply = await app.quart.test_client().post(f"/api/auth/users/{user_id}/tokens",
                                               headers=headers, json={"name": "ci", **body})
    return reply.status_code, await reply.get_json()


async def me(app: PyTorrentApp, headers: dict[str, str], path: str = "/api/auth/me") -> Any:
    return await app.quart.test_client().get(path, headers=headers)


async def test_created_token_works_with_both_header_forms(app: PyTorrentApp) -> None:
    alice = await app.services.store.create_user("alice")
    status, body = await create(app, await as_cookie(app, alice), alice.id)
    assert status == 201
    token = body["token"]
    assert token.startswith("pt_") and len(token) == 3 + 43  # 32 random bytes, base64url
    assert body["record"]["prefix"] == token[:10]
    assert body["record"]["state"] == "active"
    for headers in ({"Authorization": f"Bearer {token}"}, {"X-API-Key": token},
                    {"authorization": f"bearer {token}"}):
        reply = await me(app, headers)
        assert reply.status_code == 200, headers
        user = (await reply.get_json())["user"]
        assert (user["username"], user["via"]) == ("alice", "token")


async def test_query_string_tokens_are_refused(app: PyTorrentApp) -> None:
    alice = await app.services.store.create_user("alice")
    token = await issue_token(app.services.store, alice.id)
    for query in ("token", "api_key", "access_token", "apikey", "auth"):
        reply = await me(app, {}, f"/api/auth/me?{query}={token}")
        assert reply.status_code == 401, query
    assert (await me(app, {"X-API-Key": token})).status_code == 200


async def test_bad_tokens_are_401_even_with_a_valid_session(app: PyTorrentApp) -> None:
    alice = await app.services.store.create_user("alice")
    cookie = await as_cookie(app, alice)
    assert (await me(app, cookie)).status_code == 200
    for headers in ({"Authorization": "Bearer pt_nope"}, {"X-API-Key": "pt_nope"}):
        reply = await me(app, {**cookie, **headers})
        assert reply.status_code == 401
        assert "token" in (await reply.get_json())["error"]


async def test_token_is_shown_once_and_only_its_digest_is_stored(
        app: PyTorrentApp, tmp_path: Path) -> None:
    alice = await app.services.store.create_user("alice")
    status, body = await create(app, await as_cookie(app, alice), alice.id, name="backup")
    assert status == 201
    token = body["token"]
    listing = await app.quart.test_client().get(f"/api/auth/users/{alice.id}/tokens",
                                                headers=await as_cookie(app, alice))
    text = await listing.get_data(as_text=True)
    assert token not in text
    (row,) = (await listing.get_json())["tokens"]
    assert set(row) == {"id", "user_id", "name", "prefix", "created_at", "expires_at",
                        "last_used_at", "revoked_at", "state", "last_used_address", "scope"}
    assert (row["name"], row["prefix"]) == ("backup", token[:10])

    digest = hashlib.sha256(token.encode()).hexdigest()
    if not app.services.settings.database_url.startswith("sqlite"):
        async with app.services.store.engine.connect() as conn:
            rows = (await conn.execute(select(schema.api_tokens))).all()
        assert [(row.digest, row.prefix) for row in rows] == [(digest, token[:10])]
        assert token[10:] not in repr(rows)
        return
    await app.services.store.close()  # checkpoint nothing away: read the files as they are
    data_dir = tmp_path / "data"
    raw = b"".join(p.read_bytes() for p in data_dir.glob("pytorrent.db*"))
    assert token.encode() not in raw
    assert token[10:].encode() not in raw
    with sqlite3.connect(data_dir / "pytorrent.db") as db:
        stored = db.execute("SELECT digest, prefix FROM api_tokens").fetchall()
        dumped = "\n".join(db.iterdump())
    assert stored == [(digest, token[:10])]
    assert token not in dumped


async def test_expiry(app: PyTorrentApp) -> None:
    store = app.services.store
    alice = await store.create_user("alice")
    cookie = await as_cookie(app, alice)
    expired = await issue_token(store, alice.id, expires_at=now() - timedelta(seconds=1))
    assert (await me(app, {"X-API-Key": expired})).status_code == 401
    status, body = await create(app, cookie, alice.id, expires_in_days=2)
    assert status == 201
    assert (await me(app, {"X-API-Key": body["token"]})).status_code == 200
    status, body = await create(app, cookie, alice.id, expires_at="2999-01-01T00:00:00Z")
    assert status == 201 and body["record"]["expires_at"].startswith("2999-01-01T00:00:00")
    listing = await app.quart.test_client().get(f"/api/auth/users/{alice.id}/tokens",
                                                headers=cookie)
    assert [t["state"] for t in (await listing.get_json())["tokens"]] == [
        "expired", "active", "active"]


@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"),
    ({"name": "x" * 129}, "name"),
    ({"expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
    ({"expires_at": "next tuesday"}, "expires_at"),
    ({"expires_in_days": 0}, "expires_in_days"),
    ({"expires_in_days": "soon"}, "expires_in_days"),
    ({"expires_in_days": True}, "expires_in_days"),
])
async def test_bad_create_input_names_the_field(app: PyTorrentApp, body: dict[str, Any],
                                                field: str) -> None:
    alice = await app.services.store.create_user("alice")
    status, reply = await create(app, await as_cookie(app, alice), alice.id, **body)
    assert status == 400
    assert reply["field"] == field
    assert await app.services.store.list_tokens(alice.id) == []


async def test_revocation_is_immediate(app: PyTorrentApp) -> None:
    store = app.services.store
    alice = await store.create_user("alice")
    cookie = await as_cookie(app, alice)
    status, body = await create(app, cookie, alice.id)
    token, token_id = body["token"], body["record"]["id"]
    assert (await me(app, {"X-API-Key": token})).status_code == 200  # now cached
    client = app.quart.test_client()
    revoked = await client.delete(f"/api/auth/users/{alice.id}/tokens/{token_id}",
                                  headers=cookie)
    assert revoked.status_code == 204
    assert (await me(app, {"X-API-Key": token})).status_code == 401
    again = await client.delete(f"/api/auth/users/{alice.id}/tokens/{token_id}",
                                headers=cookie)
    assert again.status_code == 404


async def test_token_acts_with_owner_current_role(app: PyTorrentApp) -> None:
    store = app.services.store
    boss = await store.create_user("boss", role="admin")
    token = await issue_token(store, boss.id)
    headers = {"X-API-Key": token}
    client = app.quart.test_client()
    made = await client.post("/api/profiles", headers=headers,
                             json={"name": "A", "scgi_url": "scgi://h:1"})
    assert made.status_code == 201
    pid = (await made.get_json())["profile"]["id"]
    await store.update_user(boss.id, role="user")
    demoted = await client.post("/api/profiles", headers=headers,
                                json={"name": "B", "scgi_url": "scgi://h:2"})
    assert demoted.status_code == 403
    assert (await client.get(f"/api/profiles/{pid}", headers=headers)).status_code == 403
    await store.set_permissions(boss.id, {pid: "ro"})
    assert (await client.get(f"/api/profiles/{pid}", headers=headers)).status_code == 200
    put = await client.put(f"/api/profiles/{pid}/labels", headers=headers, json={"labels": []})
    assert put.status_code == 403
    await store.update_user(boss.id, active=False)
    reply = await me(app, headers)
    assert reply.status_code == 401
    assert "not active" in (await reply.get_json())["error"]


async def test_self_or_admin_only(app: PyTorrentApp) -> None:
    store = app.services.store
    alice = await store.create_user("alice")
    bob = await store.create_user("bob")
    bob_token = await issue_token(store, bob.id)
    bob_token_id = (await store.list_tokens(bob.id))[0].id
    admin = await settled_admin(store)
    client = app.quart.test_client()
    as_alice = await as_cookie(app, alice)
    for method, path in (("get", f"/api/auth/users/{bob.id}/tokens"),
                         ("post", f"/api/auth/users/{bob.id}/tokens"),
                         ("delete", f"/api/auth/users/{bob.id}/tokens/{bob_token_id}"),
                         ("get", "/api/auth/users/999/tokens")):
        reply = await getattr(client, method)(path, headers=as_alice, json={"name": "x"})
        assert reply.status_code == 403, (method, path)
    wrong_owner = await client.delete(f"/api/auth/users/{alice.id}/tokens/{bob_token_id}",
                                      headers=as_alice)
    assert wrong_owner.status_code == 404
    assert (await me(app, {"X-API-Key": bob_token})).status_code == 200

    as_admin = await as_cookie(app, admin)
    listing = await client.get(f"/api/auth/users/{bob.id}/tokens", headers=as_admin)
    assert [t["id"] for t in (await listing.get_json())["tokens"]] == [bob_token_id]
    status, body = await create(app, as_admin, bob.id)
    assert status == 201
    assert (await (await me(app, {"X-API-Key": body["token"]})).get_json())["user"][
        "username"] == "bob"
    revoke = await client.delete(f"/api/auth/users/{bob.id}/tokens/{bob_token_id}",
                                 headers=as_admin)
    assert revoke.status_code == 204
    assert (await me(app, {"X-API-Key": bob_token})).status_code == 401
    missing = await client.get("/api/auth/users/999/tokens", headers=as_admin)
    assert missing.status_code == 404


async def test_no_token_for_a_deactivated_user(app: PyTorrentApp) -> None:
    store = app.services.store
    bob = await store.create_user("bob", active=False)
    admin = await settled_admin(store)
    status, body = await create(app, await as_cookie(app, admin), bob.id)
    assert status == 409
    assert await store.list_tokens(bob.id) == []


async def test_last_used_is_batched_not_written_per_request(app: PyTorrentApp) -> None:
    store = app.services.store
    alice = await store.create_user("alice")
    token = await issue_token(store, alice.id)
    for _ in range(3):
        assert (await me(app, {"X-API-Key": token})).status_code == 200
    (record,) = await store.list_tokens(alice.id)
    assert record.last_used_at is None  # nothing written yet
    listing = await app.quart.test_client().get(f"/api/auth/users/{alice.id}/tokens",
                                                headers={"X-API-Key": token})
    assert (await listing.get_json())["tokens"][0]["last_used_at"] is not None
    await app.services.cache.flush_token_use()
    (record,) = await store.list_tokens(alice.id)
    assert record.last_used_at is not None


async def test_tokens_are_exempt_from_origin_checks(app: PyTorrentApp) -> None:
    store = app.services.store
    admin = await settled_admin(store)
    token = await issue_token(store, admin.id)
    reply = await app.quart.test_client().post(
        "/api/profiles", headers={"X-API-Key": token, "Origin": "http://evil.example"},
        json={"name": "A", "scgi_url": "scgi://h:1"})
    assert reply.status_code == 201
