"""The exchange log's cost per record, beside a floor, in one run.

Every exchange leaves one record, chained (HMAC-SHA256 over the previous
hash and the record) and written to SQLite in batches, off the event loop
(in a data folder, by the appender's process; here its work is timed in
one thread of this one). What that costs, per record:

(a) on the event loop: ``ExchangeLog.record`` (what the gateway's answer
path pays: an append, and a wake-up of the writer once a batch is full);
(b) in the writer's thread, at batch sizes 1, 10, 100 and 1,000: the
chained write (``Store.write``: the record's columns, two body digests, the
HMAC, the insert, the signed head), beside the floor of the same rows
inserted into the same table with no chain and no digests (plain
``executemany`` of prepared tuples, one transaction per batch);
(c) how the thread's time splits: the columns and digests, the HMAC, SQLite.

Run: ``.venv/bin/python -m benchmarks.exchange_log`` (a few seconds);
writes ``benchmarks/results/exchange_log.json``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.report import host
from lgsp.config import Settings
from lgsp.observe.exchange_log import ExchangeLog
from lgsp.observe.exchange_log.chain import COLUMNS, GENESIS, SCHEMA, hash_values, record_values
from lgsp.observe.exchange_log.sqlite import SqliteLog as Store
from lgsp.observe.record import ExchangeRecord

RESULTS = Path(__file__).parent / "results" / "exchange_log.json"
BATCHES = (1, 10, 100, 1000)
RECORDS = 20_000
"""Records written per batch size (fewer one by one: each is a commit)."""

_REQUEST = b'{"maXa":"29869","soHieuToBanDo":12,"soThuTuThua":345}'
_RESPONSE = b'{"maXa":"29869","tenXa":"Ph\xc6\xb0\xe1\xbb\x9dng Cao L\xc3\xa3nh"}' * 12


def _record(n: int, now: float) -> ExchangeRecord:
    record = ExchangeRecord("service", f"bench-{n:024d}", now)
    record.client, record.name, record.version = "dongthap.onestop", "land.parcel.lookup", 1
    record.sent, record.answered = now + 0.0001, now + 0.0002
    record.status, record.request, record.response = 200, _REQUEST, _RESPONSE
    return record


def _records(count: int) -> list[ExchangeRecord]:
    now = time.time()
    return [_record(n, now) for n in range(count)]


def _per_record_us(count: int, job: Callable[[], None]) -> float:
    started = time.perf_counter()
    job()
    return (time.perf_counter() - started) / count * 1e6


def on_the_loop(count: int = 200_000) -> float:
    """µs per ``ExchangeLog.record`` call, as the answer path makes it."""

    async def run() -> float:
        exchange_log = ExchangeLog(Settings(), interval=3600)
        records = _records(count)
        started = time.perf_counter()
        for record in records:
            exchange_log.record(record)
        return (time.perf_counter() - started) / count * 1e6

    return asyncio.run(run())


def chained(batch: int, folder: Path) -> float:
    """µs per record of the chained write, at ``batch`` records a transaction."""
    store = Store(folder)
    total = RECORDS if batch > 1 else RECORDS // 10
    batches = [_records(batch) for _ in range(total // batch)]
    try:
        return _per_record_us(total, lambda: [store.write(b, ()) for b in batches] and None)
    finally:
        store.close()


def floor(batch: int, folder: Path) -> float:
    """µs per record of the same rows, unchained, into the same table."""
    conn = sqlite3.connect(folder / "floor.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(SCHEMA)
    total = RECORDS if batch > 1 else RECORDS // 10
    sql = f"INSERT INTO exchanges ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    template = record_values(_record(0, time.time()), 0, False)
    batches = [
        [(n, *template[1:], GENESIS, GENESIS) for n in range(i * batch + 1, (i + 1) * batch + 1)]
        for i in range(total // batch)
    ]

    def write() -> None:
        for rows in batches:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")

    try:
        return _per_record_us(total, write)
    finally:
        conn.close()


def split(count: int = 20_000) -> dict[str, float]:
    """µs per record of the thread's Python work: columns (timestamps, the
    two body digests) and the HMAC; the rest of a chained write is SQLite's."""
    records = _records(count)
    started = time.perf_counter()
    values = [record_values(r, n, False) for n, r in enumerate(records)]
    columns = (time.perf_counter() - started) / count * 1e6
    key = bytes(32)
    started = time.perf_counter()
    for v in values:
        hash_values(key, GENESIS, v, blobs=False)
    hmac_us = (time.perf_counter() - started) / count * 1e6
    return {"columns_and_digests_us": round(columns, 2), "hmac_us": round(hmac_us, 2)}


def main() -> int:
    results: dict[str, Any] = {"host": host(), "record_on_loop_us": round(on_the_loop(), 3)}
    rows = []
    for batch in BATCHES:
        with tempfile.TemporaryDirectory(prefix="lgsp-bench-log-") as tmp:
            chained_us = chained(batch, Path(tmp) / "chained")
            floor_us = floor(batch, Path(tmp))
        rows.append(
            {
                "batch": batch,
                "chained_us": round(chained_us, 2),
                "floor_us": round(floor_us, 2),
                "ratio": round(chained_us / floor_us, 2),
            }
        )
    results["thread"] = rows
    results["thread_split"] = split()
    print(f"on the event loop: {results['record_on_loop_us']:.2f} µs per record")
    print("\nper record, in the writer's thread:")
    print(f"{'batch':>6}{'chained µs':>12}{'floor µs':>10}{'ratio':>7}")
    for row in rows:
        print(
            f"{row['batch']:>6}{row['chained_us']:>12.2f}{row['floor_us']:>10.2f}{row['ratio']:>7.2f}"
        )
    s = results["thread_split"]
    print(
        f"\nof a chained record: columns and body digests {s['columns_and_digests_us']:.2f} µs, "
        f"HMAC {s['hmac_us']:.2f} µs, the rest SQLite's"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(Path(__file__).parent.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
