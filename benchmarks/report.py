"""What a run reports: the table on stdout (figures per case, then each case's
ratio to its floor against the goal), and the document written to
``benchmarks/results/latest.json`` (load, host, exchange sizes, per-case
figures, ratios), with how busy the machine was before the run."""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.exchange import PATH, Exchange
from benchmarks.wrk import Load, Measurement

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


@dataclass(frozen=True)
class Goal:
    case: str
    floor: str
    ratio: float
    """Minimum of case req/s divided by floor req/s."""


GOALS = (
    Goal("lgsp-memory", "bare-aiohttp", 0.6),
    Goal("lgsp-amqp", "bare-rpc", 1.0),
    # A peer, not a floor: the framework the SDK takes its shape from.
    Goal("lgsp-amqp", "faststream", 4.0),
)


def ratios(results: dict[str, Measurement]) -> list[dict[str, Any]]:
    out = []
    for goal in GOALS:
        if goal.case in results and goal.floor in results:
            case, floor = results[goal.case], results[goal.floor]
            ratio = case.rps / floor.rps
            out.append(
                {
                    "case": goal.case,
                    "floor": goal.floor,
                    "throughput_ratio": round(ratio, 3),
                    "goal": goal.ratio,
                    "met": ratio >= goal.ratio,
                    "p50_ratio": round(case.latency_us["p50"] / floor.latency_us["p50"], 3),
                    "p99_ratio": round(case.latency_us["p99"] / floor.latency_us["p99"], 3),
                }
            )
    return out


TAIL_GOAL = 2.0
"""The most p99 may be of p50 for the full embedded path, warm and in the
first seconds after ready (the bare handler's is about 1.7)."""
TAIL_CASES = ("lgsp-memory",)


def tail(m: Measurement) -> float:
    """p99 over p50: how far the slow answers sit from the typical one."""
    return m.latency_us["p99"] / m.latency_us["p50"]


def tails(results: dict[str, Measurement], firsts: dict[str, Measurement]) -> list[dict[str, Any]]:
    out = []
    for case in TAIL_CASES:
        if case in results:
            warm = tail(results[case])
            first = tail(firsts[case]) if case in firsts else None
            out.append(
                {
                    "case": case,
                    "warm": round(warm, 2),
                    "first_seconds": round(first, 2) if first is not None else None,
                    "goal": TAIL_GOAL,
                    "met": warm <= TAIL_GOAL and (first is None or first <= TAIL_GOAL),
                }
            )
    return out


def table(
    results: dict[str, Measurement], load: Load, firsts: dict[str, Measurement] | None = None
) -> str:
    firsts = firsts or {}
    rows = [
        f"{load.connections} connections, {load.threads} wrk thread(s), "
        f"{load.seconds:g} s after {load.warmup:g} s warm-up, 127.0.0.1",
        "",
        f"{'case':<14}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'requests':>11}"
        f"{'p99/p50':>9}{'first':>7}",
    ]
    for case, m in results.items():
        first = f"{tail(firsts[case]):>7.1f}" if case in firsts else f"{'-':>7}"
        rows.append(
            f"{case:<14}{m.rps:>10,.0f}{m.ms('p50'):>10.2f}{m.ms('p99'):>10.2f}"
            f"{m.ms('max'):>10.2f}{m.requests:>11,}{tail(m):>9.1f}{first}"
        )
    rows.append(f"(p99/p50 warm, and in the first {load.warmup:g} s after ready: the warm-up)")
    rows.append("")
    for r in ratios(results):
        verdict = "met" if r["met"] else "NOT MET"
        rows.append(
            f"{r['case']} / {r['floor']}: {r['throughput_ratio']:.2f}x req/s "
            f"(goal >= {r['goal']:.1f}x: {verdict}); "
            f"p50 {r['p50_ratio']:.2f}x, p99 {r['p99_ratio']:.2f}x"
        )
    for t in tails(results, firsts):
        verdict = "met" if t["met"] else "NOT MET"
        first = "-" if t["first_seconds"] is None else f"{t['first_seconds']:.1f}x"
        rows.append(
            f"{t['case']} tail: p99 {t['warm']:.1f}x p50 warm, {first} just after ready "
            f"(goal <= {t['goal']:.0f}x: {verdict})"
        )
    return "\n".join(rows)


def report(
    results: dict[str, Measurement],
    sizes: dict[str, int],
    load: Load,
    exchange: Exchange,
    busy_before: float | None,
    firsts: dict[str, Measurement] | None = None,
) -> dict[str, Any]:
    firsts = firsts or {}
    wrk_version = subprocess.run(
        [shutil.which("wrk") or "wrk", "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[:1]
    return {
        "generated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": {
            **host(),
            "wrk": wrk_version[0] if wrk_version else None,
            "cpu_busy_before_run": None if busy_before is None else round(busy_before, 3),
        },
        "load": load.to_json(),
        "exchange": {
            "path": PATH,
            "example_source": exchange.source,
            "request_bytes": len(exchange.request_bytes),
            "response_bytes": len(exchange.response_bytes),
        },
        "cases": {
            case: {
                **m.to_json(),
                "response_body_bytes": sizes[case],
                "first_seconds": firsts[case].to_json() if case in firsts else None,
            }
            for case, m in results.items()
        },
        "ratios": ratios(results),
        "tails": tails(results, firsts),
    }


def host() -> dict[str, Any]:
    """The machine a result was measured on, for every results file."""
    return {
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
    }


def _cpu_model() -> str | None:
    """The processor's name (Linux), for the machine's description."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            total_kib = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(total_kib / 2**20, 1)


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Share of the machine's CPU time spent busy over ``seconds`` (Linux), to
    warn when something else is running: the cases share the same cores."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except OSError:
        return None
    total = total1 - total0
    return 1 - (idle1 - idle0) / total if total else None
