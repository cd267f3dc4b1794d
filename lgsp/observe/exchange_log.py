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
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path

import orjson
import structlog

from lgsp.config import Settings, granted
from lgsp.errors import MalformedRequest
from lgsp.observe.record import ExchangeRecord

log = structlog.get_logger("lgsp.audit")

DB_FILE = "exchanges.db"
KEY_FILE = "audit.key"
HEAD_FILE = "exchanges.head"
_LOCK_FILE = "exchanges.lock"

FLUSH_INTERVAL_S = 0.2
"""How long a record may wait in memory before it is written."""
FLUSH_BATCH = 1000
"""A flush starts at once when this many records wait."""
GENESIS = "0" * 64
"""The ``prev_hash`` of the first record."""
MAX_PAGE = 1000

COLUMNS = (
    "seq",
    "kind",
    "request_id",
    "client",
    "name",
    "version",
    "received",
    "sent",
    "answered",
    "duration_ms",
    "status",
    "code",
    "request_size",
    "response_size",
    "request_sha256",
    "response_sha256",
    "event_id",
    "request_body",
    "response_body",
    "prev_hash",
    "hash",
)
# What a record's hash covers besides the previous hash: every other column.
# (prev_hash and hash come last: a row is its chained values, then those two.)
_CHAINED = COLUMNS[:-2]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS exchanges (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    request_id TEXT NOT NULL,
    client TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    received TEXT NOT NULL,
    sent TEXT,
    answered TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    status INTEGER NOT NULL,
    code TEXT,
    request_size INTEGER NOT NULL,
    response_size INTEGER NOT NULL,
    request_sha256 TEXT NOT NULL,
    response_sha256 TEXT NOT NULL,
    event_id TEXT,
    request_body BLOB,
    response_body BLOB,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS exchanges_received ON exchanges (received);
"""
_INSERT = f"INSERT INTO exchanges ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"

Value = str | int | float | bytes | None
Row = dict[str, Value]
"""One stored record, by column name."""
JsonValue = str | int | float | None


class AuditError(Exception):
    """The exchange log cannot be opened or read (no log there, no key)."""


# -- records and the chain -------------------------------------------------


def timestamp(epoch: float) -> str:
    """ISO 8601 UTC with microseconds, e.g. ``2026-11-23T12:00:00.123456Z``:
    readable in an export, and ordered as text in the database."""
    seconds, micros = divmod(round(epoch * 1_000_000), 1_000_000)
    return f"{_second(seconds)}.{micros:06d}Z"


@functools.lru_cache(maxsize=8)
def _second(seconds: int) -> str:
    # A batch's records share a handful of seconds: format each once.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def chain_hash(key: bytes, row: Mapping[str, Value]) -> str:
    """HMAC-SHA256 over the previous hash and the canonical JSON of every
    other column of the record (its own ``hash`` aside): a JSON array of
    their values in the fixed column order (cheaper than a sorted object,
    and as unambiguous)."""
    # Read back, any column may hold anything (a tampered one a BLOB).
    return _chain(key, str(row["prev_hash"]), [row[column] for column in _CHAINED], blobs=True)


def _chain(key: bytes, prev: str, values: Sequence[Value], *, blobs: bool) -> str:
    """The hash of a record's values (in ``_CHAINED`` order); ``blobs`` when
    some may be bytes (bodies under full logging)."""
    canonical = [_canonical(v) for v in values] if blobs else values
    return hmac.new(key, prev.encode() + orjson.dumps(canonical), hashlib.sha256).hexdigest()


def _canonical(value: Value) -> JsonValue | list[str]:
    # Bytes become a one-item list so a BLOB never hashes like some TEXT.
    if isinstance(value, bytes):
        return [base64.b64encode(value).decode()]
    return value


def _values(record: ExchangeRecord, seq: int, full: bool) -> list[Value]:
    """A new record's columns in ``_CHAINED`` order."""
    return [
        seq,
        record.kind,
        record.request_id,
        record.client,
        record.name,
        record.version,
        timestamp(record.received),
        None if record.sent is None else timestamp(record.sent),
        timestamp(record.answered),
        round((record.answered - record.received) * 1000, 3),
        record.status,
        record.code,
        len(record.request),
        len(record.response),
        hashlib.sha256(record.request).hexdigest(),
        hashlib.sha256(record.response).hexdigest(),
        record.event_id,
        record.request if full else None,
        record.response if full else None,
    ]


def as_json(row: Mapping[str, Value]) -> dict[str, JsonValue]:
    """A record as exports and the admin API show it: bodies (kept only
    under full logging) as UTF-8 text."""
    return {
        column: value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
        for column, value in row.items()
    }


# -- files beside the database ----------------------------------------------


def _load_key(data_dir: Path, *, create: bool) -> bytes:
    """The chain's key: 32 random bytes in ``audit.key`` (mode 0600), made
    once; several gateways sharing the directory agree on the first one."""
    path = data_dir / KEY_FILE
    if create and not path.exists():
        # Written whole under another name, then linked: a second process
        # never reads half a key, and the first link wins.
        draft = data_dir / f".{KEY_FILE}.{os.getpid()}.{threading.get_ident()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, secrets.token_bytes(32))
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        raise AuditError(f"no chain key {path}: cannot verify the exchange log") from None
    if len(key) != 32:
        raise AuditError(f"{path} is not a 32-byte key")
    return key


@dataclass(frozen=True, slots=True)
class Head:
    """The last record written, signed: a log cut short no longer ends there."""

    seq: int
    hash: str
    mac: str

    @classmethod
    def sign(cls, key: bytes, seq: int, hash: str) -> Head:
        return cls(seq, hash, cls._mac(key, seq, hash))

    @staticmethod
    def _mac(key: bytes, seq: int, hash: str) -> str:
        return hmac.new(key, f"head:{seq}:{hash}".encode(), hashlib.sha256).hexdigest()

    def valid(self, key: bytes) -> bool:
        return hmac.compare_digest(self.mac, self._mac(key, self.seq, self.hash))

    def write(self, path: Path) -> None:
        # Atomic by rename: a reader sees the old head or the new one.
        draft = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"seq": self.seq, "hash": self.hash, "mac": self.mac}, f)
        os.replace(draft, path)

    @classmethod
    def read(cls, path: Path) -> Head | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(int(data["seq"]), str(data["hash"]), str(data["mac"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            # Unreadable counts as forged: verify reports it.
            return cls(-1, "", "")


# -- the store: used from one writer thread at a time ------------------------


class _Store:
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
            self.key = _load_key(data_dir, create=True)
            self.head_path = data_dir / HEAD_FILE
            db = data_dir / DB_FILE
            # Created 0600 before SQLite opens it; its WAL files copy the mode.
            os.close(os.open(db, os.O_RDWR | os.O_CREAT, 0o600))
            self._lock_fd = os.open(data_dir / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
            self.conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout = 10000")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.executescript(_SCHEMA)

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
                    values = _values(record, seq, full)
                    chained = _chain(self.key, prev, values, blobs=full)
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

    def close(self) -> None:
        self.conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)


# -- reading: one way for the admin API, exports, reports and verify --------


_STATUS = re.compile(r"^([1-5])(\d\d|xx)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Query:
    """Which records to read. ``start`` is inclusive, ``end`` exclusive;
    ``status`` is an inclusive range (``4xx`` is 400-499); ``service``
    is a service or topic, exact or ``prefix.*``."""

    start: datetime | None = None
    end: datetime | None = None
    client: str | None = None
    service: str | None = None
    status: tuple[int, int] | None = None
    after: int = 0
    """Only records with a larger ``seq`` (the admin API's cursor)."""
    limit: int | None = None

    @classmethod
    def parse(
        cls, params: Mapping[str, str], *, default_limit: int | None = None, tz: tzinfo = UTC
    ) -> Query:
        """From ``from``, ``to``, ``client``, ``service``, ``status``,
        ``after``, ``limit``; a bad value is a 400 ``request.malformed``.

        ``from``/``to`` are ISO 8601 dates or datetimes (in ``tz`` unless they
        say otherwise); a date ``to`` includes that whole day."""
        status = None
        if raw := params.get("status"):
            matched = _STATUS.match(raw)
            if matched is None:
                raise MalformedRequest("status must be a status code (404) or a class (4xx)")
            if matched[2].lower() == "xx":
                status = (int(matched[1]) * 100, int(matched[1]) * 100 + 99)
            else:
                status = (int(raw), int(raw))
        limit = default_limit
        if (raw := params.get("limit")) is not None:
            limit = _integer("limit", raw, 1, MAX_PAGE)
        after = 0
        if (raw := params.get("after")) is not None:
            after = _integer("after", raw, 0, 2**63 - 1)
        query = cls(
            start=_moment("from", params.get("from"), end=False, tz=tz),
            end=_moment("to", params.get("to"), end=True, tz=tz),
            client=params.get("client") or None,
            service=params.get("service") or None,
            status=status,
            after=after,
            limit=limit,
        )
        if query.start and query.end and query.start >= query.end:
            raise MalformedRequest("from must be before to")
        return query

    def sql(self) -> tuple[str, list[Value]]:
        where: list[str] = ["seq > ?"]
        args: list[Value] = [self.after]
        if self.start is not None:
            where.append("received >= ?")
            args.append(timestamp(self.start.timestamp()))
        if self.end is not None:
            where.append("received < ?")
            args.append(timestamp(self.end.timestamp()))
        if self.client is not None:
            where.append("client = ?")
            args.append(self.client)
        if self.service is not None:
            if self.service.endswith(".*"):
                prefix = self.service[:-1]
                where.append("substr(name, 1, ?) = ?")
                args += [len(prefix), prefix]
            else:
                where.append("name = ?")
                args.append(self.service)
        if self.status is not None:
            where.append("status BETWEEN ? AND ?")
            args += list(self.status)
        sql = f"SELECT {', '.join(COLUMNS)} FROM exchanges WHERE {' AND '.join(where)} ORDER BY seq"
        if self.limit is not None:
            sql += " LIMIT ?"
            args.append(self.limit)
        return sql, args


def _integer(name: str, raw: str, low: int, high: int) -> int:
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise MalformedRequest(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _moment(name: str, raw: str | None, *, end: bool, tz: tzinfo) -> datetime | None:
    if not raw:
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            # A date `to` includes its whole day.
            day += timedelta(days=1) if end else timedelta()
            return datetime(day.year, day.month, day.day, tzinfo=tz)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise MalformedRequest(
            f"{name} must be an ISO 8601 date or datetime, e.g. 2026-11-23 or 2026-11-23T08:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def select(conn: sqlite3.Connection, query: Query) -> Iterator[Row]:
    """The records a query names, in log order."""
    sql, args = query.sql()
    for values in conn.execute(sql, args):
        yield dict(zip(COLUMNS, values, strict=True))


@contextlib.contextmanager
def open_log(data_dir: Path) -> Iterator[sqlite3.Connection]:
    """The exchange log of a data dir, read-only (for exports, reports and
    verification while gateways keep writing)."""
    db = data_dir / DB_FILE
    if not db.is_file():
        raise AuditError(f"no exchange log in {data_dir}")
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        yield conn
    finally:
        conn.close()


def read(data_dir: Path, query: Query) -> Iterator[Row]:
    """The records of a data dir's log that the query names."""
    with open_log(data_dir) as conn:
        yield from select(conn, query)


# -- verification -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """What ``verify`` found: how many records hold, and the first that does not."""

    records: int
    """Records checked and found intact, from the first."""
    broken: int | None = None
    """Sequence number of the first broken (or missing) record."""
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None


def verify(data_dir: Path) -> Verdict:
    """Check the chain of a data dir's log from the first record to its head."""
    key = _load_key(data_dir, create=False)
    # The head first: gateways writing meanwhile only add records after it.
    head = Head.read(data_dir / HEAD_FILE)
    with open_log(data_dir) as conn:
        conn.execute("BEGIN")  # one snapshot for the whole walk
        return verify_chain(select(conn, Query()), key, head, lambda h: _seq_of(conn, h))


def _seq_of(conn: sqlite3.Connection, hash: str) -> int | None:
    found = conn.execute("SELECT seq FROM exchanges WHERE hash = ?", (hash,)).fetchone()
    return None if found is None else int(found[0])


def verify_chain(
    rows: Iterator[Row],
    key: bytes,
    head: Head | None,
    seq_of: Callable[[str], int | None] = lambda _hash: None,
) -> Verdict:
    """Walk records in ``seq`` order: consecutive numbers from 1, each hash
    matching its contents, each linked to the one before, the last at the head.
    ``seq_of`` finds the record with a given hash (to tell a moved record)."""
    expected, prev, count = 1, GENESIS, 0
    head_hash: str | None = None
    for row in rows:
        seq = row["seq"]
        if not isinstance(seq, int) or seq != expected:
            return Verdict(
                count, expected, f"removed: record {expected} is missing (next: {seq!r})"
            )
        if not hmac.compare_digest(chain_hash(key, row), str(row["hash"])):
            origin = seq_of(str(row["prev_hash"]))
            if origin is not None and origin + 1 != seq:
                moved = {**row, "seq": origin + 1}
                if hmac.compare_digest(chain_hash(key, moved), str(row["hash"])):
                    return Verdict(count, seq, f"reordered: it holds record {origin + 1}")
            return Verdict(count, seq, "altered: its hash does not match its contents")
        if row["prev_hash"] != prev:
            return Verdict(count, seq, "out of chain: it does not follow the record before it")
        prev = str(row["hash"])
        if head is not None and seq == head.seq:
            head_hash = prev
        count += 1
        expected += 1
    if head is None:
        if count:
            return Verdict(count, count, "the head file is missing")
        return Verdict(count)
    if not head.valid(key):
        return Verdict(count, max(count, 1), "the head file is forged or damaged")
    if head.seq > count:
        return Verdict(
            count, count + 1, f"truncated: the log ends at {count}, its head is {head.seq}"
        )
    if head.seq > 0 and head_hash != head.hash:
        return Verdict(count, head.seq, "the record at the head is not the one signed")
    return Verdict(count)


# -- the recorder ---------------------------------------------------------------


@dataclass(eq=False)
class ExchangeLog:
    """The gateway's exchange log (a :class:`Recorder`): ``record`` appends
    to a list; a background task writes it in batches, off the event loop."""

    settings: Settings
    interval: float = field(default_factory=lambda: FLUSH_INTERVAL_S)
    _pending: list[ExchangeRecord] = field(default_factory=list)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _store: _Store | None = None
    _task: asyncio.Task[None] | None = None
    _closing: bool = False

    def record(self, record: ExchangeRecord) -> None:
        self._pending.append(record)
        if len(self._pending) >= FLUSH_BATCH:
            self._wake.set()

    async def start(self) -> None:
        self._store = await asyncio.to_thread(_Store, self.settings.data_dir)
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
