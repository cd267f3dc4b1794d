"""The open data portal's searches beside its cheapest action, in one run.

A portal publishing the stand-in warehouse's rows (scaled up: many communes
and months, so the DataStore tables are not toy-sized) answers, over
loopback HTTP with keep-alive, at a fixed concurrency and for a bounded
time per case:

- ``status_show``: the floor, the envelope and nothing else;
- ``package_search`` with free text, an ``fq`` and facets;
- ``datastore_search`` with ``filters`` and with ``q``.

It prints p50/p99 per case and each case's ratio to the floor, and writes
them to ``benchmarks/results/opendata.json``. Under a minute in all.

    .venv/bin/python -m benchmarks.opendata [--seconds 5] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp

from lgsp_adapters.opendata.server import OpenDataPortal
from lgsp_adapters.opendata.testing import FakeWarehouse, running_portal

RESULTS = Path(__file__).resolve().parent / "results" / "opendata.json"
POPULATION = "dan-so-theo-nhom-tuoi-va-gioi-tinh"
BANDS = [f"{a:02d}-{a + 4:02d}" for a in range(0, 80, 5)] + ["80+"]


def big_warehouse(communes: int = 100) -> FakeWarehouse:
    """Rows of 100 communes: 3,400 population rows, 1,200 dossier rows."""
    warehouse = FakeWarehouse()
    warehouse.rows["warehouse.population.age-groups"] = [
        {
            "maXa": f"{30000 + c:05d}",
            "tenXa": f"Xã số {c}",
            "nhomTuoi": band,
            "gioiTinh": sex,
            "soNguoi": 2 + (c * 7 + i * 13) % 400,
        }
        for c in range(communes)
        for i, band in enumerate(BANDS)
        for sex in ("Nam", "Nữ")
    ]
    dossiers = warehouse.rows["warehouse.dossiers.monthly"]
    template = dossiers[0]
    warehouse.rows["warehouse.dossiers.monthly"] = [
        template | {"thang": f"2026-{m:02d}", "maXa": f"{30000 + c:05d}", "tenXa": f"Xã số {c}"}
        for m in range(1, 13)
        for c in range(communes)
    ]
    return warehouse


def cases(portal: OpenDataPortal) -> dict[str, tuple[str, dict[str, Any]]]:
    rid = next(
        r["id"] for r in portal.catalog.packages[POPULATION]["resources"] if r["format"] == "JSON"
    )
    return {
        "status_show": ("status_show", {}),
        "package_search": (
            "package_search",
            {"q": "dân số", "fq": "res_format:CSV", "facet.field": ["organization", "groups"]},
        ),
        "datastore_search_filters": (
            "datastore_search",
            {"resource_id": rid, "filters": {"gioiTinh": "Nữ", "nhomTuoi": "20-24"}},
        ),
        "datastore_search_q": ("datastore_search", {"resource_id": rid, "q": "Xã số 42"}),
    }


async def measure(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    seconds: float,
    concurrency: int,
) -> dict[str, float]:
    latencies: list[float] = []
    payload = json.dumps(body).encode()
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            async with session.post(
                url, data=payload, headers={"Content-Type": "application/json"}
            ) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"{url} answered {r.status}")
            latencies.append(time.perf_counter() - start)

    began = time.monotonic()
    async with asyncio.timeout(seconds + 30):
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - began
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(q[49] * 1000, 3),
        "p99_ms": round(q[98] * 1000, 3),
    }


async def run(seconds: float, concurrency: int) -> dict[str, Any]:
    async with running_portal(big_warehouse()) as (_bus, portal, _):
        results: dict[str, dict[str, float]] = {}
        async with aiohttp.ClientSession() as session:
            for case, (action, body) in cases(portal).items():
                url = f"{portal.url}/api/3/action/{action}"
                await measure(session, url, body, min(0.5, seconds), concurrency)  # warm-up
                results[case] = await measure(session, url, body, seconds, concurrency)
        floor = results["status_show"]
        return {
            "host": platform.node(),
            "python": platform.python_version(),
            "seconds_per_case": seconds,
            "concurrency": concurrency,
            "rows": {"population": len(portal.catalog.publications[POPULATION].rows)},
            "cases": results,
            "ratios_to_status_show": {
                case: {
                    "p50": round(m["p50_ms"] / floor["p50_ms"], 2),
                    "p99": round(m["p99_ms"] / floor["p99_ms"], 2),
                }
                for case, m in results.items()
                if case != "status_show"
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per case (at most 10)")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    report = asyncio.run(run(min(args.seconds, 10.0), args.concurrency))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{'case':28} {'p50 ms':>9} {'p99 ms':>9} {'req/s':>9} {'x p50':>7} {'x p99':>7}")
    for case, m in report["cases"].items():
        ratio = report["ratios_to_status_show"].get(case, {"p50": 1.0, "p99": 1.0})
        print(
            f"{case:28} {m['p50_ms']:9.3f} {m['p99_ms']:9.3f} {m['rps']:9.1f} "
            f"{ratio['p50']:7.2f} {ratio['p99']:7.2f}"
        )
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
