"""Verifying the exchange log: walk the chain from the first record to the
signed head, and say which record first breaks it and how. The same walk
on every engine: what the store's :class:`~.store.Reader` shows."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lgsp.observe.exchange_log.archive import ARCHIVE_DIR, manifests, read_archive
from lgsp.observe.exchange_log.chain import GENESIS, Head, Row, chain_hash
from lgsp.observe.exchange_log.query import Query
from lgsp.observe.exchange_log.store import Reader, open_reader


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


def verify(
    data_dir: Path | None, *, store_url: str | None = None, archive_dir: Path | None = None
) -> Verdict:
    """Check the chain of a log from the first record to its head: the
    PostgreSQL log at ``store_url`` when given, else the data folder's; the
    records archived from it first, from ``archive_dir`` (default: the
    data folder's ``archive``)."""
    if archive_dir is None and data_dir is not None:
        archive_dir = data_dir / ARCHIVE_DIR
    with open_reader(data_dir, store_url) as reader:
        return verify_reader(reader, archive_dir)


def verify_reader(reader: Reader, archive_dir: Path | None = None) -> Verdict:
    """Check the chain a reader shows: its archived part in ``archive_dir``,
    then the records still in the store."""
    key = reader.key()
    head = reader.head()
    archived = reader.archived()
    after = (0, GENESIS)
    if archived is not None:
        if not archived.valid(key):
            return Verdict(0, 1, "the archived mark is forged or damaged")
        verdict = verify_archives(archive_dir, key, archived)
        if not verdict.intact:
            return verdict
        after = (archived.seq, archived.hash)
    return verify_chain(reader.rows(Query()), key, head, reader.seq_of, after=after)


def verify_archives(folder: Path | None, key: bytes, archived: Head) -> Verdict:
    """Walk the archive files as one chain, up to the store's archived mark
    (where the records still in the store go on)."""
    last, prev = 0, GENESIS
    found = manifests(folder) if folder is not None and folder.is_dir() else []
    for manifest in found:
        if not manifest.valid(key):
            return Verdict(last, last + 1, f"the manifest of {manifest.file} is forged or damaged")
        if manifest.first > archived.seq:
            break  # left by an interrupted run: its records are still in the store
        path = (folder or Path()) / manifest.file
        if manifest.first != last + 1 or manifest.prev_hash != prev or not path.is_file():
            break  # the records after `last` are in no archive: said below
        head = Head.sign(key, manifest.last, manifest.hash)
        verdict = verify_chain(read_archive(path), key, head, after=(last, prev))
        if not verdict.intact:
            return verdict
        if hashlib.sha256(path.read_bytes()).hexdigest() != manifest.sha256:
            return Verdict(
                last, manifest.first, f"{manifest.file} does not match its signed manifest"
            )
        last, prev = manifest.last, manifest.hash
    if (last, prev) != (archived.seq, archived.hash):
        where = f"in {folder}" if folder is not None else "anywhere given"
        return Verdict(
            last,
            last + 1,
            f"removed: records {last + 1} to {archived.seq} were archived and are not {where}",
        )
    return Verdict(last)


def verify_chain(
    rows: Iterator[Row],
    key: bytes,
    head: Head | None,
    seq_of: Callable[[str], int | None] = lambda _hash: None,
    *,
    after: tuple[int, str] = (0, GENESIS),
) -> Verdict:
    """Walk records in ``seq`` order: consecutive numbers from the one after
    ``after`` (seq and hash of the record before the first, by default none),
    each hash matching its contents, each linked to the one before, the last
    at the head. ``seq_of`` finds the record with a given hash (to tell a
    moved record). The verdict counts records from the first of the chain."""
    last, prev = after
    expected = last + 1
    head_hash: str | None = None
    for row in rows:
        seq = row["seq"]
        if not isinstance(seq, int) or seq != expected:
            return Verdict(
                expected - 1, expected, f"removed: record {expected} is missing (next: {seq!r})"
            )
        if not hmac.compare_digest(chain_hash(key, row), str(row["hash"])):
            origin = seq_of(str(row["prev_hash"]))
            if origin is not None and origin + 1 != seq:
                moved = {**row, "seq": origin + 1}
                if hmac.compare_digest(chain_hash(key, moved), str(row["hash"])):
                    return Verdict(seq - 1, seq, f"reordered: it holds record {origin + 1}")
            return Verdict(seq - 1, seq, "altered: its hash does not match its contents")
        if row["prev_hash"] != prev:
            return Verdict(seq - 1, seq, "out of chain: it does not follow the record before it")
        prev = str(row["hash"])
        if head is not None and seq == head.seq:
            head_hash = prev
        expected += 1
    count = expected - 1
    if head is None:
        if count > last:
            return Verdict(count, count, "the head is missing")
        return Verdict(count)
    if not head.valid(key):
        return Verdict(count, max(count, 1), "the head is forged or damaged")
    if head.seq > count:
        return Verdict(
            count, count + 1, f"truncated: the log ends at {count}, its head is {head.seq}"
        )
    if head.seq > last and head_hash != head.hash:
        return Verdict(count, head.seq, "the record at the head is not the one signed")
    return Verdict(count)
