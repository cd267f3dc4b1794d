"""lgsp/store: the store setting, the masking of its URL, the connections'
errors, and the versioned schema on a real PostgreSQL (a fresh database
per test)."""

from __future__ import annotations

import asyncio

import asyncpg
import pydantic
import pytest

from lgsp.config import Settings
from lgsp.store import (
    STEPS,
    Database,
    SchemaTooNew,
    Step,
    StoreUnavailable,
    connect,
    masked,
    migrate,
    schema_version,
)
from lgsp.testing.servers import free_ports


def test_the_setting_takes_a_postgresql_url_and_never_shows_it() -> None:
    url = "postgresql://lgsp:hunter2@db.internal:5432/lgsp"
    settings = Settings(store_url=url)
    assert settings.store_url == url
    assert "hunter2" not in repr(settings)
    assert Settings(store_url="postgres://db/lgsp").store_url == "postgres://db/lgsp"
    assert Settings().store_url is None
    with pytest.raises(pydantic.ValidationError) as refused:
        Settings(store_url="mysql://lgsp:hunter2@db/lgsp")
    assert "must be a PostgreSQL URL" in str(refused.value)
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://lgsp:hunter2@db:5432/lgsp", "postgresql://lgsp:***@db:5432/lgsp"),
        ("postgresql://lgsp@db/lgsp", "postgresql://lgsp@db/lgsp"),
        (
            "postgresql://db/lgsp?password=hunter2&sslmode=require",
            "postgresql://db/lgsp?password=***&sslmode=require",
        ),
        ("postgres://a:b:c@db/x", "postgres://a:***@db/x"),
    ],
)
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert masked(url) == shown


async def test_a_server_that_is_not_there_is_unavailable_and_named_without_password() -> None:
    [port] = free_ports(1)
    url = f"postgresql://lgsp:hunter2@127.0.0.1:{port}/lgsp"
    with pytest.raises(StoreUnavailable) as failed:
        await Database.open(url)
    assert f"127.0.0.1:{port}" in str(failed.value)
    assert "hunter2" not in str(failed.value)
    with pytest.raises(StoreUnavailable):
        await connect(url)


# -- the versioned schema -------------------------------------------------------


def test_the_steps_are_numbered_in_order() -> None:
    assert [step.version for step in STEPS] == list(range(1, len(STEPS) + 1))


async def _applied(url: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT version, name FROM lgsp_schema_migrations ORDER BY 1")
    finally:
        await conn.close()
    return [(row["version"], row["name"]) for row in rows]


@pytest.mark.postgres
async def test_gateways_starting_together_migrate_once(lgsp_postgres_url: str) -> None:
    databases = await asyncio.gather(*(Database.open(lgsp_postgres_url) for _ in range(4)))
    try:
        assert await _applied(lgsp_postgres_url) == [(s.version, s.name) for s in STEPS]
    finally:
        await asyncio.gather(*(db.close() for db in databases))


@pytest.mark.postgres
async def test_a_new_step_is_applied_once_after_the_others(lgsp_postgres_url: str) -> None:
    newer = (*STEPS, Step(len(STEPS) + 1, "a test table", "CREATE TABLE added (x INTEGER)"))
    conn = await asyncpg.connect(lgsp_postgres_url)
    try:
        assert await schema_version(conn) == 0
        assert await migrate(conn) == len(STEPS)
        results = await asyncio.gather(
            migrate(conn, newer), *(_migrating(lgsp_postgres_url, newer) for _ in range(2))
        )
        assert results == [len(newer)] * 3
        assert await schema_version(conn) == len(newer)
        assert await conn.fetchval("SELECT count(*) FROM added") == 0
    finally:
        await conn.close()
    assert [version for version, _ in await _applied(lgsp_postgres_url)] == list(
        range(1, len(newer) + 1)
    )


async def _migrating(url: str, steps: tuple[Step, ...]) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await migrate(conn, steps)
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_a_database_migrated_by_a_newer_lgsp_is_refused(lgsp_postgres_url: str) -> None:
    db = await Database.open(lgsp_postgres_url)
    await db.close()
    conn = await asyncpg.connect(lgsp_postgres_url)
    try:
        await conn.execute(
            "INSERT INTO lgsp_schema_migrations (version, name) VALUES ($1, 'newer')",
            len(STEPS) + 1,
        )
    finally:
        await conn.close()
    with pytest.raises(SchemaTooNew, match=f"version {len(STEPS) + 1}.*upgrade lgsp"):
        await Database.open(lgsp_postgres_url)


@pytest.mark.postgres
async def test_a_failed_step_leaves_the_schema_as_it_was(lgsp_postgres_url: str) -> None:
    broken = (*STEPS, Step(len(STEPS) + 1, "broken", "CREATE TABLE half (x INTEGER); SELEC 1"))
    conn = await asyncpg.connect(lgsp_postgres_url)
    try:
        with pytest.raises(asyncpg.PostgresSyntaxError):
            await migrate(conn, broken)
        # One transaction: not even the steps before the broken one stayed.
        assert await schema_version(conn) == 0
        assert await conn.fetchval("SELECT to_regclass('half')") is None
    finally:
        await conn.close()
