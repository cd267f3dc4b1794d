"""The exchange log on SQLite, the embedded default: ``exchanges.db`` in
the data folder (or memory), the chain's key and the signed head as files
beside it (``audit.key``, ``exchanges.head``).

:class:`SqliteLog` is the database, used from one thread at a time (it
blocks); :class:`SqliteStore` is the recorder's engine, which calls it
through ``asyncio.to_thread``, and appends to a data folder's log through
:class:`Appender`, a process of its own; :class:`SqliteReader` reads a data
folder's log read-only while gateways keep writing.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import multiprocessing
import os
import secrets
import signal
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TypeVar

import structlog

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
        self._appender = Appender(data_dir) if data_dir is not None else None

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


# -- the appender's process ------------------------------------------------------

_WRITER_CONTEXT = multiprocessing.get_context("forkserver")
# The fork server imports this module once; each appender is then a fork of
# it (milliseconds), not a new interpreter importing lgsp (most of a second).
_WRITER_CONTEXT.set_forkserver_preload([__name__])


class AppenderUnavailable(Exception):
    """No process can be started here to append."""


class Appender:
    """A data folder's appends in a process of their own.

    Chaining a record (its HMAC) and inserting it hold the GIL: in a thread
    of the gateway's they took it from the event loop, which waited for it
    after every socket write, and the loop's answers stalled each time a
    batch was written. In a process, the loop keeps its interpreter; what
    crosses is the prepared rows, pickled, once a batch.

    The process ignores SIGINT and SIGTERM (a Ctrl-C reaches the whole
    process group): it ends when this process shuts it down, after the last
    batch, or when this process is gone. When it ends otherwise, the append
    raises :class:`OSError` (the batch is kept by the recorder) and the next
    one starts a new process; when no process can be started at all,
    :class:`AppenderUnavailable`."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._pool: ProcessPoolExecutor | None = None
        self._alive: Connection | None = None
        self.pid: int | None = None
        """The appender's process id, once it has answered."""

    def start(self) -> None:
        """Start the process now, without waiting for it: its start-up
        overlaps the gateway's."""
        # The pool starts its process with the first job it is given.
        self._submit(os.getpid)

    def _submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        try:
            return self._executor().submit(fn, *args)
        except BrokenProcessPool:
            raise
        except (OSError, ImportError, RuntimeError, EOFError) as exc:
            self._discard()
            raise AppenderUnavailable(f"no process can be started: {exc!r}") from exc

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Only this process writes to the pipe: when it is gone, however
            # it ended, the appender reads the end of it and ends too.
            theirs, self._alive = _WRITER_CONTEXT.Pipe(duplex=False)
            self._pool = ProcessPoolExecutor(
                1,
                mp_context=_WRITER_CONTEXT,
                initializer=_open_in_appender,
                initargs=(str(self._data_dir), theirs),
            )
        return self._pool

    async def append(self, prepared: Sequence[list[Value]]) -> None:
        try:
            self.pid = await asyncio.wrap_future(self._submit(_append_in_appender, prepared))
        except BrokenProcessPool as exc:
            self._discard()
            raise OSError(f"its appender process ended ({exc})") from exc

    def _discard(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._alive is not None:
            self._alive.close()
        self._pool, self._alive, self.pid = None, None, None

    async def close(self) -> None:
        """Wait for the batch being written, then end the process."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown)
        self._discard()


_APPENDER_LOG: SqliteLog | None = None
_APPENDING = threading.Lock()


def _open_in_appender(data_dir: str, alive: Connection) -> None:
    global _APPENDER_LOG
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Not the gateway's output: a pipe its supervisor reads to the end would
    # stay open after the gateway died. Failures come back as exceptions.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    _APPENDER_LOG = SqliteLog(Path(data_dir))
    threading.Thread(target=_end_with_the_gateway, args=(alive,), daemon=True).start()


def _end_with_the_gateway(alive: Connection) -> None:
    # Nothing is ever sent: the read ends when the gateway's end closes (a
    # gateway killed never shut the pool down). The batch being written is
    # finished first.
    with contextlib.suppress(EOFError, OSError):
        while True:
            alive.recv_bytes()
    with _APPENDING:
        os._exit(0)


def _append_in_appender(prepared: Sequence[list[Value]]) -> int:
    assert _APPENDER_LOG is not None, "the appender's initializer opens the log"
    with _APPENDING:
        _APPENDER_LOG.append(prepared)
    return os.getpid()


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
