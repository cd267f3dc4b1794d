"""Archiving, as X-Road's message log does: the oldest records moved out
of the store into signed files, the chain going on across them.

``lgsp audit archive --older-than DAYS`` moves the records received before
then (from the first, in log order, up to the first newer one) into the
archive folder, at most :data:`FILE_RECORDS` a file::

    exchanges-000000000001-000000050000.jsonl.gz   the records: a JSON array a line
    exchanges-000000000001-000000050000.json       its manifest, signed with the chain's key

A line holds a record's columns in :data:`~.chain.COLUMNS` order (a body as
a one-item list of its base64, as the hash reads it). The manifest names
the first and last seq, the first's ``prev_hash``, the last's ``hash``, the
count and the file's SHA-256, under an HMAC. The store keeps a signed mark
of the last record archived, and its chain goes on from there, so
``lgsp audit verify`` walks the archives and then the store as one chain: a
file changed, removed or reordered breaks it as a record would.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from lgsp.observe.exchange_log.chain import COLUMNS, DB_FILE, AuditError, Row, Value
from lgsp.observe.exchange_log.store import open_engine
from lgsp.store import StoreError

ARCHIVE_DIR = "archive"
"""The archive folder's name in a data folder (its default place)."""
FILE_RECORDS = 50_000
"""Records per archive file (and per transaction that moves them)."""
_PREFIX = "exchanges-"


@dataclass(frozen=True, slots=True)
class Manifest:
    """What an archive file holds, signed."""

    first: int
    last: int
    records: int
    prev_hash: str
    hash: str
    file: str
    sha256: str
    mac: str = ""

    def _signed(self, key: bytes) -> str:
        fields = {k: v for k, v in asdict(self).items() if k != "mac"}
        message = b"archive:" + orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
        return hmac.digest(key, message, "sha256").hex()

    def sign(self, key: bytes) -> Manifest:
        return Manifest(**{**asdict(self), "mac": self._signed(key)})

    def valid(self, key: bytes) -> bool:
        return hmac.compare_digest(self.mac, self._signed(key))


def _name(first: int, last: int) -> str:
    return f"{_PREFIX}{first:012d}-{last:012d}"


def write_archive(folder: Path, key: bytes, rows: Sequence[Row]) -> Manifest:
    """Write the rows (consecutive records, in order) to an archive file
    and its signed manifest, each durable before the manifest names it."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    first, last = int(str(rows[0]["seq"])), int(str(rows[-1]["seq"]))
    # What an interrupted run left from this record on: its records are
    # still in the store, so they are written again here.
    for stale in folder.glob(f"{_PREFIX}{first:012d}-*"):
        stale.unlink()
    name = _name(first, last)
    lines = b"".join(orjson.dumps([_encoded(row[c]) for c in COLUMNS]) + b"\n" for row in rows)
    # mtime 0: the same records make the same file.
    data = gzip.compress(lines, mtime=0)
    _write_durably(folder / f"{name}.jsonl.gz", data)
    manifest = Manifest(
        first=first,
        last=last,
        records=len(rows),
        prev_hash=str(rows[0]["prev_hash"]),
        hash=str(rows[-1]["hash"]),
        file=f"{name}.jsonl.gz",
        sha256=hashlib.sha256(data).hexdigest(),
    ).sign(key)
    _write_durably(folder / f"{name}.json", json.dumps(asdict(manifest), indent=2).encode())
    return manifest


def _write_durably(path: Path, data: bytes) -> None:
    """Written whole under another name, synced, then renamed: a reader sees
    the whole file or none."""
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(draft, path)


def _encoded(value: Value) -> object:
    if isinstance(value, bytes):
        return [base64.b64encode(value).decode()]
    return value


def _decoded(value: object) -> Value:
    if isinstance(value, list):
        return base64.b64decode(str(value[0]))
    assert value is None or isinstance(value, str | int | float)
    return value


def read_archive(path: Path) -> Iterator[Row]:
    """The records of an archive file, in order."""
    with gzip.open(path, "rb") as lines:
        for line in lines:
            yield dict(zip(COLUMNS, map(_decoded, orjson.loads(line)), strict=True))


def manifests(folder: Path) -> list[Manifest]:
    """The archive's manifests, in log order (unreadable ones as forged)."""
    found = []
    for path in sorted(folder.glob(f"{_PREFIX}*.json")):
        try:
            found.append(Manifest(**json.loads(path.read_text(encoding="utf-8"))))
        except (ValueError, TypeError):
            found.append(Manifest(0, 0, 0, "", "", path.name, "", ""))
    return sorted(found, key=lambda m: (m.first, m.last))


async def archive_before(
    data_dir: Path | None, store_url: str | None, folder: Path, before: str
) -> list[Manifest]:
    """Move the records received before ``before`` (a log timestamp) out of
    the store (PostgreSQL at ``store_url``, else the data folder's) into
    archive files in ``folder``; the manifests written, in order."""
    if store_url is None and (data_dir is None or not (data_dir / DB_FILE).is_file()):
        raise AuditError(f"no exchange log in {data_dir}")
    try:
        store = await open_engine(data_dir, store_url)
        written: list[Manifest] = []
        try:
            while True:
                moved = await store.archive(
                    before,
                    FILE_RECORDS,
                    lambda rows: written.append(write_archive(folder, store.key, rows)),
                )
                if moved < FILE_RECORDS:
                    return written
        finally:
            await store.close()
    except StoreError as exc:
        raise AuditError(str(exc)) from exc
