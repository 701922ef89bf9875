"""What a provider may do with pyTorrent's users: a narrow door, not the whole Store.

Hooks that need stored users (``pytorrent_authenticate``, ``pytorrent_provision``)
get a :class:`ProviderContext`. It can read the settings, look users up, create
and update the fields an identity provider owns (name, e-mail, groups, role,
profile grants) and keep a password hash current. It cannot delete users, touch
tokens, sessions, profiles or the audit log, or make a user a built-in one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .config import Settings
from .models import Level, ProviderInfo, Role, User
from .storage import Store

# The user fields a provider may change through update_user.
PROVIDER_FIELDS = frozenset({"display_name", "email", "groups", "role", "external_subject"})


class ProviderContext:
    """Handed to provider hooks; every change it makes is recorded under ``actor``."""

    def __init__(self, store: Store, settings: Settings, provider: str | None,
                 info: ProviderInfo | None = None) -> None:
        self._store = store
        self.settings = settings
        self.provider = provider
        # What the active provider declared about itself (pytorrent_provider_info).
        self.info = info or ProviderInfo()

    @property
    def actor(self) -> str:
        """How the audit log names changes a provider makes."""
        return f"provider:{self.provider or 'none'}"

    async def user_by_name(self, username: str) -> User | None:
        """The user called ``username`` ignoring case; compare ``User.username`` yourself
        when only the exact spelling may sign in."""
        return await self._store.get_user_by_name(username)

    async def users_by_email(self, email: str) -> list[User]:
        """Users with this e-mail address, ignoring case. Link an identity to one only
        when its provider has verified the address, and only when exactly one matches."""
        return await self._store.users_by_email(email)

    async def password_hash(self, user_id: int) -> str | None:
        return await self._store.password_hash(user_id)

    async def refresh_password_hash(self, user_id: int, password_hash: str) -> None:
        """Store a new hash of the *same* password (new parameters); sessions stay valid."""
        await self._store.set_password_hash_quietly(user_id, password_hash)

    async def create_user(self, username: str, *, role: Role = "user",
                          display_name: str | None = None, email: str | None = None,
                          groups: Iterable[str] = (), subject: str | None = None,
                          permissions: Mapping[int | None, Level] | None = None) -> User:
        """A passwordless user of this provider. Raises ``StoreError`` when the name is
        refused or reads the same as an existing user's."""
        return await self._store.create_user(
            username, role=role, display_name=display_name, email=email, groups=groups,
            provider=self.provider, external_subject=subject, permissions=permissions,
            actor=self.actor)

    async def update_user(self, user_id: int, **fields: object) -> User:
        """Change ``display_name``, ``email``, ``groups``, ``role`` or ``external_subject``."""
        refused = sorted(set(fields) - PROVIDER_FIELDS)
        if refused:
            raise TypeError(f"a provider may not change {', '.join(refused)}; allowed: "
                            f"{', '.join(sorted(PROVIDER_FIELDS))}")
        return await self._store.update_user(user_id, actor=self.actor, **fields)

    async def permissions(self, user_id: int) -> dict[int | None, Level]:
        """Profile id -> level; key ``None`` is the level on every profile."""
        return await self._store.permissions(user_id)

    async def set_permissions(self, user_id: int,
                              permissions: Mapping[int | None, Level]) -> None:
        await self._store.set_permissions(user_id, permissions, actor=self.actor)

    async def profile_ids(self) -> dict[str, int]:
        """Profile name -> id, for mapping names in settings to grants."""
        return {profile.name: profile.id for profile in await self._store.list_profiles()}
