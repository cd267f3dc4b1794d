"""The exchange log on PostgreSQL, for gateways on several machines: the
same columns and hash as on SQLite; the chain's key, the signed head and
the archived mark are rows (:mod:`lgsp.store.migrations`' first step).

Several gateways append to one chain: each batch is one transaction that
takes a transaction-scoped advisory lock, reads the last record, inserts
the batch chained after it (binary COPY) and updates the signed head, so
appends take turns for as long as one transaction, and no two chain off
the same record. The first gateway makes the key; the others read it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

import asyncpg

from lgsp.observe.exchange_log.chain import COLUMNS, GENESIS, AuditError, Head, Row, Value, chain
from lgsp.observe.exchange_log.query import Query
from lgsp.observe.exchange_log.store import Reader, Store, archivable, checked_columns
from lgsp.store import (
    STEPS,
    Database,
    StoreError,
    connect,
    masked,
    schema_version,
)
from lgsp.store.postgres import outage

# pg_advisory_xact_lock's key for appending to the chain: "lgsp" and 2.
_APPEND_LOCK = 0x6C677370_00000002
_LAST = "SELECT seq, hash FROM exchanges ORDER BY seq DESC LIMIT 1"
_ARCHIVED = "SELECT seq, hash, mac FROM exchange_log_archived"
_HEAD = """
INSERT INTO exchange_log_head (seq, hash, mac) VALUES ($1, $2, $3)
ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac
"""
_MARK = """
INSERT INTO exchange_log_archived (seq, hash, mac) VALUES ($1, $2, $3)
ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac
"""
_CHUNK = 2000
"""Rows a reader fetches at a time."""

T = TypeVar("T")


class PostgresStore(Store):
    """The recorder's PostgreSQL engine: awaited on the event loop (the
    chaining itself in a worker thread)."""

    def __init__(self, db: Database, key: bytes) -> None:
        self._db = db
        self.key = key
        self.name = db.url

    @classmethod
    async def open(cls, url: str) -> PostgresStore:
        """Connect, migrate, and read the chain's key (made by the first
        writer ever: never a key of this gateway's own)."""
        db = await Database.open(url)
        try:
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO exchange_log_key (key) VALUES ($1) ON CONFLICT DO NOTHING",
                    secrets.token_bytes(32),
                )
                key = await conn.fetchval("SELECT key FROM exchange_log_key")
        except BaseException:
            await db.close()
            raise
        return cls(db, bytes(key))

    async def append(self, prepared: Sequence[list[Value]]) -> None:
        try:
            async with self._db.transaction() as conn:
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
                # After archiving every record, the chain goes on from the
                # last one archived.
                last = await conn.fetchrow(_LAST) or await conn.fetchrow(_ARCHIVED)
                seq, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS)
                rows, seq, prev = await asyncio.to_thread(chain, self.key, seq, prev, prepared)
                await conn.copy_records_to_table("exchanges", records=rows, columns=COLUMNS)
                head = Head.sign(self.key, seq, prev)
                await conn.execute(_HEAD, head.seq, head.hash, head.mac)
        except asyncpg.PostgresError as exc:
            # Not an outage (those are StoreUnavailable already): full disk,
            # a table altered under us... nothing was written either way.
            raise StoreError(f"the exchange log at {self.name}: {exc}") from exc

    async def archive(self, before: str, limit: int, keep: Callable[[list[Row]], object]) -> int:
        sql, args = Query(limit=limit).sql(numbered=True)
        try:
            async with self._db.transaction() as conn:
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
                records = await conn.fetch(sql, *args)
                rows = archivable((dict(zip(COLUMNS, r, strict=True)) for r in records), before)
                if rows:
                    await asyncio.to_thread(keep, rows)
                    last = Head.sign(self.key, int(str(rows[-1]["seq"])), str(rows[-1]["hash"]))
                    await conn.execute("DELETE FROM exchanges WHERE seq <= $1", last.seq)
                    await conn.execute(_MARK, last.seq, last.hash, last.mac)
        except asyncpg.PostgresError as exc:
            raise StoreError(f"the exchange log at {self.name}: {exc}") from exc
        return len(rows)

    async def page(self, query: Query) -> list[Row]:
        sql, args = query.sql(numbered=True)
        async with self._db.connection() as conn:
            records = await conn.fetch(sql, *args)
        return [dict(zip(COLUMNS, record, strict=True)) for record in records]

    async def columns(
        self, columns: Sequence[str], start: str, end: str
    ) -> list[tuple[object, ...]]:
        sql = (
            f"SELECT {', '.join(checked_columns(columns))} FROM exchanges "
            "WHERE received >= $1 AND received < $2"
        )
        async with self._db.connection() as conn:
            return [tuple(record) for record in await conn.fetch(sql, start, end)]

    async def close(self) -> None:
        await self._db.close()


class PostgresReader(Reader):
    """A PostgreSQL log, read from blocking code (the commands) on an event
    loop of its own, in one read-only repeatable-read transaction: one
    snapshot of the records, the head and the archived mark."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._runner = asyncio.Runner()
        self._conn: asyncpg.Connection | None = None
        try:
            self._conn = self._run(connect(url))
            version = self._run(schema_version(self._conn))
            if version == 0:
                raise AuditError(f"no exchange log in the database at {masked(url)}")
            if version > STEPS[-1].version:
                raise AuditError(
                    f"the database at {masked(url)} has schema version {version}; this lgsp "
                    f"knows up to {STEPS[-1].version}: upgrade lgsp to read it"
                )
            self._run(self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        except BaseException:
            self.close()
            raise

    def _run(self, job: Coroutine[Any, Any, T]) -> T:
        try:
            with outage(self._url):
                return self._runner.run(job)
        except StoreError as exc:
            raise AuditError(str(exc)) from exc

    def _db(self) -> asyncpg.Connection:
        assert self._conn is not None
        return self._conn

    def key(self) -> bytes:
        key = self._run(self._db().fetchval("SELECT key FROM exchange_log_key"))
        if key is None:
            raise AuditError(f"no chain key in the database at {masked(self._url)}")
        return bytes(key)

    def head(self) -> Head | None:
        found = self._run(self._db().fetchrow("SELECT seq, hash, mac FROM exchange_log_head"))
        return None if found is None else Head(int(found[0]), str(found[1]), str(found[2]))

    def archived(self) -> Head | None:
        found = self._run(self._db().fetchrow(_ARCHIVED))
        return None if found is None else Head(int(found[0]), str(found[1]), str(found[2]))

    def rows(self, query: Query) -> Iterator[Row]:
        sql, args = query.sql(numbered=True)

        async def open_cursor() -> Any:
            return await self._db().cursor(sql, *args)

        cursor = self._run(open_cursor())
        while records := self._run(cursor.fetch(_CHUNK)):
            for record in records:
                yield dict(zip(COLUMNS, record, strict=True))

    def seq_of(self, hash: str) -> int | None:
        found = self._run(self._db().fetchval("SELECT seq FROM exchanges WHERE hash = $1", hash))
        return None if found is None else int(found)

    def close(self) -> None:
        conn = self._conn
        try:
            if conn is not None and not conn.is_closed():
                # Ends the read-only transaction too.
                self._runner.run(conn.close(timeout=5))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            assert conn is not None
            conn.terminate()
        finally:
            self._conn = None
            self._runner.close()
