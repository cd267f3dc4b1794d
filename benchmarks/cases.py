"""The four cases and how each is started: its processes (the bare floors
from this folder, or lgsp's own commands), the probes that say it is ready
(``GET /readyz``; for lgsp, a bearer token and the service's
``providers_online``), and the one exchange checked by hand before any load."""

from __future__ import annotations

import base64
import contextlib
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from benchmarks.broker import amqp_broker
from benchmarks.exchange import PATH, SERVICE, Exchange
from benchmarks.fleet import BenchError, Fleet, free_port, platform_ports, wait_for
from benchmarks.wrk import Load, Target

CLIENT_ID = "dongthap.onestop"
CLIENT_SECRET = "demo-onestop-secret"  # the demo province's published secret (PROTOCOL.md)

CASES = ("bare-aiohttp", "lgsp-memory", "bare-rpc", "lgsp-amqp", "lgsp-amqp-2w", "faststream")
AMQP_CASES = frozenset({"bare-rpc", "lgsp-amqp", "lgsp-amqp-2w", "faststream"})


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


def lgsp_argv() -> list[str]:
    script = Path(sys.executable).with_name("lgsp")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from lgsp.cli import main; sys.exit(main())"]


# -- probes over HTTP -------------------------------------------------------------

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


def providers_online(base: str, bearer: str, providers: int = 1) -> Callable[[], bool]:
    def probe() -> bool:
        status, body = http(
            "GET", f"{base}/v1/services/{SERVICE}", headers={"Authorization": f"Bearer {bearer}"}
        )
        return status == 200 and orjson.loads(body)["versions"][0]["providers_online"] >= providers

    return probe


ADMIN = "Basic " + base64.b64encode(b"admin:demo-admin-secret").decode()
"""The demo operator: the dashboard's feed says which adapters are ready."""


def settled(base: str) -> Callable[[], bool]:
    """Every adapter that says whether it is ready (the warehouse, once its
    first loads are in) says so on the dashboard's feed, and none is busy
    (a pull and its Parquet rewrite): start-up work is over, so it is not
    measured as the exchange's cost."""

    def probe() -> bool:
        status, body = http("GET", f"{base}/v1/admin/dashboard", headers={"Authorization": ADMIN})
        if status != 200:
            return False
        adapters = orjson.loads(body).get("adapters", [])
        statuses = [a.get("status", {}) for a in adapters]
        return all(s.get("ready", True) is True and not s.get("busy") for s in statuses)

    return probe


# -- the cases ------------------------------------------------------------------


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


def start_faststream(run: Run, fleet: Fleet) -> Target:
    url, port = run.broker(), free_port()
    module = [sys.executable, "-m", "benchmarks.faststream_rpc"]
    fleet.spawn(
        "faststream-consumer",
        [*module, "consumer", "--amqp-url", url, "--exchange", str(run.exchange_file)],
    )
    fleet.spawn("faststream-server", [*module, "server", "--amqp-url", url, "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    wait_for("faststream", ready(base), fleet, run.load.start_timeout_s)
    return Target(base)


def _lgsp_ready(run: Run, fleet: Fleet, base: str, what: str, providers: int = 1) -> Target:
    wait_for(what, ready(base), fleet, run.load.start_timeout_s)
    bearer = token(base)
    online = providers_online(base, bearer, providers)
    wait_for(f"{what} providers", online, fleet, run.load.start_timeout_s)
    wait_for(f"{what} adapters settled", settled(base), fleet, run.load.start_timeout_s)
    return Target(base, bearer)


def fresh_state(fleet: Fleet, name: str) -> list[str]:
    """A data folder of the case's own (``--data-dir``): a run or a case
    never reads what an earlier one left (an exchange log grown over many
    runs makes the bus's start-up work, and so its figures, depend on
    history)."""
    return ["--data-dir", str(fleet.logs / "state" / name)]


def national_platform(fleet: Fleet) -> dict[str, str]:
    """The simulated NDXP beside a case's adapters processes (``lgsp up``
    runs its own; on amqp it is a server of its own, as in a deployment),
    on a free port: the environment that points the adapters at it."""
    port = free_port()
    fleet.spawn("ndxp-sim", [*lgsp_argv(), "ndxp-sim", "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    wait_for("ndxp-sim", lambda: http("GET", f"{url}/healthz")[0] == 200, fleet, 30)
    return {"LGSP_NDXP_URL": url}


def start_lgsp_memory(run: Run, fleet: Fleet) -> Target:
    port = free_port()
    argv = ["up", "--transport", "memory", "--host", "127.0.0.1", "--port", str(port)]
    fleet.spawn("lgsp-up", [*lgsp_argv(), *argv, *fresh_state(fleet, "bus")], platform_ports())
    return _lgsp_ready(run, fleet, f"http://127.0.0.1:{port}", "lgsp-memory")


def start_lgsp_amqp(run: Run, fleet: Fleet) -> Target:
    url, port = run.broker(), free_port()
    adapters = ["adapters", "--amqp-url", url, *fresh_state(fleet, "adapters")]
    fleet.spawn("lgsp-adapters", [*lgsp_argv(), *adapters], national_platform(fleet))
    gateway = ["gateway", "--amqp-url", url, "--host", "127.0.0.1", "--port", str(port)]
    fleet.spawn("lgsp-gateway", [*lgsp_argv(), *gateway, *fresh_state(fleet, "gateway")])
    return _lgsp_ready(run, fleet, f"http://127.0.0.1:{port}", "lgsp-amqp")


def start_lgsp_amqp_2w(run: Run, fleet: Fleet) -> Target:
    """``lgsp-amqp`` scaled out on one machine: the gateway with two workers
    on one port (sharing a data folder, as workers must) and, beside the
    adapters of ``lgsp-amqp``, a second process of the land database (with
    a data folder of its own) on the same service queue."""
    url, port = run.broker(), free_port()
    adapters = ["adapters", "--amqp-url", url, *fresh_state(fleet, "adapters")]
    fleet.spawn("lgsp-adapters", [*lgsp_argv(), *adapters], national_platform(fleet))
    second = ["adapters", "--amqp-url", url, *fresh_state(fleet, "adapters-2"), "land"]
    fleet.spawn("lgsp-adapters-land", [*lgsp_argv(), *second])
    gateway = fleet.spawn(
        "lgsp-gateway-2w",
        [
            *lgsp_argv(),
            "gateway",
            "--workers",
            "2",
            "--amqp-url",
            url,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *fresh_state(fleet, "gateway"),
        ],
    )

    def both() -> bool:
        # /readyz answers for whichever worker takes the connection: the
        # supervisor says when both are.
        return '"gateway.workers_ready"' in gateway.log.read_text(errors="replace")

    wait_for("lgsp-amqp-2w workers", both, fleet, run.load.start_timeout_s)
    return _lgsp_ready(run, fleet, f"http://127.0.0.1:{port}", "lgsp-amqp-2w", providers=2)


STARTERS: dict[str, Callable[[Run, Fleet], Target]] = {
    "bare-aiohttp": start_bare_aiohttp,
    "lgsp-memory": start_lgsp_memory,
    "bare-rpc": start_bare_rpc,
    "lgsp-amqp": start_lgsp_amqp,
    "lgsp-amqp-2w": start_lgsp_amqp_2w,
    "faststream": start_faststream,
}


# -- before any load -------------------------------------------------------------


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
