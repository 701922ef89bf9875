"""Start-up steps shared by the server and the CLI: settings, plugins, storage, first admin."""

from __future__ import annotations

import difflib
import ipaddress
import logging
import os
import secrets
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from . import groups
from .access.audit import AuditLog
from .access.cache import AuthCache
from .config import (
    CONFIG_ENV,
    ENV_PREFIX,
    ConfigError,
    RawConfig,
    Settings,
    build_settings,
    read_raw,
)
from .database import open_store
from .models import BUILTIN_ADMIN
from .passwords import hash_password
from .plugins import AuthPlugins, installed_providers, make_plugin_manager
from .services import Services
from .storage import Store, StoreError

log = logging.getLogger("pytorrent")



def load(config_path: str | os.PathLike[str] | None = None,
         environ: Mapping[str, str] | None = None,
         *, provider_plugin: object | None = None) -> tuple[Settings, AuthPlugins]:
    """Read config, load the one selected provider, and validate everything.

    Raises :class:`ConfigError` with a one-line message on any problem.
    """
    raw = read_raw(config_path, environ)
    return settle(raw, provider_plugin=provider_plugin)


def settle(raw: RawConfig, *, provider_plugin: object | None = None
           ) -> tuple[Settings, AuthPlugins]:
    core = build_settings(raw)
    provider = core.auth_provider if core.auth_enable else None
    pm = make_plugin_manager(provider, where=core.where("auth.provider"),
                             provider_plugin=provider_plugin)
    plugins = AuthPlugins(pm, provider)
    declared = plugins.settings()
    if provider is not None:
        own = f"auth.{provider}."
        for setting in declared:
            if not setting.key.startswith(own):
                raise ConfigError(
                    f"auth provider {provider!r} declares setting {setting.key}: "
                    f"a provider's keys must start with {own}"
                )
    settings = build_settings(raw, declared, provider=provider)
    plugins.provider_info(settings)  # a provider refuses settings that are wrong together
    warn_unknown_environment(settings, raw.environ)
    return settings, plugins


_OTHER_ENV_PREFIXES = ("PYTORRENT_TEST_", "PYTORRENT_BENCH_")


def warn_unknown_environment(settings: Settings, environ: Mapping[str, str]) -> None:
    """A misspelt PYTORRENT_* variable would otherwise be ignored without a word."""
    known = {setting.env for setting in settings.declared.values()} | {CONFIG_ENV}
    inactive = tuple(f"PYTORRENT_AUTH_{name.upper().replace('-', '_')}_"
                     for name in installed_providers())
    for name in sorted(environ):
        if (not name.startswith(ENV_PREFIX) or name in known
                or name.startswith(_OTHER_ENV_PREFIXES + inactive)):
            continue
        guess = difflib.get_close_matches(name, known, n=1)
        log.warning("%s (environment): not a pyTorrent setting, ignored%s", name,
                    f"; did you mean {guess[0]}?" if guess else "")


def secret_key(settings: Settings) -> str:
    """The configured key, or one generated once and kept in the data dir (0600)."""
    if settings.server_secret_key:
        return str(settings.server_secret_key)
    path = settings.data_dir / "secret_key"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_urlsafe(48)
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    try:
        os.link(temporary, path)  # fails if another process won the race
    except FileExistsError:
        key = path.read_text(encoding="utf-8").strip()
    finally:
        temporary.unlink()
    return key


async def open_services(settings: Settings, plugins: AuthPlugins) -> Services:
    """Migrate the database, ensure an admin exists, and build the shared services."""
    store = await open_store(settings)
    try:
        await ensure_admin(store)
    except BaseException:
        await store.close()
        raise
    cache = AuthCache(store, require_two_factor_admins=bool(
        settings.get("auth.require_2fa_admins", False)))
    return Services(settings=settings, store=store, cache=cache, plugins=plugins,
                    audit=AuditLog(store, int(settings.audit_retention_days)))


async def preflight(settings: Settings, plugins: AuthPlugins) -> None:
    """Run start-up's checks before the server binds, so a user error is one line.

    Inside the ASGI lifespan the same errors would reach the log as tracebacks.
    Everything here is idempotent; the lifespan repeats it.
    """
    if settings.redis_url_is_set:
        from .cluster import check_redis

        if not settings.server_secret_key:
            raise ConfigError(
                f"{settings.where('redis.url')}: several instances must sign sessions with "
                "one key, but server.secret_key is unset and each instance would make its "
                "own; set PYTORRENT_SECRET_KEY to the same long random value on every "
                "instance (python3 -c 'import secrets; print(secrets.token_urlsafe(48))')")
        await check_redis(settings)
    try:
        secret_key(settings)
    except OSError as error:
        raise ConfigError(
            f"{settings.where('server.data_dir')}: cannot keep the secret key in "
            f"{settings.data_dir}: {error.strerror}; choose a writable folder or set "
            "PYTORRENT_SECRET_KEY") from None
    services = await open_services(settings, plugins)
    try:
        await check_bypass_user(services)
        for message in await group_profile_problems(settings, services.store):
            log.warning("%s", message)
    finally:
        await services.store.close()


async def group_profile_problems(settings: Settings, store: Store) -> list[str]:
    """auth.group_permissions naming profiles that do not exist: legal, but giving nothing."""
    if not settings.auth_enable or not settings.auth_group_permissions:
        return []
    names = [profile.name for profile in await store.list_profiles()]
    return [f"auth.group_permissions (PYTORRENT_AUTH_GROUP_PERMISSIONS): {pair} names no "
            "profile, so it gives nothing; correct the name or create that profile"
            for pair in groups.unknown_profiles(settings, names)]


def break_glass_warning(settings: Settings, plugins: AuthPlugins) -> str | None:
    """Why break-glass sign-in is on, or ``None`` when it is off."""
    if not settings.auth_enable or not settings.auth_break_glass_users \
            or plugins.checks_passwords:
        return None
    return (f"break-glass sign-in is on (PYTORRENT_AUTH_BREAK_GLASS_USERS="
            f"{','.join(settings.auth_break_glass_users)}): /login/local takes the pyTorrent "
            f"passwords of those users beside the {plugins.provider} provider. Empty the "
            "setting once the provider works again")


def command_name() -> str:
    """How to run ``pytorrent`` from a shell: bare if it is on PATH, else its full path."""
    beside = Path(sys.executable).parent / "pytorrent"
    found = shutil.which("pytorrent")
    if found and Path(found).resolve() == beside.resolve():
        return "pytorrent"
    return str(beside) if beside.exists() else f"{sys.executable} -m pytorrent.cli"


async def ensure_admin(store: Store) -> str | None:
    """First start: create the built-in admin with a random one-time password.

    Returns the password when one was created (it is printed once, never stored).
    """
    if await store.count_active_admins() > 0 or await store.get_user_by_name(BUILTIN_ADMIN):
        return None
    password = secrets.token_urlsafe(12)
    try:
        await store.create_user(BUILTIN_ADMIN, role="admin",
                                password_hash=hash_password(password), builtin=True,
                                display_name="Administrator", must_change_password=True,
                                actor="first-start")
    except StoreError as problem:
        if problem.status != 409:
            raise
        return None  # another server starting on the same database created it first
    message = (
        f"created the built-in admin user '{BUILTIN_ADMIN}' with one-time password: {password}\n"
        f"  change it now: {command_name()} reset-password {BUILTIN_ADMIN}"
    )
    print(f"pyTorrent: {message}", file=sys.stderr, flush=True)
    return password


async def check_bypass_user(services: Services) -> None:
    """Bypass settings must name an existing active user; warn about risky hosts."""
    settings = services.settings
    if not settings.auth_enable or not settings.auth_bypass_hosts:
        return
    user = await services.store.get_user_by_name(settings.auth_bypass_user)
    if user is None or not user.active:
        state = "does not exist" if user is None else "is deactivated"
        raise ConfigError(
            f"{settings.where('auth.bypass_user')}: user {state}; bypassed requests need an "
            "existing active user. Create or activate it (pytorrent users ...) or unset "
            "PYTORRENT_AUTH_BYPASS_HOSTS"
        )


def public_networks(networks: tuple[str, ...]) -> list[str]:
    """The networks in ``networks`` that include public addresses."""
    wide = []
    for text in networks:
        network = ipaddress.ip_network(text, strict=False)
        if not (network.is_private or network.is_loopback or network.is_link_local):
            wide.append(text)
    return wide


def private_ranges(networks: tuple[str, ...]) -> list[str]:
    """The networks in ``networks`` that span several private-network hosts.

    Loopback is left out: only processes on this machine can use it.
    """
    ranges = []
    for text in networks:
        network = ipaddress.ip_network(text, strict=False)
        if network.num_addresses > 1 and not network.is_loopback and (
                network.is_private or network.is_link_local):
            ranges.append(text)
    return ranges


def open_to_private_networks(settings: Settings, plugins: AuthPlugins) -> str | None:
    """Why any private-network host can assert identity, or ``None`` when it cannot.

    That is so with an external provider, trusted proxies spanning private ranges
    (the default) and no shared secret.
    """
    info = plugins.provider_info(settings)
    if not settings.auth_enable or settings.auth_proxy_secret or not info.external:
        return None
    ranges = private_ranges(tuple(settings.auth_trusted_proxies))
    if not ranges:
        return None
    claim = f"a {info.user_header} header" if info.user_header else "forged headers"
    return (f"auth.trusted_proxies (PYTORRENT_AUTH_TRUSTED_PROXIES) includes private "
            f"ranges ({', '.join(ranges)}): any host on those networks can assert "
            f"identity with {claim}. Narrow "
            "PYTORRENT_AUTH_TRUSTED_PROXIES to your reverse proxy's address or set "
            "PYTORRENT_AUTH_PROXY_SECRET")


def warn_if_open(settings: Settings, host: str, plugins: AuthPlugins | None = None) -> None:
    """Log the legal-but-dangerous settings a server is about to run with."""
    wide = public_networks(tuple(settings.auth_trusted_proxies))
    if settings.auth_enable and wide:
        log.warning(
            "auth.trusted_proxies (PYTORRENT_AUTH_TRUSTED_PROXIES) includes public addresses "
            "(%s): identity and forwarded headers from there are believed. List only your "
            "reverse proxy's address; see `pytorrent auth doctor`.", ", ".join(wide))
    private = open_to_private_networks(settings, plugins) if plugins is not None else None
    if private:
        log.warning("%s; see `pytorrent auth doctor`.", private)
    break_glass = break_glass_warning(settings, plugins) if plugins is not None else None
    if break_glass:
        log.warning("%s.", break_glass)
    if "*" in settings.server_allowed_hosts:
        log.warning(
            "server.allowed_hosts (PYTORRENT_ALLOWED_HOSTS) is *: pyTorrent answers to any "
            "host name, so a web page can reach it by DNS rebinding. List your names instead.")
    if settings.auth_enable:
        return
    loopback = host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")
    if not loopback:
        log.warning(
            "authentication is disabled (PYTORRENT_AUTH_ENABLE=false) and pyTorrent listens on "
            "%s: anyone who can reach this address is admin. This is not meant for production; "
            "bind to 127.0.0.1 or enable authentication.", host)


def raise_open_files_limit(max_connections: int) -> None:
    """Each connection takes a file descriptor: make room for server.max_connections.

    Raises the soft limit as far as the hard limit allows; warns when that is not enough.
    """
    try:
        import resource
    except ImportError:  # not a POSIX system
        return
    needed = max_connections + 100  # the database, rTorrent, logs and listening sockets
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft < needed:
        log.warning(
            "server.max_connections (PYTORRENT_SERVER_MAX_CONNECTIONS) is %d but this process "
            "may open only %d files: connections past that fail. Lower the setting or raise "
            "the limit (ulimit -n, or LimitNOFILE= in a systemd unit).", max_connections, soft)
