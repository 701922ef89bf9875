"""The password check behind the login form and ``POST /api/auth/login``."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING

from pytorrent_core import User, passwords
from pytorrent_core.usernames import normalise

if TYPE_CHECKING:
    from pytorrent_core.access.facts import RequestFacts
    from pytorrent_core.services import Services

log = logging.getLogger(__name__)

# Each argon2id check holds tens of MiB for tens of milliseconds, so a burst of
# logins waits for a slot instead of exhausting memory and CPU.
KDF_SLOTS = 2
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
    weakref.WeakKeyDictionary()


async def _in_slot(function: object, *args: str | None) -> object:
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(KDF_SLOTS)
    async with slots:
        # argon2 releases the GIL, so the event loop keeps serving meanwhile.
        return await asyncio.to_thread(function, *args)  # type: ignore[arg-type]


async def check_password(username: str, password: str, request: RequestFacts,
                         services: Services) -> User | None:
    """The user when ``password`` is theirs and they may sign in; otherwise ``None``.

    Unknown, deactivated and passwordless users cost the same queries and the
    same argon2id check as real ones, so the answer time does not tell whether
    a username exists.
    """
    client = request.client or "an unknown address"
    if not password or len(password) > passwords.MAX_LENGTH:
        return None
    store = services.store
    name = normalise(username)  # the one rule for usernames: NFC, trim space and tab only
    user = await store.get_user_by_name(name) if name else None
    stored_hash = await store.password_hash(user.id if user is not None else 0)
    matched = bool(await _in_slot(passwords.verify, stored_hash, password))
    if user is None or not matched or not user.active:
        log.info("sign-in failed from %s", client)
        return None
    if stored_hash is not None and passwords.needs_rehash(stored_hash):
        new_hash = str(await _in_slot(passwords.hasher().hash, password))
        await store.set_password_hash_quietly(user.id, new_hash)
        log.info("upgraded the password hash of user %r to the current argon2id parameters",
                 user.username)
    log.info("user %r signed in from %s", user.username, client)
    return user
