"""``make bench``: lgsp on both transports beside the raw floors it cannot beat
for free, measured in one run under the same load.

    python -m benchmarks.run                     # all four cases
    python -m benchmarks.run lgsp-memory         # one case (or several)
    BENCH_SECONDS=30 python -m benchmarks.run    # longer measurement

Each case starts its servers as subprocesses (logs in a temporary folder),
checks one exchange by hand, warms up, then runs wrk against
``POST /v1/services/land.parcel.lookup``. Any socket error or non-2xx
answer fails the run: a benchmark of errors is worthless. The table goes to
stdout and the figures to ``benchmarks/results/latest.json``.

This module is the entry point and the order of a case; the jobs live beside
it: :mod:`~benchmarks.cases` (the cases, how each starts and is known ready),
:mod:`~benchmarks.fleet` (their processes), :mod:`~benchmarks.broker` (the
RabbitMQ node of the AMQP cases), :mod:`~benchmarks.wrk` (the load
generator and what it saw) and :mod:`~benchmarks.report` (the table and the
results file).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import orjson

from benchmarks import exchange as exchange_module
from benchmarks.cases import CASES, STARTERS, Run, check_exchange
from benchmarks.exchange import PATH
from benchmarks.fleet import ROOT, BenchError, Fleet
from benchmarks.report import RESULTS, cpu_busy, report, table
from benchmarks.wrk import Load, Measurement, wrk

# -- one case ----------------------------------------------------------------------


def measure(case: str, run: Run) -> tuple[Measurement, Measurement | None, int]:
    """Start ``case``, check one exchange, warm up, measure, stop it: what
    wrk saw warm, what it saw during the warm-up (the first seconds after
    the case said ready: its tail then is part of the figures), and the
    size of the body the case answered."""
    print(f"{case}: starting", flush=True)
    first = None
    with Fleet(run.work / case) as fleet:
        fleet.logs.mkdir()
        target = STARTERS[case](run, fleet)
        size = check_exchange(case, target, run.exchange)
        if run.load.warmup > 0:
            first = wrk(case, target, run.load, run.body_file, run.load.warmup, fleet)
        m = wrk(case, target, run.load, run.body_file, run.load.seconds, fleet)
    print(
        f"{case}: {m.rps:,.0f} req/s, p50 {m.ms('p50'):.2f} ms, p99 {m.ms('p99'):.2f} ms",
        flush=True,
    )
    return m, first, size


SCALE_OUT = ("lgsp-amqp-2w", "lgsp-amqp")
"""The gateway with two workers and two adapter processes, beside one of each."""


def scale_out(results: dict[str, Measurement]) -> dict[str, object] | None:
    """The throughput of two gateway workers to one's, when both ran."""
    if not all(case in results for case in SCALE_OUT):
        return None
    two, one = (results[case] for case in SCALE_OUT)
    return {
        "case": SCALE_OUT[0],
        "to": SCALE_OUT[1],
        "throughput_ratio": round(two.rps / one.rps, 3),
        "p99_ratio": round(two.latency_us["p99"] / one.latency_us["p99"], 3),
        "cpus": os.cpu_count(),
    }


# -- entry point -----------------------------------------------------------------


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def parse_args(argv: list[str] | None) -> tuple[list[str], Load, bool, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="lgsp beside its raw floors, under the same wrk load.",
        epilog="Environment: BENCH_SECONDS (10), BENCH_WARMUP (5), BENCH_CONNECTIONS (64), "
        "BENCH_THREADS (1), BENCH_STRICT=1 (fail on a missed goal), BENCH_KEEP_LOGS=1, "
        "LGSP_TEST_AMQP_URL (use this broker instead of a private node).",
    )
    parser.add_argument(
        "cases", nargs="*", metavar="CASE", help=f"{', '.join(CASES)} (default: all)"
    )
    parser.add_argument("--seconds", type=float, default=_env_float("BENCH_SECONDS", 10))
    # The warm-up is the first seconds after ready: measured, and its tail reported.
    parser.add_argument("--warmup", type=float, default=_env_float("BENCH_WARMUP", 5))
    parser.add_argument("--connections", type=int, default=int(_env_float("BENCH_CONNECTIONS", 64)))
    parser.add_argument("--threads", type=int, default=int(_env_float("BENCH_THREADS", 1)))
    parser.add_argument(
        "--strict", action="store_true", default=os.environ.get("BENCH_STRICT") == "1"
    )
    parser.add_argument(
        "--keep-logs", action="store_true", default=os.environ.get("BENCH_KEEP_LOGS") == "1"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}; choose from {', '.join(CASES)}")
    cases = [c for c in CASES if c in args.cases] if args.cases else list(CASES)
    load = Load(
        seconds=args.seconds,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
        timeout_s=5.0,
        start_timeout_s=_env_float("BENCH_START_TIMEOUT", 60),
    )
    return cases, load, args.strict, args.keep_logs


def main(argv: list[str] | None = None) -> int:
    cases, load, strict, keep_logs = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="lgsp-bench-"))
    exchange = exchange_module.load()
    exchange.write(work / "exchange.json")
    (work / "body.json").write_bytes(exchange.request_bytes)
    print(
        f"{PATH}: {len(exchange.request_bytes)} B request, "
        f"{len(exchange.response_bytes)} B response (example from the {exchange.source})",
        flush=True,
    )
    busy = cpu_busy()
    if busy is not None and busy > 0.1:
        print(
            f"warning: the machine is {busy:.0%} busy before the run; "
            "the figures will be lower and noisier than on an idle machine",
            flush=True,
        )
    results: dict[str, Measurement] = {}
    firsts: dict[str, Measurement] = {}
    sizes: dict[str, int] = {}
    failed = True
    try:
        with contextlib.ExitStack() as stack:
            run = Run(load, exchange, work, stack)
            for case in cases:
                results[case], first, sizes[case] = measure(case, run)
                if first is not None:
                    firsts[case] = first
        failed = False
    except BenchError as e:
        print(f"\nbench FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if failed or keep_logs:
            print(f"logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work)

    print()
    print(table(results, load, firsts))
    document = report(results, sizes, load, exchange, busy, firsts)
    scaled = scale_out(results)
    if scaled is not None:
        print(
            f"{scaled['case']} / {scaled['to']}: {scaled['throughput_ratio']:.2f}x req/s, "
            f"p99 {scaled['p99_ratio']:.2f}x (2 gateway workers and 2 adapter processes "
            f"beside 1 of each, on {scaled['cpus']} cores shared with wrk and RabbitMQ)"
        )
        document["scale_out"] = scaled
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    missed = [r for r in document["ratios"] if not r["met"]]
    return 3 if strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
