"""What a record is and how records chain: the columns (and the table that
holds them), the files of a data dir, timestamps, the keyed hash of a record,
the chain's key and the signed head."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from lgsp.config import granted
from lgsp.observe.record import ExchangeRecord

DB_FILE = "exchanges.db"
KEY_FILE = "audit.key"
HEAD_FILE = "exchanges.head"

GENESIS = "0" * 64
"""The ``prev_hash`` of the first record."""

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
CHAINED = COLUMNS[:-2]

SCHEMA = """
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
CREATE TABLE IF NOT EXISTS exchange_log_archived (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT NOT NULL
);
"""
# (PostgreSQL's tables are lgsp.store.migrations' first step: the same
# columns; there the key and the head are rows, not files.)

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
    return hash_values(key, str(row["prev_hash"]), [row[column] for column in CHAINED], blobs=True)


def hash_values(key: bytes, prev: str, values: Sequence[Value], *, blobs: bool) -> str:
    """The hash of a record's values (in ``CHAINED`` order); ``blobs`` when
    some may be bytes (bodies under full logging)."""
    canonical = [_canonical(v) for v in values] if blobs else values
    # hmac.digest: OpenSSL's one-shot HMAC, no HMAC object per record.
    return hmac.digest(key, prev.encode() + orjson.dumps(canonical), "sha256").hex()


def _canonical(value: Value) -> JsonValue | list[str]:
    # Bytes become a one-item list so a BLOB never hashes like some TEXT.
    if isinstance(value, bytes):
        return [base64.b64encode(value).decode()]
    return value


def prepare(records: Sequence[ExchangeRecord], full_services: tuple[str, ...]) -> list[list[Value]]:
    """The records' columns, digests made and bodies dropped (unless full
    logging keeps them), their ``seq`` still 0: what waits to be chained
    when a write fails, small beside the records themselves."""
    return [
        record_values(r, 0, bool(full_services) and granted(full_services, r.name)) for r in records
    ]


def chain(
    key: bytes, seq: int, prev: str, prepared: Sequence[list[Value]]
) -> tuple[list[tuple[Value, ...]], int, str]:
    """Number and chain prepared records after record ``seq`` (hash ``prev``):
    their rows (every column, in ``COLUMNS`` order), the last seq and hash."""
    rows = []
    for values in prepared:
        seq += 1
        values[0] = seq
        # Bodies are the last two columns: kept only under full logging.
        hashed = hash_values(key, prev, values, blobs=values[-1] is not None)
        rows.append((*values, prev, hashed))
        prev = hashed
    return rows, seq, prev


def record_values(record: ExchangeRecord, seq: int, full: bool) -> list[Value]:
    """A new record's columns in ``CHAINED`` order."""
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


# -- files beside the database ----------------------------------------------


def load_key(data_dir: Path, *, create: bool) -> bytes:
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
