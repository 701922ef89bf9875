"""``pytorrent tokens create|list|revoke`` against a running server's database."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from support.tables import aligned

from pytorrent_core.storage import Store
from pytorrent_core.testing import ServerProcess, database_url

pytestmark = pytest.mark.server


def add_user(tmp_path: Path, username: str) -> None:
    async def run() -> None:
        store = Store.from_url(database_url(tmp_path))
        try:
            await store.migrate()
            await store.create_user(username)
        finally:
            await store.close()

    asyncio.run(run())


def wait_for_status(url: str, headers: dict[str, str], status: int) -> int:
    deadline = time.monotonic() + 15
    while True:
        got = httpx.get(url, headers=headers).status_code
        if got == status or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_create_list_revoke(tmp_path: Path) -> None:
    with ServerProcess(tmp_path) as server:
        add_user(tmp_path, "alice")
        made = server.cli("tokens", "create", "alice", "--name", "nightly backup",
                          "--expires-in-days", "30")
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        assert token.startswith("pt_") and "\n" not in token
        assert "shown only once" in made.stderr
        assert token not in made.stderr

        me = httpx.get(f"{server.url}/api/auth/me", headers={"X-API-Key": token})
        assert me.status_code == 200
        assert me.json()["user"]["username"] == "alice"

        listed = server.cli("tokens", "list", "alice", "--json")
        assert listed.returncode == 0, listed.stderr
        assert token not in listed.stdout
        (row,) = json.loads(listed.stdout)
        assert (row["name"], row["prefix"], row["state"]) == ("nightly backup", token[:10],
                                                             "active")
        assert row["expires_at"] is not None
        plain = server.cli("tokens", "list", "alice")
        assert "nightly backup" in plain.stdout and token not in plain.stdout
        lines = plain.stdout.splitlines()
        assert lines[0].split() == ["id", "prefix", "state", "created", "expires", "last",
                                    "used", "scope", "name"]
        for column, value in (("prefix", f"{token[:10]}..."), ("state", "active"),
                              ("created", row["created_at"]), ("expires", row["expires_at"]),
                              ("last used", "never"), ("scope", "with its owner's access"),
                              ("name", "nightly backup")):
            assert aligned(lines, column, value), (column, lines)

        revoked = server.cli("tokens", "revoke", "alice", str(row["id"]))
        assert revoked.returncode == 0, revoked.stderr
        # The server learns of the change through the database's auth generation.
        assert wait_for_status(f"{server.url}/api/auth/me", {"X-API-Key": token}, 401) == 401
        after = json.loads(server.cli("tokens", "list", "alice", "--json").stdout)
        assert after[0]["state"] == "revoked"


def test_errors_are_one_line(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)  # the CLI needs no running server
    add_user(tmp_path, "carol")  # and the database exists
    missing = server.cli("tokens", "create", "nobody", "--name", "x")
    assert missing.returncode != 0
    assert "no user named 'nobody'" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = server.cli("tokens", "create", "nobody", "--name", "x", "--expires-in-days", "0")
    assert bad.returncode != 0
    assert "expires_in_days" in bad.stderr
    both = server.cli("tokens", "create", "nobody", "--name", "x", "--expires-in-days", "1",
                      "--expires-at", "2999-01-01")
    assert both.returncode != 0 and "not both" in both.stderr
    unknown = server.cli("tokens", "revoke", "carol", "42")
    assert unknown.returncode != 0 and "no such live token" in unknown.stderr
