"""The audit log: every security event once, with time, actor, address, provider and
outcome; readable at GET /api/audit and with `pytorrent audit`; written in batches that
never fail the request they describe; pruned after the retention."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from support.rtorrent import RTorrentProcess, make_torrent

from pytorrent_core.access.audit import AuditLog
from pytorrent_core.storage import Store, migrations, schema, upgrade
from pytorrent_core.testing import (
    environment,
    issue_token,
    load_for_test,
    running_app,
    set_password,
)
from pytorrent_core.web.app import PyTorrentApp

ORIGIN = {"Origin": "http://127.0.0.1"}
ADMIN_PASSWORD = "admin-Pass-1"
USER_PASSWORD = "xavier-Pass-12"


def client_for(app: PyTorrentApp, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=30)


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"username": username,
                                                      "password": password})


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytorrent.cli", *args],
                          env=environment(tmp_path), capture_output=True, text=True,
                          timeout=60)


async def eventually(check: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.05)


@pytest.fixture
async def admin(app: PyTorrentApp) -> AsyncIterator[httpx.AsyncClient]:
    await set_password(app, "admin", ADMIN_PASSWORD)
    async with client_for(app) as client:
        assert (await login(client, "admin", ADMIN_PASSWORD)).status_code == 200
        yield client


async def events(client: httpx.AsyncClient, **query: str) -> list[dict[str, Any]]:
    reply = await client.get("/api/audit", params=query)
    assert reply.status_code == 200, reply.text
    return list(reply.json()["events"])


# ---------------------------------------------------------------- the done-when


@pytest.fixture
def rtorrent(tmp_path: Path) -> Iterator[RTorrentProcess]:
    with RTorrentProcess(tmp_path / "rt") as process:
        yield process


async def test_who_removed_this_torrent_with_its_data_and_from_where(
        tmp_path: Path, rtorrent: RTorrentProcess) -> None:
    async with running_app(tmp_path, {"PYTORRENT_RTORRENT_POLL_INTERVAL": "0.2"}) as app:
        store = app.services.store
        await set_password(app, "admin", ADMIN_PASSWORD)
        profile = await store.create_profile("seedbox", rtorrent.url,
                                             data_root=str(rtorrent.download_dir))
        await store.create_user("xavier", permissions={profile.id: "full"})
        await set_password(app, "xavier", USER_PASSWORD)
        data, info_hash = make_torrent(rtorrent.download_dir, "holiday.mkv",
                                       bytes(range(256)) * 100)
        async with client_for(app, peer="192.0.2.77") as xavier, client_for(app) as admin:
            assert (await login(xavier, "xavier", USER_PASSWORD)).status_code == 200
            assert (await login(admin, "admin", ADMIN_PASSWORD)).status_code == 200
            base = f"/api/profiles/{profile.id}/torrents"
            added = await xavier.post(base, files=[("torrent", ("t.torrent", data))],
                                      headers=ORIGIN)
            assert added.status_code == 201, added.text

            async def seeding() -> bool:  # rTorrent has checked the data it will delete
                rows = (await xavier.get(base)).json()["torrents"]
                return any(r["hash"] == info_hash and r["state"] == "seeding" for r in rows)

            await eventually(seeding)
            removed = await xavier.post(f"{base}/actions", headers=ORIGIN, json={
                "action": "remove", "hashes": [info_hash], "delete_data": True})
            assert removed.json() == {"results": {info_hash: "ok"}}
            assert not (rtorrent.download_dir / "holiday.mkv").exists()

            (event,) = await events(admin, kind="torrent.remove-data")
            assert (event["actor"], event["address"], event["target"]) == (
                "xavier", "192.0.2.77", info_hash)
            assert (event["outcome"], event["provider"]) == ("ok", "local")
            assert event["detail"]["name"] == "holiday.mkv"
            assert event["detail"]["profile"] == "seedbox"
            assert (await events(admin, user="xavier", kind="torrent")) == [event]
            # A plain removal (data kept) is not this event.
            assert (await events(admin, kind="torrent.remove")) == []

        shown = await asyncio.to_thread(cli, tmp_path, "audit", "--json", "--kind",
                                        "torrent.remove-data", "--since", "1d")
        assert shown.returncode == 0, shown.stderr
        (row,) = json.loads(shown.stdout)
        assert (row["actor"], row["address"], row["target"], row["detail"]["name"]) == (
            "xavier", "192.0.2.77", info_hash, "holiday.mkv")
        text_view = await asyncio.to_thread(cli, tmp_path, "audit", "--user", "xavier")
        assert "torrent.remove-data" in text_view.stdout and "192.0.2.77" in text_view.stdout


# ---------------------------------------------------------------- sign-in and changes


async def test_sign_ins_ok_failed_and_throttled_and_logout(app: PyTorrentApp,
                                                           admin: httpx.AsyncClient) -> None:
    async with client_for(app, peer="192.0.2.5") as stranger:
        for _ in range(6):
            reply = await login(stranger, "admin", "wrong-Pass-1")
        assert reply.status_code == 429
    assert (await admin.post("/api/auth/logout", headers=ORIGIN)).status_code == 200
    async with client_for(app) as again:
        assert (await login(again, "admin", ADMIN_PASSWORD)).status_code == 200
        found = await events(again, kind="auth")
    outcomes = [(e["kind"], e["outcome"], e["actor"], e["address"]) for e in reversed(found)]
    assert outcomes == [("auth.sign-in", "ok", "admin", "127.0.0.1")] \
        + [("auth.sign-in", "failed", "admin", "192.0.2.5")] * 5 \
        + [("auth.sign-in", "throttled", "admin", "192.0.2.5"),
           ("auth.sign-out", "ok", "admin", "127.0.0.1"),
           ("auth.sign-in", "ok", "admin", "127.0.0.1")]
    assert {e["provider"] for e in found} == {"local"}


async def test_user_changes_name_actor_address_and_kind(app: PyTorrentApp,
                                                        admin: httpx.AsyncClient) -> None:
    created = await admin.post("/api/auth/users", headers=ORIGIN,
                               json={"username": "yara", "password": "yara-Pass-123"})
    user_id = created.json()["user"]["id"]
    for change in ({"role": "admin"}, {"active": False}, {"password": "yara-Pass-456"},
                   {"permissions": {"*": "ro"}}):
        reply = await admin.put(f"/api/auth/users/{user_id}", headers=ORIGIN, json=change)
        assert reply.status_code == 200, reply.text
    assert (await admin.delete(f"/api/auth/users/{user_id}", headers=ORIGIN)).status_code == 200
    found = await events(admin, kind="user", user="yara")
    assert [e["kind"] for e in reversed(found)] == [
        "user.create", "user.role", "user.deactivate", "user.password", "user.permissions",
        "user.delete"]
    assert {(e["actor"], e["address"], e["provider"], e["outcome"]) for e in found} == {
        ("admin", "127.0.0.1", "local", "ok")}


async def test_own_password_change_reset_and_reactivation(tmp_path: Path, app: PyTorrentApp,
                                                           admin: httpx.AsyncClient) -> None:
    created = await admin.post("/api/auth/users", headers=ORIGIN,
                               json={"username": "ursa", "password": "ursa-Pass-123"})
    user_id = created.json()["user"]["id"]
    async with client_for(app, peer="192.0.2.30") as ursa:
        assert (await login(ursa, "ursa", "ursa-Pass-123")).status_code == 200
        changed = await ursa.post("/api/auth/password", headers=ORIGIN, json={
            "current_password": "ursa-Pass-123", "new_password": "ursa-Pass-456"})
        assert changed.status_code == 200, changed.text
    reset = await asyncio.to_thread(cli, tmp_path, "reset-password", "ursa", "ursa-Pass-789")
    assert reset.returncode == 0, reset.stderr
    for active in (False, True):
        reply = await admin.put(f"/api/auth/users/{user_id}", headers=ORIGIN,
                                json={"active": active})
        assert reply.status_code == 200, reply.text
    # By time: the server writes its events in batches, the CLI at once.
    found = [(e["kind"], e["actor"], e["address"]) for e in sorted(
        await events(admin, user="ursa"), key=lambda e: e["at"])]
    assert found == [
        ("user.create", "admin", "127.0.0.1"),
        ("auth.sign-in", "ursa", "192.0.2.30"),
        ("auth.password-check", "ursa", "192.0.2.30"),
        ("user.password", "ursa", "192.0.2.30"),
        ("user.password", "cli", None),
        ("user.deactivate", "admin", "127.0.0.1"),
        ("user.activate", "admin", "127.0.0.1")]


async def test_tokens_made_and_revoked_are_recorded(app: PyTorrentApp,
                                                    admin: httpx.AsyncClient) -> None:
    me = (await admin.get("/api/auth/me")).json()["user"]
    made = await admin.post(f"/api/auth/users/{me['id']}/tokens", headers=ORIGIN,
                            json={"name": "backup", "permission": "ro"})
    assert made.status_code == 201, made.text
    token_id = made.json()["record"]["id"]
    revoked = await admin.delete(f"/api/auth/users/{me['id']}/tokens/{token_id}",
                                 headers=ORIGIN)
    assert revoked.status_code == 204
    found = list(reversed(await events(admin, kind="token")))
    assert [(e["kind"], e["target"]) for e in found] == [
        ("token.create", f"{me['id']}:backup"), ("token.revoke", f"{me['id']}:{token_id}")]
    assert found[0]["detail"] == {"permission": "ro", "profiles": None}
    assert {(e["actor"], e["address"], e["provider"]) for e in found} == {
        ("admin", "127.0.0.1", "local")}


async def test_profiles_made_changed_and_deleted_are_recorded(
        app: PyTorrentApp, admin: httpx.AsyncClient) -> None:
    made = await admin.post("/api/profiles", headers=ORIGIN,
                            json={"name": "attic", "scgi_url": "scgi://127.0.0.1:1"})
    assert made.status_code == 201, made.text
    profile_id = made.json()["profile"]["id"]
    renamed = await admin.patch(f"/api/profiles/{profile_id}", headers=ORIGIN,
                                json={"name": "cellar"})
    assert renamed.status_code == 200, renamed.text
    gone = await admin.delete(f"/api/profiles/{profile_id}", headers=ORIGIN)
    assert gone.status_code == 204, gone.text
    found = list(reversed(await events(admin, kind="profile")))
    assert [(e["kind"], e["target"]) for e in found] == [
        ("profile.create", "attic"), ("profile.update", str(profile_id)),
        ("profile.delete", str(profile_id))]
    assert {(e["actor"], e["address"]) for e in found} == {("admin", "127.0.0.1")}


async def test_the_api_filters_pages_and_names_bad_fields(app: PyTorrentApp,
                                                          admin: httpx.AsyncClient) -> None:
    for number in range(5):
        await app.services.store.audit("profile.create", actor="zed", target=f"p{number}")
    first = await admin.get("/api/audit", params={"user": "zed", "limit": "2"})
    page = first.json()
    assert [e["target"] for e in page["events"]] == ["p4", "p3"]
    second = (await admin.get("/api/audit", params={
        "user": "zed", "limit": "2", "before_id": str(page["next_before_id"])})).json()
    assert [e["target"] for e in second["events"]] == ["p2", "p1"]
    assert await events(admin, user="zed", until="2000-01-01T00:00") == []
    assert len(await events(admin, user="zed", since="1h")) == 5
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await events(admin, user="zed", since=future) == []
    for name, value in (("since", "yesterday"), ("limit", "0"), ("before_id", "x")):
        reply = await admin.get("/api/audit", params={name: value})
        assert reply.status_code == 400 and reply.json()["field"] == name
        assert "Traceback" not in reply.text


async def test_only_admins_read_the_audit_log(app: PyTorrentApp,
                                              admin: httpx.AsyncClient) -> None:
    await app.services.store.create_user("una")
    await set_password(app, "una", "una-Pass-1234")
    async with client_for(app) as una:
        assert (await login(una, "una", "una-Pass-1234")).status_code == 200
        assert (await una.get("/api/audit")).status_code == 403
        assert (await una.get("/admin/audit")).status_code == 403
    page = await admin.get("/admin/audit")
    assert page.status_code == 200 and 'id="audit-table"' in page.text
    assert "<script>" not in page.text and "style=" not in page.text


# ---------------------------------------------------------------- never in the way


async def test_a_failing_write_never_fails_the_request(app: PyTorrentApp,
                                                       caplog: pytest.LogCaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    store = app.services.store
    real = store.write_audit

    async def broken(batch: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "write_audit", broken)
    async with client_for(app, peer="192.0.2.9") as client:
        assert (await login(client, "admin", "wrong-Pass-1")).status_code == 401
    with caplog.at_level(logging.WARNING):
        await app.services.audit.flush()  # what the background loop does: no exception
    assert "could not write 1 audit events" in caplog.text
    assert app.services.audit.pending == 1  # kept for the next try
    monkeypatch.setattr(store, "write_audit", real)
    await app.services.audit.flush()
    (event,) = await store.audit_events(kind="auth.sign-in")
    assert (event["outcome"], event["remote_addr"]) == ("failed", "192.0.2.9")


REFUSE_AUDIT = ("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit table is read-only'); END")


async def test_an_unwritable_audit_table_never_fails_a_change(
        app: PyTorrentApp, admin: httpx.AsyncClient,
        caplog: pytest.LogCaptureFixture) -> None:
    store = app.services.store
    async with store.engine.begin() as conn:
        await conn.execute(text(REFUSE_AUDIT))
    created = await admin.post("/api/auth/users", headers=ORIGIN,
                               json={"username": "vera", "password": "vera-Pass-123"})
    assert created.status_code == 201, created.text
    user_id = created.json()["user"]["id"]
    changed = await admin.put(f"/api/auth/users/{user_id}", headers=ORIGIN,
                              json={"role": "admin", "permissions": {"*": "ro"}})
    assert changed.status_code == 200, changed.text
    made = await admin.post("/api/profiles", headers=ORIGIN,
                            json={"name": "attic", "scgi_url": "scgi://127.0.0.1:1"})
    assert made.status_code == 201, made.text
    vera = await store.get_user(user_id)
    assert vera is not None and vera.role == "admin"
    assert await store.get_profile_by_name("attic") is not None
    with caplog.at_level(logging.WARNING):
        await app.services.audit.flush()
    assert "could not write" in caplog.text and "audit events; will retry" in caplog.text
    assert app.services.audit.pending >= 3  # kept for when the table takes them again
    async with store.engine.begin() as conn:
        await conn.execute(text("DROP TRIGGER refuse_audit"))
    found = await events(admin, user="vera")
    assert {"user.create", "user.role"} <= {e["kind"] for e in found}


async def test_without_a_server_a_failing_audit_write_is_logged_not_raised(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings, _ = load_for_test(tmp_path)
    store = Store.from_url(settings.database_url)  # as the CLI uses it: no writer
    try:
        await store.migrate()
        async with store.engine.begin() as conn:
            await conn.execute(text(REFUSE_AUDIT))
        with caplog.at_level(logging.ERROR):
            user = await store.create_user("walt", actor="cli")
            await store.update_user(user.id, active=False, actor="cli")
        assert (await store.get_user_by_name("walt")) == await store.get_user(user.id)
        assert not (await store.get_user(user.id)).active  # type: ignore[union-attr]
        assert "could not write the audit event user.create" in caplog.text
        assert "could not write the audit event user.deactivate" in caplog.text
        assert await store.audit_events() == []
    finally:
        await store.close()


async def test_a_refused_change_records_no_event(app: PyTorrentApp,
                                                 admin: httpx.AsyncClient) -> None:
    body = {"username": "xena", "password": "xena-Pass-1234"}
    assert (await admin.post("/api/auth/users", headers=ORIGIN, json=body)).status_code == 201
    again = await admin.post("/api/auth/users", headers=ORIGIN, json=body)
    assert again.status_code == 409
    assert [e["kind"] for e in await events(admin, user="xena")] == ["user.create"]


async def test_request_path_events_are_queued_not_written_inline(
        app: PyTorrentApp, monkeypatch: pytest.MonkeyPatch) -> None:
    store = app.services.store
    real = store.write_audit
    gate = asyncio.Event()

    async def slow(batch: Any) -> None:  # a database that takes its time
        await gate.wait()
        await real(batch)

    monkeypatch.setattr(store, "write_audit", slow)
    async with client_for(app) as client:
        reply = await asyncio.wait_for(login(client, "admin", "wrong-Pass-1"), 20)
        assert reply.status_code == 401  # answered while nothing could be written
    assert await store.audit_events(kind="auth") == []
    gate.set()
    await eventually(lambda: store.audit_events(kind="auth"))  # the background batch


# ---------------------------------------------------------------- sampled events


async def test_bypass_use_is_recorded_once_per_address_per_hour(tmp_path: Path) -> None:
    env = {"PYTORRENT_AUTH_BYPASS_HOSTS": "10.11.1.11"}
    async with running_app(tmp_path, env) as app:
        client = app.quart.test_client()
        for peer in ("10.0.0.5", "10.0.0.5", "10.0.0.6"):
            reply = await client.get("/api/auth/me", headers={"Host": "10.11.1.11"},
                                     peer=peer)  # type: ignore[call-arg]
            assert reply.status_code == 200
        await app.services.audit.flush()
        found = await app.services.store.audit_events(kind="auth.bypass")
        assert sorted(e["remote_addr"] for e in found) == ["10.0.0.5", "10.0.0.6"]
        assert {(e["actor"], e["provider"]) for e in found} == {("admin", "bypass")}


async def test_untrusted_identity_headers_are_recorded_sampled(tmp_path: Path) -> None:
    env = {"PYTORRENT_AUTH_PROVIDER": "proxy"}
    async with running_app(tmp_path, env) as app:
        client = app.quart.test_client()
        for _ in range(3):
            reply = await client.get("/api/auth/me", headers={"Remote-User": "admin"},
                                     peer="192.0.2.66")  # type: ignore[call-arg]
            assert reply.status_code == 401
        await app.services.audit.flush()
        (event,) = await app.services.store.audit_events(kind="auth.untrusted-header")
        assert (event["remote_addr"], event["outcome"]) == ("192.0.2.66", "refused")
        assert event["detail"]["header"] == "Remote-User"


async def test_identity_headers_without_the_proxy_secret_are_recorded_sampled(
        tmp_path: Path) -> None:
    secret = "4f1c9a7e2b8d6035e1a9c7f2b4d6e8a0"
    env = {"PYTORRENT_AUTH_PROVIDER": "tinyauth", "PYTORRENT_AUTH_PROXY_SECRET": secret}
    async with running_app(tmp_path, env) as app:
        client = app.quart.test_client()
        for wrong in ({}, {"X-PyTorrent-Proxy-Secret": "guess"}, {}):
            reply = await client.get("/api/auth/me", headers={"Remote-User": "admin", **wrong},
                                     peer="127.0.0.1")  # type: ignore[call-arg]
            assert reply.status_code == 401
        await app.services.audit.flush()
        (event,) = await app.services.store.audit_events(kind="auth.untrusted-header")
        assert (event["remote_addr"], event["outcome"]) == ("127.0.0.1", "refused")
        assert event["detail"]["reason"] == "missing or wrong proxy secret"
        assert await app.services.store.audit_events(kind="auth.sign-in") == []


@pytest.mark.parametrize("provider", ["tinyauth", "proxy"])
async def test_external_sign_ins_are_recorded_once_per_user_address_and_hour(
        tmp_path: Path, provider: str) -> None:
    env = {"PYTORRENT_AUTH_PROVIDER": provider, "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true",
           "PYTORRENT_AUTH_TRUSTED_PROXIES": "127.0.0.1,::1,10.0.0.0/8"}
    async with running_app(tmp_path, env) as app:
        client = app.quart.test_client()

        async def me(username: str, peer: str) -> int:
            reply = await client.get("/api/auth/me", headers={"Remote-User": username},
                                     peer=peer)  # type: ignore[call-arg]
            return reply.status_code

        for peer in ("10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.2"):
            assert await me("alice", peer) == 200
        alice = await app.services.store.get_user_by_name("alice")
        assert alice is not None
        await app.services.store.update_user(alice.id, active=False, actor="admin")
        for _ in range(3):
            assert await me("alice", "10.0.0.1") == 401
        await app.services.audit.flush()
        store = app.services.store
        signed = [(e["outcome"], e["remote_addr"], e["provider"])
                  for e in reversed(await store.audit_events(kind="auth.sign-in"))]
        assert signed == [("ok", "10.0.0.1", provider), ("ok", "10.0.0.2", provider),
                          ("failed", "10.0.0.1", provider)]
        (failed,) = await store.audit_events(kind="auth.sign-in", user="alice", limit=1)
        assert failed["detail"]["reason"] == "inactive_user"
        (created,) = await store.audit_events(kind="user.create", user="alice")
        assert (created["actor"], created["target"], created["remote_addr"]) == (
            f"provider:{provider}", "alice", "10.0.0.1")


async def test_a_token_is_recorded_at_first_use_from_each_address(app: PyTorrentApp) -> None:
    admin = await app.services.store.get_user_by_name("admin")
    assert admin is not None
    await app.services.store.update_user(admin.id, must_change_password=False)
    token = await issue_token(app.services.store, admin.id)
    client = app.quart.test_client()
    for peer in ("192.0.2.1", "192.0.2.1", "192.0.2.2"):
        reply = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"},
                                 peer=peer)  # type: ignore[call-arg]
        assert reply.status_code == 200
    await app.services.audit.flush()
    found = await app.services.store.audit_events(kind="token.new-address")
    assert sorted(e["remote_addr"] for e in found) == ["192.0.2.1", "192.0.2.2"]
    assert {(e["actor"], e["provider"]) for e in found} == {("admin", "token")}


def test_sampling_waits_an_hour_per_address() -> None:
    moment = [0.0]
    log = AuditLog(Store.from_url("sqlite+aiosqlite://"), 90, clock=lambda: moment[0])
    log.bypass_used("admin", "10.0.0.1")
    log.bypass_used("admin", "10.0.0.1")
    moment[0] = 3599.0
    log.bypass_used("admin", "10.0.0.1")
    assert log.pending == 1
    moment[0] = 3601.0
    log.bypass_used("admin", "10.0.0.1")
    assert log.pending == 2


# ---------------------------------------------------------------- retention and schema


async def test_old_events_are_pruned_after_the_retention(tmp_path: Path) -> None:
    settings, _ = load_for_test(tmp_path, {"PYTORRENT_AUDIT_RETENTION_DAYS": "30"})
    assert settings.audit_retention_days == 30
    store = Store.from_url(settings.database_url)
    try:
        await store.migrate()
        async with store.engine.begin() as conn:
            for days in (40, 10):
                await conn.execute(schema.audit_events.insert().values(
                    at=datetime.now(UTC) - timedelta(days=days), action=f"old.{days}"))
        assert await AuditLog(store, 0).prune() == 0  # 0 keeps everything
        assert await AuditLog(store, 30).prune() == 1
        assert [e["action"] for e in await store.audit_events(kind="old")] == ["old.10"]
    finally:
        await store.close()
    # The server prunes at start-up too.
    async with running_app(tmp_path, {"PYTORRENT_AUDIT_RETENTION_DAYS": "5"}) as app:
        await eventually(lambda: _none_left(app.services.store))


async def _none_left(store: Store) -> bool:
    return await store.audit_events(kind="old") == []


def test_a_bad_retention_names_the_setting(tmp_path: Path) -> None:
    from pytorrent_core.config import ConfigError

    with pytest.raises(ConfigError, match="PYTORRENT_AUDIT_RETENTION_DAYS=\"-1\""):
        load_for_test(tmp_path, {"PYTORRENT_AUDIT_RETENTION_DAYS": "-1"})


async def test_migration_8_keeps_existing_audit_rows(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'db' / 'pytorrent.db'}")
    try:
        with monkeypatch.context() as old:
            old.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:6])
            old.setattr(migrations, "LATEST", 6)
            async with store.engine.begin() as conn:  # as release 6 started
                await conn.run_sync(migrations.apply_migrations)
        async with store.engine.begin() as conn:  # a row as release 6 wrote it
            await conn.execute(text("DROP INDEX ix_audit_events_at"))
            await conn.execute(text("ALTER TABLE audit_events DROP COLUMN provider"))
            await conn.execute(text("ALTER TABLE audit_events DROP COLUMN outcome"))
            await conn.execute(text(
                "INSERT INTO audit_events (at, actor, action, target, remote_addr) "
                "VALUES ('2024-01-02 03:04:05', 'admin', 'user.update', 'bob', '10.0.0.1')"))
        assert await store.migrate() == [step.id for step in upgrade.history()][1:]
        async with store.engine.connect() as conn:
            assert await conn.run_sync(migrations.current_version) == migrations.FINAL
        (row,) = await store.audit_events(user="bob")
        assert (row["actor"], row["action"], row["remote_addr"]) == ("admin", "user.update",
                                                                     "10.0.0.1")
        assert row["provider"] is None and row["outcome"] is None
        assert await store.sessions() == []
    finally:
        await store.close()
