"""The one pyTorrent password check: the local provider's login form and ``POST
/api/auth/login`` use it, and so does break-glass sign-in beside an external provider."""

from __future__ import annotations

import asyncio
import logging
import weakref

from .access.facts import RequestFacts
from .context import ProviderContext
from .models import User
from .passwords import MAX_LENGTH as PASSWORD_MAX_LENGTH
from .passwords import needs_rehash as password_needs_rehash
from .passwords import rehash as rehash_password
from .passwords import verify as verify_password
from .usernames import normalise as normalise_username

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
                         context: ProviderContext) -> User | None:
    """The user when ``password`` is theirs and they may sign in; otherwise ``None``.

    Unknown, deactivated and passwordless users cost the same queries and the
    same argon2id check as real ones, so the answer time does not tell whether
    a username exists.
    """
    client = request.client or "an unknown address"
    if not password or len(password) > PASSWORD_MAX_LENGTH:
        return None
    name = normalise_username(username)  # the one rule: NFC, trim space and tab only
    user = await context.user_by_name(name) if name else None
    stored_hash = await context.password_hash(user.id if user is not None else 0)
    matched = bool(await _in_slot(verify_password, stored_hash, password))
    if user is None or not matched or not user.active:
        log.info("sign-in failed from %s", client)
        return None
    if stored_hash is not None and password_needs_rehash(stored_hash):
        new_hash = str(await _in_slot(rehash_password, password))
        await context.refresh_password_hash(user.id, new_hash)
        log.info("upgraded the password hash of user %r to the current argon2id parameters",
                 user.username)
    log.info("user %r signed in from %s", user.username, client)
    return user
