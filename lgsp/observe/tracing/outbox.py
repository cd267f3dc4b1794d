"""Where reports wait until NDOP has accepted them: an SQLite file in the
data folder (``ndop-outbox.sqlite3``, WAL), or memory, bounded, without one.

Reports are kept as their JSON bytes, in arrival order; a report leaves
only when the sender removes it after NDOP's 200. Every method blocks (the
file's), so the reporter calls them through ``asyncio.to_thread``; a lock
lets its intake and its sender do so at the same time.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lgsp.store.sqlite import open_sqlite

OUTBOX_FILE = "ndop-outbox.sqlite3"
MEMORY_LIMIT = 100_000
"""The most reports a memory outbox holds: beyond it, new reports are
dropped (and counted), the ones waiting kept."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queued REAL NOT NULL,
    trace BLOB NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Backlog:
    """How many reports wait, and since when (epoch seconds; None: none),
    as of the outbox's ``version``-th change (a later one tells newer news)."""

    count: int
    oldest: float | None
    version: int = 0


class Outbox(Protocol):
    """Reports waiting for NDOP, oldest first."""

    def add(self, traces: Sequence[bytes]) -> int:
        """Keep the reports; answers how many were kept (the rest dropped)."""
        ...

    def peek(self, limit: int) -> list[tuple[int, bytes]]:
        """The oldest ``limit`` reports, with the keys to remove them by."""
        ...

    def remove(self, keys: Sequence[int]) -> None: ...

    def backlog(self) -> Backlog: ...

    def close(self) -> None: ...


def open_outbox(data_dir: Path | None, memory_limit: int = MEMORY_LIMIT) -> Outbox:
    """The outbox of a data folder, or one in memory without a folder."""
    if data_dir is None:
        return MemoryOutbox(memory_limit)
    return SqliteOutbox(data_dir / OUTBOX_FILE)


class MemoryOutbox:
    """Reports in memory, for the life of the process."""

    def __init__(self, limit: int = MEMORY_LIMIT) -> None:
        self.limit = limit
        self._items: deque[tuple[int, float, bytes]] = deque()
        self._seq = 0
        self._version = 0
        self._lock = threading.Lock()

    def add(self, traces: Sequence[bytes]) -> int:
        now = time.time()
        with self._lock:
            kept = traces[: max(self.limit - len(self._items), 0)]
            for trace in kept:
                self._seq += 1
                self._items.append((self._seq, now, trace))
            self._version += 1
            return len(kept)

    def peek(self, limit: int) -> list[tuple[int, bytes]]:
        with self._lock:
            return [(seq, trace) for seq, _, trace in itertools.islice(self._items, limit)]

    def remove(self, keys: Sequence[int]) -> None:
        gone = set(keys)
        with self._lock:
            # The sender removes what it peeked: the oldest, in order.
            while self._items and self._items[0][0] in gone:
                gone.discard(self._items.popleft()[0])
            if gone:
                self._items = deque(i for i in self._items if i[0] not in gone)
            self._version += 1

    def backlog(self) -> Backlog:
        with self._lock:
            oldest = self._items[0][1] if self._items else None
            return Backlog(len(self._items), oldest, self._version)

    def close(self) -> None:
        """Nothing to close: what is left is lost with the process."""


class SqliteOutbox:
    """Reports in an SQLite file, kept across restarts. It holds personal
    ids until NDOP has them: created 0600, in a 0700 folder."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._conn = open_sqlite(path)
        self._conn.executescript(_SCHEMA)
        self._count = int(self._conn.execute("SELECT count(*) FROM reports").fetchone()[0])
        self._version = 0

    def add(self, traces: Sequence[bytes]) -> int:
        now = time.time()
        with self._lock, self._conn:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT INTO reports (queued, trace) VALUES (?, ?)", [(now, t) for t in traces]
            )
            self._count += len(traces)
            self._version += 1
        return len(traces)

    def peek(self, limit: int) -> list[tuple[int, bytes]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, trace FROM reports ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(int(seq), bytes(trace)) for seq, trace in rows]

    def remove(self, keys: Sequence[int]) -> None:
        with self._lock, self._conn:
            self._conn.execute("BEGIN")
            removed = self._conn.executemany(
                "DELETE FROM reports WHERE seq = ?", [(k,) for k in keys]
            ).rowcount
            self._count = max(self._count - max(removed, 0), 0)
            self._version += 1

    def backlog(self) -> Backlog:
        with self._lock:
            row = self._conn.execute("SELECT queued FROM reports ORDER BY seq LIMIT 1").fetchone()
            return Backlog(self._count, float(row[0]) if row else None, self._version)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
