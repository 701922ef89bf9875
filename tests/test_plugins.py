"""The plugin manager: one provider by name, discovered from entry points, checked loudly."""

from __future__ import annotations

import importlib.metadata
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.fake_provider import ACME_SOURCE, make_distribution

from pytorrent_core.bootstrap import load
from pytorrent_core.cli import main
from pytorrent_core.config import ConfigError, parse_str
from pytorrent_core.plugins import (
    AuthPlugins,
    installed_providers,
    make_plugin_manager,
)
from pytorrent_core.provider import Identity, LogoutAction, ProviderInfo, Setting, hookimpl

BUILTIN = {"local": "pytorrent-auth-local", "proxy": "pytorrent-auth-proxy",
           "tinyauth": "pytorrent-auth-tinyauth"}


def plugins_list(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["plugins", "list", *args], catch_exceptions=False)
    return result.exit_code, result.stdout.splitlines()


def row(lines: list[str], name: str) -> list[str] | None:
    for line in lines:
        parts = line.lstrip("* ").split()
        if parts and parts[0] == name:
            return ["*" if line.startswith("*") else " ", *parts]
    return None


# ------------------------------------------------------------------ built-in providers


def test_builtin_providers_are_installed_through_entry_points() -> None:
    found = installed_providers()
    for name, distribution in BUILTIN.items():
        assert found[name].distribution == distribution
        assert found[name].version == importlib.metadata.version(distribution)
        assert found[name].module == f"pytorrent_auth_{name}"


def test_plugins_list_shows_the_builtins_and_the_active_one(clean_env: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    code, lines = plugins_list()
    assert code == 0
    for name, distribution in BUILTIN.items():
        version = importlib.metadata.version(distribution)
        mark = "*" if name == "local" else " "
        assert row(lines, name) == [mark, name, distribution, version]
    assert lines[-1] == '* active: auth.provider = "local" (default; env PYTORRENT_AUTH_PROVIDER)'

    monkeypatch.setenv("PYTORRENT_AUTH_PROVIDER", "proxy")
    _, lines = plugins_list()
    assert row(lines, "proxy")[0] == "*"  # type: ignore[index]
    assert row(lines, "local")[0] == " "  # type: ignore[index]

    monkeypatch.setenv("PYTORRENT_AUTH_ENABLE", "off")
    _, lines = plugins_list()
    assert not any(line.startswith("*") for line in lines)
    assert lines[-1] == "no provider is active: PYTORRENT_AUTH_ENABLE=false (environment)"


def test_plugins_list_json(clean_env: Path) -> None:
    import json

    code, lines = plugins_list("--json")
    rows = {r["name"]: r for r in json.loads("\n".join(lines))}
    assert {name: r["distribution"] for name, r in rows.items() if name in BUILTIN} == BUILTIN
    assert [name for name, r in rows.items() if r["active"]] == ["local"]


@pytest.fixture
def without_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if ``pip uninstall pytorrent-auth-proxy`` had run: its metadata is gone."""
    real = importlib.metadata.distributions

    def distributions(**kwargs: Any) -> Iterator[importlib.metadata.Distribution]:
        return (d for d in real(**kwargs) if d.metadata["Name"] != "pytorrent-auth-proxy")

    monkeypatch.setattr(importlib.metadata, "distributions", distributions)


def test_uninstalled_provider_leaves_the_list(clean_env: Path, without_proxy: None) -> None:
    code, lines = plugins_list()
    assert code == 0
    assert row(lines, "proxy") is None
    assert row(lines, "local") is not None and row(lines, "tinyauth") is not None
    assert "proxy" not in installed_providers()


def test_uninstalled_provider_stops_start_up(clean_env: Path, without_proxy: None) -> None:
    with pytest.raises(ConfigError) as caught:
        load(None, {"PYTORRENT_AUTH_PROVIDER": "proxy"})
    installed = ", ".join(sorted(installed_providers()))
    assert "proxy" not in installed
    assert str(caught.value) == (
        f'PYTORRENT_AUTH_PROVIDER="proxy" (environment): no such provider; installed: '
        f"{installed}; choose one of those, or install the package that registers 'proxy' "
        "in the entry-point group pytorrent.auth_providers (see `pytorrent plugins list`)")


# ------------------------------------------------------------------ the manager


def plugin_names(plugins: AuthPlugins) -> set[str]:
    return {name for name, _ in plugins.pm.list_name_plugin()}


@pytest.mark.parametrize("provider", sorted(BUILTIN))
def test_exactly_the_named_provider_is_loaded(provider: str) -> None:
    pm = make_plugin_manager(provider)
    assert {name for name, _ in pm.list_name_plugin()} == {"pytorrent_core.defaults", provider}
    assert pm.get_plugin(provider).__name__ == f"pytorrent_auth_{provider}"


def test_no_provider_when_authentication_is_off() -> None:
    pm = make_plugin_manager(None)
    assert [name for name, _ in pm.list_name_plugin()] == ["pytorrent_core.defaults"]


def test_each_call_builds_a_fresh_manager() -> None:
    first = make_plugin_manager("local")
    second = make_plugin_manager("local")
    assert first is not second

    extra = types.SimpleNamespace(pytorrent_provider_info=hookimpl(
        lambda: ProviderInfo(external=True)))
    first.register(extra, name="extra")
    assert first.get_plugin("extra") is extra
    assert second.get_plugin("extra") is None
    assert make_plugin_manager("local").get_plugin("extra") is None


def namespace(**hooks: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**hooks)


def test_misspelt_hook_is_refused() -> None:
    def pytorrent_identifyy(request: Any, settings: Any) -> None:
        return None

    plugin = namespace(pytorrent_identifyy=hookimpl(pytorrent_identifyy))
    with pytest.raises(ConfigError) as caught:
        make_plugin_manager("typo", provider_plugin=plugin)
    message = str(caught.value)
    assert message.startswith("auth provider 'typo': unknown hook 'pytorrent_identifyy' in plugin")
    assert message.endswith("known hooks: pytorrent_authenticate, pytorrent_identify, "
                            "pytorrent_login_page, pytorrent_logout, pytorrent_provider_info, "
                            "pytorrent_provision, pytorrent_routes, pytorrent_settings")
    assert "\n" not in message


def test_hook_without_marker_is_refused() -> None:
    def pytorrent_identify(request: Any, settings: Any) -> None:
        return None

    plugin = namespace(pytorrent_identify=pytorrent_identify)
    with pytest.raises(ConfigError) as caught:
        make_plugin_manager("bare", provider_plugin=plugin)
    assert str(caught.value) == (
        "auth provider 'bare': pytorrent_identify lacks @hookimpl "
        "(from pytorrent_core.provider import hookimpl); pyTorrent would ignore it")


def test_hook_with_wrong_arguments_is_refused() -> None:
    def pytorrent_identify(req: Any) -> None:
        return None

    plugin = namespace(pytorrent_identify=hookimpl(pytorrent_identify))
    with pytest.raises(ConfigError) as caught:
        make_plugin_manager("args", provider_plugin=plugin)
    message = str(caught.value)
    assert message.startswith("auth provider 'args' (auth.provider = \"args\"): ")
    assert "'req'" in message and "\n" not in message


async def test_wrapper_awaits_async_hooks_and_prefers_the_provider() -> None:
    async def pytorrent_identify(request: Any, settings: Any) -> Identity:
        return Identity(username=request["user"], provider="asyncy")

    def pytorrent_logout(principal: Any, request: Any, settings: Any) -> LogoutAction | None:
        return LogoutAction(clear_session=False, redirect_to="/bye") if request else None

    plugin = namespace(pytorrent_identify=hookimpl(pytorrent_identify),
                       pytorrent_logout=hookimpl(pytorrent_logout))
    plugins = AuthPlugins(make_plugin_manager("asyncy", provider_plugin=plugin), "asyncy")
    identity = await plugins.identify({"user": "ann"}, None)  # type: ignore[arg-type]
    assert identity == Identity(username="ann", provider="asyncy")
    chosen = await plugins.logout(None, {"x": 1}, None)  # type: ignore[arg-type]
    assert chosen.redirect_to == "/bye"
    fallback = await plugins.logout(None, {}, None)  # type: ignore[arg-type]
    assert fallback == LogoutAction(clear_session=True, redirect_to="/login")


def test_provider_settings_must_live_in_its_own_section(tmp_path: Path) -> None:
    plugin = namespace(pytorrent_settings=hookimpl(lambda: [
        Setting("server.port", "PYTORRENT_PORT", 1, parse_str, "steals a core key")]))
    (tmp_path / "c.toml").write_text("")
    with pytest.raises(ConfigError) as caught:
        load(tmp_path / "c.toml", {"PYTORRENT_AUTH_PROVIDER": "greedy"}, provider_plugin=plugin)
    assert str(caught.value) == ("auth provider 'greedy' declares setting server.port: "
                                 "a provider's keys must start with auth.greedy.")


# ------------------------------------------------------------------ a third-party provider

@pytest.fixture
def acme_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = make_distribution(tmp_path / "site")
    monkeypatch.syspath_prepend(str(root))
    yield root
    sys.modules.pop("pytorrent_acme_sso", None)


def test_third_party_provider_is_discovered(clean_env: Path, acme_on_path: Path) -> None:
    found = installed_providers()["acme"]
    assert (found.distribution, found.version, found.module) == (
        "pytorrent-acme-sso", "1.2.3", "pytorrent_acme_sso")
    code, lines = plugins_list()
    assert row(lines, "acme") == [" ", "acme", "pytorrent-acme-sso", "1.2.3"]


def test_third_party_provider_is_selectable_by_name(clean_env: Path,
                                                    acme_on_path: Path) -> None:
    settings, plugins = load(None, {"PYTORRENT_AUTH_PROVIDER": "acme",
                                    "PYTORRENT_AUTH_ACME_REALM": "ops"})
    assert plugins.provider == "acme"
    assert plugin_names(plugins) == {"pytorrent_core.defaults", "acme"}
    assert settings["auth.acme.realm"] == "ops"
    assert plugins.provider_info(settings).description == "Acme single sign-on"


def test_third_party_provider_with_a_typo_stops_start_up(clean_env: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    source = ACME_SOURCE.replace("def pytorrent_identify(", "def pytorrent_identifyy(")
    root = make_distribution(tmp_path / "typo", provider="typo", module="pytorrent_typo_sso",
                             distribution="pytorrent-typo-sso", source=source)
    monkeypatch.syspath_prepend(str(root))
    try:
        with pytest.raises(ConfigError) as caught:
            load(None, {"PYTORRENT_AUTH_PROVIDER": "typo"})
    finally:
        sys.modules.pop("pytorrent_typo_sso", None)
    assert "unknown hook 'pytorrent_identifyy'" in str(caught.value)


def test_provider_that_fails_to_import(clean_env: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_distribution(tmp_path / "broken", provider="broken",
                             module="pytorrent_broken_sso", distribution="pytorrent-broken-sso",
                             source="import pytorrent_missing_dependency\n")
    monkeypatch.syspath_prepend(str(root))
    with pytest.raises(ConfigError) as caught:
        load(None, {"PYTORRENT_AUTH_PROVIDER": "broken"})
    assert str(caught.value) == (
        "auth provider 'broken' (PYTORRENT_AUTH_PROVIDER=\"broken\" (environment)): cannot be "
        "imported: No module named 'pytorrent_missing_dependency'; reinstall its package")
