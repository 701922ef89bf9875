"""Plugin manager factory and the typed, async-aware wrapper core calls hooks through."""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .config import ConfigError, Setting, Settings

ENTRY_POINT_GROUP = "pytorrent.auth_providers"
HOOK_PREFIX = "pytorrent_"


@dataclass(frozen=True)
class InstalledProvider:
    name: str
    distribution: str | None
    version: str | None
    module: str


def installed_providers() -> dict[str, InstalledProvider]:
    """Providers registered in the entry-point group, by name.

    Walks distributions the same way pluggy's loader does, so what this lists
    is exactly what :func:`make_plugin_manager` can load.
    """
    found: dict[str, InstalledProvider] = {}
    for dist in metadata.distributions():
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP or ep.name in found:
                continue
            found[ep.name] = InstalledProvider(
                name=ep.name,
                distribution=dist.metadata["Name"],
                version=dist.version,
                module=ep.value,
            )
    return found


def missing_provider_message(name: str, where: str) -> str:
    installed = sorted(installed_providers())
    listing = ", ".join(installed) if installed else "none"
    guess = difflib.get_close_matches(name, installed, n=1)
    hint = f'did you mean "{guess[0]}"? Or ' if guess else ""
    return (
        f"{where}: no such provider; installed: {listing}; "
        f"{hint}install the package that provides it, e.g. pip install pytorrent-auth-{name}"
    )


def _one_line(error: Exception) -> str:
    return "; ".join(part.strip() for part in str(error).splitlines() if part.strip())


def _unmarked_hooks(plugin: object) -> list[str]:
    """``pytorrent_*`` callables without ``@hookimpl``: pluggy would silently ignore them."""
    marker = f"{hookspecs.PROJECT}_impl"
    return sorted(
        name for name in dir(plugin)
        if name.startswith(HOOK_PREFIX)
        and callable(getattr(plugin, name, None))
        and not hasattr(getattr(plugin, name), marker)
    )


def _validate(pm: pluggy.PluginManager, label: str, plugin: object) -> None:
    unmarked = _unmarked_hooks(plugin)
    if unmarked:
        raise ConfigError(
            f"auth provider {label}: {', '.join(unmarked)} lacks @hookimpl "
            "(from pytorrent_core import hookimpl); pyTorrent would ignore it"
        )
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as error:
        known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith(HOOK_PREFIX)))
        raise ConfigError(f"auth provider {label}: {_one_line(error)}; known hooks: {known}"
                          ) from None


def make_plugin_manager(provider: str | None, *, where: str | None = None,
                        provider_plugin: object | None = None) -> pluggy.PluginManager:
    """A fresh manager with core's defaults and exactly one provider loaded by name.

    ``provider=None`` loads no provider (authentication disabled). Tests may pass
    ``provider_plugin`` (a module or object with hook implementations) to stand
    in for the named provider without installing a distribution. ``where``
    describes the setting that chose the provider, for error messages.
    """
    from . import defaults

    where = where or f'auth.provider = "{provider}"'
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(defaults, name="pytorrent_core.defaults")
    plugin = provider_plugin
    try:
        if provider_plugin is not None:
            pm.register(provider_plugin, name=provider)
        elif provider is not None:
            loaded = pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=provider)
            plugin = pm.get_plugin(provider)
            if loaded == 0 and plugin is None:
                raise ConfigError(missing_provider_message(provider, where))
    except pluggy.PluginValidationError as error:
        raise ConfigError(f"auth provider {provider!r} ({where}): {_one_line(error)}") from None
    except ImportError as error:
        raise ConfigError(
            f"auth provider {provider!r} ({where}): cannot be imported: {error}; "
            "reinstall its package"
        ) from None
    if plugin is not None:
        _validate(pm, repr(provider), plugin)
    pm.check_pending()
    return pm


def provider_settings(name: str) -> list[Setting]:
    """The settings an installed provider declares (for docs; the provider stays inactive)."""
    return AuthPlugins(make_plugin_manager(name), name).settings()


async def _await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class AuthPlugins:
    """Typed wrapper: the only way core calls hooks. Awaits async implementations."""

    def __init__(self, pm: pluggy.PluginManager, provider: str | None) -> None:
        self.pm = pm
        self.provider = provider

    def _impls(self, name: str) -> list[pluggy.HookImpl]:
        # pluggy's order: last registered (and tryfirst) first, trylast last.
        return list(reversed(getattr(self.pm.hook, name).get_hookimpls()))

    async def _first(self, name: str, **kwargs: Any) -> Any:
        for impl in self._impls(name):
            args = {key: kwargs[key] for key in impl.argnames}
            result = await _await(impl.function(**args))
            if result is not None:
                return result
        return None

    def _first_sync(self, name: str, **kwargs: Any) -> Any:
        for impl in self._impls(name):
            result = impl.function(**{key: kwargs[key] for key in impl.argnames})
            if inspect.isawaitable(result):
                raise TypeError(f"{impl.plugin_name}: {name} must not be async")
            if result is not None:
                return result
        return None

    def settings(self) -> list[Setting]:
        collected: list[Setting] = []
        for result in self.pm.hook.pytorrent_settings():
            if inspect.isawaitable(result):
                raise TypeError("pytorrent_settings must not be async")
            collected.extend(result or ())
        return collected

    def provider_info(self, settings: Settings) -> dict[str, object]:
        info = self._first_sync("pytorrent_provider_info", settings=settings) or {}
        return {"external": False, "description": "", **info}

    async def identify(self, request: Any, settings: Settings) -> Any:
        return await self._first("pytorrent_identify", request=request, settings=settings)

    async def authenticate(self, username: str, password: str, request: Any,
                           services: Any) -> Any:
        return await self._first("pytorrent_authenticate", username=username,
                                 password=password, request=request, services=services)

    async def login_page(self, request: Any, settings: Settings, error: str | None,
                         next_url: str) -> Any:
        return await self._first("pytorrent_login_page", request=request, settings=settings,
                                 error=error, next_url=next_url)

    async def logout(self, principal: Any, request: Any, settings: Settings) -> Any:
        return await self._first("pytorrent_logout", principal=principal, request=request,
                                 settings=settings)

    async def provision(self, identity: Any, services: Any) -> Any:
        return await self._first("pytorrent_provision", identity=identity, services=services)

    def describe(self) -> list[dict[str, Any]]:
        """For ``pytorrent plugins list``: each registered plugin and its hooks."""
        rows = []
        for name, plugin in self.pm.list_name_plugin():
            hooks = sorted(impl.name for impl in self.pm.get_hookcallers(plugin) or ())
            rows.append({"name": name, "module": getattr(plugin, "__name__", repr(plugin)),
                         "hooks": hooks})
        return rows
