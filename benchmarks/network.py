"""The cost of crossing provinces: the same call served locally beside the
call that goes to another province through NDXP, in one run, on one
network (``lgsp up --provinces dongthap,gialai``, memory transport).

Rows (``land.parcel.lookup``, the same load for each):

- ``local``: a client of Đồng Tháp asks Đồng Tháp's land database;
- ``local (gialai)``: a client of Gia Lai asks Gia Lai's (the parcel of the
  next row, so both sides of the crossing are measured alone);
- ``across``: the client of Đồng Tháp asks Gia Lai's, through its own LGSP,
  NDXP and Gia Lai's LGSP: two gateways' full paths, two HTTP hops.

The ratio that matters is ``across / local``. Everything runs on one
machine (here 2 cores shared with wrk), so the absolute figures say little.

Run: ``.venv/bin/python -m benchmarks.network``; writes
``benchmarks/results/network.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import urllib.parse
from pathlib import Path

import orjson

from benchmarks.cases import http, lgsp_argv, ready, settled
from benchmarks.exchange import PATH
from benchmarks.fleet import (
    ROOT,
    BenchError,
    Fleet,
    platform_ports,
    wait_for,
)
from benchmarks.report import cpu_busy
from benchmarks.wrk import Load, Measurement, Target, wrk
from lgsp.testing.servers import free_ports_in_a_row

RESULTS = ROOT / "benchmarks" / "results" / "network.json"
DONG_THAP_PARCEL = {"maXa": "29869", "soHieuToBanDo": 12, "soThuTuThua": 345}
GIA_LAI_PARCEL = {"maXa": "24043", "soHieuToBanDo": 1, "soThuTuThua": 34}


def _token(base: str, client: str, secret: str) -> str:
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client, "client_secret": secret}
    ).encode()
    status, body = http(
        "POST", f"{base}/oauth2/token", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    if status != 200:
        raise BenchError(f"{base}: no token for {client}: {status} {body[:300]!r}")
    bearer: str = orjson.loads(body)["access_token"]
    return bearer


def _check(row: str, target: Target, body: bytes) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {target.bearer}"}
    if target.province:
        headers["X-LGSP-Province"] = target.province
    status, answer = http("POST", target.base + PATH, body, headers, timeout=15)
    if status != 200:
        raise BenchError(f"{row}: {status} {answer[:500]!r}")


def main() -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    load = Load(
        seconds=float(os.environ.get("BENCH_SECONDS") or 10),
        warmup=float(os.environ.get("BENCH_WARMUP") or 2),
        connections=int(os.environ.get("BENCH_CONNECTIONS") or 64),
        threads=int(os.environ.get("BENCH_THREADS") or 1),
        timeout_s=5.0,
        start_timeout_s=float(os.environ.get("BENCH_START_TIMEOUT") or 90),
    )
    busy = cpu_busy()
    if busy is not None and busy > 0.1:
        print(f"warning: the machine is {busy:.0%} busy before the run", flush=True)
    work = Path(tempfile.mkdtemp(prefix="lgsp-bench-network-"))
    results: dict[str, Measurement] = {}
    try:
        with Fleet(work / "network") as fleet:
            fleet.logs.mkdir(parents=True)
            port = free_ports_in_a_row(2)
            # Two provinces: two portals, on consecutive ports.
            env = platform_ports() | {"LGSP_OPENDATA_PORT": str(free_ports_in_a_row(2))}
            fleet.spawn(
                "lgsp-up",
                [
                    *lgsp_argv(),
                    "up",
                    "--provinces",
                    "dongthap,gialai",
                    "--port",
                    str(port),
                    "--data-dir",
                    str(work / "data"),
                ],
                env=env,
            )
            dongthap, gialai = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
            for base in (dongthap, gialai):
                wait_for(f"{base} ready", ready(base), fleet, load.start_timeout_s)
                wait_for(f"{base} settled", settled(base), fleet, load.start_timeout_s)
            ours = _token(dongthap, "dongthap.onestop", "demo-onestop-secret")
            theirs = _token(gialai, "gialai.onestop", "demo-onestop-secret")
            rows = {
                "local": (Target(dongthap, ours), DONG_THAP_PARCEL),
                "local (gialai)": (Target(gialai, theirs), GIA_LAI_PARCEL),
                "across": (Target(dongthap, ours, province="gialai"), GIA_LAI_PARCEL),
            }
            for row, (target, parcel) in rows.items():
                body_file = work / f"{row.replace(' ', '-')}.json"
                body_file.write_bytes(json.dumps(parcel).encode())
                _check(row, target, body_file.read_bytes())
                if load.warmup > 0:
                    wrk(row, target, load, body_file, load.warmup, fleet)
                results[row] = m = wrk(row, target, load, body_file, load.seconds, fleet)
                print(
                    f"{row}: {m.rps:,.0f} req/s, p50 {m.ms('p50'):.2f} ms, "
                    f"p99 {m.ms('p99'):.2f} ms",
                    flush=True,
                )
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    local, across = results["local"], results["across"]
    print()
    print(f"{'row':<16} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs local':>9}")
    for row, m in results.items():
        print(
            f"{row:<16} {m.rps:>9,.0f} {m.ms('p50'):>8.2f} {m.ms('p99'):>8.2f} "
            f"{m.rps / local.rps:>8.2f}x"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "service": "land.parcel.lookup",
                "load": load.to_json(),
                "rows": {
                    row: {
                        "rps": round(m.rps, 1),
                        "p50_ms": round(m.ms("p50"), 3),
                        "p99_ms": round(m.ms("p99"), 3),
                    }
                    for row, m in results.items()
                },
                "across_vs_local": round(across.rps / local.rps, 3),
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
