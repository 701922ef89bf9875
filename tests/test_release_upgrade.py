"""A database written by the release before Alembic upgrades without loss, and works.

tests/data/release.sqlite was made by that release's own code (its commit and the
script are in tests/data/), not by trimming today's migration list: what it holds
is what users' databases hold. pyTorrent starts on a copy as on a user's upgrade.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pyotp
from sqlalchemy import text

from pytorrent_core.storage import migrations, upgrade
from pytorrent_core.testing import running_app

DATA = Path(__file__).parent / "data"
FACTS = json.loads((DATA / "release.json").read_text(encoding="utf-8"))
TABLES = ("meta", "users", "profiles", "profile_labels", "profile_permissions", "preferences",
          "api_tokens", "api_token_profiles", "user_totp", "recovery_codes", "audit_events",
          "ended_sessions", "user_sessions")


def rows(path: Path) -> dict[str, set[tuple[Any, ...]]]:
    with sqlite3.connect(path) as conn:
        found = {table: set(conn.execute(f"SELECT * FROM {table}"))  # noqa: S608
                 for table in TABLES}
    conn.close()
    return found


def test_the_committed_database_is_the_release_s_and_full() -> None:
    before = rows(DATA / "release.sqlite")
    assert FACTS["schema_version"] == migrations.FINAL
    assert ("schema_version", str(migrations.FINAL)) in before["meta"]
    with sqlite3.connect(DATA / "release.sqlite") as conn:
        tables = {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert "alembic_version" not in tables
    assert all(before[table] for table in TABLES), {t: len(r) for t, r in before.items()}


async def test_the_release_database_upgrades_and_every_row_works(tmp_path: Path) -> None:
    database = tmp_path / "data" / "pytorrent.db"
    database.parent.mkdir(mode=0o700)
    shutil.copyfile(DATA / "release.sqlite", database)
    database.chmod(0o600)
    before = rows(database)

    async with running_app(tmp_path) as app:
        store = app.services.store
        async with store.engine.connect() as conn:
            assert await conn.run_sync(upgrade.current) == upgrade.head()
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
        assert mode == "wal"
        after = rows(database)
        for table in TABLES:
            if table == "meta":  # the counters move on; every key stays
                assert {key for key, _ in before[table]} <= {key for key, _ in after[table]}
            else:
                assert before[table] <= after[table], table

        ids = FACTS["ids"]
        alice = await store.get_user(ids["alice"])
        assert alice is not None and alice.username == "alice"
        assert (alice.display_name, alice.email, alice.groups) == (
            "Alice A", "alice@example.org", ("family", "media"))
        bob = await store.get_user(ids["bob"])
        assert bob is not None and (bob.provider, bob.external_subject) == ("proxy", "bob-sub")
        assert await store.permissions(ids["alice"]) == {ids["seedbox"]: "full",
                                                         ids["spare"]: "ro"}
        assert await store.permissions(ids["bob"]) == {None: "ro"}
        assert await store.active_profile(ids["alice"]) == ids["seedbox"]
        assert await store.profile_labels(ids["seedbox"]) == ["movies", "linux isos"]
        seedbox = await store.get_profile(ids["seedbox"])
        assert seedbox is not None and seedbox.data_root == "/srv/torrents"
        assert [s.sid for s in await store.sessions(ids["alice"])] == ["live-session-id"]
        assert "ended-session-id" in await store.ended_sessions()
        assert {e["action"] for e in await store.audit_events(limit=100)} >= {
            "user.create", "profile.create", "token.create", "token.revoke", "login"}

        client = app.quart.test_client()
        passwords = FACTS["passwords"]
        for name in ("admin", "alice"):
            signed_in = await client.post("/api/auth/login", json={
                "username": name, "password": passwords[name]})
            assert signed_in.status_code == 200, (name, await signed_in.get_data())
        refused = await client.post("/api/auth/login", json={
            "username": "dave", "password": passwords["dave"]})
        assert refused.status_code == 401  # deactivated in the release: still is

        tokens = FACTS["tokens"]
        fresh = app.quart.test_client()
        me = await fresh.get("/api/auth/me",
                             headers={"Authorization": f"Bearer {tokens['plain']}"})
        assert me.status_code == 200 and (await me.get_json())["user"]["username"] == "alice"
        scoped = await fresh.get("/api/auth/me",
                                 headers={"Authorization": f"Bearer {tokens['scoped']}"})
        assert scoped.status_code == 200
        revoked = await fresh.get("/api/auth/me",
                                  headers={"Authorization": f"Bearer {tokens['revoked']}"})
        assert revoked.status_code == 401
        (token, *_) = [t for t in await store.list_tokens(ids["alice"]) if t.name == "read only"]
        assert token.scope is not None and token.scope.permission == "ro"
        assert token.scope.profiles == frozenset({ids["seedbox"]})

        carol = app.quart.test_client()
        first = await carol.post("/api/auth/login", json={
            "username": "carol", "password": passwords["carol"]})
        assert first.status_code == 202, await first.get_data()
        pending = (await first.get_json())["pending"]
        code = pyotp.TOTP(FACTS["totp_secret"]).now()
        done = await carol.post("/api/auth/login/2fa", json={"pending": pending, "code": code})
        assert done.status_code == 200, await done.get_data()
        assert (await done.get_json())["user"]["two_factor"] is True
        again = app.quart.test_client()
        first = await again.post("/api/auth/login", json={
            "username": "carol", "password": passwords["carol"]})
        pending = (await first.get_json())["pending"]
        recovered = await again.post("/api/auth/login/2fa", json={
            "pending": pending, "code": FACTS["recovery_code"]})
        assert recovered.status_code == 200, await recovered.get_data()
