"""The real Prometheus scrapes a running gateway with the configuration and
alert rules from deploy/prometheus/, and what it computes matches the traffic
sent: exact counter values, rates within the tolerance of its extrapolation;
every PromQL expression of the dashboard, the alerts and docs/metrics.md
evaluates, and names only catalogued metrics.

Needs the ``prometheus`` binary (Debian's package); without it the test fails
when ``CI`` is set and is skipped otherwise."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client import REGISTRY

from lgsp.testing import Bus
from lgsp.testing.fixtures import unavailable
from tests.support.echo import echo_bus, registry
from tests.support.metrics import catalogue
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCRAPE_S = 1.0
N_OK = 300
M_FAILED = 20
OK = {"service": "land.parcel.lookup", "client": "dongthap.onestop", "status": "200"}
REFUSED = {"service": "land.parcel.lookup", "client": "dongthap.onestop", "status": "422"}
REFUSED_CODE = {"service": "land.parcel.lookup", "code": "contract.request_invalid"}


def selector(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


class Prometheus:
    """A Prometheus server's HTTP API (``/api/v1``)."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url
        self.http = http

    async def get(self, path: str, **params: str) -> Any:
        async with self.http.get(f"{self.url}/api/v1/{path}", params=params) as r:
            body = await r.json()
        assert body["status"] == "success", (path, params, body)
        return body["data"]

    async def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr} | ({"time": f"{at:.3f}"} if at is not None else {})
        data = await self.get("query", **params)
        return list(data["result"])

    async def value(self, expr: str, at: float | None = None) -> float | None:
        result = await self.query(expr, at)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20.0) -> None:
    """Poll until the check holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.2)


@pytest.fixture
def prometheus_config(tmp_path: Path) -> Callable[[str], Path]:
    """deploy/prometheus/ rewritten for one test: targets on 127.0.0.1, a
    one-second scrape and evaluation interval; the rules file as shipped."""

    def write(target: str) -> Path:
        config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text("utf-8"))
        config["global"] = {"scrape_interval": f"{SCRAPE_S:g}s", "evaluation_interval": "1s"}
        # With the embedded transport the gateway's /metrics holds the
        # adapters' metrics too: one job, the gateway's.
        (gateway,) = [j for j in config["scrape_configs"] if j["job_name"] == "lgsp-gateway"]
        gateway["static_configs"] = [{"targets": [target]}]
        config["scrape_configs"] = [gateway]
        shutil.copyfile(DEPLOY / "prometheus" / "alerts.yml", tmp_path / "alerts.yml")
        path = tmp_path / "prometheus.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    return write


@pytest.fixture
async def bus() -> AsyncIterator[Bus]:
    async with echo_bus("memory") as running:
        yield running


@pytest.fixture
async def prometheus(
    bus: Bus, prometheus_config: Callable[[str], Path], tmp_path: Path
) -> AsyncIterator[Prometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        unavailable("prometheus is not installed")
    target = f"127.0.0.1:{bus.http.port}"
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={prometheus_config(target)}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            deadline = time.monotonic() + 30
            while True:
                if process.returncode is not None:
                    unavailable(f"prometheus exited: {(tmp_path / 'prometheus.log').read_text()}")
                try:
                    async with http.get(f"{url}/-/ready") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    unavailable("prometheus did not become ready within 30 s")
                await asyncio.sleep(0.2)
            yield Prometheus(url, http)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(15):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


def local(name: str, labels: dict[str, str]) -> float:
    """A sample's value in this process's registry (what the gateway exposes)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def queries() -> dict[str, str]:
    """Every PromQL expression the project ships, by where it comes from."""
    found: dict[str, str] = {}
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "lgsp.json").read_text("utf-8"))
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            found[target["expr"]] = f"dashboard: {panel['title']}"
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text("utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            found[rule["expr"]] = f"alert {rule['alert']}"
    docs = (ROOT / "docs" / "metrics.md").read_text("utf-8")
    for block in re.findall(r"^```promql\n(.*?)^```$", docs, re.MULTILINE | re.DOTALL):
        found[block.strip()] = "docs/metrics.md"
    return found


def test_every_shipped_query_names_only_catalogued_metrics() -> None:
    known = catalogue()
    for expr, where in queries().items():
        for name in re.findall(r"\blgsp_[a-z0-9_]+", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in known or known.get(base, ("",))[0] == "histogram", (where, name)


async def test_prometheus_computes_the_traffic_sent(bus: Bus, prometheus: Prometheus) -> None:
    async def target_up() -> bool:
        targets = (await prometheus.get("targets"))["activeTargets"]
        return any(t["health"] == "up" for t in targets)

    await until(target_up, "Prometheus scrapes the gateway")
    land = registry().service("land.parcel.lookup", None).examples[0].request

    async def send(n_ok: int, m_failed: int) -> None:
        for _ in range(n_ok):
            r = await bus.send("land.parcel.lookup", land, client="dongthap.onestop")
            assert r.status == 200, await r.text()
        for _ in range(m_failed):
            r = await bus.send("land.parcel.lookup", {"maXa": 1}, client="dongthap.onestop")
            assert r.status == 422, await r.text()

    ok = f"sum(lgsp_requests_total{selector(OK)})"
    refused = f"sum(lgsp_requests_total{selector(REFUSED)})"
    refused_code = f"sum(lgsp_request_errors_total{selector(REFUSED_CODE)})"

    async def scraped(expected: dict[str, float]) -> bool:
        return all([await prometheus.value(e) == v for e, v in expected.items()])

    def now_local() -> dict[str, float]:
        return {
            ok: local("lgsp_requests_total", OK),
            refused: local("lgsp_requests_total", REFUSED),
            refused_code: local("lgsp_request_errors_total", REFUSED_CODE),
        }

    # Every series exists before the traffic (a counter's first sample is
    # not an increase), and Prometheus has scraped it.
    await send(1, 1)
    before = now_local()
    await until(lambda: scraped(before), "a scrape saw the state before the traffic")
    started = time.time()
    await send(N_OK, M_FAILED)
    after = now_local()
    ended = time.time()
    await until(lambda: scraped(after), "a scrape saw the traffic")

    async def sampled_after_the_traffic() -> bool:
        last = await prometheus.value(f"max(timestamp(lgsp_requests_total{selector(OK)}))")
        return last is not None and last > ended + SCRAPE_S

    # So that the window below ends on samples taken after the traffic.
    await until(sampled_after_the_traffic, "a later scrape")
    # Exact counter values, as Prometheus stored them.
    assert await prometheus.value(ok) == before[ok] + N_OK
    assert await prometheus.value(refused) == before[refused] + M_FAILED
    assert await prometheus.value(refused_code) == before[refused_code] + M_FAILED

    # increase() over a window that holds all the traffic and samples on
    # both sides of it: the raw difference is exactly N, and Prometheus then
    # extrapolates it by window / sampled span. The samples cover the window
    # to within one scrape interval at each end, so the result lies in
    # [N, N * W / (W - 2 * scrape interval)].
    at = time.time()
    window = int(at - started) + 4
    stretch = window / (window - 2 * SCRAPE_S)
    increase = await prometheus.value(
        f"sum(increase(lgsp_requests_total{selector(OK)}[{window}s]))", at
    )
    assert increase is not None
    assert N_OK <= increase <= N_OK * stretch + 1e-6, (increase, window)
    rate = await prometheus.value(f"sum(rate(lgsp_requests_total{selector(OK)}[{window}s]))", at)
    assert rate == pytest.approx(increase / window)
    errors = await prometheus.value(
        f"sum(increase(lgsp_request_errors_total{selector(REFUSED_CODE)}[{window}s]))", at
    )
    assert errors is not None
    assert M_FAILED <= errors <= M_FAILED * stretch + 1e-6
    # The histogram counted every call of the service too.
    count = await prometheus.value(
        'sum(increase(lgsp_request_duration_seconds_count{service="land.parcel.lookup"}'
        f"[{window}s]))",
        at,
    )
    assert count is not None
    assert N_OK + M_FAILED <= count <= (N_OK + M_FAILED) * stretch + 1e-6

    # Every query the project ships evaluates against this data.
    for expr, where in queries().items():
        await prometheus.query(expr)  # asserts status success
        assert where

    # The rules loaded and evaluate; the alerts are in the state the bus is in.
    async def rules_evaluated() -> bool:
        groups = (await prometheus.get("rules"))["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return len(rules) == 5 and all(
            r["health"] == "ok" and not r["lastEvaluation"].startswith("0001") for r in rules
        )

    await until(rules_evaluated, "every rule was evaluated without error")

    async def nobody_pending() -> bool:
        alerts = (await prometheus.get("alerts"))["alerts"]
        return any(
            a["labels"]["alertname"] == "LgspProviderDown"
            and a["labels"]["service"] == "test.nobody.call"
            for a in alerts
        )

    # test.nobody.call is catalogued and never served: pending (for: 1m).
    await until(nobody_pending, "LgspProviderDown is pending for the service nobody serves")
    alerts = (await prometheus.get("alerts"))["alerts"]
    down = {
        a["labels"]["service"] for a in alerts if a["labels"]["alertname"] == "LgspProviderDown"
    }
    assert down == {"test.nobody.call"}
    assert all(a["state"] == "pending" for a in alerts)
    assert await prometheus.value("max(lgsp_dead_letters)") == 0
    assert not [a for a in alerts if a["labels"]["alertname"] == "LgspDeadLettersPresent"]
    assert (
        await prometheus.value(
            'max(lgsp_providers_online{service="land.parcel.lookup",version="1"})'
        )
        == 1
    )
