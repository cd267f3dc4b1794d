"""Where NDOP keeps the reports: one SQLite database, in memory by default or
a file in NDOP's data folder (so that reports survive a restart), indexed by
subject, by request and by time.

One engine for both (SQLite's ``:memory:`` is the in-memory store), used from
one worker thread: every query runs off the event loop, one at a time, so a
traffic count over 100,000 reports never stalls the platform's other routes.

A request reported by both sides (the requester's LGSP and the provider's)
counts once, as the requester's report tells it when there is one, else the
provider's: that report's time also decides which period it falls in.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

from lgsp_adapters.ndxp.ndop.reports import Trace

DB_FILE: Final = "traces.db"
MAX_ACCESSES: Final = 1000
"""Uses of one citizen's data the tracker answers at most (the newest)."""

T = TypeVar("T")

_COLUMNS: Final = (
    "trace_id",
    "request_id",
    "reporter",
    "role",
    "client",
    "agency",
    "origin",
    "target",
    "service",
    "version",
    "purpose",
    "subject",
    "status",
    "at",
    "duration_ms",
)
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    reporter TEXT NOT NULL,
    role TEXT NOT NULL,
    client TEXT NOT NULL,
    agency TEXT NOT NULL,
    origin TEXT NOT NULL,
    target TEXT NOT NULL,
    service TEXT NOT NULL,
    version INTEGER NOT NULL,
    purpose TEXT,
    subject TEXT NOT NULL,
    status INTEGER NOT NULL,
    at TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    at_us INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS traces_by_subject ON traces (subject, at_us);
CREATE INDEX IF NOT EXISTS traces_by_request ON traces (request_id, role);
CREATE INDEX IF NOT EXISTS traces_by_time ON traces (at_us);
"""
_INSERT: Final = (
    f"INSERT OR IGNORE INTO traces ({', '.join(_COLUMNS)}, at_us) "
    f"VALUES ({', '.join('?' * (len(_COLUMNS) + 1))})"
)
# A report counts unless it is the provider's of a request whose requester
# also reported it.
_COUNTED: Final = """(t.role = 'requester' OR NOT EXISTS (
    SELECT 1 FROM traces AS r WHERE r.request_id = t.request_id AND r.role = 'requester'))"""
_TRAFFIC: Final = f"""
SELECT origin, client, agency, target, service,
       COUNT(DISTINCT request_id),
       COUNT(DISTINCT CASE WHEN status < 400 THEN request_id END),
       COUNT(DISTINCT CASE WHEN status >= 400 AND status < 500 THEN request_id END),
       COUNT(DISTINCT CASE WHEN status >= 500 THEN request_id END)
FROM traces AS t
WHERE at_us >= :start AND at_us < :end
  AND (:province IS NULL OR origin = :province OR target = :province)
  AND {_COUNTED}
GROUP BY origin, client, agency, target, service
ORDER BY origin, client, target, service, agency
"""
_ACCESSES: Final = f"""
SELECT request_id, at, agency, client, origin, service, purpose, status
FROM traces AS t
WHERE subject = ? AND {_COUNTED}
ORDER BY at_us DESC, request_id
"""
_REQUEST: Final = f"""
SELECT {", ".join(_COLUMNS)} FROM traces
WHERE request_id = ? ORDER BY at_us, role DESC, trace_id
"""


@dataclass(frozen=True, slots=True)
class TrafficRow:
    """Requests of one client (of one agency, in its origin province) to one
    service of a target province, counted once each, by outcome."""

    origin: str
    client: str
    agency: str
    target: str
    service: str
    calls: int
    ok: int
    refused: int
    failed: int


@dataclass(frozen=True, slots=True)
class Access:
    """One use of a citizen's data: one request, as its counted report tells it."""

    request_id: str
    at: str
    agency: str
    client: str
    origin: str
    service: str
    purpose: str | None
    status: int


def _micros(moment: dt.datetime) -> int:
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class TraceStore:
    """The reports, in SQLite (a file in ``data_dir``, or in memory when it
    is None). :meth:`open` before use, :meth:`close` after."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = data_dir
        self._conn: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="ndop-store")

    async def _run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            if self._conn is None:
                raise RuntimeError("the trace store is not open")
            return job(self._conn)

        return await asyncio.get_running_loop().run_in_executor(self._thread, run)

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._connect)

    def _connect(self) -> None:
        if self.data_dir is None:
            conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        else:
            # Personal ids at rest: the folder and the database for this user only.
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            db = self.data_dir / DB_FILE
            os.close(os.open(db, os.O_RDWR | os.O_CREAT, 0o600))
            conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(_SCHEMA)
        self._conn = conn

    async def close(self) -> None:
        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._thread, close)
        self._thread.shutdown(wait=True)

    async def add(self, traces: Sequence[Trace]) -> int:
        """Keep the reports not kept yet (by ``trace_id``), in one
        transaction; how many were new."""
        rows = [
            (
                *(getattr(t, c) for c in _COLUMNS[:-2]),
                t.at.isoformat(),
                t.duration_ms,
                _micros(t.at),
            )
            for t in traces
        ]

        def add(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_INSERT, rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return conn.total_changes - before

        return await self._run(add)

    async def traffic(
        self, start: dt.datetime, end: dt.datetime, province: str | None = None
    ) -> list[TrafficRow]:
        """Requests made in ``[start, end)``, of or to ``province`` if given."""
        params = {"start": _micros(start), "end": _micros(end), "province": province}
        found = await self._run(lambda conn: conn.execute(_TRAFFIC, params).fetchall())
        return [TrafficRow(*row) for row in found]

    async def request(self, request_id: str) -> list[Trace]:
        """Every report of one request, in time order (the requester's first
        at the same instant)."""
        found = await self._run(lambda conn: conn.execute(_REQUEST, (request_id,)).fetchall())
        return [
            Trace.model_validate(dict(zip(_COLUMNS, row, strict=True)), strict=False)
            for row in found
        ]

    async def accesses(self, subject: str) -> list[Access]:
        """The uses of one subject's data, newest first, one per request."""
        found = await self._run(lambda conn: conn.execute(_ACCESSES, (subject,)).fetchall())
        seen: set[str] = set()
        accesses: list[Access] = []
        for row in found:
            access = Access(*row)
            # One request may carry a subject twice (two reports of one side).
            if access.request_id not in seen:
                seen.add(access.request_id)
                accesses.append(access)
                if len(accesses) == MAX_ACCESSES:
                    break
        return accesses

    async def count(self) -> int:
        """Reports kept."""
        found = await self._run(lambda conn: conn.execute("SELECT COUNT(*) FROM traces").fetchone())
        return int(found[0])
