"""First start: a built-in admin with a one-time password; the admin protections."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pytorrent_core.testing import PeerClient, running_app, set_password
from pytorrent_core.web.app import PyTorrentApp

ORIGIN = {"Origin": "http://localhost"}
PASSWORD = "admin-Pass-1"
ONE_TIME = re.compile(r"one-time password: (\S+)")


async def test_first_start_creates_admin_with_printed_random_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    async with running_app(tmp_path / "one") as app:
        printed = capsys.readouterr().err
        found = ONE_TIME.findall(printed)
        assert len(found) == 1
        password = found[0]
        assert len(password) >= 12
        command = re.search(r"change it now: (.+) reset-password admin", printed)
        assert command is not None
        # The hint runs as printed: bare only when that is the pytorrent on PATH.
        program = command.group(1).split()[0]
        assert shutil.which(program) is not None
        admin = await app.services.store.get_user_by_name("admin")
        assert admin is not None and admin.builtin and admin.role == "admin" and admin.active
        client = app.quart.test_client()
        for guess in ("admin", "password", "pytorrent", ""):
            bad = await client.post("/login", form={"username": "admin", "password": guess},
                                    headers=ORIGIN, peer=f"192.0.2.{len(guess) + 1}")
            assert bad.status_code == 401
        ok = await client.post("/api/auth/login", json={"username": "admin",
                                                        "password": password})
        assert ok.status_code == 200
    async with running_app(tmp_path / "two"):
        other = ONE_TIME.findall(capsys.readouterr().err)
    assert len(other) == 1 and other[0] != password  # random, not a fixed default


async def test_password_is_printed_only_once(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    async with running_app(tmp_path):
        assert ONE_TIME.search(capsys.readouterr().err)
    async with running_app(tmp_path):
        assert not ONE_TIME.search(capsys.readouterr().err)


@pytest.fixture
async def admin(app: PyTorrentApp) -> PeerClient:
    await set_password(app, "admin", PASSWORD)
    client = app.quart.test_client()
    reply = await client.post("/api/auth/login", json={"username": "admin",
                                                       "password": PASSWORD})
    assert reply.status_code == 200
    return client


async def _builtin_id(app: PyTorrentApp) -> int:
    user = await app.services.store.get_user_by_name("admin")
    assert user is not None
    return user.id


@pytest.mark.parametrize("change,field", [
    ({"role": "user"}, "role"),
    ({"active": False}, "active"),
    ({"username": "root"}, "username"),
])
async def test_builtin_admin_cannot_be_demoted_deactivated_or_renamed(
        app: PyTorrentApp, admin: PeerClient, change: dict, field: str) -> None:
    # A second admin exists, so only the built-in rule applies.
    other = await admin.post("/api/auth/users", json={"username": "second", "role": "admin",
                                                      "password": "second-Pass-1"},
                             headers=ORIGIN)
    assert other.status_code == 201
    builtin_id = await _builtin_id(app)
    reply = await admin.put(f"/api/auth/users/{builtin_id}", json=change, headers=ORIGIN)
    assert reply.status_code == 400
    body = await reply.get_json()
    assert body["field"] == field and "built-in admin" in body["error"]
    user = await app.services.store.get_user(builtin_id)
    assert user.role == "admin" and user.active and user.username == "admin"


async def test_builtin_admin_cannot_be_deleted(app: PyTorrentApp, admin: PeerClient) -> None:
    builtin_id = await _builtin_id(app)
    reply = await admin.delete(f"/api/auth/users/{builtin_id}", headers=ORIGIN)
    assert reply.status_code == 400
    body = await reply.get_json()
    assert body["field"] == "id" and "built-in admin cannot be deleted" in body["error"]
    assert await app.services.store.get_user(builtin_id) is not None


async def test_builtin_admin_may_change_its_own_details(app: PyTorrentApp,
                                                         admin: PeerClient) -> None:
    builtin_id = await _builtin_id(app)
    reply = await admin.put(f"/api/auth/users/{builtin_id}",
                            json={"username": "admin", "display_name": "Boss"},
                            headers=ORIGIN)
    assert reply.status_code == 200
    assert (await reply.get_json())["user"]["display_name"] == "Boss"


async def test_last_active_admin_cannot_be_demoted_deactivated_or_deleted(
        app: PyTorrentApp, admin: PeerClient) -> None:
    store = app.services.store
    created = await admin.post("/api/auth/users", json={"username": "chief", "role": "admin",
                                                        "password": "chief-Pass-1"},
                               headers=ORIGIN)
    chief_id = (await created.get_json())["user"]["id"]
    # Take the built-in admin out of the picture the only way left: the database.
    builtin_id = await _builtin_id(app)
    from sqlalchemy import update

    from pytorrent_core.storage import schema

    async with store.engine.begin() as conn:
        await conn.execute(update(schema.users).where(schema.users.c.id == builtin_id)
                           .values(active=False))
    app.services.cache.clear()
    chief = app.quart.test_client()
    ok = await chief.post("/api/auth/login", json={"username": "chief",
                                                   "password": "chief-Pass-1"})
    assert ok.status_code == 200
    for change, field in (({"role": "user"}, "role"), ({"active": False}, "active")):
        reply = await chief.put(f"/api/auth/users/{chief_id}", json=change, headers=ORIGIN)
        assert reply.status_code == 400
        body = await reply.get_json()
        assert body["field"] == field and "last active admin" in body["error"]
    reply = await chief.delete(f"/api/auth/users/{chief_id}", headers=ORIGIN)
    assert reply.status_code == 400
    assert "last active admin" in (await reply.get_json())["error"]
    assert (await store.get_user(chief_id)).role == "admin"


async def test_an_admin_who_is_not_the_last_can_be_demoted(app: PyTorrentApp,
                                                            admin: PeerClient) -> None:
    created = await admin.post("/api/auth/users", json={"username": "deputy", "role": "admin",
                                                        "password": "deputy-Pass-1"},
                               headers=ORIGIN)
    deputy_id = (await created.get_json())["user"]["id"]
    reply = await admin.put(f"/api/auth/users/{deputy_id}", json={"role": "user"},
                            headers=ORIGIN)
    assert reply.status_code == 200
    reply = await admin.delete(f"/api/auth/users/{deputy_id}", headers=ORIGIN)
    assert reply.status_code == 200
