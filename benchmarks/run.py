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
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from benchmarks import exchange as exchange_module
from benchmarks.exchange import PATH, SERVICE, Exchange
from lgsp.testing.rabbitmq import ENV_URL, start_node

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LUA = HERE / "post.lua"
RESULTS = HERE / "results" / "latest.json"

CLIENT_ID = "dongthap.onestop"
CLIENT_SECRET = "demo-onestop-secret"  # the demo province's published secret (PROTOCOL.md)

CASES = ("bare-aiohttp", "lgsp-memory", "bare-rpc", "lgsp-amqp")
AMQP_CASES = frozenset({"bare-rpc", "lgsp-amqp"})


@dataclass(frozen=True)
class Goal:
    case: str
    floor: str
    ratio: float
    """Minimum of case req/s divided by floor req/s."""


GOALS = (Goal("lgsp-memory", "bare-aiohttp", 0.6), Goal("lgsp-amqp", "bare-rpc", 1.0))


class BenchError(Exception):
    """A case could not be measured honestly; the message says why."""


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


# -- processes ------------------------------------------------------------------


@dataclass
class Server:
    """One process a case started, with the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(f"    {line}" for line in text[-lines:])

    def check(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise BenchError(f"{self.name} exited with {code}; last output:\n{self.tail()}")

    def stop(self, grace_s: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        # Its own session (start_new_session): the group holds it and any child.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            print(f"  {self.name} ignored SIGTERM for {grace_s:g} s: killed", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class Fleet:
    """The processes of one case; stopped together, newest first."""

    logs: Path
    servers: list[Server] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str]) -> Server:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(name, process, log)
        self.servers.append(server)
        return server

    def check(self) -> None:
        for server in self.servers:
            server.check()

    def tails(self) -> str:
        return "\n".join(f"  {s.name} ({s.log}):\n{s.tail(15)}" for s in self.servers)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def lgsp_argv() -> list[str]:
    script = Path(sys.executable).with_name("lgsp")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from lgsp.cli import main; sys.exit(main())"]


@contextlib.contextmanager
def amqp_broker() -> Iterator[str]:
    """The broker at ``LGSP_TEST_AMQP_URL``, or a private node stopped on exit."""
    url = os.environ.get(ENV_URL)
    if url:
        yield url
        return
    print("starting a private RabbitMQ node", flush=True)
    with start_node() as node:
        yield node.url


# -- HTTP -------------------------------------------------------------------------

# 127.0.0.1 only: never through a proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _opener.open(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for(what: str, probe: Callable[[], bool], fleet: Fleet, timeout_s: float) -> None:
    """Poll ``probe`` until it holds; fail at the deadline or when a server dies."""
    deadline = time.monotonic() + timeout_s
    while True:
        fleet.check()
        try:
            if probe():
                return
        except (OSError, ValueError):
            pass  # not listening yet, or not answering JSON yet: poll again
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not ready after {timeout_s:g} s\n{fleet.tails()}")
        time.sleep(0.1)


def ready(base: str, headers: dict[str, str] | None = None) -> Callable[[], bool]:
    return lambda: http("GET", f"{base}/readyz", headers=headers)[0] == 200


def token(base: str) -> str:
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    ).encode()
    status, body = http(
        "POST",
        f"{base}/oauth2/token",
        form,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    if status != 200:
        raise BenchError(f"POST /oauth2/token answered {status}: {body[:500]!r}")
    access_token: str = orjson.loads(body)["access_token"]
    return access_token


def providers_online(base: str, bearer: str) -> Callable[[], bool]:
    def probe() -> bool:
        status, body = http(
            "GET", f"{base}/v1/services/{SERVICE}", headers={"Authorization": f"Bearer {bearer}"}
        )
        return status == 200 and orjson.loads(body)["versions"][0]["providers_online"] >= 1

    return probe


# -- cases ----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a case answers, and the bearer token to send (bare servers need none)."""

    base: str
    bearer: str | None = None


@dataclass
class Run:
    """What the cases of one run share."""

    load: Load
    exchange: Exchange
    work: Path
    stack: contextlib.ExitStack
    amqp_url: str | None = None

    @property
    def exchange_file(self) -> Path:
        return self.work / "exchange.json"

    @property
    def body_file(self) -> Path:
        return self.work / "body.json"

    def broker(self) -> str:
        if self.amqp_url is None:
            self.amqp_url = self.stack.enter_context(amqp_broker())
        return self.amqp_url


def start_bare_aiohttp(run: Run, fleet: Fleet) -> Target:
    port = free_port()
    fleet.spawn(
        "bare-http",
        [
            sys.executable,
            "-m",
            "benchmarks.bare_http",
            "--port",
            str(port),
            "--exchange",
            str(run.exchange_file),
        ],
    )
    base = f"http://127.0.0.1:{port}"
    wait_for("bare-aiohttp", ready(base), fleet, run.load.start_timeout_s)
    return Target(base)


def start_bare_rpc(run: Run, fleet: Fleet) -> Target:
    url, port = run.broker(), free_port()
    fleet.spawn(
        "bare-rpc-consumer",
        [
            sys.executable,
            "-m",
            "benchmarks.bare_rpc",
            "consumer",
            "--amqp-url",
            url,
            "--exchange",
            str(run.exchange_file),
        ],
    )
    fleet.spawn(
        "bare-rpc-server",
        [
            sys.executable,
            "-m",
            "benchmarks.bare_rpc",
            "server",
            "--amqp-url",
            url,
            "--port",
            str(port),
        ],
    )
    base = f"http://127.0.0.1:{port}"
    # The server's /readyz is 200 once a consumer serves the queue.
    wait_for("bare-rpc", ready(base), fleet, run.load.start_timeout_s)
    return Target(base)


def _lgsp_ready(run: Run, fleet: Fleet, base: str, what: str) -> Target:
    wait_for(what, ready(base), fleet, run.load.start_timeout_s)
    bearer = token(base)
    wait_for(f"{what} providers", providers_online(base, bearer), fleet, run.load.start_timeout_s)
    return Target(base, bearer)


def start_lgsp_memory(run: Run, fleet: Fleet) -> Target:
    port = free_port()
    fleet.spawn(
        "lgsp-up",
        [*lgsp_argv(), "up", "--transport", "memory", "--host", "127.0.0.1", "--port", str(port)],
    )
    return _lgsp_ready(run, fleet, f"http://127.0.0.1:{port}", "lgsp-memory")


def start_lgsp_amqp(run: Run, fleet: Fleet) -> Target:
    url, port = run.broker(), free_port()
    fleet.spawn("lgsp-adapters", [*lgsp_argv(), "adapters", "--amqp-url", url])
    fleet.spawn(
        "lgsp-gateway",
        [*lgsp_argv(), "gateway", "--amqp-url", url, "--host", "127.0.0.1", "--port", str(port)],
    )
    return _lgsp_ready(run, fleet, f"http://127.0.0.1:{port}", "lgsp-amqp")


STARTERS: dict[str, Callable[[Run, Fleet], Target]] = {
    "bare-aiohttp": start_bare_aiohttp,
    "lgsp-memory": start_lgsp_memory,
    "bare-rpc": start_bare_rpc,
    "lgsp-amqp": start_lgsp_amqp,
}


# -- measuring -------------------------------------------------------------------


def check_exchange(case: str, target: Target, exchange: Exchange) -> int:
    """One exchange by hand before any load: it must succeed; returns the body size."""
    headers = {"Content-Type": "application/json"}
    if target.bearer is not None:
        headers["Authorization"] = f"Bearer {target.bearer}"
    status, body = http("POST", target.base + PATH, exchange.request_bytes, headers, timeout=15)
    if status != 200:
        raise BenchError(f"{case}: POST {PATH} answered {status}: {body[:1000]!r}")
    if orjson.loads(body) != exchange.response:
        print(
            f"  warning: {case} answered {len(body)} bytes that differ from the example "
            f"response ({len(exchange.response_bytes)} bytes); the floors answer the example",
            flush=True,
        )
    return len(body)


def wrk(case: str, target: Target, run: Run, seconds: float, fleet: Fleet) -> Measurement:
    load = run.load
    argv = [
        shutil.which("wrk") or "wrk",
        f"--threads={load.threads}",
        f"--connections={load.connections}",
        f"--duration={seconds:g}s",
        f"--timeout={load.timeout_s:g}s",
        "--latency",
        f"--script={LUA}",
        target.base + PATH,
    ]
    env = os.environ | {"BENCH_BODY_FILE": str(run.body_file), "BENCH_TOKEN": target.bearer or ""}
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


def measure(case: str, run: Run) -> tuple[Measurement, int]:
    print(f"{case}: starting", flush=True)
    with Fleet(run.work / case) as fleet:
        fleet.logs.mkdir()
        target = STARTERS[case](run, fleet)
        size = check_exchange(case, target, run.exchange)
        if run.load.warmup > 0:
            wrk(case, target, run, run.load.warmup, fleet)
        m = wrk(case, target, run, run.load.seconds, fleet)
    print(
        f"{case}: {m.rps:,.0f} req/s, p50 {m.ms('p50'):.2f} ms, p99 {m.ms('p99'):.2f} ms",
        flush=True,
    )
    return m, size


# -- reporting ------------------------------------------------------------------


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


def table(results: dict[str, Measurement], load: Load) -> str:
    rows = [
        f"{load.connections} connections, {load.threads} wrk thread(s), "
        f"{load.seconds:g} s after {load.warmup:g} s warm-up, 127.0.0.1",
        "",
        f"{'case':<14}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'requests':>11}",
    ]
    for case, m in results.items():
        rows.append(
            f"{case:<14}{m.rps:>10,.0f}{m.ms('p50'):>10.2f}{m.ms('p99'):>10.2f}"
            f"{m.ms('max'):>10.2f}{m.requests:>11,}"
        )
    rows.append("")
    for r in ratios(results):
        verdict = "met" if r["met"] else "NOT MET"
        rows.append(
            f"{r['case']} / {r['floor']}: {r['throughput_ratio']:.2f}x req/s "
            f"(goal >= {r['goal']:.1f}x: {verdict}); "
            f"p50 {r['p50_ratio']:.2f}x, p99 {r['p99_ratio']:.2f}x"
        )
    return "\n".join(rows)


def report(
    results: dict[str, Measurement],
    sizes: dict[str, int],
    load: Load,
    exchange: Exchange,
    busy_before: float | None,
) -> dict[str, Any]:
    wrk_version = subprocess.run(
        [shutil.which("wrk") or "wrk", "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[:1]
    return {
        "generated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
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
            case: {**m.to_json(), "response_body_bytes": sizes[case]} for case, m in results.items()
        },
        "ratios": ratios(results),
    }


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


# -- entry point -----------------------------------------------------------------


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def parse_args(argv: list[str] | None) -> tuple[list[str], Load, bool, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="lgsp beside its raw floors, under the same wrk load.",
        epilog="Environment: BENCH_SECONDS (10), BENCH_WARMUP (2), BENCH_CONNECTIONS (64), "
        "BENCH_THREADS (1), BENCH_STRICT=1 (fail on a missed goal), BENCH_KEEP_LOGS=1, "
        "LGSP_TEST_AMQP_URL (use this broker instead of a private node).",
    )
    parser.add_argument(
        "cases", nargs="*", metavar="CASE", help=f"{', '.join(CASES)} (default: all)"
    )
    parser.add_argument("--seconds", type=float, default=_env_float("BENCH_SECONDS", 10))
    parser.add_argument("--warmup", type=float, default=_env_float("BENCH_WARMUP", 2))
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
    sizes: dict[str, int] = {}
    failed = True
    try:
        with contextlib.ExitStack() as stack:
            run = Run(load, exchange, work, stack)
            for case in cases:
                results[case], sizes[case] = measure(case, run)
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
    print(table(results, load))
    document = report(results, sizes, load, exchange, busy)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    missed = [r for r in document["ratios"] if not r["met"]]
    return 3 if strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
