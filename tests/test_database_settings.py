"""PYTORRENT_DATABASE_URL and `pytorrent db`: PostgreSQL for real, one-line errors.

A database that cannot be used stops `pytorrent serve` and every command with one
line naming the setting and the fix: never a traceback, never the password.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.postgres import PostgresServer

from pytorrent_core.testing import ServerProcess, environment, free_port


def pytorrent(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytorrent.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def one_line_error(result: subprocess.CompletedProcess[str], *, secret: str) -> str:
    assert result.returncode != 0, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and secret not in result.stderr + result.stdout
    assert lines[0].startswith('Error: PYTORRENT_DATABASE_URL="***" (environment): '), lines
    return lines[0]


@pytest.fixture
def fake_missing_driver(tmp_path: Path) -> str:
    """A PYTHONPATH on which ``import asyncpg`` fails as it does when it is not installed."""
    folder = tmp_path / "no-asyncpg" / "asyncpg"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(
        'raise ModuleNotFoundError("No module named \'asyncpg\'", name="asyncpg")\n',
        encoding="utf-8")
    return str(folder.parent)


@pytest.mark.parametrize("command", [("serve",), ("users", "list"), ("db", "current")])
def test_an_unreachable_database_stops_start_up_in_one_line(tmp_path: Path,
                                                            command: tuple[str, ...]) -> None:
    url = f"postgresql+asyncpg://pytorrent:hunter2-secret@127.0.0.1:{free_port()}/pytorrent"
    line = one_line_error(pytorrent(environment(tmp_path, {"PYTORRENT_DATABASE_URL": url}),
                                    *command), secret="hunter2-secret")
    assert "cannot use the database postgresql+asyncpg://pytorrent:***@127.0.0.1:" in line
    assert "check that the server is running and reachable" in line


def test_a_wrong_password_or_missing_database_is_one_line(tmp_path: Path,
                                                          postgres_server: PostgresServer
                                                          ) -> None:
    wrong = postgres_server.url("postgres").replace(postgres_server.password, "not-it-42")
    line = one_line_error(pytorrent(environment(tmp_path, {"PYTORRENT_DATABASE_URL": wrong}),
                                    "serve"), secret="not-it-42")
    assert "password authentication failed" in line
    missing = postgres_server.url("no_such_database")
    line = one_line_error(pytorrent(environment(tmp_path, {"PYTORRENT_DATABASE_URL": missing}),
                                    "users", "list"), secret=postgres_server.password)
    assert 'database "no_such_database" does not exist' in line


@pytest.mark.parametrize("command", [("serve",), ("db", "upgrade")])
def test_a_missing_driver_names_the_extra_to_install(tmp_path: Path, fake_missing_driver: str,
                                                     command: tuple[str, ...]) -> None:
    env = environment(tmp_path, {
        "PYTORRENT_DATABASE_URL": "postgresql+asyncpg://pytorrent:pw-9@127.0.0.1/pytorrent",
        "PYTHONPATH": fake_missing_driver})
    line = one_line_error(pytorrent(env, *command), secret="pw-9")
    assert line.endswith("the database driver asyncpg is not installed; install it "
                         "(pip install 'pytorrent-core[postgres]')"), line


@pytest.mark.parametrize(("url", "says"), [
    ("postgres://pytorrent:pw-7@db/pytorrent", "pyTorrent does not run on postgres;"),
    ("mysql+aiomysql://pytorrent:pw-7@db/pytorrent", "does not run on mysql+aiomysql;"),
    ("postgresql+psycopg2://pytorrent:pw-7@db/pytorrent", "does not run on postgresql+psycopg2"),
    ("not a url pw-7", "not a database URL;"),
])
def test_a_url_pytorrent_cannot_use_is_refused_when_read(tmp_path: Path, url: str,
                                                         says: str) -> None:
    line = one_line_error(pytorrent(environment(tmp_path, {"PYTORRENT_DATABASE_URL": url}),
                                    "serve"), secret="pw-7")
    assert says in line
    assert "expected postgresql+asyncpg://user:password@host/database" in line


def test_a_bad_pool_size_names_the_setting(tmp_path: Path) -> None:
    result = pytorrent(environment(tmp_path, {"PYTORRENT_DATABASE_POOL_SIZE": "0"}), "serve")
    assert result.returncode != 0
    assert result.stderr.strip().startswith('Error: PYTORRENT_DATABASE_POOL_SIZE="0"')


def test_pytorrent_db_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    env = environment(tmp_path, {"PYTORRENT_DATABASE_URL": postgres_url})
    current = pytorrent(env, "db", "current")
    assert current.returncode == 0, current.stderr
    assert "revision: none; the database is empty" in current.stdout
    assert "to apply: 0001" in current.stdout
    upgraded = pytorrent(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "applied: 0001" in upgraded.stdout
    assert ":***@127.0.0.1" in upgraded.stdout  # the database it changed, password masked
    again = pytorrent(env, "db", "upgrade")
    assert "the schema is up to date" in again.stdout
    current = pytorrent(env, "db", "current")
    assert "revision: 0001 (newest)" in current.stdout and "to apply" not in current.stdout
    history = pytorrent(env, "db", "history").stdout.splitlines()
    assert history[0].split() == ["revision", "applied", "title"]
    assert history[1].split()[:2] == ["0001", "yes"]


def test_pytorrent_db_on_a_release_sqlite_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "pytorrent.db").write_bytes(
        (Path(__file__).parent / "data" / "release.sqlite").read_bytes())
    env = environment(tmp_path)
    current = pytorrent(env, "db", "current")
    assert "revision: none yet; schema version 9 of a release before Alembic" in current.stdout
    assert "no" in pytorrent(env, "db", "history").stdout.splitlines()[1].split()
    assert pytorrent(env, "db", "upgrade").returncode == 0
    assert "revision: 0001 (newest)" in pytorrent(env, "db", "current").stdout


def test_db_commands_do_not_create_a_sqlite_database(tmp_path: Path) -> None:
    env = environment(tmp_path)
    for command in (("db", "current"), ("db", "history"), ("db", "upgrade")):
        result = pytorrent(env, *command)
        assert result.returncode != 0 and "no database at" in result.stderr, command
    assert not (tmp_path / "data" / "pytorrent.db").exists()


@pytest.mark.server
def test_pytorrent_serve_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    env = {"PYTORRENT_DATABASE_URL": postgres_url, "PYTORRENT_DATABASE_POOL_SIZE": "2"}
    with ServerProcess(tmp_path, env) as server:
        assert "one-time password" in server.log()
        listed = server.cli("users", "list")
        assert listed.returncode == 0, listed.stderr
        assert "admin" in listed.stdout
    assert not (tmp_path / "data" / "pytorrent.db").exists()
