"""The load generator: one timed wrk run against a case, through
``post.lua``, whose ``BENCH_RESULT {json}`` line becomes a
:class:`Measurement`. Any socket error, timeout or non-2xx answer fails it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.exchange import PATH
from benchmarks.fleet import BenchError, Fleet

LUA = Path(__file__).resolve().parent / "post.lua"


@dataclass(frozen=True)
class Load:
    """The same load for every case."""

    seconds: float
    warmup: float
    connections: int
    threads: int
    timeout_s: float
    start_timeout_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": "wrk",
            "seconds": self.seconds,
            "warmup_seconds": self.warmup,
            "connections": self.connections,
            "threads": self.threads,
            "timeout_seconds": self.timeout_s,
        }


@dataclass(frozen=True)
class Target:
    """Where a case answers, and the bearer token to send (bare servers need none)."""

    base: str
    bearer: str | None = None
    path: str = PATH
    province: str | None = None
    """Another province to call through NDXP (``X-LGSP-Province``)."""


@dataclass(frozen=True)
class Measurement:
    """What wrk saw during one timed run."""

    requests: int
    duration_s: float
    bytes: int
    errors: dict[str, int]
    latency_us: dict[str, float]

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s

    def ms(self, key: str) -> float:
        return self.latency_us[key] / 1000

    def to_json(self) -> dict[str, Any]:
        return {
            "requests_per_second": round(self.rps, 1),
            "requests": self.requests,
            "duration_seconds": round(self.duration_s, 3),
            "bytes_per_response": round(self.bytes / self.requests, 1),
            "errors": self.errors,
            "latency_ms": {k: round(v / 1000, 3) for k, v in self.latency_us.items()},
        }


def wrk(
    case: str, target: Target, load: Load, body_file: Path, seconds: float, fleet: Fleet
) -> Measurement:
    """Load ``target`` for ``seconds``, POSTing ``body_file``; wrk's output
    goes to ``wrk.log`` beside the case's servers' logs."""
    argv = [
        shutil.which("wrk") or "wrk",
        f"--threads={load.threads}",
        f"--connections={load.connections}",
        f"--duration={seconds:g}s",
        f"--timeout={load.timeout_s:g}s",
        "--latency",
        f"--script={LUA}",
        target.base + target.path,
    ]
    env = os.environ | {
        "BENCH_BODY_FILE": str(body_file),
        "BENCH_TOKEN": target.bearer or "",
        "BENCH_PATH": target.path,
        "BENCH_PROVINCE": target.province or "",
    }
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    with (fleet.logs / "wrk.log").open("a") as log:
        log.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}\n")
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
    if done.returncode != 0 or not lines:
        raise BenchError(f"{case}: wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    raw = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    m = Measurement(
        requests=int(raw["requests"]),
        duration_s=raw["duration_us"] / 1e6,
        bytes=int(raw["bytes"]),
        errors={k: int(v) for k, v in raw["errors"].items()},
        latency_us={k: float(v) for k, v in raw["latency_us"].items()},
    )
    fleet.check()
    if m.requests == 0 or any(m.errors.values()):
        bad = ", ".join(f"{k}={v}" for k, v in m.errors.items() if v) or "no requests"
        raise BenchError(
            f"{case}: {bad} ('status' counts non-2xx/3xx answers)\n{done.stdout}\n{fleet.tails()}"
        )
    return m
