"""`pytorrent auth doctor` explains the set-up and flags what is risky."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from pytorrent_core.bootstrap import public_networks, warn_if_open
from pytorrent_core.testing import environment, load_for_test


def doctor(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytorrent.cli", "auth", "doctor"],
                          env=environment(tmp_path, env), capture_output=True, text=True,
                          timeout=60)


def test_defaults_are_healthy(tmp_path: Path) -> None:
    result = doctor(tmp_path, {})
    assert result.returncode == 0, result.stderr
    assert "provider 'local'" in result.stdout
    assert "WARN" not in result.stdout and "ERROR" not in result.stdout


def test_risky_external_set_up_is_flagged(tmp_path: Path) -> None:
    result = doctor(tmp_path, {
        "PYTORRENT_AUTH_PROVIDER": "tinyauth",
        "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true",
        "PYTORRENT_AUTH_PROXY_AUTO_CREATE_ROLE": "user",
        "PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION": "rw",
        "PYTORRENT_AUTH_TRUSTED_PROXIES": "10.0.0.0/8,0.0.0.0/0",
        "PYTORRENT_AUTH_BYPASS_HOSTS": "10.11.1.11:8090",
        "PYTORRENT_API_ALLOWED_ORIGINS": "https://pytorrent.example.com",
    })
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("ERROR") and "0.0.0.0/0" in line for line in lines)
    assert any(line.startswith("WARN") and "SESSION_COOKIE_SECURE" in line for line in lines)
    assert any(line.startswith("WARN") and "PROXY_FIX_ENABLE" in line for line in lines)
    assert any("as users with 'full' on all profiles" in line for line in lines)
    # A fresh database: start-up will create the built-in admin, the default bypass user.
    assert any(line.startswith("ok") and "bypass user 'admin' is the built-in admin" in line
               for line in lines)


def test_bypass_user_is_checked_in_the_database(tmp_path: Path) -> None:
    env = {"PYTORRENT_AUTH_BYPASS_HOSTS": "10.11.1.11", "PYTORRENT_AUTH_BYPASS_USER": "nobody"}
    result = doctor(tmp_path, env)
    assert result.returncode == 1
    assert "ERROR bypass user 'nobody' does not exist" in result.stdout
    assert "there is no database at" in result.stdout
    assert not (tmp_path / "data" / "pytorrent.db").exists()  # a check creates nothing
    add = subprocess.run([sys.executable, "-m", "pytorrent.cli", "users", "add", "nobody",
                          "--role", "user", "--no-password", "--create"],
                         env=environment(tmp_path, env),
                         capture_output=True, text=True, timeout=60)
    assert add.returncode == 0, add.stderr
    result = doctor(tmp_path, env)
    assert result.returncode == 0, result.stdout
    assert "bypass user 'nobody' exists and is active (role user" in result.stdout


def test_public_trusted_proxies_warn_at_start(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    assert public_networks(("127.0.0.0/8", "192.168.0.0/16", "fc00::/7")) == []
    assert public_networks(("10.0.0.0/8", "0.0.0.0/0", "8.8.8.0/24")) == ["0.0.0.0/0",
                                                                          "8.8.8.0/24"]
    settings, _ = load_for_test(tmp_path, {"PYTORRENT_AUTH_TRUSTED_PROXIES": "0.0.0.0/0"})
    with caplog.at_level(logging.WARNING, logger="pytorrent"):
        warn_if_open(settings, "127.0.0.1")
    assert "includes public addresses (0.0.0.0/0)" in caplog.text
