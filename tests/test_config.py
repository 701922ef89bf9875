"""Layered settings: defaults < TOML file < PYTORRENT_* environment, and their errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytorrent_core.bootstrap import load
from pytorrent_core.config import (
    CORE_SETTINGS,
    ConfigError,
    Settings,
    build_settings,
    read_raw,
)
from pytorrent_core.plugins import installed_providers


def settings_from(tmp_path: Path, toml: str = "",
                  env: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "pytorrent.toml"
    path.write_text(toml, encoding="utf-8")
    return build_settings(read_raw(path, env or {}))


def error_from(tmp_path: Path, toml: str = "", env: dict[str, str] | None = None) -> str:
    path = tmp_path / "pytorrent.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(path, env or {})
    message = str(caught.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------ defaults


def test_fresh_install_requires_local_login(tmp_path: Path) -> None:
    settings, plugins = load(None, {"PYTORRENT_CONFIG": str(_empty(tmp_path))})
    assert settings.auth_enable is True
    assert settings.auth_provider == "local"
    assert plugins.provider == "local"
    assert settings.auth_proxy_auto_create is False
    assert settings.auth_bypass_hosts == ()
    assert settings.server_host == "0.0.0.0"
    assert settings.server_port == 8090
    assert all(source.kind == "default" for source in settings.sources.values())


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.toml"
    path.write_text("", encoding="utf-8")
    return path


def test_disabling_auth_loads_no_provider(tmp_path: Path) -> None:
    settings, plugins = load(_empty(tmp_path), {"PYTORRENT_AUTH_ENABLE": "false",
                                                "PYTORRENT_AUTH_PROVIDER": "nonexistent"})
    assert settings.auth_enable is False
    assert plugins.provider is None


# ------------------------------------------------------------------ precedence

PRECEDENCE = [
    # key, env name, TOML section+line, value from file, env text, value from env
    ("server.port", "PYTORRENT_PORT", "[server]\nport = 9001", 9001, "9002", 9002),
    ("auth.provider", "PYTORRENT_AUTH_PROVIDER", '[auth]\nprovider = "proxy"', "proxy",
     "tinyauth", "tinyauth"),
    ("auth.bypass_user", "PYTORRENT_AUTH_BYPASS_USER", '[auth]\nbypass_user = "ops"', "ops",
     "root2", "root2"),
    ("session.cookie_secure", "PYTORRENT_SESSION_COOKIE_SECURE",
     "[session]\ncookie_secure = true", True, "off", False),
    ("auth.bypass_hosts", "PYTORRENT_AUTH_BYPASS_HOSTS",
     '[auth]\nbypass_hosts = ["10.0.0.5"]', ("10.0.0.5",), "10.0.0.6,10.0.0.7",
     ("10.0.0.6", "10.0.0.7")),
    ("auth.proxy_user_header", "PYTORRENT_AUTH_PROXY_USER_HEADER",
     '[auth]\nproxy_user_header = "X-User"', "X-User", "X-Forwarded-User",
     "X-Forwarded-User"),
]


@pytest.mark.parametrize(("key", "env", "toml", "from_file", "env_text", "from_env"),
                         PRECEDENCE, ids=[row[0] for row in PRECEDENCE])
def test_default_then_file_then_environment(tmp_path: Path, key: str, env: str, toml: str,
                                            from_file: Any, env_text: str,
                                            from_env: Any) -> None:
    default = next(s.default for s in CORE_SETTINGS if s.key == key)
    assert default != from_file != from_env

    only_default = settings_from(tmp_path)
    assert only_default[key] == default
    assert only_default.sources[key].kind == "default"

    with_file = settings_from(tmp_path, toml)
    assert with_file[key] == from_file
    assert with_file.sources[key].kind == "file"
    assert str(with_file.sources[key]) == f"file: {tmp_path / 'pytorrent.toml'} [{key}]"

    with_env = settings_from(tmp_path, toml, {env: env_text})
    assert with_env[key] == from_env
    assert str(with_env.sources[key]) == f"environment: {env}"
    assert getattr(with_env, key.replace(".", "_")) == from_env


def test_environment_alone_overrides_default(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "", {"PYTORRENT_HOST": "127.0.0.1"})
    assert settings.server_host == "127.0.0.1"


# ------------------------------------------------------------------ AUTH.md variables

AUTH_MD_VARIABLES = {
    "PYTORRENT_AUTH_ENABLE": "auth.enable",
    "PYTORRENT_AUTH_PROVIDER": "auth.provider",
    "PYTORRENT_AUTH_PROXY_USER_HEADER": "auth.proxy_user_header",
    "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "auth.proxy_auto_create",
    "PYTORRENT_AUTH_PROXY_AUTO_CREATE_ROLE": "auth.proxy_auto_create_role",
    "PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION": "auth.proxy_auto_create_permission",
    "PYTORRENT_AUTH_BYPASS_HOSTS": "auth.bypass_hosts",
    "PYTORRENT_AUTH_BYPASS_USER": "auth.bypass_user",
    "PYTORRENT_PROXY_FIX_ENABLE": "proxy_fix.enable",
    "PYTORRENT_SESSION_COOKIE_SECURE": "session.cookie_secure",
    "PYTORRENT_SOCKETIO_CORS_ALLOWED_ORIGINS": "socketio.cors_allowed_origins",
    "PYTORRENT_API_ALLOWED_ORIGINS": "api.allowed_origins",
}


def test_every_auth_md_variable_is_a_setting() -> None:
    by_env = {setting.env: setting.key for setting in CORE_SETTINGS}
    for env, key in AUTH_MD_VARIABLES.items():
        assert by_env.get(env) == key


# The env blocks of AUTH.md, verbatim, and what each must mean.
AUTH_MD_BLOCKS = {
    "tinyauth": (
        {"PYTORRENT_AUTH_ENABLE": "true", "PYTORRENT_AUTH_PROVIDER": "tinyauth",
         "PYTORRENT_AUTH_PROXY_USER_HEADER": "Remote-User",
         "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true",
         "PYTORRENT_AUTH_PROXY_AUTO_CREATE_ROLE": "admin",
         "PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION": "rw",
         "PYTORRENT_AUTH_BYPASS_HOSTS": "10.11.1.11:8090,10.11.1.11",
         "PYTORRENT_AUTH_BYPASS_USER": "admin"},
        {"auth.enable": True, "auth.provider": "tinyauth",
         "auth.proxy_user_header": "Remote-User", "auth.proxy_auto_create": True,
         "auth.proxy_auto_create_role": "admin", "auth.proxy_auto_create_permission": "full",
         "auth.bypass_hosts": ("10.11.1.11:8090", "10.11.1.11"), "auth.bypass_user": "admin"},
    ),
    "proxy": (
        {"PYTORRENT_AUTH_ENABLE": "true", "PYTORRENT_AUTH_PROVIDER": "proxy",
         "PYTORRENT_AUTH_PROXY_USER_HEADER": "X-Forwarded-User",
         "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true",
         "PYTORRENT_AUTH_PROXY_AUTO_CREATE_ROLE": "user",
         "PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION": "rw"},
        {"auth.provider": "proxy", "auth.proxy_user_header": "X-Forwarded-User",
         "auth.proxy_auto_create": True, "auth.proxy_auto_create_role": "user",
         "auth.proxy_auto_create_permission": "full"},
    ),
    "local": (
        {"PYTORRENT_AUTH_ENABLE": "true", "PYTORRENT_AUTH_PROVIDER": "local"},
        {"auth.enable": True, "auth.provider": "local"},
    ),
    "reverse proxy origins": (
        {"PYTORRENT_PROXY_FIX_ENABLE": "true", "PYTORRENT_SESSION_COOKIE_SECURE": "true",
         "PYTORRENT_SOCKETIO_CORS_ALLOWED_ORIGINS": "https://pytorrent.example.com",
         "PYTORRENT_API_ALLOWED_ORIGINS": "https://pytorrent.example.com"},
        {"proxy_fix.enable": True, "session.cookie_secure": True,
         "socketio.cors_allowed_origins": ("https://pytorrent.example.com",),
         "api.allowed_origins": ("https://pytorrent.example.com",)},
    ),
}


@pytest.mark.parametrize("block", AUTH_MD_BLOCKS, ids=list(AUTH_MD_BLOCKS))
def test_auth_md_examples_mean_what_they_say(tmp_path: Path, block: str) -> None:
    env, expected = AUTH_MD_BLOCKS[block]
    settings, plugins = load(_empty(tmp_path), env)
    for key, value in expected.items():
        assert settings[key] == value, key
    assert plugins.provider == settings.auth_provider


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("false", False), ("1", True), ("0", False), ("yes", True), ("no", False),
    ("on", True), ("off", False), ("TRUE", True), (" Off ", False), ("Yes", True),
])
def test_boolean_spellings(tmp_path: Path, text: str, value: bool) -> None:
    settings = settings_from(tmp_path, "", {"PYTORRENT_AUTH_PROXY_AUTO_CREATE": text,
                                           "PYTORRENT_PROXY_FIX_ENABLE": text})
    assert settings.auth_proxy_auto_create is value
    assert settings.proxy_fix_enable is value


def test_toml_booleans(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "[auth]\nproxy_auto_create = true\n"
                                       "[session]\ncookie_secure = true\n")
    assert settings.auth_proxy_auto_create is True
    assert settings.session_cookie_secure is True


@pytest.mark.parametrize(("text", "level"),
                         [("none", "none"), ("ro", "ro"), ("rw", "full"), ("full", "full"),
                          ("RW", "full")])
def test_permission_levels_and_rw_alias(tmp_path: Path, text: str, level: str) -> None:
    env = {"PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION": text}
    assert settings_from(tmp_path, "", env).auth_proxy_auto_create_permission == level
    toml = f'[auth]\nproxy_auto_create_permission = "{text}"\n'
    assert settings_from(tmp_path, toml).auth_proxy_auto_create_permission == level


@pytest.mark.parametrize("role", ["user", "admin"])
def test_roles(tmp_path: Path, role: str) -> None:
    env = {"PYTORRENT_AUTH_PROXY_AUTO_CREATE_ROLE": role}
    assert settings_from(tmp_path, "", env).auth_proxy_auto_create_role == role


def test_lists_are_comma_separated_in_env_and_arrays_in_toml(tmp_path: Path) -> None:
    from_env = settings_from(tmp_path, "", {
        "PYTORRENT_AUTH_BYPASS_HOSTS": " 10.11.1.11:8090, 10.11.1.11,,",
        "PYTORRENT_AUTH_TRUSTED_PROXIES": "10.0.0.0/8,192.168.1.7",
        "PYTORRENT_SOCKETIO_CORS_ALLOWED_ORIGINS": "https://a.example,http://b.example:8080/",
    })
    assert from_env.auth_bypass_hosts == ("10.11.1.11:8090", "10.11.1.11")
    assert from_env.auth_trusted_proxies == ("10.0.0.0/8", "192.168.1.7/32")
    assert from_env.socketio_cors_allowed_origins == ("https://a.example",
                                                      "http://b.example:8080")
    from_file = settings_from(tmp_path, (
        '[auth]\nbypass_hosts = ["10.11.1.11:8090", "10.11.1.11"]\n'
        'trusted_proxies = ["10.0.0.0/8", "192.168.1.7"]\n'
        '[socketio]\ncors_allowed_origins = ["https://a.example", "http://b.example:8080/"]\n'))
    for key in ("auth.bypass_hosts", "auth.trusted_proxies", "socketio.cors_allowed_origins"):
        assert from_file[key] == from_env[key]


def test_api_origins_fall_back_to_socketio_origins(tmp_path: Path) -> None:
    socket_only = {"PYTORRENT_SOCKETIO_CORS_ALLOWED_ORIGINS": "https://pytorrent.example.com"}
    assert settings_from(tmp_path, "", socket_only).api_allowed_origins == (
        "https://pytorrent.example.com",)
    assert settings_from(tmp_path, "", {**socket_only, "PYTORRENT_API_ALLOWED_ORIGINS": ""}
                         ).api_allowed_origins == ("https://pytorrent.example.com",)
    both = {**socket_only, "PYTORRENT_API_ALLOWED_ORIGINS": "https://api.example.com"}
    assert settings_from(tmp_path, "", both).api_allowed_origins == ("https://api.example.com",)
    in_file = settings_from(tmp_path,
                            '[socketio]\ncors_allowed_origins = ["https://f.example"]\n')
    assert in_file.api_allowed_origins == ("https://f.example",)
    assert settings_from(tmp_path).api_allowed_origins == ()


def test_db_path_and_data_dir(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "", {"PYTORRENT_DATA_DIR": str(tmp_path / "d")})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'd' / 'pytorrent.db'}"
    settings = settings_from(tmp_path, "", {"PYTORRENT_DATA_DIR": str(tmp_path / "d"),
                                           "PYTORRENT_DB_PATH": str(tmp_path / "x" / "p.db")})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'x' / 'p.db'}"


# ------------------------------------------------------------------ file discovery


def test_explicit_path_beats_env_beats_cwd_beats_user_dir(clean_env: Path,
                                                         tmp_path: Path) -> None:
    import platformdirs

    user_dir = Path(platformdirs.user_config_dir("pytorrent"))
    assert str(user_dir).startswith(str(tmp_path))
    user_dir.mkdir(parents=True)
    (user_dir / "pytorrent.toml").write_text("[server]\nport = 1001\n")
    assert load(None, {})[0].server_port == 1001

    (clean_env / "pytorrent.toml").write_text("[server]\nport = 1002\n")
    assert load(None, {})[0].server_port == 1002

    named = tmp_path / "named.toml"
    named.write_text("[server]\nport = 1003\n")
    assert load(None, {"PYTORRENT_CONFIG": str(named)})[0].server_port == 1003

    explicit = tmp_path / "explicit.toml"
    explicit.write_text("[server]\nport = 1004\n")
    settings = load(explicit, {"PYTORRENT_CONFIG": str(named)})[0]
    assert settings.server_port == 1004
    assert settings.config_path == explicit


def test_no_config_file_anywhere_is_fine(clean_env: Path) -> None:
    settings, _ = load(None, {})
    assert settings.config_path is None
    assert settings.auth_provider == "local"


def test_named_file_must_exist(clean_env: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    for args in ((missing, {}), (None, {"PYTORRENT_CONFIG": str(missing)})):
        with pytest.raises(ConfigError) as caught:
            load(*args)
        assert str(caught.value) == (
            f"config file {missing}: not found; create it with `pytorrent config init "
            f"{missing}` or unset PYTORRENT_CONFIG/--config")


# ------------------------------------------------------------------ errors


def test_bad_boolean_in_environment(tmp_path: Path) -> None:
    assert error_from(tmp_path, "", {"PYTORRENT_AUTH_ENABLE": "maybe"}) == (
        'PYTORRENT_AUTH_ENABLE="maybe" (environment): '
        "expected a boolean: true/false, 1/0, yes/no or on/off")


def test_bad_boolean_in_file(tmp_path: Path) -> None:
    assert error_from(tmp_path, '[auth]\nenable = "maybe"\n') == (
        f'auth.enable = "maybe" (file {tmp_path / "pytorrent.toml"}): '
        "expected a boolean: true/false, 1/0, yes/no or on/off")


def test_unknown_role(tmp_path: Path) -> None:
    assert error_from(tmp_path, "", {"PYTORRENT_AUTH_PROXY_AUTO_CREATE_ROLE": "owner"}) == (
        'PYTORRENT_AUTH_PROXY_AUTO_CREATE_ROLE="owner" (environment): '
        "expected one of: user, admin")


def test_unknown_permission(tmp_path: Path) -> None:
    assert error_from(tmp_path, '[auth]\nproxy_auto_create_permission = "write"\n') == (
        f'auth.proxy_auto_create_permission = "write" (file {tmp_path / "pytorrent.toml"}): '
        "expected one of: none, ro, full, rw")


def _installed() -> str:
    return ", ".join(sorted(installed_providers()))


def test_unknown_provider_in_environment(tmp_path: Path) -> None:
    assert error_from(tmp_path, "", {"PYTORRENT_AUTH_PROVIDER": "tinyauht"}) == (
        f'PYTORRENT_AUTH_PROVIDER="tinyauht" (environment): no such provider; '
        f'installed: {_installed()}; did you mean "tinyauth"?')


def test_unknown_provider_in_file(tmp_path: Path) -> None:
    assert error_from(tmp_path, '[auth]\nprovider = "ldap"\n') == (
        f'auth.provider = "ldap" (file {tmp_path / "pytorrent.toml"}): no such provider; '
        f"installed: {_installed()}; choose one of those, or install the package that "
        "registers 'ldap' in the entry-point group pytorrent.auth_providers "
        "(see `pytorrent plugins list`)")
    assert "pip install" not in error_from(tmp_path, '[auth]\nprovider = "ldap"\n')


def test_unknown_provider_never_falls_back_to_local(tmp_path: Path) -> None:
    message = error_from(tmp_path, "", {"PYTORRENT_AUTH_PROVIDER": "Proxy-Typo"})
    assert message.startswith('PYTORRENT_AUTH_PROVIDER="proxy-typo" (environment)')


def test_toml_syntax_error(tmp_path: Path) -> None:
    message = error_from(tmp_path, "[auth]\nprovider local\n")
    assert message.startswith(f"config file {tmp_path / 'pytorrent.toml'}: TOML syntax error: ")
    assert "(at line 2, column 10)" in message


def test_config_path_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {})
    assert str(caught.value) == f"config file {tmp_path}: is a folder, not a TOML file"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _empty(tmp_path)

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(self))

    # root (as in CI) can read any file, so the refusal is simulated at the open call.
    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ConfigError) as caught:
        load(path, {})
    assert str(caught.value) == f"config file {path}: not readable (permission denied)"


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[auth]\nbypass_user = "j\xf6rg"\n')
    with pytest.raises(ConfigError) as caught:
        load(path, {})
    assert str(caught.value) == f"config file {path}: not UTF-8 text"


def test_unknown_key_in_file(tmp_path: Path) -> None:
    assert error_from(tmp_path, "[auth]\nprovder = \"local\"\n") == (
        f"auth.provder (file {tmp_path / 'pytorrent.toml'}): unknown setting; see "
        "pytorrent.toml.example or `pytorrent config show` for the known keys")


@pytest.mark.parametrize(("env", "expected"), [
    ({"PYTORRENT_PORT": "80a"},
     'PYTORRENT_PORT="80a" (environment): expected a whole number from 1 to 65535'),
    ({"PYTORRENT_API_ALLOWED_ORIGINS": "pytorrent.example.com"},
     'PYTORRENT_API_ALLOWED_ORIGINS="pytorrent.example.com" (environment): '
     "'pytorrent.example.com' is not an origin; write scheme://host[:port], "
     "for example https://pytorrent.example.com"),
    ({"PYTORRENT_AUTH_TRUSTED_PROXIES": "10.0.0.0/33"},
     'PYTORRENT_AUTH_TRUSTED_PROXIES="10.0.0.0/33" (environment): '
     "'10.0.0.0/33' is not an IP address or CIDR network, for example 10.0.0.0/8"),
    ({"PYTORRENT_AUTH_PROXY_USER_HEADER": "Remote User"},
     'PYTORRENT_AUTH_PROXY_USER_HEADER="Remote User" (environment): '
     "expected an HTTP header name such as X-Forwarded-User"),
])
def test_other_bad_values(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    assert error_from(tmp_path, "", env) == expected


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    message = error_from(tmp_path, "[server]\nsecret_key = 918273645\n")
    assert "918273645" not in message
    assert message == (f'server.secret_key = "***" (file {tmp_path / "pytorrent.toml"}): '
                       "expected a string")


# ------------------------------------------------------------------ provider settings


def test_provider_settings_layer_like_core_ones(tmp_path: Path) -> None:
    env = {"PYTORRENT_AUTH_PROVIDER": "tinyauth"}
    settings, _ = load(_empty(tmp_path), env)
    assert settings["auth.tinyauth.logout_url"] is None
    path = tmp_path / "p.toml"
    path.write_text('[auth.tinyauth]\nlogout_url = "https://auth.example.com/logout"\n')
    settings, _ = load(path, env)
    assert settings["auth.tinyauth.logout_url"] == "https://auth.example.com/logout"
    assert settings.sources["auth.tinyauth.logout_url"].kind == "file"
    settings, _ = load(path, {**env, "PYTORRENT_AUTH_TINYAUTH_LOGOUT_URL": "/bye"})
    assert settings["auth.tinyauth.logout_url"] == "/bye"


def test_inactive_provider_sections_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[auth.tinyauth]\nlogout_url = "https://auth.example.com/logout"\n')
    settings, _ = load(path, {"PYTORRENT_AUTH_PROVIDER": "local"})
    assert "auth.tinyauth.logout_url" not in settings.declared


def test_active_provider_section_rejects_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[auth.tinyauth]\nlogout_uri = "https://auth.example.com/logout"\n')
    with pytest.raises(ConfigError) as caught:
        load(path, {"PYTORRENT_AUTH_PROVIDER": "tinyauth"})
    assert str(caught.value).startswith(f"auth.tinyauth.logout_uri (file {path}): "
                                        "unknown setting")


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = settings_from(tmp_path)
    with pytest.raises(AttributeError):
        settings.values = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.values["server.port"] = 1  # type: ignore[index]


def test_misspelt_environment_variable_is_reported(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    env = {"PYTORRENT_AUTH_PROVDER": "tinyauth", "PYTORRENT_AUTH_ENABLE": "true",
           "PYTORRENT_AUTH_TINYAUTH_LOGOUT_URL": "/bye", "PYTORRENT_TEST_NGINX": "/x",
           "PYTORRENT_CONFIG": str(_empty(tmp_path))}
    with caplog.at_level("WARNING", logger="pytorrent"):
        settings, _ = load(None, env)
    assert settings.auth_provider == "local"
    assert [r.getMessage() for r in caplog.records] == [
        "PYTORRENT_AUTH_PROVDER (environment): not a pyTorrent setting, ignored; "
        "did you mean PYTORRENT_AUTH_PROVIDER?"]
