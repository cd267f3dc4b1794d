"""The exchange log on SQLite, the embedded default: ``exchanges.db`` in
the data folder (or memory), the chain's key and the signed head as files
beside it (``audit.key``, ``exchanges.head``).

:class:`SqliteLog` is the database, used from one thread at a time (it
blocks); :class:`SqliteStore` is the recorder's engine, which calls it
through ``asyncio.to_thread``, and appends to a data folder's log through
an :class:`~.appender.Appender`, a process of its own; :class:`SqliteReader`
reads a data folder's log read-only while gateways keep writing.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import secrets
import sqlite3
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import structlog

from lgsp.observe.exchange_log.appender import Appender, AppenderUnavailable
from lgsp.observe.exchange_log.chain import (
    COLUMNS,
    DB_FILE,
    GENESIS,
    HEAD_FILE,
    SCHEMA,
    Head,
    Row,
    Value,
    chain,
    load_key,
    prepare,
)
from lgsp.observe.exchange_log.query import Query, open_log, select
from lgsp.observe.exchange_log.store import Reader, Store, archivable, checked_columns
from lgsp.observe.record import ExchangeRecord
from lgsp.store import StoreUnavailable
from lgsp.store.sqlite import open_sqlite

log = structlog.get_logger("lgsp.audit")

_LOCK_FILE = "exchanges.lock"

_INSERT = f"INSERT INTO exchanges ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_LAST = "SELECT seq, hash FROM exchanges ORDER BY seq DESC LIMIT 1"
_ARCHIVED = "SELECT seq, hash, mac FROM exchange_log_archived"

T = TypeVar("T")


class SqliteLog:
    """The SQLite database and its key; every method blocks."""

    def __init__(self, data_dir: Path | None) -> None:
        self.head_path: Path | None = None
        self._lock_fd: int | None = None
        if data_dir is None:
            self.key = secrets.token_bytes(32)
            self.conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        else:
            data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.key = load_key(data_dir, create=True)
            self.head_path = data_dir / HEAD_FILE
            self._lock_fd = os.open(data_dir / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
            self.conn = open_sqlite(data_dir / DB_FILE)
        self.conn.executescript(SCHEMA)

    def write(self, records: Sequence[ExchangeRecord], full_services: tuple[str, ...]) -> None:
        """Append the records, chained, in one transaction."""
        self.append(prepare(records, full_services))

    def append(self, prepared: Sequence[list[Value]]) -> None:
        """Chain prepared records after the last one and append them in one
        transaction, then sign the head."""
        with self._exclusive():
            # IMMEDIATE takes the write lock before reading the last hash, so
            # another gateway on the same database cannot chain off it too.
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                # After archiving every record, the chain goes on from the
                # last one archived.
                last = (
                    self.conn.execute(_LAST).fetchone() or self.conn.execute(_ARCHIVED).fetchone()
                )
                seq, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS)
                rows, seq, prev = chain(self.key, seq, prev, prepared)
                self.conn.executemany(_INSERT, rows)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            if self.head_path is not None:
                Head.sign(self.key, seq, prev).write(self.head_path)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Writers of one data dir take turns for the transaction and the
        head file together, so the head is never older than another's commit."""
        if self._lock_fd is None:
            yield
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def archive(self, before: str, limit: int, keep: Callable[[list[Row]], object]) -> int:
        """Move out the oldest records (see :meth:`Store.archive`)."""
        with self._exclusive():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                rows = archivable(select(self.conn, Query(limit=limit)), before)
                if rows:
                    keep(rows)
                    last = Head.sign(self.key, int(str(rows[-1]["seq"])), str(rows[-1]["hash"]))
                    self.conn.execute("DELETE FROM exchanges WHERE seq <= ?", (last.seq,))
                    self.conn.execute(
                        "INSERT OR REPLACE INTO exchange_log_archived (one, seq, hash, mac) "
                        "VALUES (1, ?, ?, ?)",
                        (last.seq, last.hash, last.mac),
                    )
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return len(rows)

    def page(self, query: Query) -> list[Row]:
        return list(select(self.conn, query))

    def columns(self, columns: Sequence[str], start: str, end: str) -> list[tuple[object, ...]]:
        return self.conn.execute(
            f"SELECT {', '.join(checked_columns(columns))} FROM exchanges "
            "WHERE received >= ? AND received < ?",
            (start, end),
        ).fetchall()

    def close(self) -> None:
        self.conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)


class SqliteStore(Store):
    """The recorder's SQLite engine: :class:`SqliteLog` in a worker thread,
    one call at a time, and a data folder's appends in :class:`Appender`'s
    process; SQLite's and the disk's errors are
    :class:`~lgsp.store.StoreUnavailable`."""

    def __init__(self, log: SqliteLog, data_dir: Path | None) -> None:
        self._log = log
        self.key = log.key
        self._lock = asyncio.Lock()
        self.name = str(data_dir) if data_dir is not None else "memory"
        # A log in memory lives in this process: its appends cannot leave it.
        self._appender = (
            Appender(functools.partial(SqliteLog, data_dir)) if data_dir is not None else None
        )

    @classmethod
    async def open(cls, data_dir: Path | None) -> SqliteStore:
        store = cls(await asyncio.to_thread(SqliteLog, data_dir), data_dir)
        if store._appender is not None:
            try:
                store._appender.start()
            except AppenderUnavailable as exc:
                store._without_appender(exc)
        return store

    def _without_appender(self, exc: AppenderUnavailable) -> None:
        # Where processes cannot be made (no working semaphores, a sandbox),
        # the thread still writes every record: slower for the loop, not lost.
        log.warning("audit.appender_unavailable", store=self.name, error=str(exc))
        self._appender = None

    @property
    def writer_pid(self) -> int | None:
        """The process that appends (None before its first append, or for a
        log in memory, which this process appends to itself)."""
        return None if self._appender is None else self._appender.pid

    async def _locked(self, run: Callable[[], Awaitable[T]]) -> T:
        async with self._lock:
            try:
                return await run()
            except (OSError, sqlite3.Error) as exc:
                raise StoreUnavailable(f"the exchange log in {self.name}: {exc}") from exc

    async def _call(self, job: Callable[[], T]) -> T:
        return await self._locked(lambda: asyncio.to_thread(job))

    async def append(self, prepared: Sequence[list[Value]]) -> None:
        appender = self._appender
        if appender is not None:
            try:
                await self._locked(lambda: appender.append(prepared))
                return
            except AppenderUnavailable as exc:
                self._without_appender(exc)
        await self._call(lambda: self._log.append(prepared))

    async def archive(self, before: str, limit: int, keep: Callable[[list[Row]], object]) -> int:
        # Here, not in the appender: ``keep`` writes files from this process.
        # The appender waits for it on the data folder's lock, as another
        # gateway's would.
        return await self._call(lambda: self._log.archive(before, limit, keep))

    async def page(self, query: Query) -> list[Row]:
        return await self._call(lambda: self._log.page(query))

    async def columns(
        self, columns: Sequence[str], start: str, end: str
    ) -> list[tuple[object, ...]]:
        return await self._call(lambda: self._log.columns(columns, start, end))

    async def close(self) -> None:
        async with self._lock:
            if self._appender is not None:
                await self._appender.close()
            await asyncio.to_thread(self._log.close)


class SqliteReader(Reader):
    """A data folder's log, read-only, on one snapshot taken when opened
    (the head file read just before it: gateways writing meanwhile only add
    records after that head)."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._head = Head.read(data_dir / HEAD_FILE)
        self._opened = contextlib.ExitStack()
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        # Opened at the first read, so a missing key is what verify reports
        # first, and exports need no key at all.
        if self._conn is None:
            self._conn = self._opened.enter_context(open_log(self._data_dir))
            self._conn.execute("BEGIN")  # one snapshot for every read
        return self._conn

    def key(self) -> bytes:
        return load_key(self._data_dir, create=False)

    def head(self) -> Head | None:
        return self._head

    def archived(self) -> Head | None:
        try:
            found = self._db().execute(_ARCHIVED).fetchone()
        except sqlite3.OperationalError:
            return None  # a log made before archiving existed
        return None if found is None else Head(int(found[0]), str(found[1]), str(found[2]))

    def rows(self, query: Query) -> Iterator[Row]:
        return select(self._db(), query)

    def seq_of(self, hash: str) -> int | None:
        found = self._db().execute("SELECT seq FROM exchanges WHERE hash = ?", (hash,)).fetchone()
        return None if found is None else int(found[0])

    def close(self) -> None:
        self._opened.close()
