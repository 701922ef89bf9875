"""What an external user's groups give: the admin role and profile grants.

Groups come from the provider with each sign-in (``Identity.groups``); the
mapping comes from two settings, ``auth.admin_groups`` and
``auth.group_permissions``. This module only computes; :mod:`provisioning`
stores the result. Group names match exactly as the provider sends them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .config import EVERY_PROFILE, Settings
from .models import LEVEL_RANK, Level, Role


@dataclass(frozen=True)
class Desired:
    """The role and grants a passwordless external user should have right now."""

    role: Role
    grants: Mapping[int | None, Level]


def _higher(one: Level, other: Level) -> Level:
    return one if LEVEL_RANK[one] >= LEVEL_RANK[other] else other


def desired(settings: Settings, groups: Iterable[str],
            profile_ids: Mapping[str, int]) -> Desired:
    """The auto-create role and permission, raised by what ``groups`` give.

    Admin when the auto-create role is admin or any group is in
    ``auth.admin_groups`` (admins need no grants). Otherwise each profile gets the
    highest level of ``auth.proxy_auto_create_permission`` and of every grant the
    user's groups have on it (``*``: on every profile). Profile names that name no
    profile give nothing; ``auth doctor`` and start-up warn about them.
    """
    member = set(groups)
    role: Role = settings.auth_proxy_auto_create_role
    if member & set(settings.auth_admin_groups):
        role = "admin"
    if role == "admin":
        return Desired("admin", {})
    every: Level = settings.auth_proxy_auto_create_permission
    own: dict[int, Level] = {}
    table: Mapping[str, Mapping[str, Level]] = settings.auth_group_permissions
    for group in member & set(table):
        for name, level in table[group].items():
            if name == EVERY_PROFILE:
                every = _higher(every, level)
            elif name in profile_ids:
                profile_id = profile_ids[name]
                own[profile_id] = _higher(own.get(profile_id, "none"), level)
    grants: dict[int | None, Level] = {} if every == "none" else {None: every}
    grants.update({profile_id: level for profile_id, level in own.items()
                   if LEVEL_RANK[level] > LEVEL_RANK[every]})
    return Desired("user", grants)


def configured(settings: Settings) -> bool:
    return bool(settings.auth_admin_groups or settings.auth_group_permissions)


def unknown_profiles(settings: Settings, profile_names: Iterable[str]) -> list[str]:
    """``group -> profile`` for each profile name in the mapping that names no profile."""
    known = set(profile_names) | {EVERY_PROFILE}
    table: Mapping[str, Mapping[str, Level]] = settings.auth_group_permissions
    return [f"{group} -> {name}" for group, grants in table.items()
            for name in grants if name not in known]


def describe(settings: Settings) -> list[str]:
    """The mapping in words, one line each, for ``auth doctor``."""
    lines = []
    if settings.auth_admin_groups:
        lines.append(f"members of {', '.join(map(repr, settings.auth_admin_groups))} "
                     "become admins (PYTORRENT_AUTH_ADMIN_GROUPS)")
    table: Mapping[str, Mapping[str, Level]] = settings.auth_group_permissions
    for group, grants in table.items():
        given = ", ".join(f"{'every profile' if name == EVERY_PROFILE else repr(name)}: "
                          f"{level}" for name, level in grants.items())
        lines.append(f"members of {group!r} get {given or 'nothing'} "
                     "(PYTORRENT_AUTH_GROUP_PERMISSIONS)")
    return lines
