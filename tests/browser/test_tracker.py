"""The citizens' data tracker's page in a real headless Chromium (Debian's,
driven by Playwright): a citizen whose data was used sees the uses in a
table; a wrong birth date gets the very message an unknown id gets; and
running through ids ends on the page's "too many attempts" message."""

from __future__ import annotations

from lgsp_contracts.ndop import KetQua
from tests.support.browser import ARTIFACTS, chromium_page
from tests.unit.test_ndop import HONG_BORN, HUNG, HUNG_BORN, UNKNOWN, platform, report

TRIES = 5
"""The page's allowance per address in this test."""


async def test_a_citizen_sees_who_used_their_data_and_nobody_can_run_through_ids() -> None:
    from playwright.async_api import expect

    async with platform(tracker_rate=f"{TRIES}/minute") as p:
        uses: list[tuple[str, str, int]] = [
            ("2025-07-01T09:00:00+07:00", "r-1", 200),
            ("2025-07-02T10:30:00+07:00", "r-2", 404),
            ("2025-07-03T15:45:00+07:00", "r-3", 200),
        ]
        status, _ = await p.send(
            "dongthap.lgsp",
            [report(request_id, at=at, status=code) for at, request_id, code in uses],
        )
        assert status == 200
        async with chromium_page() as watched:
            page = watched.page
            await page.goto(f"{p.url}/ndop/tracker")
            await expect(page.locator("h1")).to_contain_text("Ai đã sử dụng dữ liệu của tôi?")
            await expect(page.locator("h1 .en")).to_have_text("Who has used my data?")
            message = page.locator("#message")
            rows = page.locator("#accesses tbody tr")

            async def ask(so_dinh_danh: str, born: str) -> int:
                """Submit the form; the status NDOP answered."""
                await page.fill("#soDinhDanh", so_dinh_danh)
                await page.fill("#ngaySinh", born)
                async with page.expect_response(lambda r: "/v1/tracker" in r.url) as answer:
                    await page.click("#ask button")
                return (await answer.value).status

            # 1. The citizen, with the right birth date: the uses, newest first.
            assert await ask(HUNG, HUNG_BORN.isoformat()) == 200
            await expect(rows).to_have_count(3)
            await expect(page.locator("#who")).to_have_text("087*******34")
            await expect(message).to_have_attribute("data-kind", "found")
            newest = rows.first.locator("td")
            await expect(newest.nth(0).locator("time")).to_have_attribute(
                "datetime", "2025-07-03T15:45:00+07:00"
            )
            await expect(newest.nth(1)).to_contain_text("một cửa điện tử")
            await expect(newest.nth(1)).to_contain_text("dongthap.onestop")
            await expect(newest.nth(2)).to_have_text("Đồng Tháp")
            await expect(newest.nth(3)).to_have_text("land.parcel.lookup")
            await expect(newest.nth(4)).to_have_text("1.004873")
            results: list[KetQua] = ["ok", "refused", "ok"]
            for i, result in enumerate(results):
                await expect(rows.nth(i).locator("td[data-result]")).to_have_attribute(
                    "data-result", result
                )
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=ARTIFACTS / "ndop-tracker.png", full_page=True)

            # 2. A wrong birth date: the table goes, and the message is the
            # one an unknown id gets, word for word.
            assert await ask(HUNG, HONG_BORN.isoformat()) == 404
            await expect(message).to_have_attribute("data-kind", "none")
            await expect(page.locator("#result")).to_be_hidden()
            await expect(rows).to_have_count(0)
            wrong = await message.inner_text()
            assert "Không có hồ sơ nào khớp" in wrong
            assert "No record matches this identification number and date of birth" in wrong
            assert await ask(UNKNOWN, HONG_BORN.isoformat()) == 404
            await expect(message).to_have_attribute("data-kind", "none")
            assert await message.inner_text() == wrong

            # 3. Running through ids: the allowance ends in the 429 message.
            answered = [await ask(f"0870900{n:05d}", "1990-01-01") for n in range(TRIES)]
            assert answered == [404] * (TRIES - 3) + [429] * 3
            await expect(message).to_have_attribute("data-kind", "limited")
            await expect(message).to_contain_text("quá nhiều lần")
            await expect(message).to_contain_text("Too many attempts")
            await page.screenshot(path=ARTIFACTS / "ndop-tracker-limited.png", full_page=True)
    assert not watched.errors, watched.errors
    # Nothing but the platform: no CDN, no fonts, no telemetry.
    assert watched.hosts() == {"127.0.0.1"}
