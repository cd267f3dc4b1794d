"""The open data portal's page in a real headless Chromium (Debian's, driven
by Playwright): a visitor searches, follows a facet, opens a dataset and
sees its resources and its chart, drawn from the Action API alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from lgsp_adapters.opendata.server import OpenDataPortal
from lgsp_adapters.opendata.testing import FakeWarehouse, running_portal
from tests.support.browser import ARTIFACTS, chromium_page


@pytest.fixture(scope="module")
async def portal() -> AsyncIterator[tuple[OpenDataPortal, FakeWarehouse]]:
    async with running_portal() as (_bus, handle, warehouse):
        yield handle, warehouse


async def test_search_then_a_dataset_with_its_chart(portal: tuple[OpenDataPortal, Any]) -> None:
    from playwright.async_api import expect

    handle, _ = portal
    async with chromium_page() as watched:
        page = watched.page

        await page.goto(handle.url)  # redirected to /dataset
        await expect(page.locator("#results li.result")).to_have_count(5)
        await expect(page.locator("#facet-organization li")).to_have_count(4)
        await page.fill("#q", "nhóm tuổi")
        await page.click("#search button")
        results = page.locator("#results li.result")
        await expect(results).to_have_count(1)
        await expect(results.first).to_have_attribute(
            "data-name", "dan-so-theo-nhom-tuoi-va-gioi-tinh"
        )
        # A facet narrows the search.
        await page.goto(f"{handle.url}/dataset")
        await page.click('#facet-groups a[data-facet="tech"]')
        await expect(results).to_have_count(1)
        await expect(results.first).to_have_attribute(
            "data-name", "luot-trao-doi-du-lieu-lgsp-theo-ngay"
        )

        # Dossiers: one bar per month (3), and the on-time rate of each.
        await page.goto(f"{handle.url}/dataset/ho-so-thu-tuc-hanh-chinh-theo-thang")
        await expect(page.locator("body[data-ready=true]")).to_have_count(1)
        await expect(page.locator("#title-en")).to_have_text(
            "Administrative procedure dossiers by month, procedure and commune"
        )
        await expect(page.locator("#organization")).to_have_text("Văn phòng UBND tỉnh Đồng Tháp")
        await expect(page.locator("#license")).to_contain_text("Creative Commons")
        await expect(page.locator("#frequency")).to_contain_text("Monthly")
        resources = page.locator("#resources li.resource")
        await expect(resources).to_have_count(2)
        await expect(resources.locator("a.download").first).to_have_attribute(
            "href",
            f"{handle.url}/dataset/ho-so-thu-tuc-hanh-chinh-theo-thang/resource/"
            + handle.catalog.packages["ho-so-thu-tuc-hanh-chinh-theo-thang"]["resources"][0]["id"]
            + "/download/ho-so-thu-tuc-hanh-chinh-theo-thang.csv",
        )
        await expect(page.locator("#chart svg rect.bar")).to_have_count(3)
        await expect(page.locator("#chart svg circle.point")).to_have_count(3)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "opendata-dossiers.png", full_page=True)

        # Population: a pyramid, two bars per age band with published counts
        # (80+ is suppressed for both: 3 bands x 2).
        await page.goto(f"{handle.url}/dataset/dan-so-theo-nhom-tuoi-va-gioi-tinh")
        await expect(page.locator("#chart svg rect.bar")).to_have_count(6)
        await expect(page.locator("#chart svg rect.bar.nu")).to_have_count(3)
        await page.screenshot(path=ARTIFACTS / "opendata-population.png", full_page=True)

        # Parcels: area by land-use code (CLN and one LUC cell suppressed).
        await page.goto(f"{handle.url}/dataset/thua-dat-theo-muc-dich-su-dung")
        await expect(page.locator("#chart svg rect.bar")).to_have_count(2)
        # Exchanges: one bar per day.
        await page.goto(f"{handle.url}/dataset/luot-trao-doi-du-lieu-lgsp-theo-ngay")
        await expect(page.locator("#chart svg rect.bar")).to_have_count(3)
    assert not watched.errors, watched.errors
    # Nothing but the portal: no CDN, no fonts, no telemetry.
    assert watched.hosts() == {"127.0.0.1"}
