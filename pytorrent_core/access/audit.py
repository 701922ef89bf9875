"""The audit log's writer: events from the request path wait in memory and are written
in batches, so recording one never delays or fails the request it describes.

Everything comes here: sign-ins, bypass use, untrusted identity headers, a token
used from a new address, torrents removed with their data, and — once their change
has committed — the events of changes made through the Store (users, grants,
tokens, profiles), which the Store hands over while the writer runs. Repetitive
events are sampled: bypass use and untrusted identity headers once per address per
hour, a token once per new address (since the server started), a sign-in through
an external provider once per user, address and outcome per hour.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ..storage import Store
from ..storage.records import AuditEvent, audit_origin
from ..tasks import cancel_all

log = logging.getLogger(__name__)

FLUSH_SECONDS = 2.0
PRUNE_SECONDS = 24 * 3600.0
SAMPLE_SECONDS = 3600.0
MAX_PENDING = 10_000
MAX_SAMPLED = 4096
MAX_TOKEN_ADDRESSES = 64


class AuditLog:
    def __init__(self, store: Store, retention_days: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.retention_days = retention_days
        self.clock = clock
        self._pending: list[AuditEvent] = []
        self._dropped = 0
        self._sampled: OrderedDict[tuple[str, str | None], float] = OrderedDict()
        self._token_addresses: dict[int, set[str | None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._flushing = asyncio.Lock()

    # ------------------------------------------------------------ recording

    def record(self, action: str, *, actor: str | None = None, target: str | None = None,
               detail: Any = None, address: str | None = None, provider: str | None = None,
               outcome: str = "ok") -> None:
        """Queue an event; never blocks, never raises. Address and provider default to
        the current request's."""
        origin = audit_origin.get()
        self.queue(AuditEvent(
            action=action, actor=actor, target=target, detail=detail,
            remote_addr=address or origin.address, provider=provider or origin.provider,
            outcome=outcome))

    def queue(self, event: AuditEvent) -> None:
        """Queue a finished event (the Store's, after its change committed)."""
        if len(self._pending) >= MAX_PENDING:  # the database is gone for a long while
            self._pending.pop(0)
            self._dropped += 1
        self._pending.append(event)

    def _first_in_hour(self, kind: str, address: str | None) -> bool:
        key = (kind, address)
        moment = self.clock()
        last = self._sampled.get(key)
        if last is not None and moment - last < SAMPLE_SECONDS:
            return False
        self._sampled[key] = moment
        self._sampled.move_to_end(key)
        while len(self._sampled) > MAX_SAMPLED:
            self._sampled.popitem(last=False)
        return True

    def bypass_used(self, username: str, address: str | None) -> None:
        """The direct-IP bypass let a request in (first per address per hour)."""
        if self._first_in_hour("bypass", address):
            self.record("auth.bypass", actor=username, address=address, provider="bypass",
                        detail={"sampled": "first per address per hour"})

    def untrusted_header(self, header: str, peer: str | None, reason: str) -> None:
        """An identity header was ignored (first per address per hour)."""
        if self._first_in_hour("untrusted", peer):
            self.record("auth.untrusted-header", address=peer, outcome="refused",
                        detail={"header": header, "reason": reason,
                                "sampled": "first per address per hour"})

    def provider_sign_in(self, username: str, address: str | None, provider: str | None,
                         refusal: str = "") -> None:
        """An external provider's identity signed a request in, or was refused (``refusal``
        names why). The proxy vouches for every request, so: first per user, address and
        outcome per hour."""
        outcome = "failed" if refusal else "ok"
        if self._first_in_hour(f"sign-in:{outcome}:{username}", address):
            detail = {"sampled": "first per user, address and outcome per hour"}
            if refusal:
                detail["reason"] = refusal
            self.record("auth.sign-in", actor=username[:128], address=address,
                        provider=provider, outcome=outcome, detail=detail)

    def token_used(self, token_id: int, owner: str, address: str | None) -> None:
        """A token was used from an address it had not been used from (since start)."""
        seen = self._token_addresses.setdefault(token_id, set())
        if address in seen:
            return
        if len(seen) >= MAX_TOKEN_ADDRESSES:
            seen.clear()
        seen.add(address)
        self.record("token.new-address", actor=owner, target=str(token_id),
                    address=address, provider="token")

    # ------------------------------------------------------------ writing

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        """Write what is queued. A failure is logged and the events kept for the next try."""
        async with self._flushing:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                await self.store.write_audit(batch)
            except Exception:  # noqa: BLE001 - never let the log take the server down
                log.warning("could not write %d audit events; will retry", len(batch),
                            exc_info=True)
                self._pending = (batch + self._pending)[-MAX_PENDING:]
                return
            if self._dropped:
                log.warning("%d audit events were dropped while the database could not "
                            "be written", self._dropped)
                self._dropped = 0

    async def prune(self) -> int:
        """Delete events older than PYTORRENT_AUDIT_RETENTION_DAYS (0 keeps them all) and
        forget sign-in sessions that have ended."""
        removed = 0
        try:
            if self.retention_days > 0:
                removed = await self.store.prune_audit(self.retention_days)
            await self.store.prune_sessions()
        except Exception:  # noqa: BLE001
            log.warning("could not prune the audit log; will retry", exc_info=True)
        return removed

    # ------------------------------------------------------------ background

    async def start(self) -> None:
        self.store.on_audit(self.queue)
        self._tasks = [asyncio.create_task(self._flush_loop()),
                       asyncio.create_task(self._prune_loop())]

    async def stop(self) -> None:
        self.store.on_audit(None)
        await cancel_all(self._tasks)
        self._tasks = []
        await self.flush()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()

    async def _prune_loop(self) -> None:
        while True:  # at start-up, then daily
            await self.prune()
            await asyncio.sleep(PRUNE_SECONDS)


_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str, field: str) -> datetime:
    """A moment given as ISO 8601 (UTC unless it names a zone) or as a time ago:
    ``30m``, ``12h``, ``1d``, ``2w``. Raises ValueError naming ``field``."""
    value = text.strip()
    unit = _UNITS.get(value[-1:].lower())
    if unit is not None and value[:-1].isdigit():
        return datetime.now(UTC) - timedelta(seconds=int(value[:-1]) * unit)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field} must be an ISO 8601 time such as 2024-05-01T12:00 or a "
                         "time ago such as 30m, 12h, 1d or 2w") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def event_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """An audit event as the API and ``pytorrent audit --json`` show it."""
    return {"id": row["id"], "at": row["at"].isoformat(), "kind": row["action"],
            "actor": row["actor"], "target": row["target"], "address": row["remote_addr"],
            "provider": row["provider"], "outcome": row["outcome"] or "ok",
            "detail": row["detail"]}
