"""Commands name the database they change and never create one by accident.

Run under another HOME, user or config, a command used to open (and create) a
fresh database, print its one-time admin password and report success, while the
server's database stayed as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pytorrent_core.cli import main
from pytorrent_core.storage.location import describe, sqlite_file
from pytorrent_core.testing import environment, served_environment


def run(env: dict[str, str], *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


WRITES = [
    ("reset-password", "admin", "new_Pass"),
    ("reset-password", "admin"),  # would ask for the password: refused before asking
    ("users", "add", "nina"),
    ("users", "add", "nina", "--no-password"),
    ("users", "set-role", "admin", "user"),
    ("users", "activate", "admin"),
    ("users", "deactivate", "admin"),
    ("users", "delete", "admin", "--yes"),
    ("tokens", "create", "admin", "--name", "backup"),
    ("tokens", "revoke", "admin", "1"),
    ("profiles", "add", "nas", "scgi://127.0.0.1:5000"),
    ("profiles", "set", "nas", "--name", "box"),
    ("profiles", "remove", "nas", "--yes"),
]
READS = [
    ("users", "list"),
    ("users", "list", "--json"),
    ("tokens", "list", "admin"),
    ("profiles", "list"),
    ("profiles", "test", "nas"),
]


def test_reset_password_under_another_home_changes_nothing(tmp_path: Path) -> None:
    """The finding, as written: another HOME, no settings, the AUTH.md command."""
    home = tmp_path / "other-home"
    home.mkdir()
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("PYTORRENT_", "XDG_"))}
    env["HOME"] = str(home)
    result = subprocess.run([sys.executable, "-m", "pytorrent.cli", "reset-password", "admin",
                             "new_Pass"], env=env, cwd=home, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    expected = home / ".local" / "share" / "pytorrent" / "pytorrent.db"
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.stderr
    assert f"no database at {expected} " in errors[0]
    assert "PYTORRENT_DATA_DIR and PYTORRENT_DB_PATH are unset" in errors[0]
    assert "no config file found" in errors[0]
    assert "nothing was changed" in errors[0] and "add --create" in errors[0]
    assert "one-time password" not in result.stderr
    assert "changed;" not in result.stdout
    assert not expected.parent.exists()


@pytest.mark.parametrize("args", WRITES, ids=" ".join)
def test_writes_refuse_a_missing_database(tmp_path: Path, args: tuple[str, ...]) -> None:
    env = environment(tmp_path)
    result = run(env, *args)
    assert result.exit_code == 1
    database = tmp_path / "data" / "pytorrent.db"
    assert result.stderr.startswith(f"Error: no database at {database} (pytorrent.db in "
                                    f'PYTORRENT_DATA_DIR="{tmp_path / "data"}" (environment))')
    assert "add --create" in result.stderr and "Traceback" not in result.output
    assert "New password" not in result.output  # refused before anything is asked
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_reads_say_the_database_is_missing(tmp_path: Path, args: tuple[str, ...]) -> None:
    env = environment(tmp_path)
    result = run(env, *args)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: no database at {tmp_path / 'data'}")
    assert "`pytorrent serve` creates one on first start" in result.stderr
    assert "--create" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_the_setting_that_chose_the_file_is_named(tmp_path: Path) -> None:
    chosen = tmp_path / "elsewhere" / "pt.db"
    by_path = run(environment(tmp_path, {"PYTORRENT_DB_PATH": str(chosen)}),
                  "users", "add", "nina", "--no-password")
    assert by_path.exit_code == 1
    assert f'no database at {chosen} (from PYTORRENT_DB_PATH="{chosen}" (environment))' \
        in by_path.stderr
    url = f"sqlite+aiosqlite:///{chosen}"
    by_url = run(environment(tmp_path, {"PYTORRENT_DATABASE_URL": url}),
                 "users", "add", "nina", "--no-password")
    assert by_url.exit_code == 1
    # The URL is a secret setting (it may carry a password): named, never shown.
    assert f'no database at {chosen} (from PYTORRENT_DATABASE_URL="***" (environment))' \
        in by_url.stderr
    config = tmp_path / "pytorrent.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path / "configured"}"\n', encoding="utf-8")
    env = environment(tmp_path)
    del env["PYTORRENT_DATA_DIR"]
    by_file = run(env, "profiles", "add", "nas", "scgi://127.0.0.1:5000")
    assert by_file.exit_code == 1
    assert (f'(pytorrent.db in server.data_dir = "{tmp_path / "configured"}" '
            f"(file {config}))") in by_file.stderr
    assert not chosen.parent.exists() and not (tmp_path / "configured").exists()


def test_create_makes_the_database_on_purpose(tmp_path: Path) -> None:
    chosen = tmp_path / "new" / "pt.db"
    env = environment(tmp_path, {"PYTORRENT_DB_PATH": str(chosen)})
    made = run(env, "profiles", "add", "nas", "scgi://127.0.0.1:5000", "--create")
    assert made.exit_code == 0, made.output
    assert made.stdout.splitlines()[-1] == f"database: {chosen}"
    assert chosen.exists()
    assert json.loads(run(env, "profiles", "list", "--json").stdout)[0]["name"] == "nas"


def test_every_write_names_the_database_it_changed(tmp_path: Path) -> None:
    env = served_environment(tmp_path)
    line = f"database: {tmp_path / 'data' / 'pytorrent.db'}"
    token = run(env, "tokens", "create", "admin", "--name", "backup")
    assert token.exit_code == 0, token.output
    assert token.stdout.startswith("pt_") and len(token.stdout.splitlines()) == 1
    assert token.stderr.splitlines()[-1] == line  # stdout stays the token alone
    token_id = json.loads(run(env, "tokens", "list", "admin", "--json").stdout)[0]["id"]
    for args in [
        ("reset-password", "admin", "new_Pass"),
        ("users", "add", "nina", "--no-password"),
        ("users", "set-role", "nina", "admin"),
        ("users", "deactivate", "nina"),
        ("users", "activate", "nina"),
        ("users", "delete", "nina", "--yes"),
        ("tokens", "revoke", "admin", str(token_id)),
        ("profiles", "add", "nas", "scgi://127.0.0.1:5000"),
        ("profiles", "set", "nas", "--name", "box"),
        ("profiles", "remove", "box", "--yes"),
    ]:
        result = run(env, *args)
        assert result.exit_code == 0, (args, result.output)
        assert result.stdout.splitlines()[-1] == line, args
        assert result.output.count("database:") == 1
    for args in READS[:-1]:
        assert "database:" not in run(env, *args).output


def test_a_refused_or_aborted_write_names_no_database(tmp_path: Path) -> None:
    env = served_environment(tmp_path)
    assert "database:" not in run(env, "users", "delete", "ghost", "--yes").output
    assert run(env, "profiles", "add", "nas", "scgi://127.0.0.1:5000").exit_code == 0
    aborted = run(env, "profiles", "remove", "nas", input="n\n")
    assert aborted.exit_code == 1 and "database:" not in aborted.output


def test_database_descriptions_mask_passwords() -> None:
    url = "postgresql+asyncpg://pytorrent:s3cret%40x@db.internal:5432/pytorrent"
    assert describe(url) == "postgresql+asyncpg://pytorrent:***@db.internal:5432/pytorrent"
    assert sqlite_file(url) is None
    assert describe("sqlite+aiosqlite:////srv/pt/pytorrent.db") == "/srv/pt/pytorrent.db"
    assert sqlite_file("sqlite+aiosqlite:///:memory:") is None
    assert describe("sqlite+aiosqlite:///:memory:") == "SQLite in memory"
