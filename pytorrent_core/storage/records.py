"""Rows of the audit log and of sign-in sessions, as the rest of pyTorrent sees them.

``audit_origin`` carries where the current request came from (client address,
how its user signed in). The web layer sets it once per request, so an event the
Store writes inside a change (a role change, a new token) names the address and
provider without every Store method taking them as arguments.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

OUTCOMES = ("ok", "failed", "throttled", "refused")


class AuditOrigin(NamedTuple):  # a tuple: made for every request, at a tuple's cost
    address: str | None = None
    provider: str | None = None


UNKNOWN_ORIGIN = AuditOrigin()  # immutable: safe to share as the default
audit_origin: ContextVar[AuditOrigin] = ContextVar("pytorrent_audit_origin",
                                                   default=UNKNOWN_ORIGIN)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AuditEvent:
    """One security event. ``action`` is its kind (``auth.sign-in``, ``torrent.remove-data``)."""

    action: str
    actor: str | None = None
    target: str | None = None
    detail: Any = None
    remote_addr: str | None = None
    provider: str | None = None
    outcome: str = "ok"
    at: datetime = field(default_factory=_utc_now)


@dataclass(frozen=True)
class SessionRecord:
    """A sign-in session: the sid its cookie carries, where and what it signed in from."""

    sid: str
    user_id: int
    epoch: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    address: str | None
    agent: str | None
    remember: bool
