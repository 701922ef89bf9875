"""``pytorrent auth doctor``: explain the effective auth set-up and flag risky combinations.

Each finding is (level, message); levels are ``ok``, ``warn`` and ``error``.
Checks read settings and, for the bypass user, the database (bringing its schema up
to date as start-up would); they change nothing else.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Literal

from . import groups
from .bootstrap import (
    break_glass_warning,
    group_profile_problems,
    open_to_private_networks,
    public_networks,
)
from .config import Settings
from .database import open_store
from .models import BUILTIN_ADMIN
from .plugins import AuthPlugins, installed_providers
from .storage.location import sqlite_file

Level = Literal["ok", "warn", "error"]


@dataclass(frozen=True)
class Finding:
    level: Level
    message: str


def check_settings(settings: Settings, plugins: AuthPlugins) -> list[Finding]:
    found: list[Finding] = []
    add = lambda level, message: found.append(Finding(level, message))  # noqa: E731

    if not settings.auth_enable:
        add("warn", "authentication is disabled (PYTORRENT_AUTH_ENABLE=false): every request "
                    "acts as the built-in admin; only for a private, single-user machine")
        return found

    provider = plugins.provider or "?"
    info = plugins.provider_info(settings)
    dist = installed_providers().get(provider)
    where = f"{dist.distribution} {dist.version}" if dist and dist.distribution else "test plugin"
    add("ok", f"provider {provider!r} ({where}): {info.description or 'no description'}")

    if info.external:
        header = info.user_header or "identity"
        read = (f"the {info.user_header} header" if info.user_header
                else "the request (the provider declares no headers)")
        add("ok", f"identity comes from {read}, believed only from "
                  f"auth.trusted_proxies = {', '.join(settings.auth_trusted_proxies)}")
        if len(info.headers) > 1:
            add("ok", f"the provider also reads {', '.join(info.headers[1:])}")
        if settings.auth_bypass_hosts and info.headers:
            add("ok", f"a request carrying {' or '.join(info.headers)} is never bypassed")
        wide = public_networks(tuple(settings.auth_trusted_proxies))
        if wide:
            add("error", f"PYTORRENT_AUTH_TRUSTED_PROXIES includes public addresses "
                         f"({', '.join(wide)}): anyone there can claim any user with a "
                         f"{header} header; list only your proxy's address")
        private = open_to_private_networks(settings, plugins)
        if private:
            add("warn", private)
        if settings.auth_proxy_secret:
            add("ok", f"identity headers also need the {settings.auth_proxy_secret_header} "
                      "header with the shared secret (PYTORRENT_AUTH_PROXY_SECRET)")
        if settings.auth_proxy_auto_create:
            role = settings.auth_proxy_auto_create_role
            if role == "admin":
                what = "as admins (every profile, user management)"
            else:
                level = settings.auth_proxy_auto_create_permission
                what = f"as users with {level!r} on all profiles"
            add("ok", f"unknown users are created {what}; passwordless users are "
                      "re-synchronised to this on every request")
        else:
            add("ok", "unknown users are refused (PYTORRENT_AUTH_PROXY_AUTO_CREATE=false)")
        found += _group_findings(settings, plugins)
    elif groups.configured(settings):
        add("warn", f"PYTORRENT_AUTH_ADMIN_GROUPS / PYTORRENT_AUTH_GROUP_PERMISSIONS do "
                    f"nothing with the {provider} provider: groups come only from external "
                    "providers")
    if settings.auth_break_glass_users:
        warning = break_glass_warning(settings, plugins)
        if warning:
            add("warn", warning)
        else:
            add("warn", f"PYTORRENT_AUTH_BREAK_GLASS_USERS does nothing with the {provider} "
                        "provider (its own login form serves every user); empty it")

    for host in settings.auth_bypass_hosts:  # settings refuse public ones
        add("ok", f"direct-IP bypass for Host {host!r} as user "
                  f"{settings.auth_bypass_user!r}; requests with X-Forwarded-*, "
                  "Forwarded, X-Real-IP or Via, or from public addresses, still sign in "
                  "(a proxy in front must add one of those headers)")

    https_origins = [o for o in (*settings.socketio_cors_allowed_origins,
                                 *settings.api_allowed_origins) if o.startswith("https://")]
    if https_origins and not settings.session_cookie_secure:
        add("warn", "allowed origins use https but PYTORRENT_SESSION_COOKIE_SECURE=false: "
                    "set it to true so the session cookie is never sent over plain http")
    if https_origins and not settings.proxy_fix_enable:
        add("warn", "allowed origins use https but PYTORRENT_PROXY_FIX_ENABLE=false: "
                    "behind an HTTPS proxy pyTorrent sees http:// unless it believes "
                    "X-Forwarded-Proto; enable it (only trusted proxies are believed)")
    if settings.session_cookie_secure and not (settings.proxy_fix_enable or https_origins):
        add("warn", "PYTORRENT_SESSION_COOKIE_SECURE=true: browsers drop the cookie on "
                    "plain http; serve pyTorrent over HTTPS")

    if not settings.server_secret_key:
        path = settings.data_dir / "secret_key"
        if path.exists():
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o077:
                add("warn", f"{path} is readable by others (mode {mode:o}); chmod 600 it")
            else:
                add("ok", f"session secret key kept in {path} (mode 600)")
        else:
            add("ok", f"a session secret key will be generated in {path} on first start")
    return found


def _group_findings(settings: Settings, plugins: AuthPlugins) -> list[Finding]:
    """The effective groups mapping, and whether the provider sends groups at all."""
    if not groups.configured(settings):
        return []
    found = [Finding("ok", f"groups: {line}") for line in groups.describe(settings)]
    if "groups" not in plugins.provider_info(settings).identity_fields:
        found.append(Finding("warn", f"the {plugins.provider} provider sends no groups as "
                                     "set up, so PYTORRENT_AUTH_ADMIN_GROUPS and "
                                     "PYTORRENT_AUTH_GROUP_PERMISSIONS give nothing (the proxy "
                                     "provider needs PYTORRENT_AUTH_PROXY_GROUPS_HEADER)"))
    else:
        found.append(Finding("ok", "groups are applied to passwordless external users at each "
                                   "sign-in: leaving a group takes away what it gave; users "
                                   "with a pyTorrent password and the built-in admin keep "
                                   "what an admin set"))
    return found


async def check_database(settings: Settings) -> list[Finding]:
    found = await _check_bypass_user(settings)
    path = sqlite_file(settings.database_url)
    if settings.auth_enable and settings.auth_group_permissions and (
            path is None or path.exists()):
        store = await open_store(settings)
        try:
            found += [Finding("warn", problem)
                      for problem in await group_profile_problems(settings, store)]
        finally:
            await store.close()
    return found


async def _check_bypass_user(settings: Settings) -> list[Finding]:
    if not settings.auth_enable or not settings.auth_bypass_hosts:
        return []
    path = sqlite_file(settings.database_url)
    user = None
    if path is None or path.exists():  # a check must not create the database
        store = await open_store(settings)
        try:
            user = await store.get_user_by_name(settings.auth_bypass_user)
            first_start = user is None and await store.count_active_admins() == 0
        finally:
            await store.close()
    else:
        first_start = True
    if first_start and settings.auth_bypass_user == BUILTIN_ADMIN:
        return [Finding("ok", f"bypass user {BUILTIN_ADMIN!r} is the built-in admin, "
                              "created on first start")]
    if user is None or not user.active:
        state = "does not exist" if user is None else "is deactivated"
        if path is not None and not path.exists():
            state += f" (there is no database at {path} yet)"
        return [Finding("error", f"bypass user {settings.auth_bypass_user!r} {state}: "
                                 "pyTorrent will refuse to start; create or activate it, "
                                 "or set PYTORRENT_AUTH_BYPASS_USER")]
    note = "an admin: every profile" if user.is_admin else "role user: its own grants apply"
    return [Finding("ok", f"bypass user {user.username!r} exists and is active ({note})")]
