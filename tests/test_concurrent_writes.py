"""Writers at the same moment, from several servers on one database, on SQLite and PostgreSQL.

Each "server" here is its own Store or app with its own connection pool, as two
``pytorrent serve`` processes would be; requests run at once (asyncio.gather), so
on PostgreSQL several connections write concurrently. A check that reads and then
writes (is the name free? is another admin left?) would let two writers through.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pytorrent_core.storage import Store, StoreError, schema
from pytorrent_core.testing import running_app

SERVERS = 4


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[list[Store]]:
    """Several stores on one migrated database, none with the built-in admin."""
    opened = [Store.from_url(database_url) for _ in range(SERVERS)]
    await opened[0].migrate()
    yield opened
    for store in opened:
        await store.close()


async def count(store: Store, table: object, *where: object) -> int:
    async with store.engine.connect() as conn:
        query = select(func.count()).select_from(table)  # type: ignore[arg-type]
        return int(await conn.scalar(query.where(*where)) or 0)  # type: ignore[arg-type]


async def test_fifty_first_sign_ins_of_one_proxy_user_create_one_user(
        database_url: str, tmp_path: Path) -> None:
    environ = {"PYTORRENT_DATABASE_URL": database_url, "PYTORRENT_AUTH_PROVIDER": "proxy",
               "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true",
               "PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION": "ro"}
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    async with running_app(tmp_path / "one", environ) as one, \
            running_app(tmp_path / "two", environ) as two:
        clients = [one.quart.test_client(), two.quart.test_client()]

        async def sign_in(number: int) -> tuple[int, dict]:
            reply = await clients[number % 2].get("/api/auth/me",
                                                  headers={"Remote-User": "newcomer"})
            return reply.status_code, await reply.get_json()

        replies = await asyncio.gather(*(sign_in(number) for number in range(50)))
        store = one.services.store
        assert [status for status, _ in replies] == [200] * 50, replies
        ids = {body["user"]["id"] for _, body in replies}
        newcomer = await store.get_user_by_name("newcomer")
        assert newcomer is not None and ids == {newcomer.id}
        assert await count(store, schema.users, schema.users.c.username == "newcomer") == 1
        for app in (one, two):  # the servers' audit writers batch their events
            await app.services.audit.flush()
        assert await count(store, schema.audit_events,
                           schema.audit_events.c.action == "user.create",
                           schema.audit_events.c.target == "newcomer") == 1
        assert await store.permissions(newcomer.id) == {None: "ro"}


async def test_twenty_demotions_at_once_leave_one_admin(stores: list[Store]) -> None:
    admins = [await stores[0].create_user(f"admin{n}", role="admin") for n in range(20)]

    async def demote(number: int) -> str:
        try:
            await stores[number % SERVERS].update_user(admins[number].id, role="user")
        except StoreError as refused:
            return str(refused)
        return "demoted"

    results = await asyncio.gather(*(demote(number) for number in range(20)))
    assert results.count("demoted") == 19, results
    refused = [result for result in results if result != "demoted"]
    assert refused == ["the last active admin cannot be demoted or deactivated"]
    assert await stores[0].count_active_admins() == 1


async def test_deactivations_and_deletions_at_once_leave_one_admin(stores: list[Store]) -> None:
    admins = [await stores[0].create_user(f"admin{n}", role="admin") for n in range(12)]

    async def remove(number: int) -> bool:
        store, user_id = stores[number % SERVERS], admins[number].id
        try:
            if number % 2:
                await store.delete_user(user_id)
            else:
                await store.update_user(user_id, active=False)
        except StoreError:
            return False
        return True

    results = await asyncio.gather(*(remove(number) for number in range(12)))
    assert results.count(False) == 1, results
    assert await stores[0].count_active_admins() == 1


async def test_names_that_read_the_same_created_at_once_make_one_user(
        stores: list[Store]) -> None:
    spellings = ["kate", "Kate", "KATE", "\uff4b\uff41\uff54\uff45"] * 5

    async def create(number: int) -> bool:
        try:
            await stores[number % SERVERS].create_user(spellings[number])
        except StoreError as refused:
            assert refused.status == 409, refused
            return False
        return True

    results = await asyncio.gather(*(create(number) for number in range(len(spellings))))
    assert results.count(True) == 1
    assert len(await stores[0].list_users()) == 1
    created = await stores[0].create_user("next")
    assert created.id == 2  # the refused ones took no id


async def test_first_profile_picks_at_once_leave_one_preference(stores: list[Store]) -> None:
    user = await stores[0].create_user("picker")
    profiles = [await stores[0].create_profile(f"box{n}", f"scgi://127.0.0.1:{5000 + n}")
                for n in range(5)]
    await asyncio.gather(*(stores[n % SERVERS].set_active_profile(user.id, profiles[n % 5].id)
                           for n in range(20)))
    assert await count(stores[0], schema.preferences,
                       schema.preferences.c.user_id == user.id) == 1
    assert await stores[1].active_profile(user.id) in {profile.id for profile in profiles}
    await stores[2].set_active_profile(user.id, profiles[0].id)
    assert await stores[3].active_profile(user.id) == profiles[0].id


async def test_one_logout_seen_by_every_server_is_recorded_once(stores: list[Store]) -> None:
    user = await stores[0].create_user("leaver")
    until = datetime.now(UTC) + timedelta(days=1)
    before = (await stores[0].generations())[1]
    await asyncio.gather(*(stores[n % SERVERS].end_session("sid-1", user.id, until)
                           for n in range(12)))
    assert list(await stores[1].ended_sessions()) == ["sid-1"]
    assert (await stores[0].generations())[1] == before + 1
    await asyncio.gather(*(stores[n % SERVERS].end_session(f"sid-{n + 2}", user.id, until)
                           for n in range(8)))
    assert len(await stores[2].ended_sessions()) == 9
    assert (await stores[0].generations())[1] == before + 9
    await stores[0].end_session("sid-gone", 999, until)  # no such user: nothing recorded
    assert "sid-gone" not in await stores[0].ended_sessions()


async def test_token_and_session_use_times_only_move_forward(stores: list[Store]) -> None:
    user = await stores[0].create_user("worker")
    record = await stores[0].create_token(user.id, "ci", "pt_abcd", "e" * 64, None)
    await stores[0].record_session("sid-w", user, expires_at=datetime.now(UTC) + timedelta(1),
                                   address=None, agent=None, remember=False)
    early, late = datetime.now(UTC), datetime.now(UTC) + timedelta(minutes=5)
    await asyncio.gather(
        stores[1].touch_tokens({record.id: (late, "192.0.2.2")}),
        stores[2].touch_sessions({"sid-w": late}))
    await asyncio.gather(  # a slower server's older batch arrives last
        stores[3].touch_tokens({record.id: (early, "192.0.2.1")}),
        stores[0].touch_sessions({"sid-w": early - timedelta(minutes=1)}))
    (token,) = await stores[0].list_tokens(user.id)
    assert token.last_used_at == late.replace(microsecond=token.last_used_at.microsecond)
    assert abs(token.last_used_at - late) < timedelta(milliseconds=1)
    assert token.last_used_addr == "192.0.2.2"
    session = await stores[0].session("sid-w")
    assert session is not None and abs(session.last_seen_at - late) < timedelta(milliseconds=1)


async def test_label_edits_and_two_factor_starts_at_once_do_not_collide(
        stores: list[Store]) -> None:
    from pytorrent_core.storage.two_factor import TwoFactorStore

    profile = await stores[0].create_profile("box", "scgi://127.0.0.1:5000")
    await asyncio.gather(*(stores[n % SERVERS].set_profile_labels(
        profile.id, [f"set{n}-a", f"set{n}-b"]) for n in range(10)))
    labels = await stores[0].profile_labels(profile.id)
    assert len(labels) == 2 and labels[0].split("-")[0] == labels[1].split("-")[0]

    user = await stores[0].create_user("twofa")
    await asyncio.gather(*(TwoFactorStore(stores[n % SERVERS]).begin(user.id, f"S{n}", f"s{n}")
                           for n in range(10)))
    enrolment = await TwoFactorStore(stores[0]).enrolment(user.id)
    assert enrolment is not None and not enrolment.confirmed
