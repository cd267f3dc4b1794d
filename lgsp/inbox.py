"""The subscribers' inbox: which events each subscriber has processed, by
event id, so that a redelivery (at-least-once: after a broker restart, a
lost connection, a subscriber killed before its acknowledgement) is
acknowledged without running the handler again.

An event is recorded once its handler has returned, in the same step that
then acknowledges it: a handler that fails is not recorded, so its
redelivery runs it again. The one window left is a process killed after a
handler returned and before its record is written (a few hundred
microseconds): that event runs again after the redelivery. Engines: in
memory (no data folder; bounded), SQLite in the adapter's data folder
(shared by the processes that share the folder), and PostgreSQL (the bus's
store, shared by every machine).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from lgsp.store import Database
from lgsp.store.sqlite import open_sqlite

T = TypeVar("T")

RETENTION_S = 7 * 24 * 3600.0
"""How long an event id is remembered: far longer than any redelivery."""
DB_FILE = "inbox.db"


class Inbox(ABC):
    """What the SDK asks before and after running a subscriber's handler."""

    @abstractmethod
    async def open(self) -> None:
        """Ready the engine (create its table, forget what is past retention)."""

    @abstractmethod
    async def close(self) -> None:
        """Release what :meth:`open` took."""

    @abstractmethod
    async def processed(self, subscriber: str, event_id: str) -> bool:
        """Whether ``subscriber`` has already processed the event."""

    @abstractmethod
    async def record(self, subscriber: str, event_id: str) -> None:
        """Note that ``subscriber`` processed the event."""


class MemoryInbox(Inbox):
    """In this process only, the most recent ``max_entries`` event ids."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._max = max_entries
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        self._seen.clear()

    async def processed(self, subscriber: str, event_id: str) -> bool:
        return (subscriber, event_id) in self._seen

    async def record(self, subscriber: str, event_id: str) -> None:
        self._seen[(subscriber, event_id)] = None
        self._seen.move_to_end((subscriber, event_id))
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    subscriber TEXT NOT NULL,
    event_id TEXT NOT NULL,
    processed_at REAL NOT NULL,
    PRIMARY KEY (subscriber, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS inbox_processed_at ON inbox (processed_at);
"""


class SqliteInbox(Inbox):
    """A SQLite file in the adapter's data folder, used from one thread of
    its own (never the event loop's)."""

    def __init__(self, folder: Path, *, retention_s: float = RETENTION_S) -> None:
        self.path = folder / DB_FILE
        self._retention = retention_s
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="lgsp-inbox")
        self._conn: sqlite3.Connection | None = None

    async def _run(self, job: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, job)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the inbox is not open")
        return self._conn

    async def open(self) -> None:
        await self._run(self._open)

    async def close(self) -> None:
        await self._run(self._close)
        self._thread.shutdown(wait=True)

    async def processed(self, subscriber: str, event_id: str) -> bool:
        return await self._run(lambda: self._processed(subscriber, event_id))

    async def record(self, subscriber: str, event_id: str) -> None:
        await self._run(lambda: self._record(subscriber, event_id))

    def _open(self) -> None:
        conn = open_sqlite(self.path)
        conn.executescript(_SCHEMA)
        conn.execute("DELETE FROM inbox WHERE processed_at < ?", (time.time() - self._retention,))
        self._conn = conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _processed(self, subscriber: str, event_id: str) -> bool:
        row = (
            self._db()
            .execute(
                "SELECT 1 FROM inbox WHERE subscriber = ? AND event_id = ?", (subscriber, event_id)
            )
            .fetchone()
        )
        return row is not None

    def _record(self, subscriber: str, event_id: str) -> None:
        self._db().execute(
            "INSERT OR IGNORE INTO inbox (subscriber, event_id, processed_at) VALUES (?, ?, ?)",
            (subscriber, event_id, time.time()),
        )


class PostgresInbox(Inbox):
    """The bus's PostgreSQL store: one inbox for every process of a
    subscriber, on any machine."""

    def __init__(self, url: str, *, retention_s: float = RETENTION_S) -> None:
        self._url = url
        self._retention = retention_s
        self._db: Database | None = None

    def _open_db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the inbox is not open")
        return self._db

    async def open(self) -> None:
        self._db = await Database.open(self._url, max_size=2)
        async with self._db.connection() as conn:
            await conn.execute(
                "DELETE FROM inbox WHERE processed_at < $1", time.time() - self._retention
            )

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def processed(self, subscriber: str, event_id: str) -> bool:
        async with self._open_db().connection() as conn:
            found = await conn.fetchval(
                "SELECT 1 FROM inbox WHERE subscriber = $1 AND event_id = $2",
                subscriber,
                event_id,
            )
        return found is not None

    async def record(self, subscriber: str, event_id: str) -> None:
        async with self._open_db().connection() as conn:
            await conn.execute(
                "INSERT INTO inbox (subscriber, event_id, processed_at) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                subscriber,
                event_id,
                time.time(),
            )


def open_inbox(folder: Path | None, store_url: str | None = None) -> Inbox:
    """The inbox of an adapter whose state lives in ``folder`` (in memory
    when it has none), or in the bus's PostgreSQL store at ``store_url``."""
    if store_url is not None:
        return PostgresInbox(store_url)
    return MemoryInbox() if folder is None else SqliteInbox(folder)
