"""Verifying the exchange log: walk the chain from the first record to the
signed head, and say which record first breaks it and how."""

from __future__ import annotations

import hmac
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lgsp.observe.exchange_log.chain import GENESIS, HEAD_FILE, Head, Row, chain_hash, load_key
from lgsp.observe.exchange_log.query import Query, open_log, select


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
    key = load_key(data_dir, create=False)
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
