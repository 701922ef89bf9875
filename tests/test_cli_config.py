"""`pytorrent config show|init|example` and one-line errors from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pytorrent_core.bootstrap import load
from pytorrent_core.cli import main
from pytorrent_core.config import CORE_SETTINGS

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-value-that-must-never-print"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def python_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytorrent.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


# ------------------------------------------------------------------ init


def test_init_writes_defaults_and_refuses_to_overwrite(clean_env: Path) -> None:
    code, out, _ = run("config", "init")
    target = clean_env / "pytorrent.toml"
    assert (code, out) == (0, f"wrote {target.name}\n")
    settings, _ = load(None, {})
    assert settings.config_path is not None
    assert settings.config_path.resolve() == target
    for setting in CORE_SETTINGS:
        assert settings[setting.key] == setting.default, setting.key

    target.write_text("[server]\nport = 9999\n")
    code, _, err = run("config", "init")
    assert code == 1
    assert err == f"Error: {target.name} exists; pass --force to overwrite it\n"
    assert target.read_text() == "[server]\nport = 9999\n"

    code, _, _ = run("config", "init", "--force")
    assert code == 0
    assert load(None, {})[0].server_port == 8090
    assert sorted(p.name for p in clean_env.iterdir()) == ["pytorrent.toml"]


def test_init_to_a_given_path_and_to_the_config_option(clean_env: Path,
                                                       tmp_path: Path) -> None:
    given = tmp_path / "etc" / "given.toml"
    assert run("config", "init", str(given))[0] == 0
    assert load(given, {})[0].auth_provider == "local"

    chosen = tmp_path / "chosen.toml"
    assert run("--config", str(chosen), "config", "init")[0] == 0
    assert chosen.is_file()
    assert not (clean_env / "pytorrent.toml").exists()


def test_init_into_a_folder_is_refused(clean_env: Path) -> None:
    code, _, err = run("config", "init", str(clean_env))
    assert code == 2
    assert err.splitlines()[-1] == (
        f"Error: Invalid value for '[PATH]': File '{clean_env}' is a directory.")
    assert list(clean_env.iterdir()) == []


# ------------------------------------------------------------------ show


def test_show_effective_values_and_sources(clean_env: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / "pytorrent.toml").write_text('[auth]\nprovider = "proxy"\n')
    monkeypatch.setenv("PYTORRENT_PORT", "9100")
    code, out, _ = run("config", "show", "--sources")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "# config file: pytorrent.toml"
    assert "server.port = 9100    # environment: PYTORRENT_PORT" in lines
    assert 'auth.provider = "proxy"    # file: pytorrent.toml [auth.provider]' in lines
    assert "auth.enable = true    # default" in lines
    assert 'server.host = "0.0.0.0"    # default' in lines

    code, plain, _ = run("config", "show")
    assert "server.port = 9100" in plain.splitlines()
    assert "#" not in "".join(plain.splitlines()[1:])


def test_show_json_lists_every_key(clean_env: Path) -> None:
    code, out, _ = run("config", "show", "--json")
    assert code == 0
    rows = {row["key"]: row for row in json.loads(out)}
    assert set(rows) == {s.key for s in CORE_SETTINGS}
    assert rows["auth.provider"] == {"key": "auth.provider", "env": "PYTORRENT_AUTH_PROVIDER",
                                     "value": "local", "source": "default"}


def test_show_includes_the_active_providers_settings(clean_env: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTORRENT_AUTH_PROVIDER", "tinyauth")
    monkeypatch.setenv("PYTORRENT_AUTH_TINYAUTH_LOGOUT_URL", "https://auth.example.com/out")
    code, out, _ = run("config", "show", "--sources")
    assert code == 0
    assert ('auth.tinyauth.logout_url = "https://auth.example.com/out"    '
            "# environment: PYTORRENT_AUTH_TINYAUTH_LOGOUT_URL") in out.splitlines()


def test_show_says_what_unset_api_origins_mean(clean_env: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTORRENT_SOCKETIO_CORS_ALLOWED_ORIGINS", "https://t.example.com")
    code, out, _ = run("config", "show", "--sources")
    assert ('api.allowed_origins = ["https://t.example.com"]    '
            "# default (unset: reuses socketio.cors_allowed_origins)") in out.splitlines()


def test_show_masks_secrets(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTORRENT_SECRET_KEY", SECRET)
    monkeypatch.setenv("PYTORRENT_DATABASE_URL", f"postgresql+asyncpg://u:{SECRET}@db/p")
    for args in (["config", "show"], ["config", "show", "--sources"],
                 ["config", "show", "--json"]):
        code, out, err = run(*args)
        assert code == 0
        assert SECRET not in out + err
    code, out, _ = run("config", "show")
    assert 'server.secret_key = "***"' in out.splitlines()
    assert 'database.url = "***"' in out.splitlines()


# ------------------------------------------------------------------ example


def test_example_command_prints_the_committed_example(clean_env: Path) -> None:
    code, out, _ = run("config", "example")
    assert code == 0
    assert out == (ROOT / "pytorrent.toml.example").read_text(encoding="utf-8")


# ------------------------------------------------------------------ one-line errors


def clean_os_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTORRENT_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
               XDG_DATA_HOME=str(tmp_path / "xdg-data"),
               PYTORRENT_DATA_DIR=str(tmp_path / "data"))
    env.update(extra)
    return env


BAD = {
    "bad boolean": ({"PYTORRENT_AUTH_ENABLE": "maybe"}, "",
                    'PYTORRENT_AUTH_ENABLE="maybe" (environment): expected a boolean'),
    "unknown provider": ({"PYTORRENT_AUTH_PROVIDER": "tinyauht"}, "",
                         'PYTORRENT_AUTH_PROVIDER="tinyauht" (environment): no such provider; '
                         "installed: "),
    "unknown role": ({}, '[auth]\nproxy_auto_create_role = "root"\n',
                     'auth.proxy_auto_create_role = "root" (file pytorrent.toml): '
                     "expected one of: user, admin"),
    "unknown permission": ({"PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION": "write"}, "",
                           'PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION="write" (environment): '
                           "expected one of: none, ro, full, rw"),
    "toml syntax": ({}, "[auth\n", "config file pytorrent.toml: TOML syntax error: "),
    "unreadable": ({"PYTORRENT_CONFIG": "."}, "", "config file .: is a folder, not a TOML file"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
@pytest.mark.parametrize("command", [["config", "show"], ["serve"]], ids=["show", "serve"])
def test_user_errors_are_one_line_without_traceback(tmp_path: Path, case: str,
                                                    command: list[str]) -> None:
    env_extra, toml, expected = BAD[case]
    work = tmp_path / "work"
    work.mkdir()
    if toml:
        (work / "pytorrent.toml").write_text(toml)
    # A port nothing listens on: if the error were missed, serve would fail differently.
    args = [*command, "--port", "1"] if command == ["serve"] else command
    result = python_cli(*args, env=clean_os_env(tmp_path, **env_extra), cwd=work)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {expected}"), result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
