"""The warehouse's ingestion and batch load, beside their floors.

(a) Events: N ``onestop.dossier.status-changed`` events published through
the gateway (HTTP, several tasks) of an in-process bus with a data folder:
events accepted per second (202s), ingested per second (in DuckDB), the lag
from the last 202 until it is queryable, and freshness (202 to queryable)
p50/p99 on a sample. Beside it, the floor: the same events put straight
into the inbox (one SQLite commit each), no bus.

(b) Batch: one pull of every source at ``LGSP_DATASET_CITIZENS`` citizens
(``LGSP_BENCH_WAREHOUSE_CITIZENS``, default 200,000), in a child process
(the dataset is built once per process): parcel rows per second, duration,
the warehouse's size on disk, the process's RSS.

Run: ``.venv/bin/python -m benchmarks.warehouse`` (about a minute or two);
writes ``benchmarks/results/warehouse.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lgsp_adapters.warehouse as warehouse
from lgsp import Adapter, Context
from lgsp.testing import running_bus
from lgsp_adapters import onestop
from lgsp_adapters.warehouse.config import Settings
from lgsp_adapters.warehouse.ingest import Warehouse
from lgsp_contracts.onestop import SuKienTrangThaiHoSo

RESULTS = Path(__file__).parent / "results" / "warehouse.json"
TOPIC = "onestop.dossier.status-changed"
EVENTS = int(os.environ.get("LGSP_BENCH_WAREHOUSE_EVENTS", "3000"))
TASKS = 8
SAMPLE_EVERY = 300
CITIZENS = int(os.environ.get("LGSP_BENCH_WAREHOUSE_CITIZENS", "200000"))
"""The batch's dataset: at 1,000,000 one pull took 135 s here (784,572
parcels, mostly the land mock building and the bus validating its pages),
so ``make bench`` runs it at 200,000."""


def _event(n: int) -> dict[str, str]:
    return {
        "maHoSo": f"000.00.00.H20-2507{n // 9999 % 28 + 1:02d}-{n % 9999 + 1:04d}",
        "maTTHC": "1.004873",
        "trangThai": "2",
        "thoiDiem": f"2025-07-{n // 9999 % 28 + 1:02d}T09:00:00+07:00",
    }


async def _queryable(number: str, bus: Any) -> bool:
    r = await bus.call(
        "warehouse.sql.query",
        {"sql": f"SELECT count(*) FROM dossier_events WHERE ma_ho_so = '{number}'"},
        client="dongthap.analyst",
    )
    return bool(r.status == 200 and r.json["dong"][0][0] >= 1)


async def ingestion() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        # The warehouse and the one-stop-shop it asks about dossiers, alone:
        # the portal sync would retry these made-up dossiers beside it.
        adapters = [warehouse.adapter, onestop.adapter]
        async with running_bus(
            "memory", data_dir=Path(folder), installed=False, sidecars=False, adapters=adapters
        ) as bus:
            await bus.token("dongthap.onestop")
            await bus.token("dongthap.analyst")
            freshness: list[float] = []
            watchers: list[asyncio.Task[None]] = []

            async def watch(number: str, accepted: float) -> None:
                # Polling through the bus is what is measured: as an analyst sees it.
                while not await _queryable(number, bus):  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
                freshness.append(time.perf_counter() - accepted)

            async def publisher(k: int) -> None:
                for n in range(k, EVENTS, TASKS):
                    r = await bus.publish(TOPIC, _event(n), client="dongthap.onestop")
                    assert r.status == 202, r.json
                    if n % SAMPLE_EVERY == 0:
                        number = _event(n)["maHoSo"]
                        watchers.append(asyncio.create_task(watch(number, time.perf_counter())))

            started = time.perf_counter()
            await asyncio.gather(*(publisher(k) for k in range(TASKS)))
            accepted_s = time.perf_counter() - started
            last_accepted = time.perf_counter()
            await warehouse.caught_up()
            ingested_s = time.perf_counter() - started
            lag = time.perf_counter() - last_accepted
            await asyncio.gather(*watchers)
    q = statistics.quantiles(freshness, n=100) if len(freshness) > 1 else freshness * 99
    return {
        "events": EVENTS,
        "accepted_per_s": EVENTS / accepted_s,
        "ingested_per_s": EVENTS / ingested_s,
        "lag_s": lag,
        "freshness_p50_ms": q[49] * 1000,
        "freshness_p99_ms": q[98] * 1000,
    }


async def bus_floor() -> dict[str, Any]:
    """The same events through the same in-process bus and client, to a
    subscriber that does nothing: what the bus accepts without the warehouse."""
    noop = Adapter("noop", agency="benchmark")

    @noop.subscribe(TOPIC, name="benchmark.noop")
    async def nothing(event: SuKienTrangThaiHoSo, ctx: Context) -> None:
        return None

    async with running_bus(
        "memory", installed=False, sidecars=False, adapters=[noop, onestop.adapter]
    ) as bus:
        await bus.token("dongthap.onestop")

        async def publisher(k: int) -> None:
            for n in range(k, EVENTS, TASKS):
                r = await bus.publish(TOPIC, _event(n), client="dongthap.onestop")
                assert r.status == 202, r.json

        started = time.perf_counter()
        await asyncio.gather(*(publisher(k) for k in range(TASKS)))
        elapsed = time.perf_counter() - started
    return {"accepted_per_s": EVENTS / elapsed}


async def inbox_floor() -> dict[str, Any]:
    """The same events into the inbox alone: one SQLite commit each."""
    with tempfile.TemporaryDirectory() as folder:
        wh = Warehouse.open(Path(folder), Settings())
        payloads = [
            SuKienTrangThaiHoSo.model_validate_json(json.dumps(_event(n))) for n in range(EVENTS)
        ]
        for p in payloads[:1]:
            await wh.accept(TOPIC, p)
        started = time.perf_counter()
        await asyncio.gather(*(wh.accept(TOPIC, p) for p in payloads))
        elapsed = time.perf_counter() - started
        await wh.close()
    return {"accepted_per_s": EVENTS / elapsed}


async def batch() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        os.environ["LGSP_WAREHOUSE_EXPORT_S"] = "100000"
        # The pull alone, on an idle bus: nothing to leave the loop to.
        os.environ["LGSP_WAREHOUSE_PULL_SHARE"] = "1"
        async with running_bus("memory", data_dir=Path(folder)):
            started = time.perf_counter()
            async with asyncio.timeout(170):
                await warehouse.ready()
            elapsed = time.perf_counter() - started
            wh = warehouse.current()
            parcels = wh.loads["land.parcel.snapshot"]
            size = wh.store.size_bytes()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "citizens": int(os.environ.get("LGSP_DATASET_CITIZENS", "10000")),
        "parcels": parcels.rows,
        "parcel_rows_per_s": parcels.rows / (parcels.duration_ms / 1000),
        "parcels_s": parcels.duration_ms / 1000,
        "all_sources_s": elapsed,
        "duckdb_mb": size / 1e6,
        "rss_mb": rss_kb / 1024,
    }


def main() -> None:
    if "--batch" in sys.argv:
        print(json.dumps(asyncio.run(batch())))
        return
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.warehouse", "--batch"],
        env=os.environ | {"LGSP_DATASET_CITIZENS": str(CITIZENS), "LGSP_LOG_LEVEL": "warning"},
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    batch_result = json.loads(child.stdout.strip().splitlines()[-1])
    events = asyncio.run(ingestion())
    bus = asyncio.run(bus_floor())
    floor = asyncio.run(inbox_floor())
    result = {"ingestion": events, "bus_floor": bus, "inbox_floor": floor, "batch": batch_result}
    print(f"{'events':<34}{'warehouse':>12}{'floor':>12}{'ratio':>8}")
    ratio = events["accepted_per_s"] / bus["accepted_per_s"]
    print(
        f"{'accepted /s (202, via gateway)':<34}{events['accepted_per_s']:>12.0f}"
        f"{bus['accepted_per_s']:>12.0f}{ratio:>8.2f}   floor: a subscriber doing nothing"
    )
    ratio = events["ingested_per_s"] / bus["accepted_per_s"]
    print(
        f"{'ingested /s (queryable)':<34}{events['ingested_per_s']:>12.0f}"
        f"{bus['accepted_per_s']:>12.0f}{ratio:>8.2f}"
    )
    print(f"{'inbox alone /s (one commit each)':<34}{floor['accepted_per_s']:>12.0f}")
    print(f"{'lag after last 202 (s)':<34}{events['lag_s']:>12.3f}")
    print(
        f"{'freshness p50 / p99 (ms)':<34}{events['freshness_p50_ms']:>12.1f}"
        f"{events['freshness_p99_ms']:>12.1f}"
    )
    b = batch_result
    print(
        f"batch at {b['citizens']:,} citizens: {b['parcels']:,} parcels in {b['parcels_s']:.1f} s "
        f"({b['parcel_rows_per_s']:,.0f} rows/s); all sources {b['all_sources_s']:.1f} s; "
        f"DuckDB {b['duckdb_mb']:.1f} MB; RSS {b['rss_mb']:.0f} MB"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
