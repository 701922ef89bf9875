"""Plugin manager factory and the typed, async-aware wrapper core calls hooks through."""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from . import defaults, hookspecs
from .config import ConfigError, Setting, Settings
from .models import Identity, LoginPage, LogoutAction, Principal, ProviderInfo, User
from .provider_routes import ProviderRoute

if TYPE_CHECKING:
    from .access.facts import RequestFacts
    from .context import ProviderContext

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
    """Suggest only names that are installed: a package name guessed from a typo
    could be anyone's upload."""
    installed = sorted(installed_providers())
    listing = ", ".join(installed) if installed else "none"
    guess = difflib.get_close_matches(name, installed, n=1)
    if guess:
        return f'{where}: no such provider; installed: {listing}; did you mean "{guess[0]}"?'
    return (f"{where}: no such provider; installed: {listing}; choose one of those, or "
            f"install the package that registers {name!r} in the entry-point group "
            f"{ENTRY_POINT_GROUP} (see `pytorrent plugins list`)")


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


def _wrappers(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return sorted(impl.function.__name__ for caller in pm.get_hookcallers(plugin) or ()
                  for impl in caller.get_hookimpls()
                  if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper))


def _validate(pm: pluggy.PluginManager, label: str, plugin: object) -> None:
    unmarked = _unmarked_hooks(plugin)
    if unmarked:
        raise ConfigError(
            f"auth provider {label}: {', '.join(unmarked)} lacks @hookimpl "
            "(from pytorrent_core.provider import hookimpl); pyTorrent would ignore it"
        )
    wrappers = _wrappers(pm, plugin)
    if wrappers:
        raise ConfigError(
            f"auth provider {label}: {', '.join(wrappers)} is a wrapper implementation "
            "(wrapper=True or hookwrapper=True), which pyTorrent does not support: hook "
            "results may be unawaited coroutines; write a plain @hookimpl that returns None "
            "when it has no answer")
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


T = TypeVar("T")


def _check(hook: str, value: object, expected: type[T]) -> T:
    if not isinstance(value, expected):
        raise TypeError(f"{hook} returned {type(value).__name__}; expected "
                        f"{expected.__name__} or None (from pytorrent_core.provider)")
    return value


class AuthPlugins:
    """Typed wrapper: the only way core calls hooks.

    pluggy calls the implementations (order, argument selection, tracing); this
    awaits what ``async def`` implementations return, keeps the first answer and
    checks its type.
    """

    def __init__(self, pm: pluggy.PluginManager, provider: str | None) -> None:
        self.pm = pm
        self.provider = provider

    async def _first(self, hook: str, expected: type[T], **kwargs: object) -> T | None:
        pending = list(getattr(self.pm.hook, hook)(**kwargs))
        try:
            while pending:
                value = pending.pop(0)
                if inspect.isawaitable(value):
                    value = await value
                if value is not None:
                    return _check(hook, value, expected)
            return None
        finally:
            for left in pending:  # never started: close it so Python does not warn
                if inspect.iscoroutine(left):
                    left.close()

    def _sync(self, hook: str, **kwargs: object) -> list[object]:
        results = list(getattr(self.pm.hook, hook)(**kwargs))
        for value in results:
            if inspect.isawaitable(value):
                if inspect.iscoroutine(value):
                    value.close()
                raise TypeError(f"{hook} must not be async (provider {self.provider!r})")
        return results

    @property
    def checks_passwords(self) -> bool:
        """Whether the provider takes passwords itself (implements pytorrent_authenticate).

        Beside one that does not (header providers, redirect ones such as oidc),
        pyTorrent's own passwords work only through break glass."""
        return bool(self.pm.hook.pytorrent_authenticate.get_hookimpls())

    def settings(self) -> list[Setting]:
        collected: list[Setting] = []
        for result in self._sync("pytorrent_settings"):
            for setting in result or ():  # type: ignore[attr-defined]
                collected.append(_check("pytorrent_settings", setting, Setting))
        return collected

    def routes(self, settings: Settings) -> list[ProviderRoute]:
        collected: list[ProviderRoute] = []
        for result in self._sync("pytorrent_routes", settings=settings):
            for route in result or ():  # type: ignore[attr-defined]
                collected.append(_check("pytorrent_routes", route, ProviderRoute))
        return collected

    def provider_info(self, settings: Settings) -> ProviderInfo:
        for result in self._sync("pytorrent_provider_info", settings=settings):
            if isinstance(result, dict):
                raise TypeError(
                    f"pytorrent_provider_info of provider {self.provider!r} returned a dict; "
                    "return pytorrent_core.provider.ProviderInfo(external=..., "
                    "description=..., headers=(...))")
            return _check("pytorrent_provider_info", result, ProviderInfo)
        return ProviderInfo()

    async def identify(self, request: RequestFacts, settings: Settings) -> Identity | None:
        return await self._first("pytorrent_identify", Identity, request=request,
                                 settings=settings)

    async def authenticate(self, username: str, password: str, request: RequestFacts,
                           context: ProviderContext) -> User | None:
        return await self._first("pytorrent_authenticate", User, username=username,
                                 password=password, request=request, context=context)

    async def login_page(self, request: RequestFacts, settings: Settings, error: str | None,
                         next_url: str) -> LoginPage | None:
        return await self._first("pytorrent_login_page", LoginPage, request=request,
                                 settings=settings, error=error, next_url=next_url)

    async def logout(self, principal: Principal | None, request: RequestFacts,
                     settings: Settings) -> LogoutAction | None:
        return await self._first("pytorrent_logout", LogoutAction, principal=principal,
                                 request=request, settings=settings)

    async def provision(self, identity: Identity, context: ProviderContext) -> User | None:
        return await self._first("pytorrent_provision", User, identity=identity,
                                 context=context)

    def describe(self) -> list[dict[str, Any]]:
        """For ``pytorrent plugins list``: each registered plugin and its hooks."""
        rows = []
        for name, plugin in self.pm.list_name_plugin():
            hooks = sorted(impl.name for impl in self.pm.get_hookcallers(plugin) or ())
            rows.append({"name": name, "module": getattr(plugin, "__name__", repr(plugin)),
                         "hooks": hooks})
        return rows
