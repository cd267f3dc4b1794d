"""The exchange log: records, the keyed hash chain and its verification,
the writer's batching, and ``lgsp audit``, on each store engine: SQLite in a
data dir and PostgreSQL (a fresh database per test); then what only
PostgreSQL has to keep (several writers, outages, the key in the store).
Through a bus (the gateway's shutdown and the admin route):
tests/behaviour/test_exchange_log.py."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import gzip
import hashlib
import io
import json
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import structlog.testing
from click.testing import CliRunner, Result

from lgsp.cli.audit import audit as audit_command
from lgsp.config import Settings
from lgsp.errors import MalformedRequest, ServiceUnavailable
from lgsp.observe import exchange_log as audit
from lgsp.observe.exchange_log import (
    COLUMNS,
    DB_FILE,
    HEAD_FILE,
    KEY_FILE,
    ExchangeLog,
    Query,
    Row,
    Verdict,
    appender,
    archive,
    read,
    verify,
)
from lgsp.observe.exchange_log.sqlite import SqliteStore
from lgsp.observe.record import ExchangeRecord
from lgsp.store import STEPS, SchemaTooNew, StoreUnavailable
from lgsp.testing.postgres import PostgresNode
from tests.support.waiting import eventually

ADMIN = "Basic " + base64.b64encode(b"admin:demo-admin-secret").decode()
MIDDLE = 5
"""The record the tamper tests alter (of nine)."""


def _record(i: int, **overrides: Any) -> ExchangeRecord:
    now = 1_795_000_000.0 + i * 60
    values: dict[str, Any] = {
        "kind": "service",
        "request_id": f"req-{i}",
        "client": "dongthap.onestop",
        "name": "test.echo.call",
        "version": 1,
        "received": now,
        "sent": now + 0.001,
        "answered": now + 0.0125,
        "status": 409,
        "code": "test.echo.declared",
        "request": b'{"text": "079123456789"}',
        "response": b'{"code": "test.echo.declared"}',
        "event_id": f"evt-{i}",
    }
    values.update(overrides)
    return ExchangeRecord(**values)


@dataclass
class Place:
    """Where a test's log lives: a data dir (SQLite), or a PostgreSQL
    database; reads and edits it as an operator (or an intruder) would."""

    kind: str
    data_dir: Path
    store_url: str | None = None

    def settings(self, **overrides: Any) -> Settings:
        return Settings(data_dir=self.data_dir, store_url=self.store_url, **overrides)

    def log(self, **overrides: Any) -> ExchangeLog:
        return ExchangeLog(self.settings(**overrides))

    # The readers block (on PostgreSQL they run a loop of their own): in a thread.
    async def rows(self, query: Query | None = None) -> list[Row]:
        return await asyncio.to_thread(
            lambda: list(read(self.data_dir, query or Query(), store_url=self.store_url))
        )

    async def verify(self) -> Verdict:
        return await asyncio.to_thread(verify, self.data_dir, store_url=self.store_url)

    def where(self) -> list[str]:
        """The CLI's arguments naming this log."""
        if self.store_url is None:
            return ["--data-dir", str(self.data_dir)]
        return ["--store", self.store_url]

    async def cli(self, *args: str) -> Result:
        return await asyncio.to_thread(CliRunner().invoke, audit_command, list(args))

    async def execute(self, sql: str, *args: Any) -> None:
        """Run SQL with ``?`` placeholders on the log's database, behind its back."""
        if self.store_url is None:
            with contextlib.closing(
                sqlite3.connect(self.data_dir / DB_FILE, isolation_level=None)
            ) as db:
                db.execute(sql, args)
            return
        conn = await asyncpg.connect(self.store_url)
        try:
            await conn.execute(_numbered(sql), *args)
        finally:
            await conn.close()

    async def fetchone(self, sql: str, *args: Any) -> tuple[Any, ...]:
        if self.store_url is None:
            with contextlib.closing(sqlite3.connect(self.data_dir / DB_FILE)) as db:
                found = db.execute(sql, args).fetchone()
            assert found is not None
            return tuple(found)
        conn = await asyncpg.connect(self.store_url)
        try:
            record = await conn.fetchrow(_numbered(sql), *args)
        finally:
            await conn.close()
        assert record is not None
        return tuple(record)

    async def forge_head(self, seq: int) -> None:
        """Move the signed head to another record, keeping its signature."""
        if self.store_url is None:
            head = json.loads((self.data_dir / HEAD_FILE).read_text())
            (self.data_dir / HEAD_FILE).write_text(json.dumps({**head, "seq": seq}))
        else:
            await self.execute("UPDATE exchange_log_head SET seq = ?", seq)


def _numbered(sql: str) -> str:
    numbers = iter(range(1, sql.count("?") + 1))
    return re.sub(r"\?", lambda _: f"${next(numbers)}", sql)


ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINES)
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    if request.param == "postgres":
        return Place("postgres", tmp_path, request.getfixturevalue("lgsp_postgres_url"))
    return Place("sqlite", tmp_path)


async def _write(place: Place, records: list[ExchangeRecord], **settings: Any) -> None:
    log = place.log(**settings)
    await log.start()
    for record in records:
        log.record(record)
    await log.close()


@pytest.fixture
async def nine(place: Place) -> Place:
    """A log holding nine records, every column filled (full logging on)."""
    await _write(place, [_record(i) for i in range(1, 10)], audit_full_services=("test.*",))
    return place


async def _column(place: Place, column: str, seq: int) -> Any:
    return (await place.fetchone(f"SELECT {column} FROM exchanges WHERE seq = ?", seq))[0]


def _stored(data_dir: Path) -> bytes:
    return b"".join(path.read_bytes() for path in data_dir.iterdir())


def _one_byte_changed(value: Any) -> Any:
    if isinstance(value, bytes):
        return bytes([value[0] ^ 1]) + value[1:]
    if isinstance(value, str):
        return chr(ord(value[0]) ^ 1) + value[1:]
    if isinstance(value, float):
        return value + 1
    assert isinstance(value, int), value
    return value ^ 64


# -- what a record holds ----------------------------------------------------


async def test_a_record_holds_digests_not_personal_data(place: Place) -> None:
    record = _record(1)
    await _write(place, [record])
    [row] = await place.rows()
    assert row["request_body"] is None
    assert row["response_body"] is None
    assert row["request_sha256"] == hashlib.sha256(record.request).hexdigest()
    assert row["request_size"] == len(record.request)
    assert row["received"] == "2026-11-18T11:07:40.000000Z"  # epoch 1795000060
    assert row["duration_ms"] == 12.5
    assert row["prev_hash"] == "0" * 64
    if place.kind == "sqlite":
        assert b"079123456789" not in _stored(place.data_dir)


async def test_full_logging_keeps_the_bodies_of_the_services_named(place: Place) -> None:
    kept, other = _record(1), _record(2, name="land.parcel.lookup")
    await _write(place, [kept, other], audit_full_services=("test.*",))
    first, second = await place.rows()
    assert first["request_body"] == kept.request
    assert first["response_body"] == kept.response
    assert second["request_body"] is None


async def test_files_are_private_to_the_owner(tmp_path: Path) -> None:
    await _write(Place("sqlite", tmp_path), [_record(1)])
    for name in (DB_FILE, KEY_FILE, HEAD_FILE):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name


async def test_the_same_records_verify_the_same_on_either_engine(
    tmp_path: Path, lgsp_postgres_url: str
) -> None:
    # One chain, one key: moved from SQLite into PostgreSQL, it still holds.
    sqlite_place = Place("sqlite", tmp_path)
    await _write(sqlite_place, [_record(i) for i in range(1, 10)], audit_full_services=("test.*",))
    pg = Place("postgres", tmp_path, lgsp_postgres_url)
    await _write(pg, [])  # the schema, and a key of its own
    rows = await sqlite_place.rows()
    head = json.loads((tmp_path / HEAD_FILE).read_text())
    conn = await asyncpg.connect(lgsp_postgres_url)
    try:
        key = (tmp_path / KEY_FILE).read_bytes()
        await conn.execute("UPDATE exchange_log_key SET key = $1", key)
        await conn.copy_records_to_table(
            "exchanges", records=[tuple(r.values()) for r in rows], columns=COLUMNS
        )
        await conn.execute(
            "INSERT INTO exchange_log_head (seq, hash, mac) VALUES ($1, $2, $3)",
            head["seq"],
            head["hash"],
            head["mac"],
        )
    finally:
        await conn.close()
    assert await pg.rows() == rows
    assert await pg.verify() == Verdict(9)


# -- the chain ------------------------------------------------------------------


async def test_an_intact_log_verifies(nine: Place) -> None:
    verdict = await nine.verify()
    assert verdict.intact
    assert verdict.records == 9


@pytest.mark.parametrize("column", COLUMNS)
async def test_a_single_byte_changed_in_any_column_is_found(nine: Place, column: str) -> None:
    value = await _column(nine, column, MIDDLE)
    assert value is not None
    await nine.execute(
        f"UPDATE exchanges SET {column} = ? WHERE seq = ?", _one_byte_changed(value), MIDDLE
    )
    verdict = await nine.verify()
    assert not verdict.intact
    assert verdict.broken == MIDDLE
    assert verdict.records == MIDDLE - 1


@pytest.mark.parametrize("column", ["sent", "code", "event_id", "request_body"])
async def test_filling_an_empty_column_is_found(place: Place, column: str) -> None:
    await _write(place, [_record(i, sent=None, code=None, event_id=None) for i in range(1, 4)])
    await place.execute(f"UPDATE exchanges SET {column} = 'x' WHERE seq = 2")
    assert (await place.verify()).broken == 2


async def test_a_removed_record_is_named(nine: Place) -> None:
    await nine.execute("DELETE FROM exchanges WHERE seq = ?", MIDDLE)
    verdict = await nine.verify()
    assert verdict.broken == MIDDLE
    assert verdict.reason is not None
    assert verdict.reason.startswith("removed")


async def test_a_removed_and_renumbered_record_is_named(nine: Place) -> None:
    await nine.execute("DELETE FROM exchanges WHERE seq = ?", MIDDLE)
    for seq in range(MIDDLE + 1, 10):  # one by one: the seq stays unique throughout
        await nine.execute("UPDATE exchanges SET seq = seq - 1 WHERE seq = ?", seq)
    assert (await nine.verify()).broken == MIDDLE


async def test_swapped_records_are_named(nine: Place) -> None:
    others = [c for c in COLUMNS if c != "seq"]
    a, b = [
        await nine.fetchone(f"SELECT {', '.join(others)} FROM exchanges WHERE seq = ?", s)
        for s in (3, 7)
    ]
    assignments = ", ".join(f"{c} = ?" for c in others)
    await nine.execute(f"UPDATE exchanges SET {assignments} WHERE seq = 3", *b)
    await nine.execute(f"UPDATE exchanges SET {assignments} WHERE seq = 7", *a)
    verdict = await nine.verify()
    assert verdict.broken == 3
    assert verdict.reason == "reordered: it holds record 7"


async def test_records_cut_off_the_end_are_found(nine: Place) -> None:
    await nine.execute("DELETE FROM exchanges WHERE seq >= 8")
    verdict = await nine.verify()
    assert verdict.broken == 8
    assert verdict.reason is not None
    assert verdict.reason.startswith("truncated")


async def test_a_forged_head_is_found(nine: Place) -> None:
    await nine.forge_head(7)
    assert not (await nine.verify()).intact


async def test_a_chain_rebuilt_without_the_key_is_found(nine: Place) -> None:
    # Someone who can write the database but not read the key recomputes
    # the chain with a key of their own after an edit: every hash differs.
    await nine.execute("UPDATE exchanges SET status = 200 WHERE seq = ?", MIDDLE)
    forged = b"\x00" * 32
    prev = "0" * 64
    for seq in range(1, 10):
        values = await nine.fetchone(
            f"SELECT {', '.join(COLUMNS)} FROM exchanges WHERE seq = ?", seq
        )
        row = dict(zip(COLUMNS, values, strict=True))
        row["prev_hash"] = prev
        prev = audit.chain_hash(forged, row)
        relinked = "UPDATE exchanges SET prev_hash = ?, hash = ? WHERE seq = ?"
        await nine.execute(relinked, row["prev_hash"], prev, seq)
    assert (await nine.verify()).broken == 1


async def test_two_gateways_sharing_a_store_keep_one_chain(place: Place) -> None:
    first, second = place.log(), place.log()
    await first.start()
    await second.start()
    for i in range(1, 41):
        (first if i % 2 else second).record(_record(i))
        if i % 5 == 0:
            await (first if i % 10 else second).flush()
    await first.close()
    await second.close()
    assert (await place.verify()).records == 40
    assert [row["seq"] for row in await place.rows()] == list(range(1, 41))


async def test_gateways_flushing_at_once_keep_one_chain(place: Place) -> None:
    logs = [place.log() for _ in range(3)]
    await asyncio.gather(*(log.start() for log in logs))
    for batch in range(10):
        for n, log in enumerate(logs):
            for i in range(7):
                log.record(_record(batch * 100 + n * 10 + i, request_id=f"g{n}-{batch}-{i}"))
        # Every gateway's batch races for the end of the chain.
        await asyncio.gather(*(log.flush() for log in logs))
    await asyncio.gather(*(log.close() for log in logs))
    rows = await place.rows()
    assert [row["seq"] for row in rows] == list(range(1, 211))
    assert len({row["request_id"] for row in rows}) == 210
    assert await place.verify() == Verdict(210)


# -- the writer ---------------------------------------------------------------


async def test_records_are_written_in_the_background(place: Place) -> None:
    log = ExchangeLog(place.settings(), interval=0.05)
    await log.start()
    try:
        log.record(_record(1))

        async def written() -> bool:
            return bool(await place.rows())

        await eventually(written, "the record was written", timeout=5)
    finally:
        await log.close()


def _appender_pid(log: ExchangeLog) -> int:
    store = log._store
    assert isinstance(store, SqliteStore)
    assert store.writer_pid is not None
    return store.writer_pid


async def _flushed(data_dir: Path, record: ExchangeRecord) -> ExchangeLog:
    """A started log in ``data_dir`` (written only when flushed) that has
    written ``record``: its appender is up."""
    log = ExchangeLog(Settings(data_dir=data_dir), interval=3600)
    await log.start()
    log.record(record)
    await log.flush()
    return log


async def test_a_data_folders_log_is_appended_by_a_process_of_its_own(tmp_path: Path) -> None:
    # The chain's HMAC and the inserts hold the GIL: off the gateway's process,
    # they no longer stall its event loop.
    log = await _flushed(tmp_path, _record(1))
    try:
        assert _appender_pid(log) != os.getpid()
    finally:
        await log.close()
    assert (await Place("sqlite", tmp_path).verify()).intact


async def test_an_appender_killed_between_batches_loses_nothing(tmp_path: Path) -> None:
    log = await _flushed(tmp_path, _record(1))
    try:
        first = _appender_pid(log)
        os.kill(first, signal.SIGKILL)
        log.record(_record(2))
        with pytest.raises(StoreUnavailable, match="appender process ended"):
            await log.flush()
        assert log.waiting == 1
        log.record(_record(3))
        await log.flush()
        assert _appender_pid(log) != first
    finally:
        await log.close()
    place = Place("sqlite", tmp_path)
    assert [row["request_id"] for row in await place.rows()] == ["req-1", "req-2", "req-3"]
    assert (await place.verify()).intact


async def test_a_ctrl_c_does_not_end_the_appender_before_the_last_batch(tmp_path: Path) -> None:
    # Ctrl-C reaches the whole process group: the appender must stay for the
    # batch the gateway writes as it shuts down.
    log = await _flushed(tmp_path, _record(1))
    pid = _appender_pid(log)
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    log.record(_record(2))
    with structlog.testing.capture_logs() as lines:
        await log.close()
    # Written by the same appender at once, not by a new one after a failure.
    assert [line["event"] for line in lines if line["log_level"] == "error"] == []
    assert [row["request_id"] for row in await Place("sqlite", tmp_path).rows()] == [
        "req-1",
        "req-2",
    ]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # and it ends with the log


class _NoProcesses:
    """A multiprocessing context where processes cannot be made (no working
    semaphores, as in some sandboxes)."""

    def Pipe(self, duplex: bool = True) -> Any:  # multiprocessing's name
        raise OSError(38, "Function not implemented")


async def test_where_no_process_can_start_the_records_are_written_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(appender, "_CONTEXT", _NoProcesses())
    log = ExchangeLog(Settings(data_dir=tmp_path), interval=3600)
    with structlog.testing.capture_logs() as lines:
        await log.start()
        log.record(_record(1))
        await log.flush()
        await log.close()
    (warned,) = [line for line in lines if line["event"] == "audit.appender_unavailable"]
    assert "Function not implemented" in warned["error"]
    assert [row["request_id"] for row in await Place("sqlite", tmp_path).rows()] == ["req-1"]


_KILLED_GATEWAY = """
import asyncio, os, signal, sys
from pathlib import Path
from lgsp.config import Settings
from lgsp.observe.exchange_log import ExchangeLog
from lgsp.observe.record import ExchangeRecord

async def main():
    log = ExchangeLog(Settings(data_dir=Path(sys.argv[1])), interval=3600)
    await log.start()
    log.record(ExchangeRecord(
        kind="service", request_id="req-1", client="dongthap.onestop", name="test.echo.call",
        version=1, received=1.0, sent=1.001, answered=1.002, status=200, code=None,
        request=b"{}", response=b"{}", event_id=None,
    ))
    await log.flush()
    print(log._store.writer_pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


async def test_the_appender_ends_with_a_gateway_killed(tmp_path: Path) -> None:
    # Its output read to the end (what a supervisor waits for to know a
    # worker died) and no process left behind.
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _KILLED_GATEWAY, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    pid = int(done.stdout.split()[-1])

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    await eventually(gone, "the appender ended", timeout=10)
    assert [row["request_id"] for row in await Place("sqlite", tmp_path).rows()] == ["req-1"]


async def test_the_admin_page_and_statistics_read_what_was_just_recorded(place: Place) -> None:
    log = ExchangeLog(place.settings(), interval=3600)
    await log.start()
    try:
        for i in range(1, 4):
            log.record(_record(i, status=200 + i))
        page = await log.page(Query(status=(202, 203)))
        assert [row["request_id"] for row in page] == ["req-2", "req-3"]
        columns = await log.columns(
            "client, status", "2026-11-18T11:00:00.000000Z", "2026-11-18T11:09:00.000000Z"
        )
        assert sorted(columns) == [("dongthap.onestop", 201), ("dongthap.onestop", 202)]
        with pytest.raises(ValueError, match="not columns"):
            await log.columns("client, secret", "", "~")
    finally:
        await log.close()


def test_query_reads_dates_and_classes() -> None:
    query = Query.parse({"from": "2026-11-23", "to": "2026-11-23", "status": "5xx"})
    assert query.start is not None
    assert query.end is not None
    assert (query.end - query.start).days == 1
    assert query.status == (500, 599)
    with pytest.raises(MalformedRequest):
        Query.parse({"to": "2026-13-01"})


# -- lgsp audit -----------------------------------------------------------------


async def test_cli_verify_says_intact(nine: Place) -> None:
    result = await nine.cli("verify", *nine.where())
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "9 records, chain intact"


async def test_cli_verify_names_the_broken_record(nine: Place) -> None:
    await nine.execute("UPDATE exchanges SET client = 'dongthap.land' WHERE seq = ?", MIDDLE)
    result = await nine.cli("verify", *nine.where())
    assert result.exit_code == 1
    assert f"record {MIDDLE}: altered" in result.output


async def test_cli_verify_without_a_log(place: Place) -> None:
    result = await place.cli("verify", *place.where())
    assert result.exit_code == 2
    assert ("no chain key" if place.kind == "sqlite" else "no exchange log") in result.output


async def test_cli_export_csv_and_json(nine: Place, tmp_path: Path) -> None:
    result = await nine.cli("export", *nine.where())
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [int(r["seq"]) for r in rows] == list(range(1, 10))
    assert tuple(rows[0]) == COLUMNS
    assert rows[0]["request_body"] == '{"text": "079123456789"}'

    out = tmp_path / "out.json"
    args = ["export", *nine.where(), "--format", "json", "--out", str(out)]
    result = await nine.cli(*args, "--from", "2026-11-18T11:09:00Z", "--status", "4xx")
    assert result.exit_code == 0, result.output
    exported = json.loads(out.read_text())
    assert [r["seq"] for r in exported] == list(range(3, 10))

    result = await nine.cli("export", *nine.where(), "--status", "abc")
    assert result.exit_code == 2
    assert "status must be" in result.output


async def test_cli_store_takes_only_a_postgresql_url() -> None:
    result = await asyncio.to_thread(
        CliRunner().invoke, audit_command, ["verify", "--store", "mysql://u:hunter2@db/x"]
    )
    assert result.exit_code == 2
    assert "expected a PostgreSQL URL" in result.output
    assert "hunter2" not in result.output


# -- on PostgreSQL: one chain across gateways, through outages ------------------


@pytest.fixture
def pg(tmp_path: Path, lgsp_postgres_url: str) -> Place:
    return Place("postgres", tmp_path, lgsp_postgres_url)


async def _rows_in_order(place: Place) -> list[str]:
    rows = await place.rows()
    assert [row["seq"] for row in rows] == list(range(1, len(rows) + 1))
    return [str(row["request_id"]) for row in rows]


@pytest.mark.postgres
async def test_gateways_on_postgresql_share_the_first_ones_key(pg: Place) -> None:
    logs = [pg.log() for _ in range(3)]
    await asyncio.gather(*(log.start() for log in logs))
    for n, log in enumerate(logs):
        log.record(_record(n))
    await asyncio.gather(*(log.close() for log in logs))
    # One key for all: each record verifies, whoever wrote it.
    assert await pg.verify() == Verdict(3)
    (keys,) = await pg.fetchone("SELECT count(*) FROM exchange_log_key")
    assert keys == 1


@contextlib.asynccontextmanager
async def _down(node: PostgresNode) -> AsyncIterator[None]:
    """The server killed (as a crash would) for the block, then started again."""
    await asyncio.to_thread(node.kill)
    try:
        yield
    finally:
        await asyncio.to_thread(node.start)


@pytest.mark.postgres
async def test_records_made_while_postgresql_is_down_are_written_when_it_is_back(
    pg: Place, lgsp_postgres_node: PostgresNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "RETRY_S", 0.05)
    log = ExchangeLog(pg.settings(), interval=0.02)
    await log.start()
    try:
        for i in range(1, 6):
            log.record(_record(i))
        await eventually(lambda: log.waiting == 0, "the first records were written")
        async with _down(lgsp_postgres_node):
            for i in range(6, 11):
                log.record(_record(i))
            await eventually(lambda: log.failed_writes > 0, "a write failed")
            assert log.waiting == 5
            with pytest.raises(ServiceUnavailable):
                await log.page(Query())
        await eventually(lambda: log.waiting == 0, "the waiting records were written", 20)
        log.record(_record(11))
    finally:
        await log.close()
    assert await _rows_in_order(pg) == [f"req-{i}" for i in range(1, 12)]
    assert await pg.verify() == Verdict(11)


@pytest.mark.postgres
async def test_a_restart_between_writes_loses_nothing(
    pg: Place, lgsp_postgres_node: PostgresNode
) -> None:
    log = ExchangeLog(pg.settings(), interval=3600)
    await log.start()
    try:
        for i in range(1, 4):
            log.record(_record(i))
        await log.flush()
        for i in range(4, 7):
            log.record(_record(i))
        # The pool's connections die with the server; the next write makes new ones.
        await asyncio.to_thread(lgsp_postgres_node.restart)
    finally:
        await log.close()
    assert await _rows_in_order(pg) == [f"req-{i}" for i in range(1, 7)]
    assert await pg.verify() == Verdict(6)


@pytest.mark.postgres
async def test_a_long_outage_keeps_a_bounded_number_of_records(
    pg: Place, lgsp_postgres_node: PostgresNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "MAX_UNWRITTEN", 4)
    log = ExchangeLog(pg.settings(), interval=3600)
    await log.start()
    try:
        log.record(_record(1))
        await log.flush()
        async with _down(lgsp_postgres_node):
            for i in range(2, 8):
                log.record(_record(i))
            with pytest.raises(StoreUnavailable):
                await log.flush()
            assert log.waiting == 4
            assert log.dropped == 2
        await log.flush()
    finally:
        await log.close()
    # The oldest waiting are kept: the chain goes on, whole, from them.
    assert await _rows_in_order(pg) == [f"req-{i}" for i in range(1, 6)]
    assert await pg.verify() == Verdict(5)


@pytest.mark.postgres
async def test_a_log_on_a_newer_schema_is_refused(pg: Place) -> None:
    await _write(pg, [_record(1)])
    await pg.execute(
        "INSERT INTO lgsp_schema_migrations (version, name) VALUES (?, 'from a newer lgsp')",
        len(STEPS) + 1,
    )
    with pytest.raises(SchemaTooNew, match="upgrade lgsp"):
        await pg.log().start()
    result = await pg.cli("verify", *pg.where())
    assert result.exit_code == 2
    assert "upgrade lgsp" in result.output


# -- archiving --------------------------------------------------------------------


def _received(i: int) -> str:
    """The log timestamp of _record(i)'s arrival."""
    return audit.timestamp(_record(i).received)


async def _archive(place: Place, before: str) -> list[audit.Manifest]:
    return await audit.archive_before(
        place.data_dir, place.store_url, place.data_dir / "archive", before
    )


async def test_archived_records_still_verify_with_the_rest(
    nine: Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "FILE_RECORDS", 2)
    written = await _archive(nine, _received(6))
    assert [(m.first, m.last) for m in written] == [(1, 2), (3, 4), (5, 5)]
    assert [row["seq"] for row in await nine.rows()] == [6, 7, 8, 9]
    assert await nine.verify() == Verdict(9)
    # The chain goes on from what is left.
    await _write(nine, [_record(10), _record(11)])
    assert await nine.verify() == Verdict(11)
    # What an archive file holds is the record as it was, bodies included.
    [first] = list(archive.read_archive(nine.data_dir / "archive" / written[0].file))[:1]
    assert first["seq"] == 1
    assert first["request_body"] == _record(1).request


async def test_a_log_archived_whole_goes_on_from_its_last_record(nine: Place) -> None:
    [manifest] = await _archive(nine, _received(100))
    assert (manifest.first, manifest.last, manifest.records) == (1, 9, 9)
    assert await nine.rows() == []
    assert await nine.verify() == Verdict(9)
    assert await _archive(nine, _received(100)) == []  # nothing more to move
    await _write(nine, [_record(10)])
    [row] = await nine.rows()
    assert row["seq"] == 10
    assert row["prev_hash"] == manifest.hash
    assert await nine.verify() == Verdict(10)


async def test_archiving_stops_at_the_first_newer_record(place: Place) -> None:
    # Written in this order: record 3 arrived after record 4's cut-off.
    await _write(place, [_record(1), _record(2), _record(9), _record(3)])
    [manifest] = await _archive(place, _received(5))
    assert (manifest.first, manifest.last) == (1, 2)
    assert [row["request_id"] for row in await place.rows()] == ["req-9", "req-3"]
    assert await place.verify() == Verdict(4)


def _rewrite(path: Path, seq: int, column: str, value: Any) -> None:
    rows = list(archive.read_archive(path))
    rows[seq - 1][column] = value
    lines = b"".join(
        json.dumps([archive._encoded(row[c]) for c in COLUMNS]).encode() + b"\n" for row in rows
    )
    path.write_bytes(gzip.compress(lines))


async def test_a_record_changed_in_an_archive_is_named(nine: Place) -> None:
    [manifest] = await _archive(nine, _received(6))
    _rewrite(nine.data_dir / "archive" / manifest.file, 3, "status", 200)
    verdict = await nine.verify()
    assert verdict.broken == 3
    assert verdict.reason == "altered: its hash does not match its contents"


async def test_an_archive_file_changed_in_form_only_is_found(nine: Place) -> None:
    [manifest] = await _archive(nine, _received(6))
    path = nine.data_dir / "archive" / manifest.file
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1))
    verdict = await nine.verify()
    assert verdict.broken == 1
    assert verdict.reason == f"{manifest.file} does not match its signed manifest"


async def test_a_removed_archive_is_found(nine: Place, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "FILE_RECORDS", 3)
    _, second = await _archive(nine, _received(7))
    for name in (second.file, second.file.replace(".jsonl.gz", ".json")):
        (nine.data_dir / "archive" / name).unlink()
    verdict = await nine.verify()
    assert verdict.broken == 4
    assert verdict.reason is not None
    assert verdict.reason.startswith("removed: records 4 to 6 were archived and are not in")


async def test_a_forged_manifest_is_found(nine: Place) -> None:
    [manifest] = await _archive(nine, _received(6))
    path = nine.data_dir / "archive" / manifest.file.replace(".jsonl.gz", ".json")
    path.write_text(json.dumps({**json.loads(path.read_text()), "last": 4}))
    verdict = await nine.verify()
    assert verdict.broken == 1
    assert verdict.reason == f"the manifest of {manifest.file} is forged or damaged"


async def test_cli_archive_then_verify(nine: Place, tmp_path: Path) -> None:
    folder = tmp_path / "kept"
    result = await nine.cli(
        "archive", *nine.where(), "--older-than", "1", "--archive-dir", str(folder)
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"9 records archived into 1 file in {folder} (records 1 to 9)"
    result = await nine.cli("verify", *nine.where(), "--archive-dir", str(folder))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "9 records, chain intact"
    # Without its archive, the chain has lost its beginning.
    result = await nine.cli("verify", *nine.where(), "--archive-dir", str(tmp_path / "none"))
    assert result.exit_code == 1
    assert "record 1: removed: records 1 to 9 were archived" in result.output
    result = await nine.cli(
        "archive", *nine.where(), "--older-than", "1", "--archive-dir", str(folder)
    )
    assert result.output.strip() == "nothing to archive: no record is older than 1 days"
