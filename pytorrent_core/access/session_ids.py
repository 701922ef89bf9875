"""What a session cookie claims: ``user_id:session_epoch:session_id``.

The epoch ends every session of a user at once (password, role or active change);
the random session id lets logout end just this one, on every server.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..models import User


@dataclass(frozen=True)
class SessionClaim:
    user_id: int
    epoch: int
    sid: str


def issue(user: User) -> str:
    return f"{user.id}:{user.session_epoch}:{secrets.token_urlsafe(16)}"


def parse(auth_id: str | None) -> SessionClaim | None:
    if not auth_id:
        return None
    parts = auth_id.split(":")
    if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()) or not parts[2]:
        return None
    return SessionClaim(int(parts[0]), int(parts[1]), parts[2])
