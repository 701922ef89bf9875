"""Fill a benchmark database through pyTorrent's Store, before its server starts.

Seeding costs nothing at measure time: the server opens a database that already
holds every user, profile, grant and token the cases need.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select

from pytorrent_core.access import tokens
from pytorrent_core.bootstrap import load
from pytorrent_core.models import Level
from pytorrent_core.passwords import hash_password
from pytorrent_core.storage import Store, schema
from pytorrent_core.storage.store import now

BENCH_USER = "bench"
HEADER_USER = "bench-proxy"
SCGI_URL = "scgi://127.0.0.1:5000"


@dataclass(frozen=True)
class Size:
    name: str
    users: int  # all users, the built-in admin and the measured ones included
    profiles: int
    grants: int  # per-profile grants held by the measured user
    tokens: int  # active API tokens, the measured one included


SMALL = Size("small", users=3, profiles=5, grants=3, tokens=1)
SCALE = Size("scale", users=10_000, profiles=1_000, grants=500, tokens=1_000)


@dataclass(frozen=True)
class Seeded:
    password: str  # the measured user's password, for POST /api/auth/login
    token: str  # the measured user's API token (plaintext)
    room_profile: int  # a profile the measured user may write (Socket.IO room)


async def _seed(environ: Mapping[str, str], size: Size) -> Seeded:
    settings, _ = load(None, environ)
    store = Store.from_url(settings.database_url)
    try:
        await store.migrate()
        await store.create_user("admin", role="admin", builtin=True,
                                password_hash=hash_password(secrets.token_urlsafe(16)),
                                display_name="Administrator", actor="bench")
        profile_ids = [
            (await store.create_profile(f"profile-{n:04d}", SCGI_URL, actor="bench")).id
            for n in range(size.profiles)
        ]
        # Grants alternate full/ro so listing does real per-profile work.
        grants: dict[int | None, Level] = {
            pid: ("full" if n % 2 == 0 else "ro")
            for n, pid in enumerate(profile_ids[: size.grants])
        }
        password = secrets.token_urlsafe(16)
        bench = await store.create_user(BENCH_USER, role="user",
                                        password_hash=hash_password(password),
                                        permissions=grants, actor="bench")
        # A passwordless external user in sync with the proxy server's auto-create
        # settings (role user, ro on every profile), as an auto-created user would be.
        await store.create_user(HEADER_USER, role="user", provider="proxy",
                                permissions={None: "ro"}, actor="bench")
        filler = await _filler_users(store, size.users - 3)
        plaintext, prefix, digest = tokens.generate()
        await store.create_token(bench.id, "bench", prefix, digest, None, actor="bench")
        for n in range(size.tokens - 1):
            _, prefix, digest = tokens.generate()
            owner = filler[n % len(filler)] if filler else bench.id
            await store.create_token(owner, f"filler-{n}", prefix, digest, None, actor="bench")
        return Seeded(password=password, token=plaintext, room_profile=profile_ids[0])
    finally:
        await store.close()


async def _filler_users(store: Store, count: int) -> list[int]:
    """Users nobody signs in as, in one transaction: the Store has no bulk insert, and
    10,000 single-user transactions would take most of the run's time budget."""
    if count <= 0:
        return []
    stamp = now()
    rows = [{"username": f"user-{n:05d}", "username_key": f"user-{n:05d}", "role": "user",
             "active": True, "builtin": False, "session_epoch": 1,
             "created_at": stamp, "updated_at": stamp} for n in range(count)]
    async with store.engine.begin() as conn:
        await conn.execute(schema.users.insert(), rows)
        result = await conn.execute(select(schema.users.c.id)
                                    .where(schema.users.c.username_key.like("user-%")))
        return [row.id for row in result]


def seed(environ: Mapping[str, str], size: Size) -> Seeded:
    """Create the database named by ``environ`` (PYTORRENT_* variables) and fill it."""
    return asyncio.run(_seed(environ, size))
