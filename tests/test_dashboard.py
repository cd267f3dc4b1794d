"""The operators' dashboard in a real headless Chromium (Debian's, driven by
Playwright), and its admin routes: the JSON feed and X-Road style operations.

The browser test opens the page on a running bus, drives bounded traffic
and waits (bounded) for the page to show it, then keeps screenshots in
``artifacts/``. Without a browser it skips, or fails when ``CI`` is set.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lgsp.config import DEMO_ADMINS
from tests.support import Bus, registry, running_bus

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN = DEMO_ADMINS[0]
BASIC = "Basic " + base64.b64encode(f"{ADMIN.id}:{ADMIN.secret}".encode()).decode()
LOOKUP = "land.parcel.lookup"
OK_CALLS, BAD_CALLS = 200, 7


@pytest.fixture(scope="module")
async def dash_bus() -> AsyncIterator[Bus]:
    async with running_bus("memory", None) as bus:
        yield bus


async def traffic(bus: Bus, n: int, payload: dict[str, Any], expect: int) -> None:
    """``n`` calls as the one-stop-shop, at most 20 in flight."""
    gate = asyncio.Semaphore(20)

    async def one() -> None:
        async with gate:
            r = await bus.call(LOOKUP, payload, client="dongthap.onestop")
            assert r.status == expect, await r.text()

    await asyncio.gather(*(one() for _ in range(n)))


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"Chromium cannot start: {reason}")
    pytest.skip(f"Chromium cannot start: {reason}")


async def test_the_page_follows_the_traffic_in_a_real_browser(dash_bus: Bus) -> None:
    try:
        from playwright.async_api import Error, async_playwright, expect
    except ImportError as exc:  # pragma: no cover - playwright is a test dependency
        unavailable(str(exc))
    base = str(dash_bus.http.make_url("")).rstrip("/")
    async with async_playwright() as pw:
        try:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
        except Error as exc:
            unavailable(str(exc).splitlines()[0])
        try:
            context = await browser.new_context(
                http_credentials={"username": ADMIN.id, "password": ADMIN.secret},
                viewport={"width": 1366, "height": 900},
            )
            seen: list[str] = []
            context.on("request", lambda r: seen.append(r.url))
            page = await context.new_page()
            console_errors: list[str] = []
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )

            await page.goto(f"{base}/dashboard")
            await expect(page.locator("#status")).to_have_text("live", timeout=10_000)
            before = int((await page.locator("#total").inner_text()).replace(",", ""))

            example = registry().service(LOOKUP).examples[0].request
            await traffic(dash_bus, OK_CALLS, example, 200)
            # Refused at the edge: not the contract's shape.
            await traffic(dash_bus, BAD_CALLS, {"no_such_field": 1}, 422)

            sent = OK_CALLS + BAD_CALLS
            await expect(page.locator("#total")).to_have_text(f"{before + sent:,}", timeout=10_000)
            row = page.locator(f'#services tr[data-service="{LOOKUP}"]')
            await expect(row).to_be_visible()
            await expect(row.locator("td").nth(1)).to_have_text(f"{sent:,}")
            await expect(
                page.locator('#errors tr[data-code="contract.request_invalid"] td').nth(2)
            ).to_have_text(str(BAD_CALLS))
            client_row = page.locator('#clients tr[data-client="dongthap.onestop"]')
            await expect(client_row).to_be_visible()
            await expect(page.locator("#providers tbody tr").first).not_to_have_text(
                "no provider online"
            )
            await expect(page.locator("#ndxp-breaker")).to_have_text("closed")
            await page.wait_for_function(
                "Number(document.getElementById('chart').dataset.points) > 0", timeout=10_000
            )
            await expect(page.locator("#chart canvas")).to_be_visible()

            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)
            await page.set_viewport_size({"width": 1920, "height": 1080})
            await page.goto(f"{base}/dashboard?wall=1")
            await expect(page.locator("#total")).to_have_text(f"{before + sent:,}", timeout=10_000)
            assert await page.evaluate("document.body.classList.contains('wall')")
            await page.screenshot(path=ARTIFACTS / "dashboard-wall.png")

            # When the feed fails the page says its numbers are stale.
            await page.route("**/v1/admin/dashboard", lambda route: route.abort())
            await expect(page.locator("#status")).to_have_text("stale", timeout=10_000)
        finally:
            await browser.close()

    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
    # Nothing but this gateway: no CDN, no fonts, no telemetry.
    hosts = {urlsplit(u).hostname for u in seen if not u.startswith("data:")}
    assert hosts == {"127.0.0.1"}, seen
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors


@pytest.mark.parametrize(
    "path", ["/dashboard", "/dashboard/static/dashboard.js", "/v1/admin/dashboard"]
)
async def test_operator_routes_ask_for_basic_credentials(dash_bus: Bus, path: str) -> None:
    r = await dash_bus.http.get(path)
    assert r.status == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic ")
    assert (await r.json())["code"] == "auth.unauthenticated"
    # A client's bearer token is not an operator's credential.
    token = await dash_bus.token()
    r = await dash_bus.http.get(path, headers={"Authorization": f"Bearer {token}"})
    assert r.status == 401


async def test_the_page_forbids_other_origins(dash_bus: Bus) -> None:
    r = await dash_bus.http.get("/dashboard", headers={"Authorization": BASIC})
    assert r.status == 200
    assert r.content_type == "text/html"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "http" not in csp
    r = await dash_bus.http.get(
        "/dashboard/static/../dashboard.py", headers={"Authorization": BASIC}
    )
    assert r.status == 404


async def test_operations_reports_x_road_fields_per_service(dash_bus: Bus) -> None:
    v1 = {"X-LGSP-Service-Version": "1"}
    r = await dash_bus.call("test.echo.call", {"text": "a" * 40}, headers=v1)
    assert r.status == 200
    r = await dash_bus.call("test.echo.call", {"text": "b", "mode": "declared"}, headers=v1)
    assert r.status == 409

    r = await dash_bus.http.get(
        "/v1/admin/operations", params={"window": "60"}, headers={"Authorization": BASIC}
    )
    assert r.status == 200
    body = await r.json()
    assert body["window_s"] == 60
    echo = next(s for s in body["services"] if s["name"] == "test.echo.call")
    assert echo["successful_requests"] >= 1
    assert echo["failed_requests"] >= 1
    assert echo["errors"]["test.echo.declared"] >= 1
    assert echo["last_success"] <= body["until"]
    assert echo["last_failure"] <= body["until"]
    d = echo["duration_ms"]
    assert 0 <= d["min"] <= d["avg"] <= d["max"]
    assert echo["request_bytes"]["max"] >= len('{"text": "' + "a" * 40 + '"}')
    assert echo["response_bytes"]["min"] > 0


@pytest.mark.parametrize("window", ["abc", "0", "901", "-5", "1.5"])
async def test_operations_refuses_a_bad_window(dash_bus: Bus, window: str) -> None:
    r = await dash_bus.http.get(
        "/v1/admin/operations", params={"window": window}, headers={"Authorization": BASIC}
    )
    assert r.status == 400
    assert r.content_type == "application/problem+json"
    assert (await r.json())["code"] == "request.malformed"


async def test_feed_counts_events_and_reports_the_transport(dash_bus: Bus) -> None:
    async def feed() -> Any:
        r = await dash_bus.http.get("/v1/admin/dashboard", headers={"Authorization": BASIC})
        assert r.status == 200
        return await r.json()

    before = await feed()
    token = await dash_bus.token()
    r = await dash_bus.http.post(
        "/v1/events/test.ping.sent", json={"n": 7}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status == 202
    after = await feed()
    assert after["transport"] == "memory"
    assert after["totals"]["events"] == before["totals"]["events"] + 1
    assert after["events"]["published"] == before["events"]["published"] + 1
    assert len(after["series"]["t"]) == 900
    assert sum(after["series"]["events"]) >= 1
    assert after["ndxp"]["in_process"] is True


async def test_feed_shows_the_queues_of_either_transport(bus: Bus, transport_kind: str) -> None:
    """On RabbitMQ the queues are the broker's own (passive declarations);
    in memory, the embedded engine's: the page reads both the same way."""
    r = await bus.http.get("/v1/admin/dashboard", headers={"Authorization": BASIC})
    assert r.status == 200
    feed = await r.json()
    assert feed["transport"] == transport_kind
    queues = {q["name"]: q for q in feed["queues"]}
    assert queues[f"lgsp.svc.{LOOKUP}.v1"]["kind"] == "service"
    assert queues[f"lgsp.svc.{LOOKUP}.v1"]["consumers"] >= 1
    assert any(q["kind"] == "subscriber" and q["consumers"] >= 1 for q in queues.values())
    assert [q["kind"] for q in queues.values()].count("dead-letter") >= 1
    assert feed["dead_letters"] == 0
    providers = {(p["service"], p["version"]) for p in feed["providers"]}
    assert (LOOKUP, 1) in providers
