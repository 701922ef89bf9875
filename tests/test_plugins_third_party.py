"""A provider from another distribution, installed next to pyTorrent, used by a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support.fake_provider import make_distribution

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
