"""The client store on SQLite (stdlib ``sqlite3``): ``<data_dir>/clients.db``
(mode 0600), or an in-memory database for the life of the process without a
data folder. One thread of its own runs every statement, never the event
loop's.

Gateway processes sharing one data folder (``lgsp gateway --workers N``)
share the file: each polls ``PRAGMA data_version`` (a counter SQLite bumps
when *another* connection commits) off the request path and reloads its
snapshot when it moved, so a change made through any of them shows on all
within a poll interval, with or without a broker to carry notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import orjson
import structlog

from lgsp.store import StoreError, StoreUnavailable
from lgsp.store.sqlite import open_sqlite
from lgsp.trust.clients import Applied, Client, Engine, SigningKey, Snapshot

log = structlog.get_logger("lgsp.clients")

T = TypeVar("T")

DB_FILE = "clients.db"
POLL_INTERVAL_S = 0.5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY,
    grants TEXT NOT NULL,
    secret_hash TEXT,
    rate REAL,
    burst INTEGER,
    enabled INTEGER NOT NULL,
    certificate_sha256 TEXT,
    description TEXT NOT NULL,
    not_before REAL NOT NULL,
    demo INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    kid TEXT PRIMARY KEY,
    secret BLOB NOT NULL,
    created REAL NOT NULL,
    retired REAL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_COLUMNS = (
    "id, grants, secret_hash, rate, burst, enabled, certificate_sha256, description, "
    "not_before, demo"
)
_CONFIG = "SELECT value FROM meta WHERE name = 'config'"


class SqliteEngine(Engine):
    """See the module docstring."""

    def __init__(self, path: Path | None, *, poll_interval: float = POLL_INTERVAL_S) -> None:
        self.path = path
        self.persistent = path is not None
        self.name = str(path) if path is not None else "memory"
        self._interval = poll_interval
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="lgsp-clients")
        self._conn: sqlite3.Connection | None = None
        self._version = -1

    @classmethod
    async def open(cls, data_dir: Path | None) -> SqliteEngine:
        engine = cls(data_dir / DB_FILE if data_dir is not None else None)
        try:
            await engine._run(engine._open)
        except BaseException:
            await engine.close()
            raise
        return engine

    async def _run(self, job: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, job)
        except sqlite3.OperationalError as exc:  # locked, busy, unreadable: try again later
            raise StoreUnavailable(f"the client store at {self.name}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"the client store at {self.name}: {exc}") from exc

    def _open(self) -> None:
        if self.path is None:
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        else:
            # 0600 (it holds hashes and keys), also when an older one was not.
            conn = open_sqlite(self.path, timeout=5.0, synchronous="FULL")
            os.chmod(self.path, 0o600)
        conn.executescript(_SCHEMA)
        self._conn = conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the client store at {self.name} is closed")
        return self._conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        # IMMEDIATE: take the write lock first, so check-then-write steps of
        # two processes (seeding, updates) cannot interleave.
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- reading ----------------------------------------------------------

    async def load(self) -> Snapshot:
        return await self._run(self._load)

    def _load(self) -> Snapshot:
        db = self._db()
        # The version first: a commit landing during the reads moves it past
        # this one, so the next poll reloads.
        (self._version,) = db.execute("PRAGMA data_version").fetchone()
        # One read transaction: clients and keys of one moment.
        db.execute("BEGIN")
        try:
            clients = {
                row[0]: _client(row) for row in db.execute(f"SELECT {_COLUMNS} FROM clients")
            }
            keys = tuple(
                SigningKey(kid, bytes(secret), created, retired)
                for kid, secret, created, retired in db.execute(
                    "SELECT kid, secret, created, retired FROM keys "
                    "ORDER BY retired IS NOT NULL, created DESC"
                )
            )
        finally:
            db.execute("COMMIT")
        return Snapshot(clients, keys)

    async def applied(self) -> str | None:
        def read() -> str | None:
            row = self._db().execute(_CONFIG).fetchone()
            return str(row[0]) if row else None

        return await self._run(read)

    async def watch(self, stale: Callable[[], None]) -> None:
        if self.path is None:
            return  # a database in memory: no other process sees it
        while True:
            await asyncio.sleep(self._interval)
            try:
                moved = await self._run(self._moved)
            except StoreError as exc:  # a locked or busy file: try next time
                log.warning("clients.poll_failed", error=str(exc))
                continue
            if moved:
                stale()

    def _moved(self) -> bool:
        (version,) = self._db().execute("PRAGMA data_version").fetchone()
        return bool(version != self._version)

    # -- writing ----------------------------------------------------------

    async def apply(
        self, clients: Sequence[Client], key: SigningKey, fingerprint: str, *, over: str | None
    ) -> Applied:
        def apply() -> Applied:
            with self._transaction() as db:
                row = db.execute(_CONFIG).fetchone()
                if (row[0] if row else None) != over:
                    return "raced"
                for client in clients:
                    old = db.execute(
                        "SELECT not_before FROM clients WHERE id = ?", (client.id,)
                    ).fetchone()
                    _write(db, replace(client, not_before=old[0]) if old else client)
                if db.execute("SELECT 1 FROM keys LIMIT 1").fetchone() is None:
                    db.execute(
                        "INSERT INTO keys (kid, secret, created) VALUES (?, ?, ?)",
                        (key.kid, key.secret, key.created),
                    )
                db.execute(
                    "INSERT OR REPLACE INTO meta (name, value) VALUES ('config', ?)",
                    (fingerprint,),
                )
            return "seeded" if over is None else "applied"

        return await self._run(apply)

    async def add(self, client: Client) -> bool:
        def add() -> bool:
            with self._transaction() as db:
                taken = db.execute("SELECT 1 FROM clients WHERE id = ?", (client.id,)).fetchone()
                if not taken:
                    _write(db, client)
            return not taken

        return await self._run(add)

    async def update(self, client_id: str, change: Callable[[Client], Client]) -> Client | None:
        def update() -> Client | None:
            with self._transaction() as db:
                row = db.execute(
                    f"SELECT {_COLUMNS} FROM clients WHERE id = ?", (client_id,)
                ).fetchone()
                if row is None:
                    return None
                updated = change(_client(row))
                _write(db, updated)
            return updated

        return await self._run(update)

    async def delete(self, client_id: str) -> bool:
        def delete() -> bool:
            with self._transaction() as db:
                return bool(db.execute("DELETE FROM clients WHERE id = ?", (client_id,)).rowcount)

        return await self._run(delete)

    async def rotate(self, key: SigningKey, prune_before: float) -> None:
        def rotate() -> None:
            with self._transaction() as db:
                db.execute("UPDATE keys SET retired = ? WHERE retired IS NULL", (key.created,))
                db.execute(
                    "INSERT INTO keys (kid, secret, created) VALUES (?, ?, ?)",
                    (key.kid, key.secret, key.created),
                )
                db.execute(
                    "DELETE FROM keys WHERE retired IS NOT NULL AND retired < ?", (prune_before,)
                )

        await self._run(rotate)

    async def close(self) -> None:
        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        try:
            await self._run(close)
        finally:
            self._thread.shutdown(wait=True)


def _write(db: sqlite3.Connection, c: Client) -> None:
    db.execute(
        f"INSERT OR REPLACE INTO clients ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            c.id,
            orjson.dumps(list(c.grants)).decode(),
            c.secret_hash,
            c.rate,
            c.burst,
            int(c.enabled),
            c.certificate_sha256,
            c.description,
            c.not_before,
            int(c.demo),
        ),
    )


def _client(row: tuple[Any, ...]) -> Client:
    return Client(
        id=row[0],
        grants=tuple(orjson.loads(row[1])),
        secret_hash=row[2],
        rate=row[3],
        burst=row[4],
        enabled=bool(row[5]),
        certificate_sha256=row[6],
        description=row[7],
        not_before=row[8],
        demo=bool(row[9]),
    )
