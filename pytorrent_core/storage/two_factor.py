"""TOTP enrolments and recovery codes: the database side of two-factor sign-in.

Confirming and resetting an enrolment change how a user signs in, so they go
through the Store's change path (the auth generation; cached users carry
``two_factor``). Using a code does not: it only moves the user's last step on,
with a conditional update so two requests cannot both use one code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from . import schema
from .store import Store, StoreError, now


async def _username(conn: AsyncConnection, user_id: int) -> str:
    """How the audit log names the user (the user filter matches names, not ids)."""
    name = await conn.scalar(select(schema.users.c.username)
                             .where(schema.users.c.id == user_id))
    return name or str(user_id)


@dataclass(frozen=True)
class Enrolment:
    secret: str
    confirmed: bool
    last_step: int
    salt: str


class TwoFactorStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def enrolment(self, user_id: int) -> Enrolment | None:
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(schema.user_totp)
                                      .where(schema.user_totp.c.user_id == user_id))).first()
        if row is None:
            return None
        return Enrolment(row.secret, row.confirmed_at is not None, row.last_step, row.salt)

    async def begin(self, user_id: int, secret: str, salt: str) -> None:
        """Start (or restart) an unconfirmed enrolment; refused once one is confirmed."""
        async with self.store.writer.begin() as conn:
            # The user's row locked: two enrolments begun at once replace in turn.
            await conn.execute(select(schema.users.c.id).where(schema.users.c.id == user_id)
                               .with_for_update())
            row = (await conn.execute(select(schema.user_totp.c.confirmed_at)
                                      .where(schema.user_totp.c.user_id == user_id))).first()
            if row is not None and row.confirmed_at is not None:
                raise StoreError("two-factor sign-in is already on; turn it off first",
                                 "two_factor", 409)
            await conn.execute(delete(schema.user_totp)
                               .where(schema.user_totp.c.user_id == user_id))
            await conn.execute(schema.user_totp.insert().values(
                user_id=user_id, secret=secret, salt=salt, last_step=0, created_at=now()))

    async def confirm(self, user_id: int, step: int, digests: Iterable[str], *,
                      actor: str | None = None) -> bool:
        """Turn an unconfirmed enrolment on with its recovery codes; False if none waits."""
        async with self.store._write() as conn:
            result = await conn.execute(
                update(schema.user_totp)
                .where(schema.user_totp.c.user_id == user_id,
                       schema.user_totp.c.confirmed_at.is_(None))
                .values(confirmed_at=now(), last_step=step))
            if result.rowcount != 1:
                return False
            await conn.execute(delete(schema.recovery_codes)
                               .where(schema.recovery_codes.c.user_id == user_id))
            await conn.execute(schema.recovery_codes.insert(), [
                {"user_id": user_id, "digest": digest} for digest in digests])
            await conn.execute(update(schema.users).where(schema.users.c.id == user_id)
                               .values(two_factor=True, updated_at=now()))
            await self.store._audit(conn, actor, "user.2fa.enable",
                                    await _username(conn, user_id))
        return True

    async def use_step(self, user_id: int, step: int) -> bool:
        """Record that a code of ``step`` was used; False if that step (or a later one) was."""
        async with self.store.writer.begin() as conn:
            result = await conn.execute(
                update(schema.user_totp)
                .where(schema.user_totp.c.user_id == user_id,
                       schema.user_totp.c.confirmed_at.isnot(None),
                       schema.user_totp.c.last_step < step)
                .values(last_step=step))
            return result.rowcount == 1

    async def use_recovery_code(self, user_id: int, digest: str) -> bool:
        """Spend a recovery code; False if it is unknown or already spent."""
        async with self.store._begin() as conn:
            result = await conn.execute(
                update(schema.recovery_codes)
                .where(schema.recovery_codes.c.user_id == user_id,
                       schema.recovery_codes.c.digest == digest,
                       schema.recovery_codes.c.used_at.is_(None))
                .values(used_at=now()))
            if result.rowcount == 1:
                await self.store._audit(conn, None, "user.2fa.recovery_code",
                                        await _username(conn, user_id))
            return result.rowcount == 1

    async def replace_recovery_codes(self, user_id: int, digests: Iterable[str], *,
                                     actor: str | None = None) -> bool:
        """Put new recovery codes in place of all the old ones, spent or not; False if
        two-factor sign-in is not on."""
        async with self.store._begin() as conn:
            confirmed = await conn.scalar(
                select(schema.user_totp.c.confirmed_at)
                .where(schema.user_totp.c.user_id == user_id))
            if confirmed is None:
                return False
            await conn.execute(delete(schema.recovery_codes)
                               .where(schema.recovery_codes.c.user_id == user_id))
            await conn.execute(schema.recovery_codes.insert(), [
                {"user_id": user_id, "digest": digest} for digest in digests])
            await self.store._audit(conn, actor, "user.2fa.new-recovery-codes",
                                    await _username(conn, user_id))
        return True

    async def recovery_codes_left(self, user_id: int) -> int:
        async with self.store.engine.connect() as conn:
            return int(await conn.scalar(
                select(func.count()).select_from(schema.recovery_codes)
                .where(schema.recovery_codes.c.user_id == user_id,
                       schema.recovery_codes.c.used_at.is_(None))) or 0)

    async def reset(self, user_id: int, *, actor: str | None = None) -> bool:
        """Remove the enrolment and its recovery codes; False if there was none."""
        async with self.store._write() as conn:
            exists = await conn.scalar(select(schema.users.c.id)
                                       .where(schema.users.c.id == user_id))
            if exists is None:
                raise StoreError("no such user", "id", 404)
            removed = await conn.execute(delete(schema.user_totp)
                                         .where(schema.user_totp.c.user_id == user_id))
            await conn.execute(delete(schema.recovery_codes)
                               .where(schema.recovery_codes.c.user_id == user_id))
            await conn.execute(update(schema.users).where(schema.users.c.id == user_id)
                               .values(two_factor=False, updated_at=now()))
            await self.store._audit(conn, actor, "user.2fa.reset",
                                    await _username(conn, user_id))
        return bool(removed.rowcount)
