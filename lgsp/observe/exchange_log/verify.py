"""Verifying the exchange log: walk the chain from the first record to the
signed head, and say which record first breaks it and how. The same walk
on every engine: what the store's :class:`~.store.Reader` shows."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

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


def verify(data_dir: Path | None, *, store_url: str | None = None) -> Verdict:
    """Check the chain of a log from the first record to its head: the
    PostgreSQL log at ``store_url`` when given, else the data folder's."""
    with open_reader(data_dir, store_url) as reader:
        return verify_reader(reader)


def verify_reader(reader: Reader) -> Verdict:
    """Check the chain a reader shows, from where its archived part ends."""
    key = reader.key()
    head = reader.head()
    return verify_chain(reader.rows(Query()), key, head, reader.seq_of)


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
