"""AUTH.md's rules for external users: use, create or synchronise; never resurrect.

Who is synchronised: passwordless, active users other than the built-in admin
(:func:`follows_config`). pyTorrent owns their role, grants and the identity
fields their provider declares: at each sign-in they are set to the auto-create
settings raised by what the user's groups give (:mod:`groups`), and the fields
to what the provider sent, cleared when it sent nothing. So leaving a group
takes away what it gave, and a grant set by hand on such a user lasts only until
the next sign-in. Users with a pyTorrent password and the built-in admin are
never changed here: their role and grants are what an admin set.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from . import groups
from .config import Settings
from .context import ProviderContext
from .models import IDENTITY_FIELDS, Identity, Level, User
from .storage import StoreError

log = logging.getLogger(__name__)


def follows_config(user: User) -> bool:
    """Passwordless, non-built-in, active users are synchronised with the config."""
    return not user.has_password and not user.builtin and user.active


def identity_fields(identity: Identity, fields: Iterable[str]) -> dict[str, object]:
    """The declared fields as this sign-in sends them; a missing one is empty (cleared)."""
    return {name: getattr(identity, name) for name in fields}


def _changed(user: User, identity: Identity, fields: Iterable[str]) -> dict[str, object]:
    return {name: value for name, value in identity_fields(identity, fields).items()
            if getattr(user, name) != value}


def in_sync(user: User, grants: Mapping[int | None, Level], identity: Identity,
            settings: Settings, *, profile_ids: Mapping[str, int],
            fields: Iterable[str] = IDENTITY_FIELDS) -> bool:
    """Whether provisioning would leave ``user`` (with ``grants``) unchanged."""
    want = groups.desired(settings, identity.groups, profile_ids)
    return (user.role == want.role and dict(grants) == dict(want.grants)
            and not _changed(user, identity, fields))


async def _profile_ids(context: ProviderContext) -> dict[str, int]:
    """Only the group grants name profiles: no query without them."""
    return await context.profile_ids() if context.settings.auth_group_permissions else {}


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
    fields = context.info.identity_fields
    if user is None:
        if not settings.auth_proxy_auto_create:
            return None
        want = groups.desired(settings, identity.groups, await _profile_ids(context))
        sent = {name: value for name, value in identity_fields(identity, fields).items()
                if value}
        try:
            return await context.create_user(
                identity.username, role=want.role, subject=identity.subject,
                permissions=want.grants, **sent)  # type: ignore[arg-type]
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
    want = groups.desired(settings, identity.groups, await _profile_ids(context))
    grants = await context.permissions(user.id)
    changes = _changed(user, identity, fields)
    if user.role != want.role:
        changes["role"] = want.role
    try:
        if changes:
            user = await context.update_user(user.id, **changes)
        if dict(grants) != dict(want.grants):
            await context.set_permissions(user.id, want.grants)
    except StoreError as problem:
        log.warning("could not synchronise external user %r: %s", identity.username, problem)
    return user
