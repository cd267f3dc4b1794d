"""The exchange log's SQLite store, used from one writer thread at a time:
it chains records as it appends them and signs the head after each batch."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from lgsp.config import granted
from lgsp.observe.exchange_log.chain import (
    COLUMNS,
    DB_FILE,
    GENESIS,
    HEAD_FILE,
    SCHEMA,
    Head,
    Row,
    hash_values,
    load_key,
    record_values,
)
from lgsp.observe.exchange_log.query import Query, select
from lgsp.observe.record import ExchangeRecord

_LOCK_FILE = "exchanges.lock"

_INSERT = f"INSERT INTO exchanges ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


class Store:
    """The SQLite database and its key; every method blocks, so the
    exchange log calls them through ``asyncio.to_thread``, one at a time."""

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
            db = data_dir / DB_FILE
            # Created 0600 before SQLite opens it; its WAL files copy the mode.
            os.close(os.open(db, os.O_RDWR | os.O_CREAT, 0o600))
            self._lock_fd = os.open(data_dir / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
            self.conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout = 10000")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.executescript(SCHEMA)

    def write(self, records: Sequence[ExchangeRecord], full_services: tuple[str, ...]) -> None:
        """Append the records, chained, in one transaction."""
        with self._exclusive():
            # IMMEDIATE takes the write lock before reading the last hash, so
            # another gateway on the same database cannot chain off it too.
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                last = self.conn.execute(
                    "SELECT seq, hash FROM exchanges ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                seq, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS)
                rows = []
                for record in records:
                    seq += 1
                    full = bool(full_services) and granted(full_services, record.name)
                    values = record_values(record, seq, full)
                    chained = hash_values(self.key, prev, values, blobs=full)
                    rows.append((*values, prev, chained))
                    prev = chained
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

    def page(self, query: Query) -> list[Row]:
        return list(select(self.conn, query))

    def columns(self, columns: str, start: str, end: str) -> list[tuple[object, ...]]:
        wanted = [c.strip() for c in columns.split(",")]
        if not set(wanted) <= set(COLUMNS):
            raise ValueError(f"not columns of the exchange log: {columns}")
        return self.conn.execute(
            f"SELECT {', '.join(wanted)} FROM exchanges WHERE received >= ? AND received < ?",
            (start, end),
        ).fetchall()

    def close(self) -> None:
        self.conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
