"""The operators' dashboard in a real headless Chromium (Debian's, driven by
Playwright) (its routes alone: tests/behaviour/test_dashboard.py).

The browser test opens the page on a running bus, drives bounded traffic
and waits (bounded) for the page to show it, then keeps screenshots in
``artifacts/``. Without a browser it skips, or fails when ``CI`` is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from lgsp.config import DEMO_ADMINS
from lgsp.testing import Bus
from tests.support.browser import ARTIFACTS, chromium_page
from tests.support.echo import echo_bus, registry

ADMIN = DEMO_ADMINS[0]
LOOKUP = "land.parcel.lookup"
OK_CALLS, BAD_CALLS = 200, 7


@pytest.fixture(scope="module")
async def dash_bus() -> AsyncIterator[Bus]:
    async with echo_bus("memory") as bus:
        yield bus


async def traffic(bus: Bus, n: int, payload: dict[str, Any], expect: int) -> None:
    """``n`` calls as the one-stop-shop, at most 20 in flight."""
    gate = asyncio.Semaphore(20)

    async def one() -> None:
        async with gate:
            r = await bus.send(LOOKUP, payload, client="dongthap.onestop")
            assert r.status == expect, await r.text()

    await asyncio.gather(*(one() for _ in range(n)))


async def test_the_page_follows_the_traffic_in_a_real_browser(dash_bus: Bus) -> None:
    from playwright.async_api import expect

    base = str(dash_bus.http.make_url("")).rstrip("/")
    async with chromium_page(
        http_credentials={"username": ADMIN.id, "password": ADMIN.secret},
        viewport={"width": 1366, "height": 900},
    ) as watched:
        page = watched.page

        await page.goto(f"{base}/dashboard")
        await expect(page.locator("#status")).to_have_text("live", timeout=10_000)
        # One province alone: the panel of other provinces says so.
        await expect(page.locator("#partners tbody")).to_contain_text(
            "no exchange with another province yet"
        )
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
        ndxp = page.locator('#adapters tr[data-adapter="ndxp"] td')
        await expect(ndxp.nth(1)).to_contain_text("breaker: closed")
        await expect(ndxp.first).to_have_class("ok")
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

    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
    # Nothing but this gateway: no CDN, no fonts, no telemetry.
    assert watched.hosts() == {"127.0.0.1"}, watched.requested
    policy = [e for e in watched.console_errors if "Content Security Policy" in e]
    assert not policy, watched.console_errors
