"""The exchange log: records, the keyed hash chain and its verification,
the writer's batching, and ``lgsp audit`` (through a bus: the gateway's
shutdown and the admin route, in tests/behaviour/test_exchange_log.py)."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lgsp.cli.audit import audit as audit_command
from lgsp.config import Settings
from lgsp.errors import MalformedRequest
from lgsp.observe import exchange_log as audit
from lgsp.observe.exchange_log import (
    COLUMNS,
    DB_FILE,
    HEAD_FILE,
    KEY_FILE,
    ExchangeLog,
    Query,
    read,
    verify,
)
from lgsp.observe.record import ExchangeRecord

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


async def _write(data_dir: Path, records: list[ExchangeRecord], **settings: Any) -> None:
    log = ExchangeLog(Settings(data_dir=data_dir, **settings))
    await log.start()
    for record in records:
        log.record(record)
    await log.close()


@pytest.fixture
async def nine(tmp_path: Path) -> Path:
    """A data dir holding nine records, every column filled (full logging on)."""
    await _write(tmp_path, [_record(i) for i in range(1, 10)], audit_full_services=("test.*",))
    return tmp_path


@pytest.fixture
def db(nine: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(nine / DB_FILE, isolation_level=None)
    yield conn
    conn.close()


def _column(conn: sqlite3.Connection, column: str, seq: int) -> Any:
    return conn.execute(f"SELECT {column} FROM exchanges WHERE seq = ?", (seq,)).fetchone()[0]


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


async def test_a_record_holds_digests_not_personal_data(tmp_path: Path) -> None:
    record = _record(1)
    await _write(tmp_path, [record])
    [row] = read(tmp_path, Query())
    assert row["request_body"] is None
    assert row["response_body"] is None
    assert row["request_sha256"] == hashlib.sha256(record.request).hexdigest()
    assert row["request_size"] == len(record.request)
    assert row["received"] == "2026-11-18T11:07:40.000000Z"  # epoch 1795000060
    assert row["duration_ms"] == 12.5
    assert row["prev_hash"] == "0" * 64
    assert b"079123456789" not in _stored(tmp_path)


async def test_full_logging_keeps_the_bodies_of_the_services_named(tmp_path: Path) -> None:
    kept, other = _record(1), _record(2, name="land.parcel.lookup")
    await _write(tmp_path, [kept, other], audit_full_services=("test.*",))
    first, second = read(tmp_path, Query())
    assert first["request_body"] == kept.request
    assert first["response_body"] == kept.response
    assert second["request_body"] is None


async def test_files_are_private_to_the_owner(nine: Path) -> None:
    for name in (DB_FILE, KEY_FILE, HEAD_FILE):
        assert stat.S_IMODE(os.stat(nine / name).st_mode) == 0o600, name


# -- the chain ------------------------------------------------------------------


async def test_an_intact_log_verifies(nine: Path) -> None:
    verdict = verify(nine)
    assert verdict.intact
    assert verdict.records == 9


@pytest.mark.parametrize("column", COLUMNS)
async def test_a_single_byte_changed_in_any_column_is_found(
    nine: Path, db: sqlite3.Connection, column: str
) -> None:
    value = _column(db, column, MIDDLE)
    assert value is not None
    db.execute(
        f"UPDATE exchanges SET {column} = ? WHERE seq = ?", (_one_byte_changed(value), MIDDLE)
    )
    verdict = verify(nine)
    assert not verdict.intact
    assert verdict.broken == MIDDLE
    assert verdict.records == MIDDLE - 1


@pytest.mark.parametrize("column", ["sent", "code", "event_id", "request_body"])
async def test_filling_an_empty_column_is_found(tmp_path: Path, column: str) -> None:
    await _write(tmp_path, [_record(i, sent=None, code=None, event_id=None) for i in range(1, 4)])
    with sqlite3.connect(tmp_path / DB_FILE) as conn:
        conn.execute(f"UPDATE exchanges SET {column} = 'x' WHERE seq = 2")
    assert verify(tmp_path).broken == 2


async def test_a_removed_record_is_named(nine: Path, db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM exchanges WHERE seq = ?", (MIDDLE,))
    verdict = verify(nine)
    assert verdict.broken == MIDDLE
    assert verdict.reason is not None
    assert verdict.reason.startswith("removed")


async def test_a_removed_and_renumbered_record_is_named(nine: Path, db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM exchanges WHERE seq = ?", (MIDDLE,))
    db.execute("UPDATE exchanges SET seq = seq - 1 WHERE seq > ?", (MIDDLE,))
    assert verify(nine).broken == MIDDLE


async def test_swapped_records_are_named(nine: Path, db: sqlite3.Connection) -> None:
    others = [c for c in COLUMNS if c != "seq"]
    a, b = (
        db.execute(f"SELECT {', '.join(others)} FROM exchanges WHERE seq = ?", (s,)).fetchone()
        for s in (3, 7)
    )
    assignments = ", ".join(f"{c} = ?" for c in others)
    db.execute(f"UPDATE exchanges SET {assignments} WHERE seq = 3", (*b,))
    db.execute(f"UPDATE exchanges SET {assignments} WHERE seq = 7", (*a,))
    verdict = verify(nine)
    assert verdict.broken == 3
    assert verdict.reason == "reordered: it holds record 7"


async def test_records_cut_off_the_end_are_found(nine: Path, db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM exchanges WHERE seq >= 8")
    verdict = verify(nine)
    assert verdict.broken == 8
    assert verdict.reason is not None
    assert verdict.reason.startswith("truncated")


async def test_a_forged_head_is_found(nine: Path) -> None:
    head = json.loads((nine / HEAD_FILE).read_text())
    (nine / HEAD_FILE).write_text(json.dumps({**head, "seq": 7}))
    assert not verify(nine).intact


async def test_a_chain_rebuilt_without_the_key_is_found(nine: Path, db: sqlite3.Connection) -> None:
    # Someone who can write the database but not read the key recomputes
    # the chain with a key of their own after an edit: every hash differs.
    db.execute("UPDATE exchanges SET status = 200 WHERE seq = ?", (MIDDLE,))
    forged = b"\x00" * 32
    prev = "0" * 64
    for seq in range(1, 10):
        row = dict(
            zip(
                COLUMNS,
                db.execute("SELECT * FROM exchanges WHERE seq = ?", (seq,)).fetchone(),
                strict=True,
            )
        )
        row["prev_hash"] = prev
        prev = audit.chain_hash(forged, row)
        db.execute(
            "UPDATE exchanges SET prev_hash = ?, hash = ? WHERE seq = ?",
            (row["prev_hash"], prev, seq),
        )
    assert verify(nine).broken == 1


async def test_two_gateways_sharing_a_data_dir_keep_one_chain(tmp_path: Path) -> None:
    first, second = (ExchangeLog(Settings(data_dir=tmp_path)) for _ in range(2))
    await first.start()
    await second.start()
    for i in range(1, 41):
        (first if i % 2 else second).record(_record(i))
        if i % 5 == 0:
            await (first if i % 10 else second).flush()
    await first.close()
    await second.close()
    assert verify(tmp_path).records == 40
    assert [row["seq"] for row in read(tmp_path, Query())] == list(range(1, 41))


# -- the writer ---------------------------------------------------------------


async def test_records_are_written_in_the_background(tmp_path: Path) -> None:
    log = ExchangeLog(Settings(data_dir=tmp_path), interval=0.05)
    await log.start()
    try:
        log.record(_record(1))
        deadline = time.monotonic() + 5
        while not list(read(tmp_path, Query())):
            assert time.monotonic() < deadline, "the record was never written"
            await asyncio.sleep(0.02)
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


def test_cli_verify_says_intact(nine: Path) -> None:
    result = CliRunner().invoke(audit_command, ["verify", "--data-dir", str(nine)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "9 records, chain intact"


def test_cli_verify_names_the_broken_record(nine: Path, db: sqlite3.Connection) -> None:
    db.execute("UPDATE exchanges SET client = 'dongthap.land' WHERE seq = ?", (MIDDLE,))
    result = CliRunner().invoke(audit_command, ["verify", "--data-dir", str(nine)])
    assert result.exit_code == 1
    assert f"record {MIDDLE}: altered" in result.output


def test_cli_verify_without_a_log(tmp_path: Path) -> None:
    result = CliRunner().invoke(audit_command, ["verify", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no chain key" in result.output


def test_cli_export_csv_and_json(nine: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(audit_command, ["export", "--data-dir", str(nine)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [int(r["seq"]) for r in rows] == list(range(1, 10))
    assert tuple(rows[0]) == COLUMNS
    assert rows[0]["request_body"] == '{"text": "079123456789"}'

    out = tmp_path / "out.json"
    args = ["export", "--data-dir", str(nine), "--format", "json", "--out", str(out)]
    result = runner.invoke(
        audit_command, [*args, "--from", "2026-11-18T11:09:00Z", "--status", "4xx"]
    )
    assert result.exit_code == 0, result.output
    exported = json.loads(out.read_text())
    assert [r["seq"] for r in exported] == list(range(3, 10))

    result = runner.invoke(audit_command, ["export", "--data-dir", str(nine), "--status", "abc"])
    assert result.exit_code == 2
    assert "status must be" in result.output
