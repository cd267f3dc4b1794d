"""The exchange log: one record per exchange and per event.

X-Road's message log is the model: who asked what, when, and what came back,
as digests, never the personal data itself (unless an operator turns full
logging on for a service).

Records are hash-chained with a key of the log's own: each record's ``hash``
is HMAC-SHA256 over the previous record's hash and the record's own columns,
so altering, removing or reordering a record breaks the chain, and a signed
head makes cutting records off the end visible too. They live in a store
with two engines (:mod:`.store`): SQLite in the data folder, the embedded
default (``exchanges.db``, the key in ``audit.key``, the head in
``exchanges.head``; or in memory), or PostgreSQL when ``store_url`` names
one (key and head are rows there), where gateways on several machines keep
one chain. The gateway's request path only appends to a list; digests,
chaining and writes happen in the background, in batches, off the event loop.

The recorder, :class:`ExchangeLog`, is here; its parts are the columns and
the chain (:mod:`.chain`), the engines (:mod:`.sqlite`, :mod:`.postgres`),
reading (:mod:`.query`), archiving the oldest records into signed files
(:mod:`.archive`) and verification (:mod:`.verify`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import structlog

from lgsp.config import Settings
from lgsp.errors import ServiceUnavailable
from lgsp.observe.exchange_log.archive import ARCHIVE_DIR, Manifest, archive_before
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
    prepare,
    timestamp,
)
from lgsp.observe.exchange_log.query import MAX_PAGE, Query, as_json, open_log, select
from lgsp.observe.exchange_log.store import Store, open_store, read
from lgsp.observe.exchange_log.verify import Verdict, verify, verify_chain
from lgsp.observe.record import ExchangeRecord
from lgsp.store import StoreError

__all__ = [
    "ARCHIVE_DIR",
    "COLUMNS",
    "DB_FILE",
    "FLUSH_BATCH",
    "FLUSH_INTERVAL_S",
    "GENESIS",
    "HEAD_FILE",
    "KEY_FILE",
    "MAX_PAGE",
    "MAX_UNWRITTEN",
    "AuditError",
    "ExchangeLog",
    "Head",
    "JsonValue",
    "Manifest",
    "Query",
    "Row",
    "Value",
    "Verdict",
    "archive_before",
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
RETRY_S = 1.0
"""After a failed write, the wait before the next try."""
MAX_UNWRITTEN = 100_000
"""Records kept in memory while the store cannot be written (as digests,
about 1 KB each): beyond them, newer records are counted and dropped, so a
long outage costs the log's completeness, never the gateway's memory."""
CLOSE_WAIT_S = 10.0
"""How long shutdown keeps trying to write what is left to an unavailable store."""


@dataclass(eq=False)
class ExchangeLog:
    """The gateway's exchange log (a :class:`Recorder`): ``record`` appends
    to a list; a background task writes it in batches, off the event loop.

    A write that fails (the store down or restarting) loses nothing: the
    batch waits, prepared (digests made, bodies dropped unless full logging
    keeps them), and goes first in the next write, up to
    :data:`MAX_UNWRITTEN` records; the gateway keeps serving meanwhile."""

    settings: Settings
    interval: float = field(default_factory=lambda: FLUSH_INTERVAL_S)
    _pending: list[ExchangeRecord] = field(default_factory=list)
    _unwritten: list[list[Value]] = field(default_factory=list)
    _dropped: int = 0
    failed_writes: int = 0
    """Writes the store refused since start (an outage): what an operator
    or a test watches, beside the ``audit.write_failed`` lines."""
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _store: Store | None = None
    _task: asyncio.Task[None] | None = None
    _closing: bool = False

    def record(self, record: ExchangeRecord) -> None:
        self._pending.append(record)
        if len(self._pending) >= FLUSH_BATCH:
            self._wake.set()

    @property
    def waiting(self) -> int:
        """Records recorded and not yet written."""
        return len(self._pending) + len(self._unwritten)

    @property
    def dropped(self) -> int:
        """Records dropped since start, past the outage bound (``MAX_UNWRITTEN``)."""
        return self._dropped

    async def start(self) -> None:
        """Open the store (on PostgreSQL: connect, migrate, read the key);
        raises :class:`~lgsp.store.StoreError` when it cannot."""
        self._store = await open_store(self.settings)
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="exchange-log")
        log.info("audit.started", store=self._store.name)

    async def flush(self) -> None:
        """Write everything recorded so far; raises
        :class:`~lgsp.store.StoreError` when the store cannot take it (it
        is then kept for the next flush)."""
        async with self._lock:
            if self._store is None:
                return
            batch, self._pending = self._pending, []
            prepared, self._unwritten = self._unwritten, []
            try:
                if batch:
                    # Digests off the event loop, as the writes.
                    prepared += await asyncio.to_thread(
                        prepare, batch, self.settings.audit_full_services
                    )
                    batch = []
                if prepared:
                    await self._store.append(prepared)
            except BaseException:
                # Kept for the next flush, in order: nothing recorded is dropped.
                self._pending[:0] = batch
                self._keep(prepared)
                raise

    def _keep(self, prepared: list[list[Value]]) -> None:
        if len(prepared) > MAX_UNWRITTEN:
            dropped = len(prepared) - MAX_UNWRITTEN
            self._dropped += dropped
            del prepared[MAX_UNWRITTEN:]
            log.error("audit.records_dropped", dropped=dropped, dropped_total=self._dropped)
        self._unwritten = prepared

    async def page(self, query: Query) -> list[Row]:
        """The records a query names, including those just recorded; 503
        while the store cannot be reached."""
        async with self._reading():
            if self._store is None:
                return []
            return await self._store.page(query)

    async def columns(self, columns: str, start: str, end: str) -> list[tuple[object, ...]]:
        """``columns`` (SQL, from :data:`COLUMNS`) of the records received in
        [start, end) (log timestamps), including those just recorded; 503
        while the store cannot be reached."""
        async with self._reading():
            if self._store is None:
                return []
            return await self._store.columns(columns.split(","), start, end)

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[None]:
        try:
            await self.flush()
            yield
        except StoreError as exc:
            log.warning("audit.read_failed", error=str(exc), waiting=self.waiting)
            raise ServiceUnavailable("the exchange log cannot be read now") from exc

    async def close(self) -> None:
        """Stop the writer and write what is left (graceful shutdown loses
        nothing; a store still unavailable after :data:`CLOSE_WAIT_S` does)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            # Not cancelled: a cancelled await would leave its thread writing.
            await self._task
            self._task = None
        try:
            await self._flush_before(time.monotonic() + CLOSE_WAIT_S)
        finally:
            if self._store is not None:
                async with self._lock:
                    await self._store.close()
                self._store = None

    async def _flush_before(self, deadline: float) -> None:
        while True:
            try:
                await self.flush()
                return
            except StoreError as exc:
                if time.monotonic() + RETRY_S >= deadline:
                    log.error("audit.lost_at_close", error=str(exc), lost=self.waiting)
                    return
                log.error("audit.write_failed", error=str(exc), waiting=self.waiting)
                await asyncio.sleep(RETRY_S)

    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        """For ``web.Application.cleanup_ctx``: started with the app, flushed
        and closed after its last request."""
        await self.start()
        yield
        await self.close()

    async def _run(self) -> None:
        wait = self.interval
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            try:
                await self.flush()
            except StoreError as exc:
                self.failed_writes += 1
                log.error("audit.write_failed", error=str(exc), waiting=self.waiting)
                wait = max(self.interval, RETRY_S)
            else:
                wait = self.interval
