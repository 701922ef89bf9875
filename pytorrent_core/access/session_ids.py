"""What a session cookie claims: ``user_id:session_epoch:session_id:user_key``.

The epoch ends every session of a user at once (password, role or active change);
the random session id lets logout end just this one, on every server; the user's
random session key binds the cookie to that one user row, so no later user can
ever answer to it, whatever id the database gives them.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from functools import lru_cache

from ..models import User


@dataclass(frozen=True)
class SessionClaim:
    user_id: int
    epoch: int
    sid: str
    user_key: str

    def matches(self, user: User) -> bool:
        """The cookie was issued to this very user row, in its current epoch."""
        return (user.session_epoch == self.epoch and bool(user.session_key)
                and hmac.compare_digest(user.session_key, self.user_key))


def issue(user: User) -> str:
    return f"{user.id}:{user.session_epoch}:{new_sid()}:{user.session_key}"


def new_sid() -> str:
    """128 random bits, URL-safe, never beginning with ``-``: ``pytorrent sessions revoke``
    takes the id on its command line, where a leading ``-`` reads as an option."""
    while True:
        sid = secrets.token_urlsafe(16)
        if not sid.startswith("-"):
            return sid


@lru_cache(maxsize=4096)  # a claim is immutable: each cookie's is parsed once
def parse(auth_id: str | None) -> SessionClaim | None:
    if not auth_id:
        return None
    parts = auth_id.split(":")
    if len(parts) != 4 or not (parts[0].isascii() and parts[0].isdigit()
                               and parts[1].isascii() and parts[1].isdigit()) \
            or not parts[2] or not parts[3] or len(parts[0]) > 18:
        return None
    return SessionClaim(int(parts[0]), int(parts[1]), parts[2], parts[3])
