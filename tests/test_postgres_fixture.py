"""The PostgreSQL fixture: a real server on loopback, a fresh database per test."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from support.postgres import PostgresServer


async def test_each_test_gets_an_empty_database_on_a_real_server(
        postgres_server: PostgresServer, postgres_url: str) -> None:
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            version = await conn.scalar(text("SHOW server_version_num"))
            tables = await conn.scalar(text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"))
            address = await conn.scalar(text("SELECT host(inet_server_addr())"))
            await conn.execute(text("CREATE TABLE scratch (id integer)"))
    finally:
        await engine.dispose()
    assert int(version) >= 130000
    assert tables == 0
    assert address == "127.0.0.1"
    assert f":{postgres_server.port}/" in postgres_url

    other = postgres_server.create_database()
    engine = create_async_engine(other)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT to_regclass('scratch')")) is None
    finally:
        await engine.dispose()
        postgres_server.drop_database(other)


async def test_a_wrong_password_is_refused(postgres_server: PostgresServer,
                                           postgres_url: str) -> None:
    import asyncpg

    engine = create_async_engine(postgres_url.replace(postgres_server.password, "wrong"))
    try:
        try:
            async with engine.connect():
                raise AssertionError("a wrong password was accepted")
        except Exception as error:
            assert isinstance(getattr(error, "orig", error), asyncpg.InvalidPasswordError) \
                or "password authentication failed" in str(error)
    finally:
        await engine.dispose()
