"""Idempotency keys: a retried call with the same key and client gets the
first outcome without the provider being called again.

An outcome is kept only once the provider has answered (a success, a domain
error, or an answer outside the contract). Calls that never reached a
provider (503) or whose fate is unknown (504) are not kept, so retrying them
does reach a provider; the key travels in the envelope so a provider can
deduplicate what a timed-out call may already have done. A key reused with a
different request is refused with 409 (request.idempotency_conflict).

One store, two engines, as the transports: :class:`IdempotencyStore` keeps
this process's calls in flight (a retry in the same process waits for the
first call's outcome), an :class:`Engine` keeps the keys and their outcomes:
in this process (:class:`MemoryEngine`, the default), in an SQLite file
that the gateway workers of one machine share (:class:`SqliteEngine`, under
``lgsp gateway --workers N``), or in the bus's PostgreSQL store that every
gateway shares (:class:`PostgresEngine`), so that a key used on one is
replayed on another, never run twice. :meth:`IdempotencyStore.open` picks the engine.

A claim is atomic in the engine: the first call holds the key with a lease,
the longest a call may take. A retry that finds it held by another process
polls, with a bounded backoff, until the outcome is there (replayed), or
the lease is over (that process died with the call: the retry claims the
key and runs), or its own deadline passes (504).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import enum
import hashlib
import secrets
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import structlog

from lgsp.config import Settings
from lgsp.errors import IdempotencyConflict, LgspError, ServiceTimeout, ServiceUnavailable
from lgsp.store import Connection, Database, StoreUnavailable
from lgsp.store.sqlite import open_sqlite
from lgsp.trust.workers import worker_count

log = structlog.get_logger("lgsp.idempotency")

IDEMPOTENCY_FILE = "idempotency.db"
"""The SQLite engine's file in the data folder the workers share."""
DEADLINE_SLACK_S = 1.0
"""Beyond a call's own deadline, before the key it holds is given to a retry
elsewhere: the outcome's write, after the answer, lands well within it.
(After a gateway's ``kill -9``, events retried under their keys waited out
a 65 s lease, the longest deadline's, before this bound.)"""
LEASE_SLACK_S = 5.0
"""Beyond the longest deadline, before a held key whose call never ended is
given to a retry (the outcome's write comes after the answer)."""
POLL_FIRST_S = 0.005
POLL_MAX_S = 0.1
PURGE_INTERVAL_S = 60.0
CLOSE_TIMEOUT_S = 10.0
"""The longest a closing store waits for its outcomes to be written."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the gateway answered, replayed verbatim for a retry."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    code: str = ""
    """The problem code of an error outcome (for logs and metrics)."""


class Verdict(enum.Enum):
    """What an engine says of a claim that found no outcome to replay."""

    CLAIMED = "claimed"
    """The key is the claimant's: it runs the call and settles the key."""
    IN_FLIGHT = "in flight"
    """Another process's call with this key has not ended yet."""
    MISMATCH = "mismatch"
    """The key was used with a different request."""


@dataclass(frozen=True, slots=True)
class Claim:
    """One attempt to take a key: times are the store's clock (epoch s)."""

    client: str
    key: str
    fingerprint: bytes
    owner: str
    """Names this claim, so that only it settles the key it took."""
    now: float
    expires: float
    """When the key is forgotten, if this claim takes it."""
    lease: float
    """Until when the call may still be running, if this claim takes it."""


class Engine(abc.ABC):
    """Where keys and their outcomes are kept."""

    @abc.abstractmethod
    async def claim(self, claim: Claim) -> Outcome | Verdict:
        """Atomically: the outcome kept for the key; or take the key when it
        is free, expired, or held by a call whose lease is over
        (``CLAIMED``); else ``IN_FLIGHT`` or ``MISMATCH``."""

    @abc.abstractmethod
    def settle(self, client: str, key: str, owner: str, outcome: Outcome | None) -> None:
        """Keep ``outcome`` for the key ``owner`` holds (None: free the key).
        It may return before the write is done; until it is, the key stays
        held, so no claim can take it and run the call again."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish what was settled, then release the engine."""


@dataclass(slots=True)
class _Held:
    fingerprint: bytes
    owner: str
    expires: float
    lease: float
    outcome: Outcome | None = None


class MemoryEngine(Engine):
    """Keys in this process, the most recent ``max_entries`` of them."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._max = max_entries
        self._keys: OrderedDict[tuple[str, str], _Held] = OrderedDict()

    async def claim(self, claim: Claim) -> Outcome | Verdict:
        at = (claim.client, claim.key)
        held = self._keys.get(at)
        if held is None or _free(held.expires, held.lease, held.outcome is None, claim.now):
            self._keys[at] = _Held(claim.fingerprint, claim.owner, claim.expires, claim.lease)
            self._keys.move_to_end(at)
            while len(self._keys) > self._max:
                self._keys.popitem(last=False)
            return Verdict.CLAIMED
        if held.fingerprint != claim.fingerprint:
            return Verdict.MISMATCH
        return held.outcome or Verdict.IN_FLIGHT

    def settle(self, client: str, key: str, owner: str, outcome: Outcome | None) -> None:
        held = self._keys.get((client, key))
        if held is None or held.owner != owner:
            return  # evicted, or taken over after its lease
        if outcome is None:
            del self._keys[(client, key)]
        else:
            held.outcome = outcome

    async def close(self) -> None:
        self._keys.clear()


def _free(expires: float, lease: float, in_flight: bool, now: float) -> bool:
    """Whether a held key may be claimed: forgotten, or its call's lease over."""
    return expires <= now or (in_flight and lease <= now)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    client TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    owner TEXT NOT NULL,
    expires REAL NOT NULL,
    lease REAL NOT NULL,
    status INTEGER,
    body BLOB,
    headers BLOB,
    code TEXT,
    PRIMARY KEY (client, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_keys_expires ON idempotency_keys (expires);
"""


class SqliteEngine(Engine):
    """Keys in an SQLite file that every gateway process of a machine opens,
    one row per (client, key): the fingerprint, the claim's owner, expiry and
    lease, and the outcome (NULL while the call is in flight). Created 0600:
    outcomes may hold personal data.

    One thread of its own runs the statements, in the order they were
    asked: the event loop never waits on the file, and an outcome settled
    here is written before any later claim of this process reads the key.
    Expired keys are purged as claims come, at most every ``purge_every``
    seconds."""

    def __init__(self, path: Path, *, purge_every: float = PURGE_INTERVAL_S) -> None:
        self.path = path
        self._db = open_sqlite(path)
        self._db.executescript(_SCHEMA)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="lgsp-idempotency")
        self._purge_every = purge_every
        self._purged = float("-inf")

    async def claim(self, claim: Claim) -> Outcome | Verdict:
        try:
            return await asyncio.wrap_future(self._thread.submit(self._claim, claim))
        except sqlite3.Error as exc:
            # Locked beyond the busy timeout, or the disk refused: the call
            # cannot be made safely now, but may be retried.
            log.error("idempotency.unavailable", error=str(exc))
            raise ServiceUnavailable("idempotency keys cannot be read now", retry_after=1) from None

    def settle(self, client: str, key: str, owner: str, outcome: Outcome | None) -> None:
        # Not awaited: the answer need not wait for its write. The thread
        # writes it before anything asked after, and finishes what it was
        # given before the interpreter exits.
        self._thread.submit(self._settle, client, key, owner, outcome)

    async def close(self) -> None:
        await asyncio.wrap_future(self._thread.submit(self._db.close))
        self._thread.shutdown()

    def count(self) -> int:
        """Keys held or kept (blocking: for tests and operators)."""
        return int(self._thread.submit(self._count).result())

    # -- in the engine's thread -------------------------------------------

    def _claim(self, claim: Claim) -> Outcome | Verdict:
        if claim.now - self._purged >= self._purge_every:
            self._purged = claim.now
            self._db.execute("DELETE FROM idempotency_keys WHERE expires <= ?", (claim.now,))
        with self._transaction():
            row = self._db.execute(
                "SELECT fingerprint, expires, lease, status, body, headers, code "
                "FROM idempotency_keys WHERE client = ? AND key = ?",
                (claim.client, claim.key),
            ).fetchone()
            if row is None or _free(row[1], row[2], row[3] is None, claim.now):
                self._db.execute(
                    "INSERT OR REPLACE INTO idempotency_keys "
                    "(client, key, fingerprint, owner, expires, lease) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        claim.client,
                        claim.key,
                        claim.fingerprint,
                        claim.owner,
                        claim.expires,
                        claim.lease,
                    ),
                )
                return Verdict.CLAIMED
        fingerprint, _, _, status, body, headers, code = row
        if bytes(fingerprint) != claim.fingerprint:
            return Verdict.MISMATCH
        if status is None:
            return Verdict.IN_FLIGHT
        return Outcome(
            status, bytes(body), tuple((n, v) for n, v in orjson.loads(headers)), code or ""
        )

    def _settle(self, client: str, key: str, owner: str, outcome: Outcome | None) -> None:
        try:
            if outcome is None:
                self._db.execute(
                    "DELETE FROM idempotency_keys WHERE client = ? AND key = ? AND owner = ?",
                    (client, key, owner),
                )
            else:
                self._db.execute(
                    "UPDATE idempotency_keys SET status = ?, body = ?, headers = ?, code = ? "
                    "WHERE client = ? AND key = ? AND owner = ?",
                    (
                        outcome.status,
                        outcome.body,
                        orjson.dumps(outcome.headers),
                        outcome.code,
                        client,
                        key,
                        owner,
                    ),
                )
        except sqlite3.Error as exc:
            # The key stays held until its lease is over; a retry waits for
            # that, then runs the call again.
            log.error("idempotency.settle_failed", error=str(exc), kept=outcome is not None)

    def _count(self) -> int:
        (n,) = self._db.execute("SELECT count(*) FROM idempotency_keys").fetchone()
        return int(n)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        # IMMEDIATE: the write lock before the read, so that two processes
        # claiming one key cannot both find it free.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


class PostgresEngine(Engine):
    """Keys in the bus's PostgreSQL store, shared by every gateway on every
    machine: a key used on one is replayed on another, never run twice.

    A claim is one transaction: the key inserted if it is new, else its row
    locked (``FOR UPDATE``) and taken only when it is free, so two gateways
    claiming one key cannot both win. An outcome is written in the
    background, in the order settled (the key stays held meanwhile); the
    pool opens at the first claim. A store that does not answer is a 503:
    the call cannot be made safely, but may be retried."""

    def __init__(self, url: str, *, purge_every: float = PURGE_INTERVAL_S) -> None:
        self._url = url
        self._db: Database | None = None
        self._opening = asyncio.Lock()
        self._writes: asyncio.Queue[tuple[str, str, str, Outcome | None]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._purge_every = purge_every
        self._purged = float("-inf")

    async def _database(self) -> Database:
        async with self._opening:
            if self._db is None:
                self._db = await Database.open(self._url)
                self._writer = asyncio.create_task(self._write(), name="idempotency-writer")
            return self._db

    async def claim(self, claim: Claim) -> Outcome | Verdict:
        try:
            db = await self._database()
            # What this process settled is written before it reads a key
            # again (as the SQLite engine's one thread orders it).
            await self._writes.join()
            if claim.now - self._purged >= self._purge_every:
                self._purged = claim.now
                async with db.connection() as conn:
                    await conn.execute(
                        "DELETE FROM idempotency_keys WHERE expires <= $1", claim.now
                    )
            async with db.transaction() as conn:
                return await self._claim(conn, claim)
        except StoreUnavailable as exc:
            log.error("idempotency.unavailable", error=str(exc))
            raise ServiceUnavailable("idempotency keys cannot be read now", retry_after=1) from None

    @staticmethod
    async def _claim(conn: Connection, claim: Claim) -> Outcome | Verdict:
        values = (claim.client, claim.key, claim.fingerprint, claim.owner, claim.expires)
        inserted = await conn.fetchval(
            "INSERT INTO idempotency_keys (client, key, fingerprint, owner, expires, lease) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true",
            *values,
            claim.lease,
        )
        if inserted:
            return Verdict.CLAIMED
        row = await conn.fetchrow(
            "SELECT fingerprint, expires, lease, status, body, headers, code "
            "FROM idempotency_keys WHERE client = $1 AND key = $2 FOR UPDATE",
            claim.client,
            claim.key,
        )
        if row is None or _free(row["expires"], row["lease"], row["status"] is None, claim.now):
            await conn.execute(
                "INSERT INTO idempotency_keys (client, key, fingerprint, owner, expires, lease) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client, key) DO UPDATE SET "
                "fingerprint = $3, owner = $4, expires = $5, lease = $6, status = NULL, "
                "body = NULL, headers = NULL, code = NULL",
                *values,
                claim.lease,
            )
            return Verdict.CLAIMED
        if bytes(row["fingerprint"]) != claim.fingerprint:
            return Verdict.MISMATCH
        if row["status"] is None:
            return Verdict.IN_FLIGHT
        headers = tuple((n, v) for n, v in orjson.loads(row["headers"]))
        return Outcome(row["status"], bytes(row["body"]), headers, row["code"] or "")

    def settle(self, client: str, key: str, owner: str, outcome: Outcome | None) -> None:
        self._writes.put_nowait((client, key, owner, outcome))

    async def _write(self) -> None:
        while True:
            client, key, owner, outcome = await self._writes.get()
            try:
                await self._settle(client, key, owner, outcome)
            except StoreUnavailable as exc:
                # The key stays held until its lease is over; a retry waits
                # for that, then runs the call again.
                log.error("idempotency.settle_failed", error=str(exc), kept=outcome is not None)
            finally:
                self._writes.task_done()

    async def _settle(self, client: str, key: str, owner: str, outcome: Outcome | None) -> None:
        assert self._db is not None  # settled keys were claimed through it
        async with self._db.connection() as conn:
            if outcome is None:
                await conn.execute(
                    "DELETE FROM idempotency_keys WHERE client = $1 AND key = $2 AND owner = $3",
                    client,
                    key,
                    owner,
                )
            else:
                await conn.execute(
                    "UPDATE idempotency_keys SET status = $1, body = $2, headers = $3, code = $4 "
                    "WHERE client = $5 AND key = $6 AND owner = $7",
                    outcome.status,
                    outcome.body,
                    orjson.dumps(outcome.headers),
                    outcome.code,
                    client,
                    key,
                    owner,
                )

    async def close(self) -> None:
        if self._db is None:
            return
        # What was settled is written before the pool closes.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._writes.join()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self._db.close()
        self._db = None


@dataclass(slots=True)
class _InFlight:
    """A key this process has claimed, or is asking the engine about."""

    fingerprint: bytes
    owner: str = field(default_factory=lambda: secrets.token_hex(8))
    done: asyncio.Future[Outcome | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class IdempotencyStore:
    """Outcomes by (client, key), kept ``ttl`` seconds by ``engine``
    (default: in this process, the most recent ``max_entries``). ``lease``
    is the longest a call may take; ``clock`` tells the time (epoch s)."""

    def __init__(
        self,
        ttl: float,
        max_entries: int = 100_000,
        *,
        engine: Engine | None = None,
        lease: float = 60.0 + LEASE_SLACK_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ttl = ttl
        self._lease = lease
        self._clock = clock
        self.engine = engine if engine is not None else MemoryEngine(max_entries)
        self._in_flight: dict[tuple[str, str], _InFlight] = {}

    @classmethod
    def open(cls, settings: Settings, *, workers: int | None = None) -> IdempotencyStore:
        """The idempotency keys of a gateway with these settings: in the
        bus's PostgreSQL store when it has one (every gateway shares them);
        else in its process, or, for one of several gateway workers
        (``workers``, default: this process's count), in the data folder
        they share."""
        workers = worker_count() if workers is None else workers
        engine: Engine
        if settings.store_url is not None:
            engine = PostgresEngine(settings.store_url)
        elif workers > 1:
            if settings.data_dir is None:
                raise ValueError("gateway workers share their idempotency keys in a data folder")
            engine = SqliteEngine(settings.data_dir / IDEMPOTENCY_FILE)
        else:
            engine = MemoryEngine()
        return cls(
            settings.idempotency_ttl_s,
            engine=engine,
            lease=settings.max_timeout_ms / 1000 + LEASE_SLACK_S,
        )

    @staticmethod
    def fingerprint(target: str, version: int, body: bytes) -> bytes:
        return hashlib.sha256(b"%s\0%d\0%s" % (target.encode(), version, body)).digest()

    async def claim(
        self, client: str, key: str, fingerprint: bytes, *, deadline: float | None = None
    ) -> Outcome | None:
        """The stored outcome of an earlier call with this key, or None when
        this call is the first (it must then :meth:`settle` the key).
        ``deadline`` (epoch s) bounds the wait for another process's call."""
        at = (client, key)
        while True:
            mine = self._in_flight.get(at)
            if mine is not None:
                if mine.fingerprint != fingerprint:
                    raise IdempotencyConflict(
                        "Idempotency-Key was already used with a different request"
                    )
                # An identical call is in flight here: wait for its outcome.
                # None means it was not kept (503/504): try to claim again.
                outcome = await asyncio.shield(mine.done)
                if outcome is not None:
                    return outcome
                continue
            # Registered before asking the engine, so that retries in this
            # process wait here rather than on the engine.
            mine = self._in_flight[at] = _InFlight(fingerprint)
            try:
                outcome = await self._take(client, key, mine, deadline)
            except BaseException as exc:
                del self._in_flight[at]
                mine.done.set_result(None)  # retries here ask the engine themselves
                if not isinstance(exc, LgspError):
                    # Cancelled while the engine may have taken the key: free it.
                    self.engine.settle(client, key, mine.owner, None)
                raise
            if outcome is None:
                return None  # ours until settled
            del self._in_flight[at]
            mine.done.set_result(outcome)
            return outcome

    def settle(self, client: str, key: str, outcome: Outcome | None) -> None:
        """Record the first call's outcome (None: forget the key)."""
        mine = self._in_flight.pop((client, key), None)
        if mine is None:
            return
        self.engine.settle(client, key, mine.owner, outcome)
        if not mine.done.done():
            mine.done.set_result(outcome)

    async def close(self) -> None:
        await self.engine.close()

    async def _take(
        self, client: str, key: str, mine: _InFlight, deadline: float | None
    ) -> Outcome | None:
        """Ask the engine until the key is ours (None) or an outcome is
        there; another process's call in flight is polled for."""
        delay = POLL_FIRST_S
        while True:
            now = self._clock()
            verdict = await self.engine.claim(
                Claim(
                    client,
                    key,
                    mine.fingerprint,
                    mine.owner,
                    now,
                    now + self._ttl,
                    # Held no longer than this call may run: a gateway that
                    # dies holding it delays a retry elsewhere only that long.
                    now + self._lease
                    if deadline is None
                    else min(now + self._lease, deadline + LEASE_SLACK_S),
                )
            )
            if verdict is Verdict.CLAIMED:
                return None
            if verdict is Verdict.MISMATCH:
                raise IdempotencyConflict(
                    "Idempotency-Key was already used with a different request"
                )
            if isinstance(verdict, Outcome):
                return verdict
            wait = delay if deadline is None else min(delay, deadline - self._clock())
            if wait <= 0:
                raise ServiceTimeout(
                    "a call with this Idempotency-Key is still in flight on another gateway"
                )
            await asyncio.sleep(wait)
            delay = min(delay * 2, POLL_MAX_S)
