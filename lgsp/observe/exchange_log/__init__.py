"""The exchange log: one record per exchange and per event.

X-Road's message log is the model: who asked what, when, and what came back,
as digests, never the personal data itself (unless an operator turns full
logging on for a service).

Records live in SQLite (``<data_dir>/exchanges.db``, or in memory). They are
hash-chained with a key kept beside the database (``audit.key``): each
record's ``hash`` is HMAC-SHA256 over the previous record's hash and the
record's own columns, so altering, removing or reordering a record breaks
the chain, and a signed head file (``exchanges.head``) makes cutting records
off the end visible too. The gateway's request path only appends to a list;
digests, chaining and writes happen in a writer thread, in batches.

The recorder, :class:`ExchangeLog`, is here; its parts are the columns and
the chain (:mod:`.chain`), the store its writer thread appends to
(:mod:`.store`), reading (:mod:`.query`) and verification (:mod:`.verify`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import structlog

from lgsp.config import Settings
from lgsp.observe.exchange_log.chain import (
    COLUMNS,
    DB_FILE,
    GENESIS,
    HEAD_FILE,
    KEY_FILE,
    AuditError,
    Head,
    JsonValue,
    Row,
    Value,
    chain_hash,
    timestamp,
)
from lgsp.observe.exchange_log.query import MAX_PAGE, Query, as_json, open_log, read, select
from lgsp.observe.exchange_log.store import Store
from lgsp.observe.exchange_log.verify import Verdict, verify, verify_chain
from lgsp.observe.record import ExchangeRecord

__all__ = [
    "COLUMNS",
    "DB_FILE",
    "FLUSH_BATCH",
    "FLUSH_INTERVAL_S",
    "GENESIS",
    "HEAD_FILE",
    "KEY_FILE",
    "MAX_PAGE",
    "AuditError",
    "ExchangeLog",
    "Head",
    "JsonValue",
    "Query",
    "Row",
    "Value",
    "Verdict",
    "as_json",
    "chain_hash",
    "open_log",
    "read",
    "select",
    "timestamp",
    "verify",
    "verify_chain",
]

log = structlog.get_logger("lgsp.audit")

# The recorder and its tuning live in the package itself, not in a module of
# their own: a log made without an interval reads FLUSH_INTERVAL_S from here,
# so setting it on ``lgsp.observe.exchange_log`` takes effect.
FLUSH_INTERVAL_S = 0.2
"""How long a record may wait in memory before it is written."""
FLUSH_BATCH = 1000
"""A flush starts at once when this many records wait."""


@dataclass(eq=False)
class ExchangeLog:
    """The gateway's exchange log (a :class:`Recorder`): ``record`` appends
    to a list; a background task writes it in batches, off the event loop."""

    settings: Settings
    interval: float = field(default_factory=lambda: FLUSH_INTERVAL_S)
    _pending: list[ExchangeRecord] = field(default_factory=list)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _store: Store | None = None
    _task: asyncio.Task[None] | None = None
    _closing: bool = False

    def record(self, record: ExchangeRecord) -> None:
        self._pending.append(record)
        if len(self._pending) >= FLUSH_BATCH:
            self._wake.set()

    async def start(self) -> None:
        self._store = await asyncio.to_thread(Store, self.settings.data_dir)
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="exchange-log")
        log.info(
            "audit.started",
            data_dir=str(self.settings.data_dir) if self.settings.data_dir else None,
        )

    async def flush(self) -> None:
        """Write everything recorded so far."""
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch or self._store is None:
                self._pending[:0] = batch
                return
            try:
                await asyncio.to_thread(self._store.write, batch, self.settings.audit_full_services)
            except BaseException:
                # Kept for the next flush, in order: nothing recorded is dropped.
                self._pending[:0] = batch
                raise

    async def page(self, query: Query) -> list[Row]:
        """The records a query names, including those just recorded."""
        await self.flush()
        async with self._lock:
            if self._store is None:
                return []
            return await asyncio.to_thread(self._store.page, query)

    async def columns(self, columns: str, start: str, end: str) -> list[tuple[object, ...]]:
        """``columns`` (SQL, from :data:`COLUMNS`) of the records received in
        [start, end) (log timestamps), including those just recorded."""
        await self.flush()
        async with self._lock:
            if self._store is None:
                return []
            return await asyncio.to_thread(self._store.columns, columns, start, end)

    async def close(self) -> None:
        """Stop the writer and write what is left (graceful shutdown loses nothing)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            # Not cancelled: a cancelled await would leave its thread writing.
            await self._task
            self._task = None
        try:
            await self.flush()
        finally:
            if self._store is not None:
                async with self._lock:
                    await asyncio.to_thread(self._store.close)
                self._store = None

    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        """For ``web.Application.cleanup_ctx``: started with the app, flushed
        and closed after its last request."""
        await self.start()
        yield
        await self.close()

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            try:
                await self.flush()
            except (OSError, sqlite3.Error) as exc:
                log.error("audit.write_failed", error=str(exc), pending=len(self._pending))
