"""AUTH.md's rules for external users: use, create or synchronise; never resurrect."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from .config import Settings
from .context import ProviderContext
from .models import Identity, Level, User
from .storage import StoreError

log = logging.getLogger(__name__)


def follows_config(user: User) -> bool:
    """Passwordless, non-built-in, active users are synchronised with the config."""
    return not user.has_password and not user.builtin and user.active


def desired_grants(settings: Settings) -> dict[int | None, Level]:
    if settings.auth_proxy_auto_create_role == "admin":
        return {}
    level = settings.auth_proxy_auto_create_permission
    return {} if level == "none" else {None: level}


def _profile_fields(identity: Identity) -> dict[str, object]:
    fields: dict[str, object] = {}
    if identity.display_name is not None:
        fields["display_name"] = identity.display_name
    if identity.email is not None:
        fields["email"] = identity.email
    if identity.groups:
        fields["groups"] = identity.groups
    return fields


def in_sync(user: User, grants: Mapping[int | None, Level], identity: Identity,
            settings: Settings) -> bool:
    if user.role != settings.auth_proxy_auto_create_role:
        return False
    if dict(grants) != desired_grants(settings):
        return False
    current = {"display_name": user.display_name, "email": user.email, "groups": user.groups}
    return all(current[key] == value for key, value in _profile_fields(identity).items())


async def provision(identity: Identity, context: ProviderContext) -> User | None:
    """Return the stored user for ``identity`` per AUTH.md, creating or syncing it.

    The user is the one called exactly ``identity.username``. A name that only reads
    like an existing one (``KATE``, fullwidth ``ｋａｔｅ`` beside ``kate``) gets
    ``None``: it is neither that user nor a new account beside it.
    """
    settings = context.settings
    user = await context.user_by_name(identity.username)
    if user is not None and user.username != identity.username:
        return None
    if user is None:
        if not settings.auth_proxy_auto_create:
            return None
        try:
            return await context.create_user(
                identity.username,
                role=settings.auth_proxy_auto_create_role,
                subject=identity.subject,
                permissions=desired_grants(settings),
                **_profile_fields(identity),  # type: ignore[arg-type]
            )
        except StoreError as problem:
            # Another request may have created it first: use theirs, if it is the same name.
            user = await context.user_by_name(identity.username)
            if user is None or user.username != identity.username:
                log.warning("did not create external user %r: %s", identity.username, problem)
                return None
            return user if user.active else None
    if not user.active:
        return None
    if not follows_config(user):
        return user
    grants = await context.permissions(user.id)
    if in_sync(user, grants, identity, settings):
        return user
    try:
        if user.role != settings.auth_proxy_auto_create_role or _profile_fields(identity):
            user = await context.update_user(
                user.id, role=settings.auth_proxy_auto_create_role, **_profile_fields(identity))
        if dict(grants) != desired_grants(settings):
            await context.set_permissions(user.id, desired_grants(settings))
    except StoreError as problem:
        log.warning("could not synchronise external user %r: %s", identity.username, problem)
    return user
