"""``pytorrent profiles list|add|set|remove|test``, against a real rtorrent for ``test``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.rtorrent import RTorrentProcess
from support.tables import aligned

from pytorrent_core.cli import main
from pytorrent_core.testing import free_port, served_environment


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A server's first start has created the database the commands change."""
    return served_environment(tmp_path)


@pytest.fixture
def rtorrent(tmp_path: Path) -> Iterator[RTorrentProcess]:
    with RTorrentProcess(tmp_path / "rt") as process:
        yield process


def run(env: dict[str, str], *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


def test_add_list_set_remove(env: dict[str, str]) -> None:
    empty = run(env, "profiles", "list")
    assert empty.exit_code == 0 and "no profiles yet" in empty.output
    added = run(env, "profiles", "add", "nas", "scgi://127.0.0.1:5000")
    assert added.exit_code == 0, added.output
    assert "added profile 'nas' (id 1)" in added.output
    listed = json.loads(run(env, "profiles", "list", "--json").output)
    assert listed == [{"id": 1, "name": "nas", "scgi_url": "scgi://127.0.0.1:5000",
                       "data_root": None}]
    changed = run(env, "profiles", "set", "nas", "--scgi-url", "scgi:///run/rt.sock",
                  "--data-root", "/srv/torrents/")
    assert changed.exit_code == 0, changed.output
    listed = json.loads(run(env, "profiles", "list", "--json").output)
    assert listed[0]["scgi_url"] == "scgi:///run/rt.sock"
    assert listed[0]["data_root"] == "/srv/torrents"
    long_name = "a-profile-name-longer-than-the-old-columns"
    assert run(env, "profiles", "add", long_name, "scgi://127.0.0.1:5001").exit_code == 0
    table = run(env, "profiles", "list").output.splitlines()
    assert table[0].split() == ["id", "name", "scgi_url", "data_root"]
    for column, value in (("name", long_name), ("scgi_url", "scgi:///run/rt.sock"),
                          ("scgi_url", "scgi://127.0.0.1:5001"), ("data_root", "/srv/torrents"),
                          ("data_root", "-")):
        assert aligned(table, column, value), (column, table)
    assert run(env, "profiles", "remove", long_name, "--yes").exit_code == 0
    assert run(env, "profiles", "remove", "1", input="n\n").exit_code != 0
    removed = run(env, "profiles", "remove", "nas", "--yes")
    assert removed.exit_code == 0 and "removed profile 'nas'" in removed.output
    assert json.loads(run(env, "profiles", "list", "--json").output) == []


@pytest.mark.parametrize(("args", "message"), [
    (("add", "x", "http://127.0.0.1:5000"), "scgi_url must start with scgi://"),
    (("add", "x", "scgi://127.0.0.1:5000", "--data-root", "relative"), "data_root"),
    (("add", "x", "scgi://127.0.0.1:5000", "--data-root", "/"), "data_root cannot be /"),
    (("set", "missing", "--name", "y"), "no profile named 'missing'"),
    (("test", "missing"), "no profile named 'missing'"),
    (("set", "missing"), "nothing to change"),
])
def test_bad_input_is_one_line(env: dict[str, str], args: tuple[str, ...],
                               message: str) -> None:
    result = run(env, "profiles", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_duplicate_name_is_refused(env: dict[str, str]) -> None:
    assert run(env, "profiles", "add", "nas", "scgi://127.0.0.1:5000").exit_code == 0
    again = run(env, "profiles", "add", "nas", "scgi://127.0.0.1:5001")
    assert again.exit_code != 0 and "already exists" in again.output


def test_test_prints_the_version_or_the_reason(env: dict[str, str],
                                               rtorrent: RTorrentProcess) -> None:
    assert run(env, "profiles", "add", "box", rtorrent.url).exit_code == 0
    good = run(env, "profiles", "test", "box")
    assert good.exit_code == 0, good.output
    assert "profile 'box': rTorrent 0." in good.output and "0 torrents" in good.output
    dead = f"scgi://127.0.0.1:{free_port()}"
    assert run(env, "profiles", "add", "dead", dead).exit_code == 0
    bad = run(env, "profiles", "test", "dead")
    assert bad.exit_code == 1
    assert "cannot use rTorrent" in bad.output and "refused" in bad.output
