"""The bus's own service ``lgsp.exchange.statistics``: what the exchange
log holds, counted per day, client and service, through the bus."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from lgsp.observe import exchange_statistics
from lgsp.testing import TransportKind
from tests.support.echo import echo_bus

TODAY = dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()


async def test_counts_the_days_exchanges_per_client_and_service(
    transport_kind: TransportKind, amqp_url: str | None, tmp_path: Path
) -> None:
    async with echo_bus(transport_kind, amqp_url, data_dir=tmp_path) as bus:
        for text in ("a", "b", "c"):
            assert (await bus.send("test.echo.call", {"text": text})).status == 200
        missing = await bus.send(
            "land.parcel.lookup",
            {"maXa": "29869", "soHieuToBanDo": 9999, "soThuTuThua": 9999},
            client="dongthap.viewer",
        )
        assert missing.status == 404
        r = await bus.send(
            "lgsp.exchange.statistics",
            {"tuNgay": TODAY.isoformat(), "denNgay": TODAY.isoformat()},
            client="dongthap.analyst",
        )
        assert r.status == 200, await r.text()
        rows = {(row["client"], row["service"]): row for row in (await r.json())["danhSach"]}
    echo = rows[(bus.client, "test.echo.call")]
    assert (echo["ngay"], echo["soLuot"], echo["soLoi"]) == (TODAY.isoformat(), 3, 0)
    assert echo["thoiGianP95Ms"] is not None
    assert echo["thoiGianP95Ms"] >= 0
    lookup = rows[("dongthap.viewer", "land.parcel.lookup")]
    assert (lookup["soLuot"], lookup["soLoi"]) == (1, 1)
    # The statistics call itself is answered after it is counted.
    assert ("dongthap.analyst", "lgsp.exchange.statistics") not in rows


async def test_a_period_before_the_bus_is_empty_and_a_backward_one_refused(
    transport_kind: TransportKind, amqp_url: str | None
) -> None:
    async with echo_bus(transport_kind, amqp_url) as bus:
        empty = await bus.send(
            "lgsp.exchange.statistics",
            {"tuNgay": "2020-01-01", "denNgay": "2020-12-31"},
            client="dongthap.analyst",
        )
        assert (empty.status, await empty.json()) == (200, {"danhSach": []})
        backward = await bus.send(
            "lgsp.exchange.statistics",
            {"tuNgay": "2026-02-01", "denNgay": "2026-01-31"},
            client="dongthap.analyst",
        )
        assert backward.status == 422
        assert (await backward.json())["code"] == "lgsp.exchange.period_invalid"
        too_long = await bus.send(
            "lgsp.exchange.statistics",
            {"tuNgay": "2024-01-01", "denNgay": "2025-01-01"},
            client="dongthap.analyst",
        )
        assert (await too_long.json())["code"] == "lgsp.exchange.period_invalid"
        not_a_date = await bus.send(
            "lgsp.exchange.statistics",
            {"tuNgay": "2026-02-30", "denNgay": "2026-03-01"},
            client="dongthap.analyst",
        )
        assert not_a_date.status == 422
        assert (await not_a_date.json())["code"] == "contract.request_invalid"


class _Log:
    """An exchange log's read side holding ``rows`` (what ``columns`` returns)."""

    def __init__(self, rows: list[tuple[object, ...]]) -> None:
        self.rows = rows

    async def columns(self, columns: str, start: str, end: str) -> list[tuple[object, ...]]:
        return self.rows


async def test_a_month_of_records_is_counted_without_holding_the_loop() -> None:
    # More records than one chunk: the loop turns between chunks, so the
    # gateway's calls are not held while a month of a busy bus is counted.
    at = dt.datetime.combine(TODAY, dt.time(12), ZoneInfo("Asia/Ho_Chi_Minh"))
    received = at.astimezone(dt.UTC).isoformat()
    rows: list[tuple[object, ...]] = [
        (received, "dongthap.land", "land.parcel.lookup", 200 if i % 10 else 404, float(i % 100))
        for i in range(3 * exchange_statistics.CHUNK + 1)
    ]
    turns = 0

    async def other_calls() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    beside = asyncio.create_task(other_calls())
    await asyncio.sleep(0)
    before = turns
    counted = await exchange_statistics.daily(_Log(rows), TODAY, TODAY)  # type: ignore[arg-type]
    during = turns - before
    beside.cancel()
    assert during >= 3
    [row] = counted
    assert (row["ngay"], row["soLuot"]) == (TODAY.isoformat(), len(rows))
    assert row["soLoi"] == len(range(0, len(rows), 10))
    assert row["thoiGianP95Ms"] == 94.0
