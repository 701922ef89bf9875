"""``pytorrent reset-password`` and ``pytorrent users ...``."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.tables import aligned

from pytorrent_core import passwords
from pytorrent_core.cli import main
from pytorrent_core.storage import Store
from pytorrent_core.testing import environment, served_environment


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A server's first start has created the database the commands change."""
    return served_environment(tmp_path)


def run(env: dict[str, str], *args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


def stored(env: dict[str, str], username: str):
    async def read():
        store = Store.from_url(f"sqlite+aiosqlite:///{env['PYTORRENT_DATA_DIR']}/pytorrent.db")
        try:
            user = await store.get_user_by_name(username)
            digest = await store.password_hash(user.id) if user else None
            grants = await store.permissions(user.id) if user else None
            return user, digest, grants
        finally:
            await store.close()

    return asyncio.run(read())


def test_reset_password_as_written_in_auth_md(env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", "pytorrent.cli", "reset-password", "admin",
                             "new_Pass"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "password of 'admin' changed" in result.stdout
    assert "new_Pass" not in result.stdout + result.stderr
    user, digest, _ = stored(env, "admin")
    assert passwords.verify(digest, "new_Pass")
    assert user.session_epoch > 1


def test_reset_password_prompts_twice_without_echo(env: dict[str, str]) -> None:
    result = run(env, "reset-password", "admin", input="prompt-Pass-1\nprompt-Pass-1\n")
    assert result.exit_code == 0, result.output
    assert "prompt-Pass-1" not in result.output
    assert "New password:" in result.output and "Repeat the password:" in result.output
    _, digest, _ = stored(env, "admin")
    assert passwords.verify(digest, "prompt-Pass-1")


def test_reset_password_refuses_a_mismatch(env: dict[str, str]) -> None:
    run(env, "reset-password", "admin", "first-Pass-1")
    result = run(env, "reset-password", "admin", input="prompt-Pass-1\nprompt-Pass-2\n")
    assert result.exit_code != 0
    assert "do not match" in result.output
    _, digest, _ = stored(env, "admin")
    assert passwords.verify(digest, "first-Pass-1")


def test_reset_password_refuses_weak_passwords(env: dict[str, str]) -> None:
    result = run(env, "reset-password", "admin", "short")
    assert result.exit_code != 0
    assert "at least 8 characters" in result.output
    assert "Traceback" not in result.output


def test_reset_password_for_unknown_user_fails_in_one_line(env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", "pytorrent.cli", "reset-password", "ghost",
                             "ghost-Pass-1"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert errors == ["Error: no user named 'ghost'; see `pytorrent users list`"]
    assert "Traceback" not in result.stderr


def test_users_add_list_and_manage(env: dict[str, str]) -> None:
    added = run(env, "users", "add", "nina", "--password", "nina-Pass-1", "--permission", "rw",
                "--display-name", "Nina", "--email", "nina@example.com")
    assert added.exit_code == 0, added.output
    user, digest, grants = stored(env, "nina")
    assert user.role == "user" and user.display_name == "Nina"
    assert passwords.verify(digest, "nina-Pass-1") and grants == {None: "full"}

    listed = run(env, "users", "list", "--json")
    rows = {row["username"]: row for row in json.loads(listed.output)}
    assert rows["nina"]["role"] == "user" and rows["admin"]["builtin"] is True
    assert "hash" not in listed.output and "nina-Pass-1" not in listed.output
    table = run(env, "users", "list").output
    assert "nina" in table and "(built-in)" in table

    assert run(env, "users", "set-role", "nina", "admin").exit_code == 0
    assert stored(env, "nina")[0].role == "admin"
    assert run(env, "users", "deactivate", "nina").exit_code == 0
    assert stored(env, "nina")[0].active is False
    assert run(env, "users", "activate", "nina").exit_code == 0
    assert stored(env, "nina")[0].active is True
    refused = run(env, "users", "delete", "nina", input="n\n")
    assert refused.exit_code != 0 and stored(env, "nina")[0] is not None
    assert run(env, "users", "delete", "nina", "--yes").exit_code == 0
    assert stored(env, "nina")[0] is None


def test_users_add_prompts_and_can_skip_the_password(env: dict[str, str]) -> None:
    prompted = run(env, "users", "add", "olga", input="olga-Pass-1\nolga-Pass-1\n")
    assert prompted.exit_code == 0, prompted.output
    assert passwords.verify(stored(env, "olga")[1], "olga-Pass-1")
    bare = run(env, "users", "add", "pete", "--no-password")
    assert bare.exit_code == 0
    assert stored(env, "pete")[1] is None
    dup = run(env, "users", "add", "PETE", "--no-password")
    assert dup.exit_code != 0 and "already exists" in dup.output


@pytest.mark.parametrize("args,message", [
    (("users", "set-role", "admin", "user"), "built-in admin cannot be demoted"),
    (("users", "deactivate", "admin"), "built-in admin cannot be demoted or deactivated"),
    (("users", "delete", "admin", "--yes"), "built-in admin cannot be deleted"),
    (("users", "activate", "ghost"), "no user named 'ghost'"),
    (("users", "add", "bad\u0007name", "--no-password"),
     "must not contain control or invisible characters"),
])
def test_refusals_are_one_line_errors(env: dict[str, str], args, message: str) -> None:
    result = run(env, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_create_makes_a_fresh_database_with_its_first_admin(tmp_path: Path) -> None:
    env = environment(tmp_path)
    result = run(env, "users", "add", "nina", "--no-password", "--create")
    assert result.exit_code == 0, result.output
    database = Path(env["PYTORRENT_DATA_DIR"]) / "pytorrent.db"
    assert f"database: {database}" in result.output
    assert "one-time password" in result.output  # the built-in admin, as on first start
    listed = run(env, "users", "list")
    assert "admin" in listed.output and "nina" in listed.output


def test_reset_password_notes_an_external_provider(env: dict[str, str]) -> None:
    env = {**env, "PYTORRENT_AUTH_PROVIDER": "proxy"}
    result = run(env, "reset-password", "admin", "spare-Pass-1")
    assert result.exit_code == 0, result.output
    assert "is external" in result.output
    assert passwords.verify(stored(env, "admin")[1], "spare-Pass-1")


def test_deletes_the_store_would_refuse_are_refused_before_asking(env: dict[str, str]) -> None:
    builtin = run(env, "users", "delete", "admin")  # no --yes, nothing typed
    assert builtin.exit_code == 1
    assert "Error: the built-in admin cannot be deleted" in builtin.output
    assert "Delete user" not in builtin.output
    assert run(env, "users", "add", "chief", "--role", "admin", "--no-password").exit_code == 0
    with sqlite3.connect(Path(env["PYTORRENT_DATA_DIR"]) / "pytorrent.db") as conn:
        conn.execute("UPDATE users SET active = 0 WHERE builtin = 1")
    last = run(env, "users", "delete", "chief")
    assert last.exit_code == 1
    assert "Error: the last active admin cannot be deleted" in last.output
    assert "Delete user" not in last.output
    assert stored(env, "chief")[0] is not None
    assert run(env, "users", "add", "deputy", "--no-password").exit_code == 0
    asked = run(env, "users", "delete", "deputy", input="y\n")
    assert asked.exit_code == 0 and "Delete user 'deputy'? [y/N]" in asked.output
    assert stored(env, "deputy")[0] is None


def test_users_list_has_an_aligned_header(env: dict[str, str]) -> None:
    long_name = "a-rather-long-username-for-the-table"
    assert run(env, "users", "add", long_name, "--no-password").exit_code == 0
    lines = run(env, "users", "list").output.splitlines()
    assert lines[0].split() == ["id", "username", "role", "state", "sign-in"]
    for column, value in (("username", long_name), ("role", "user"), ("state", "active"),
                          ("sign-in", "none"), ("sign-in", "password (built-in)")):
        assert aligned(lines, column, value), (column, lines)
