"""A provider from another distribution, installed next to pyTorrent, used by a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fake_provider import make_distribution

import pytorrent_core
from pytorrent_core.testing import ServerProcess, environment

pytestmark = pytest.mark.server


def python_path(root: Path) -> str:
    return os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_plugins_list_in_a_fresh_process_sees_it(tmp_path: Path) -> None:
    root = make_distribution(tmp_path / "site")
    env = environment(tmp_path, {"PYTHONPATH": python_path(root),
                                 "PYTORRENT_AUTH_PROVIDER": "acme"})
    result = subprocess.run([sys.executable, "-m", "pytorrent.cli", "plugins", "list"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "* acme" in lines[1]
    assert lines[1].split() == ["*", "acme", "pytorrent-acme-sso", "1.2.3"]
    assert any(line.split()[:2] == ["local", "pytorrent-auth-local"] for line in lines)


def test_server_runs_with_the_third_party_provider(tmp_path: Path) -> None:
    root = make_distribution(tmp_path / "site")
    env = {"PYTHONPATH": python_path(root), "PYTORRENT_AUTH_PROVIDER": "acme",
           "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true", "PYTORRENT_AUTH_ACME_REALM": "Acme staff"}
    with ServerProcess(tmp_path, env) as server:
        status, body = get(f"{server.url}/api/auth/me", {"X-Acme-User": "carol"})
        assert status == 200, body
        user = body["user"]
        assert isinstance(user, dict)
        assert (user["username"], user["provider"], user["display_name"], user["via"]) == (
            "carol", "acme", "Acme staff", "provider")
        assert body["provider"] == "acme"
        status, _ = get(f"{server.url}/api/auth/me")
        assert status == 401


# ------------------------------------------------------------------ the documented example

DOC = Path(__file__).resolve().parent.parent / "docs" / "providers.md"


def documented_example() -> tuple[dict[str, object], str]:
    """The pyproject.toml and the module of docs/providers.md's example, as written there."""
    import re
    import tomllib

    blocks = dict(re.findall(r"```(?:toml|python)\n# (\S+)\n(.*?)```", DOC.read_text(),
                             re.DOTALL))
    return (tomllib.loads(blocks["pyproject.toml"]),
            blocks["pytorrent_auth_acme/__init__.py"])


@pytest.fixture
def documented_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    project, source = documented_example()
    meta = project["project"]
    assert isinstance(meta, dict)
    (name, target), = meta["entry-points"]["pytorrent.auth_providers"].items()
    root = make_distribution(tmp_path / "site", provider=name, module=target,
                             distribution=meta["name"], version=meta["version"],
                             source=source)
    monkeypatch.syspath_prepend(str(root))
    yield name
    sys.modules.pop(target, None)


async def test_the_documented_example_provider_works(tmp_path: Path,
                                                     documented_provider: str) -> None:
    from pytorrent_core.testing import running_app

    env = {"PYTORRENT_AUTH_PROVIDER": documented_provider,
           "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true",
           "PYTORRENT_AUTH_BYPASS_HOSTS": "10.11.1.11"}
    async with running_app(tmp_path, env) as app:
        client = app.quart.test_client()
        reply = await client.get("/api/auth/me", headers={"X-Acme-User": "dana",
                                                          "X-Acme-Teams": "ops, media"})
        body = await reply.get_json()
        assert reply.status_code == 200, body
        assert (body["user"]["username"], body["user"]["provider"]) == ("dana", "acme")
        user = await app.services.store.get_user_by_name("dana")
        assert user is not None and user.groups == ("ops", "media")
        # Its declared headers keep a request out of the direct-IP bypass.
        bypassed = await client.get("/api/auth/me", headers={"Host": "10.11.1.11"})
        assert (await bypassed.get_json())["user"]["via"] == "bypass"
        teams_only = await client.get("/api/auth/me", headers={"Host": "10.11.1.11",
                                                                "X-Acme-Teams": "ops"})
        assert (await teams_only.get_json()) == {
            "error": "no X-Acme-User header reached pyTorrent"}
        logout = await client.get("/logout", headers={"X-Acme-User": "dana"})
        assert logout.headers["Location"] == "https://sso.acme.example/logout"


def test_the_documented_example_imports_only_the_provider_api() -> None:
    import ast

    project, source = documented_example()
    imported = {node.module for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.ImportFrom)}
    assert imported == {"pytorrent_core.provider"}
    assert project["project"]["dependencies"] == [  # type: ignore[index]
        f"pytorrent-core~={'.'.join(pytorrent_core.__version__.split('.')[:2])}"]
